"""The public domains of the shipped datasets cover their data and are accepted by describe and the DP methods."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

import synthsql as ss
from synthsql.aggregates import AggregateStore
from synthsql.datasets import NAMES, path
from synthsql.datasets.domains import domains
from synthsql.errors import InvalidParameterError


@pytest.mark.parametrize("name", NAMES)
def test_domains_cover_the_shipped_data(name: str) -> None:
    db = ss.connect("duckdb://")
    data = pq.read_table(path(name))
    db.backend.create_table(name, data)
    spec = ss.describe(db, name, columns=domains(name))
    assert spec.modelled and all(c.declared for c in spec.modelled)
    assert all(c.cells <= 30 for c in spec.modelled)
    names = [c.name for c in spec.modelled]
    counts = AggregateStore(db, name, spec).marginals([(c,) for c in names])
    for column, x in zip(names, counts, strict=True):
        outside = x[-1] - data.column(column).null_count  # the NULL cell also holds out-of-domain values
        assert outside <= 0.01 * data.num_rows, column


def test_identifiers_are_excluded() -> None:
    assert domains("eusilc")["db030"] == {"kind": "excluded"}
    assert domains("ses")["IDunit"] == {"kind": "excluded"}


def test_unknown_dataset() -> None:
    with pytest.raises(InvalidParameterError, match="Did you mean 'ses'"):
        domains("sess")
