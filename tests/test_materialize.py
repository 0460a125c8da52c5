"""Writing a synthetic table: atomic, never over the source, never half done, names checked."""

from __future__ import annotations

import warnings

import pyarrow as pa
import pytest
from sqlglot import exp

import synthsql as ss
from synthsql.engines import DuckDBEngine
from synthsql.schema import IdentifierColumnWarning
from tests.conftest import read_sorted, table_names


@pytest.fixture(scope="module")
def model(db):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifierColumnWarning)
        return ss.fit(db, "mixed", method="independent", seed=1)


class Boom(RuntimeError):
    pass


def failing_after_one_batch(model, error: BaseException):
    real = model.sample

    def sample(n, seed=None, *, batch_rows=1000):
        batches = real(n, seed, batch_rows=100)
        yield next(batches)
        raise error

    return sample


def test_default_row_count_is_the_sources(db, model, fresh_name):
    ss.materialize(db, model, fresh_name, seed=1)
    assert db.table(fresh_name).count().execute() == model.spec.n_rows == db.table("mixed").count().execute()


def test_a_write_in_several_statements_has_the_same_rows(db, model, fresh_name, monkeypatch):
    """DuckDB gets one INSERT per ~STATEMENT_ROWS rows, all in one transaction: the same rows as one statement."""
    ss.materialize(db, model, fresh_name, rows=1000, seed=3, batch_rows=100)
    whole = read_sorted(db, fresh_name)
    monkeypatch.setattr(DuckDBEngine, "STATEMENT_ROWS", 250)
    ss.materialize(db, model, fresh_name, rows=1000, seed=3, batch_rows=100, replace=True)
    assert read_sorted(db, fresh_name).equals(whole)
    assert len(whole) == 1000


@pytest.mark.parametrize("error", [Boom("disk full"), KeyboardInterrupt()])
def test_a_failed_write_leaves_nothing_behind(db, model, fresh_name, monkeypatch, error):
    before = table_names(db)
    monkeypatch.setattr(model, "sample", failing_after_one_batch(model, error))
    with pytest.raises(type(error)):
        ss.materialize(db, model, fresh_name, rows=1000, seed=1)
    assert table_names(db) == before  # no target, no temporary table


def test_an_existing_target_is_replaced_only_when_asked_and_only_when_complete(db, model, fresh_name, monkeypatch):
    ss.materialize(db, model, fresh_name, rows=50, seed=1)
    original = read_sorted(db, fresh_name)
    with pytest.raises(ss.TargetError, match=f"'{fresh_name}' already exists; pass replace=True"):
        ss.materialize(db, model, fresh_name, rows=80, seed=2)
    assert read_sorted(db, fresh_name).equals(original)
    with monkeypatch.context() as patch:
        patch.setattr(model, "sample", failing_after_one_batch(model, Boom("network")))
        with pytest.raises(Boom):
            ss.materialize(db, model, fresh_name, rows=1000, seed=2, replace=True)
    assert read_sorted(db, fresh_name).equals(original)
    ss.materialize(db, model, fresh_name, rows=80, seed=2, replace=True)
    assert db.table(fresh_name).count().execute() == 80


def test_the_source_is_never_the_target(db, model):
    before = table_names(db)
    schema = db.backend.current_database
    for target in ("mixed", f"{schema}.mixed"):
        with pytest.raises(ss.TargetError, match="is the source table 'mixed'"):
            ss.materialize(db, model, target, replace=True)
    assert table_names(db) == before


@pytest.mark.parametrize("target", ['x"; DROP TABLE mixed; --', "a;b", "it's", "two words", "a.b.c", ""])
def test_unsafe_target_names_are_refused(db, model, target):
    before = table_names(db)
    with pytest.raises(ss.TargetError):
        ss.materialize(db, model, target)
    assert table_names(db) == before


@pytest.mark.parametrize("rows", [0, -1, 1.5, True])
def test_bad_row_counts_change_nothing(db, model, rows, fresh_name):
    before = table_names(db)
    with pytest.raises(ss.InvalidParameterError, match="positive integer"):
        ss.materialize(db, model, fresh_name, rows=rows)
    assert table_names(db) == before


def test_a_schema_qualified_target(db, model, fresh_name):
    db.backend.create_database(fresh_name)
    try:
        ss.materialize(db, model, f"{fresh_name}.persons", rows=20, seed=1)
        assert db.exists(f"{fresh_name}.persons") and not db.exists("persons")
        assert db.table(f"{fresh_name}.persons").schema() == db.table("mixed").schema()
    finally:
        db.execute(exp.Drop(this=exp.to_identifier(fresh_name, quoted=True), kind="SCHEMA", cascade=True))


def test_write_table_keeps_nulls_and_empty_strings_apart(db, fresh_name):
    data = pa.table({"s": pa.array(["", None, "a,b", 'q"uote']), "x": pa.array([1.5, None, 0.1 + 0.2, -0.0])})
    ss.write_table(db, fresh_name, data)
    back = db.table(fresh_name).to_pyarrow()
    assert back.column("s").to_pylist() == ["", None, "a,b", 'q"uote']
    assert back.column("x").to_pylist() == [1.5, None, 0.30000000000000004, -0.0]


def test_ibis_can_overwrite_a_table(db, fresh_name):
    """Guards the sqlglot pin: Ibis 12 with sqlglot >= 30.18 renders DROP TABLE IF EXISTS without the name."""
    db.backend.create_table(fresh_name, db.table("mixed").limit(3), overwrite=True)
    db.backend.create_table(fresh_name, db.table("mixed").limit(5), overwrite=True)
    assert db.table(fresh_name).count().execute() == 5
