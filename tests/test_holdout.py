"""The seeded training/holdout split (synthsql.holdout): the same rows on DuckDB, on PostgreSQL and in a Python
re-implementation of the documented hash, on the real datasets."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import secrets

import ibis
import numpy as np
import pyarrow as pa
import pytest

import synthsql as ss
from synthsql.holdout import HOLDOUT_DIGITS, Holdout, row_text
from tests.conftest import holdout_only_value_table, mixed_table, real_table, table_names

REAL = ("eusilc", "cps1988", "ses")


# ----------------------------------------------------------------------------------------------------------------
# The documented hash, in Python
# ----------------------------------------------------------------------------------------------------------------
def py_double(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    whole = abs(x) < 9e18 and x == int(x)
    if not whole and (abs(x) >= 9e18 or abs(x) < 1e-3 or abs(x) >= 1e7):
        exponent = max(math.frexp(x)[1] - 1, -1022)  # floor(log2 |x|), subnormals at -1022
        return f"{int(math.ldexp(x, 52 - exponent))}p{exponent - 52}"
    if whole:
        return str(int(x))
    return repr(x)


def py_value(value, dtype: pa.DataType) -> str | None:
    if value is None:
        return None
    if pa.types.is_boolean(dtype):
        return "t" if value else "f"
    if pa.types.is_integer(dtype):
        return str(int(value))
    if pa.types.is_floating(dtype):
        return py_double(float(value))
    if pa.types.is_date(dtype):
        return str((value - dt.date(1970, 1, 1)).days)
    if pa.types.is_timestamp(dtype):
        return str((value - dt.datetime(1970, 1, 1)) // dt.timedelta(microseconds=1))
    return str(value)


def py_texts(table: pa.Table) -> list[str]:
    names = sorted(table.column_names)
    columns = []
    for name in names:
        col = table.column(name)
        dtype = col.type.value_type if pa.types.is_dictionary(col.type) else col.type
        columns.append([py_value(v, dtype) for v in col.to_pylist()])
    return ["|".join("N" if v is None else f"{len(v)}:{v}" for v in row) for row in zip(*columns, strict=True)]


def py_is_holdout(text: str, split: Holdout) -> bool:
    digest = hashlib.md5(f"holdout:{split.seed}|{text}".encode()).hexdigest()
    return int(digest[:HOLDOUT_DIGITS], 16) < split.threshold


def db_split(db: ss.Database, name: str, split: Holdout, *, flat: bool = False) -> list[tuple[str, bool]]:
    """(row text, holdout flag) per row; ``flat``: the one-expression form, else the layered one."""
    t = db.table(name)
    if flat:
        frame = t.select(text=row_text(t), hold=split.is_holdout(t)).execute()
    else:
        marked = split.marked(t.mutate(_text=row_text(t)), "_hold", columns=t.columns)
        frame = marked.select(text=marked["_text"], hold=marked["_hold"]).execute()
    return sorted(zip(frame["text"], frame["hold"].astype(bool), strict=True))


# ----------------------------------------------------------------------------------------------------------------
def test_parameters():
    for bad in (0, 0.0, 0.51, 1, -0.1, math.nan, math.inf, True, "0.2", None):
        with pytest.raises(ss.InvalidParameterError, match=r"holdout share .*Got " + repr(bad).replace(".", r"\.")):
            Holdout(bad)
    with pytest.raises(ss.InvalidParameterError, match="holdout seed must be an int"):
        Holdout(0.2, seed=1.5)
    split = Holdout(0.5, seed=7)
    assert Holdout.from_json(split.to_json()) == split and split.to_json() == {"share": 0.5, "seed": 7}
    assert Holdout(1 / 3).threshold == math.ceil(2**32 / 3)
    with pytest.raises(ss.InvalidParameterError, match="holdout share"):
        Holdout.from_json({"share": 0.9})
    with pytest.raises(ss.InvalidParameterError, match="'share'"):
        Holdout.from_json({"shares": 0.2})
    with pytest.raises(ss.UnsupportedTypeError, match="Column 'a' has type"):
        row_text(ibis.table({"a": "array<int64>"}, name="t"))


@pytest.mark.parametrize("name", [*REAL, "mixed", "floats"])
def test_split_equals_the_documented_hash(db, name):
    """Row text and holdout flag, row by row, equal a Python computation of the documented formula."""
    if name == "floats":  # doubles that DuckDB, PostgreSQL and Spark spell differently when cast to text
        rng = np.random.default_rng(0)
        values = np.concatenate(
            [
                rng.standard_normal(200) * 10.0 ** rng.integers(-12, 25, 200),
                [1e15 + 0.5, -1e15 - 0.25, 9.5e15 + 0.5, 2.0**53, 1e16, 1e15, 0.0, -0.0, 1.0, np.nan, np.inf, -np.inf],
                [9e18, -2.0**63, 2.0**64, 2.0**64 - 2048, 1.7976931348623157e308, -1e300, 2.0**1023, 1e19 + 2**11],
                [5e-324, -2.2250738585072014e-308, 1e-5, 9.99e-4, 1e-3, 12345678.912, 9999999.5, 1e7 + 0.5],
            ]
        )
        data = pa.table({"x": values, "s": pa.array(["é", "e\u0301", "日本", "", None, "a|b"] * 40)[: len(values)]})
        name = f"floats_{secrets.token_hex(3)}"
        ss.write_table(db, name, data)
    else:
        data = mixed_table() if name == "mixed" else real_table(name)
    split = Holdout(0.2, seed=3)
    expected = sorted((text, py_is_holdout(text, split)) for text in py_texts(data))
    assert db_split(db, name, split) == expected
    if name not in ("eusilc", "ses"):  # the one-expression form too (slow to JIT-compile on wide tables)
        assert db_split(db, name, split, flat=True) == expected
    # The layered form (what a generator reads) selects the same rows as the one-expression form.
    t = db.table(name)
    n_holdout = sum(flag for _, flag in expected)
    assert split.holdout(t).count().execute() == n_holdout
    assert split.training(t).count().execute() == len(expected) - n_holdout


def test_realised_share_and_seeds(db):
    t = db.table("eusilc")
    n = t.count().execute()
    shares = {}
    for share, seed in ((0.2, 0), (0.2, 1), (0.5, 0), (0.05, 2)):
        shares[share, seed] = Holdout(share, seed).holdout(t).count().execute() / n
        assert abs(shares[share, seed] - share) < 4.5 * math.sqrt(share * (1 - share) / n), (share, seed)
    assert shares[0.2, 0] != shares[0.2, 1]  # another seed, another split


def test_identical_rows_stay_together_and_column_order_does_not_matter(db, fresh_name):
    base = pa.table({"g": pa.array(np.arange(300) % 40, pa.int64()), "x": pa.array((np.arange(300) % 40) * 0.5)})
    ss.write_table(db, fresh_name, base)
    split = Holdout(0.3, seed=5)
    t = db.table(fresh_name)
    per_row = t.mutate(h=split.is_holdout(t)).group_by("g").agg(sides=lambda s: s.h.nunique()).execute()
    assert (per_row["sides"] == 1).all() and len(per_row) == 40
    db.backend.create_table(fresh_name + "_r", t.select("x", "g"))
    assert db_split(db, fresh_name + "_r", split) == db_split(db, fresh_name, split)


@pytest.mark.postgres
def test_same_split_on_duckdb_and_postgres(duckdb_db, postgres_db):
    split = Holdout(0.25, seed=11)
    for name in REAL:
        duck, pg = db_split(duckdb_db, name, split), db_split(postgres_db, name, split)
        assert sum(f for _, f in duck) == sum(f for _, f in pg) > 0, name
        assert duck == pg, name


def test_fit_reads_only_the_training_rows(db, tmp_path):
    holdout = Holdout(0.2, seed=1)
    before = table_names(db)
    model = ss.fit(db, "cps1988", method="independent", holdout=holdout, seed=1)
    training = int(db.backend.execute(holdout.training(db.table("cps1988")).count()))
    assert model.spec.n_rows == training and model.spec.table == "cps1988"
    assert sum(int(v.sum()) for v in model.counts.values()) == training * len(model.counts)
    assert table_names(db) == before  # the temporary training table is gone
    loaded = ss.load(model.save(tmp_path / "m.json"))
    assert loaded.holdout == holdout


def test_a_spec_inferred_under_a_holdout_comes_from_the_training_rows(db, fresh_name):
    """fit without a spec describes the table: with a split, from the training rows only, so that a value only
    held-out records have never reaches the model (they are the control set of the risk measures)."""
    split = Holdout(0.5, seed=3)
    holdout_only_value_table(db, fresh_name, split)
    model = ss.fit(db, fresh_name, method="bayesnet", holdout=split, seed=1)
    assert model.spec.table == fresh_name
    assert model.spec.column("g").categories == ("a",)
    assert ss.fit(db, fresh_name, method="bayesnet", seed=1).spec.column("g").categories == ("a", "held")
