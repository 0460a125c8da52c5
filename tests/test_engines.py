"""The engine strategies: one class per engine holds what differs, and no other module branches on a dialect name."""

from __future__ import annotations

import re
from pathlib import Path

import ibis.expr.datatypes as dt
import pyarrow as pa
import pytest
from sqlglot import exp

import synthsql
from synthsql.engines import ENGINES, DuckDBEngine, Engine, PostgresEngine, for_dialect

PACKAGE = Path(synthsql.__file__).resolve().parent
#: A comparison of a dialect or backend name, or a dispatch table keyed by one: the kind of branch that belongs in
#: synthsql/engines.py. (Parsing a URL's scheme in ``connect`` is not a branch on the engine.)
BRANCH = re.compile(r"""(dialect|backend\.name)\s*(==|!=)|\{\s*["'](duckdb|postgres)["']\s*:""")


def test_each_database_gets_the_engine_of_its_backend(db):
    assert type(db.engine) is ENGINES[db.backend.name]
    assert db.dialect == db.engine.dialect
    assert for_dialect(db.dialect) is type(db.engine)
    assert issubclass(type(db.engine), Engine)


def test_no_module_outside_the_engines_branches_on_an_engine_name():
    found = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "engines.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if BRANCH.search(line) and not line.lstrip().startswith("#")
    ]
    assert found == [], "engine differences belong in synthsql/engines.py:\n" + "\n".join(found)


def test_the_branch_pattern_sees_a_branch():
    """The check above can fail: the pattern matches the branches it is meant to keep out."""
    assert BRANCH.search('    if db.dialect == "duckdb":')
    assert BRANCH.search("if backend.name != 'postgres':")
    assert BRANCH.search('    return {"duckdb": DuckDBCompiler, "postgres": PostgresCompiler}[dialect]()')
    assert not BRANCH.search('        if scheme == "duckdb":')


@pytest.mark.parametrize(
    ("dtype", "duckdb", "postgres"),
    [
        (dt.uint8, dt.uint8, dt.int16),
        (dt.uint16, dt.uint16, dt.int32),
        (dt.uint32, dt.uint32, dt.int64),
        (dt.uint64, dt.uint64, dt.Decimal(20, 0)),
        (dt.int64, dt.int64, dt.int64),
        (dt.string, dt.string, dt.string),
    ],
)
def test_unsigned_integers_are_stored_exactly(dtype, duckdb, postgres):
    assert DuckDBEngine(None).storable(dtype) == duckdb
    assert PostgresEngine.storable(PostgresEngine.__new__(PostgresEngine), dtype) == postgres  # no session needed


def test_subqueries_are_fenced_on_postgres_only():
    def tree() -> exp.Select:
        inner = exp.select("x").from_("t").subquery("s")
        return exp.select("x").from_(inner)

    duck, pg = tree(), tree()
    DuckDBEngine(None).fence_subqueries(duck)
    PostgresEngine.fence_subqueries(PostgresEngine.__new__(PostgresEngine), pg)
    assert "OFFSET" not in duck.sql(dialect="duckdb")
    assert pg.sql(dialect="postgres") == "SELECT x FROM (SELECT x FROM t OFFSET 0) AS s"


def test_text_sorts_byte_by_byte_on_every_engine(db, fresh_name):
    """Upper case before lower case, '_' between them, as bytes sort: the order partial synthesis relies on."""
    words = ["b", "B", "a", "_", "A", "é", "Z"]
    db.backend.create_table(fresh_name, pa.table({"w": words}))
    column = db.engine.text_order(exp.cast(exp.column("w", quoted=True), "TEXT"))
    query = exp.select(exp.column("w", quoted=True)).from_(exp.to_identifier(fresh_name)).order_by(column)
    assert [w for (w,) in db.fetchall(query)] == sorted(words, key=lambda w: w.encode())


def test_a_view_under_the_target_name_is_refused_before_sampling(db, fresh_name, monkeypatch):
    model = synthsql.fit(db, "cps1988", method="independent", seed=1)
    db.engine.execute(f"CREATE VIEW {fresh_name} AS SELECT 1 AS x")
    monkeypatch.setattr(synthsql.Model, "release", lambda *a, **k: pytest.fail("sampled before checking the target"))
    title = db.engine.title
    with pytest.raises(synthsql.TargetError, match=f"^{title} cannot replace the table '{fresh_name}': it is a view"):
        synthsql.materialize(db, model, fresh_name, seed=1, replace=True)
    assert db.fetchall(exp.select("x").from_(fresh_name)) == [(1,)]  # the view as it was
    db.engine.execute(f"DROP VIEW {fresh_name}")


def test_a_read_only_database_is_refused_before_sampling(tmp_path, monkeypatch):
    path = tmp_path / "ro.duckdb"
    writable = synthsql.connect(f"duckdb:///{path}", create=True)
    synthsql.datasets.load(writable, "cps1988")
    model = synthsql.fit(writable, "cps1988", method="independent", seed=1)
    writable.raw.close()
    db = synthsql.connect(f"duckdb:///{path}?read_only=true")
    monkeypatch.setattr(synthsql.Model, "release", lambda *a, **k: pytest.fail("sampled before checking the target"))
    with pytest.raises(synthsql.TargetError, match=r"^DuckDB cannot create the table 'synth' in duckdb:///.*read-only"):
        synthsql.materialize(db, model, "synth", seed=1)
    monkeypatch.setattr("synthsql.pipeline.measure", lambda *a, **k: pytest.fail("measured before checking"))
    with pytest.raises(synthsql.TargetError, match=r"^DuckDB cannot create the table 'cps1988__utility'.*read-only"):
        synthsql.evaluate(db, real="cps1988", synthetic="cps1988")


@pytest.mark.postgres
def test_postgres_sessions_get_enough_work_mem_and_keep_a_larger_one(postgres_db):
    """128 grouping sets hash in one pass only with enough work_mem (the default 4MB sorted the rows again per set);
    a session whose work_mem is already larger keeps it."""
    from synthsql.engines import MIN_POSTGRES_WORK_MEM

    assert postgres_db.engine.fetchall("SELECT pg_size_bytes(current_setting('work_mem')) >= pg_size_bytes('64MB')") == [
        (True,)
    ]
    assert MIN_POSTGRES_WORK_MEM == "64MB"
    from tests.conftest import PG_URL

    larger = synthsql.connect(PG_URL, options="-c work_mem=256MB")
    try:
        assert larger.engine.fetchall("SHOW work_mem") == [("256MB",)]
    finally:
        larger.raw.close()
