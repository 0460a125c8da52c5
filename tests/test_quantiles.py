"""Exact discrete quantiles by histogram refinement equal the definition, on awkward data, on both backends."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import synthsql as ss
from synthsql import quantiles
from tests.test_aggregates import inverse_cdf

PROBS = np.linspace(0, 1, 21).round(10).tolist() + [0.001, 0.333, 0.999]


def awkward(n: int = 3000, seed: int = 5) -> pa.Table:
    rng = np.random.default_rng(seed)
    heavy = np.where(rng.random(n) < 0.4, 0.0, rng.lognormal(8, 2, n))  # a 40 % point mass at zero, a long tail
    tiny = rng.normal(0, 1e-300, n)  # a range that underflows when divided into buckets
    ties = rng.integers(-3, 3, n).astype(np.float64) * 1e15  # few values, far apart
    group = rng.choice(["a", "b", "c"], n, p=[0.7, 0.299, 0.001])
    mask = rng.random(n) < 0.1
    return pa.table(
        {"heavy": pa.array(heavy, mask=mask), "tiny": tiny, "ties": ties, "g": group.tolist()}
    )


@pytest.fixture(scope="module")
def awkward_table(db):
    data = awkward()
    ss.write_table(db, "awkward", data)
    yield data.to_pandas()
    db.backend.drop_table("awkward")


@pytest.mark.parametrize("exact_rows", [4096, 2])  # 2 forces every range through the refinement passes
@pytest.mark.parametrize("column", ["heavy", "tiny", "ties"])
def test_equal_the_inverse_cdf(db, awkward_table, monkeypatch, exact_rows, column):
    monkeypatch.setattr(quantiles, "EXACT_ROWS", exact_rows)
    got = db.quantiles(db.table("awkward"), column, PROBS)[None]
    assert got == inverse_cdf(awkward_table[column].dropna().to_numpy(), PROBS).tolist()


def test_per_group(db, awkward_table, monkeypatch):
    monkeypatch.setattr(quantiles, "EXACT_ROWS", 2)
    got = db.quantiles(db.table("awkward"), "heavy", PROBS, by="g")
    for group, frame in awkward_table.groupby("g"):
        values = frame["heavy"].dropna().to_numpy()
        if len(values):
            assert got[group] == inverse_cdf(values, PROBS).tolist(), group
        else:
            assert group not in got


def test_rank_of_is_exact():
    assert quantiles.rank_of(0.1, 30) == 3  # 0.1 * 30 is 3.0000000000000004 in floating point
    assert quantiles.rank_of(0.0, 30) == 1 and quantiles.rank_of(1.0, 30) == 30
