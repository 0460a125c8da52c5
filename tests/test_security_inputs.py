"""Inputs at the edges: session settings, credentials, paths, names, sizes, races and a full disk.

Each case is an attack or an accident seen in the field, checked on DuckDB and PostgreSQL where it applies: the
answer is a clear synthsql error naming what is at fault, and the database is left as it was.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest
import sqlglot
from psycopg import sql

import synthsql as ss
import synthsql.write as write_module
from synthsql.catalog import CatalogError, load
from synthsql.cli import EXIT_CATALOG, EXIT_DATABASE, EXIT_USAGE, main
from synthsql.connection import PINNED_POSTGRES_SETTINGS
from tests.conftest import PG_URL, table_names

HOSTILE = "x\\'); DROP TABLE victim; --"  # breaks out of a literal when a backslash escapes the quote


@pytest.fixture
def second_connection(request):
    """A factory of other sessions on the same database (PostgreSQL: in the same schema), closed after the test."""

    def open_(db: ss.Database) -> ss.Database:
        other = _second_connection(db)
        if other.dialect == "postgres":
            request.addfinalizer(other.raw.close)
        return other

    return open_


def _second_connection(db: ss.Database) -> ss.Database:
    if db.dialect == "duckdb":
        (path,) = db.raw.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
        return ss.connect(f"duckdb:///{path}")
    (schema,) = db.raw.execute("SELECT current_schema()").fetchone()
    other = ss.connect(PG_URL)
    with other.raw.cursor() as cur:
        cur.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
    return other


# --------------------------------------------------------------------------------------------------------------
# PostgreSQL session settings that quoting depends on
# --------------------------------------------------------------------------------------------------------------
@pytest.fixture
def scs_off_role(postgres_db):
    """A login role whose sessions start with standard_conforming_strings = off (legal per role or database)."""
    role = "synthsql_scs_off"
    (schema,) = postgres_db.raw.execute("SELECT current_schema()").fetchone()
    with postgres_db.raw.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
        if cur.fetchone() is None:
            cur.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        cur.execute(sql.SQL("ALTER ROLE {} SET standard_conforming_strings = off").format(sql.Identifier(role)))
        cur.execute(sql.SQL("GRANT ALL ON SCHEMA {} TO {}").format(sql.Identifier(schema), sql.Identifier(role)))
    url = PG_URL.replace("postgres@", f"{role}@", 1)
    yield url, schema


@pytest.mark.postgres
def test_a_backslash_quote_value_cannot_break_out_when_the_role_turns_escapes_on(scs_off_role, fresh_name, request):
    def request_close(database: ss.Database) -> None:
        request.addfinalizer(database.raw.close)

    url, schema = scs_off_role
    # The control: a plain session of that role reads the rendered literal differently (the test can fail).
    literal = sqlglot.exp.Literal.string(HOSTILE).sql(dialect="postgres")
    with psycopg.connect(url.replace("postgresql://", "postgresql://", 1), autocommit=True) as raw:
        assert raw.execute("SHOW standard_conforming_strings").fetchone() == ("off",)
        with pytest.raises(psycopg.Error):
            raw.execute(f"SELECT {literal}").fetchone()  # the backslash escapes the quote: the literal never ends
    db = ss.connect(url)
    request_close(db)
    with db.raw.cursor() as cur:
        cur.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        for name, value in PINNED_POSTGRES_SETTINGS.items():
            cur.execute("SELECT current_setting(%s)", (name,))
            assert cur.fetchone()[0].lower() == value.lower()
    ss.write_table(db, "victim", pa.table({"x": [1]}))
    ss.write_table(db, fresh_name, pa.table({"g": [HOSTILE, "plain", HOSTILE, "plain"] * 25, "n": [i % 7 for i in range(100)]}))
    spec = ss.describe(db, fresh_name)
    assert HOSTILE in spec.column("g").categories
    model = ss.fit(db, fresh_name, method="independent", spec=spec, seed=1)
    assert ss.AggregateStore(db, fresh_name, spec).marginal(("g",)).tolist()[:2] == [50, 50]
    ss.materialize(db, model, f"{fresh_name}_s", seed=1)
    assert db.exists("victim")
    assert set(db.table(f"{fresh_name}_s").to_pandas()["g"]) <= {HOSTILE, "plain"}


@pytest.mark.postgres
def test_a_session_that_refuses_the_pinned_setting_is_refused(monkeypatch):
    import synthsql.connection as connection

    monkeypatch.setitem(connection.PINNED_POSTGRES_SETTINGS, "standard_conforming_strings", "off")
    monkeypatch.setitem(connection.PINNED_POSTGRES_SETTINGS, "jit", "maybe")  # set_config refuses it
    with pytest.raises(Exception, match="jit|maybe"):
        ss.connect(PG_URL)


# --------------------------------------------------------------------------------------------------------------
# Credentials, URLs and paths
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url, secret",
    [
        ("postgresql://postgres:hunter2@127.0.0.1:1/test", "hunter2"),
        ("postgresql://postgres:p%40ss%3Aw0rd@127.0.0.1:1/test", "p@ss:w0rd"),
        ("postgresql://postgres@127.0.0.1:1/test?password=hunter2&sslmode=disable", "hunter2"),
        ("postgresql://nobody:hunter2@127.0.0.1:5432/test", "hunter2"),
    ],
)
def test_no_error_shows_a_password(url, secret, capsys, tmp_path):
    with pytest.raises(ss.SynthsqlError) as err:
        ss.connect(url)
    assert secret not in str(err.value) and "***" in str(err.value)
    assert secret.replace("@", "%40").replace(":", "%3A") not in str(err.value)
    path = tmp_path / "c.yml"
    path.write_text("version: 1\ntables:\n  - {name: a, source: cps1988}\n")
    assert main(["validate", str(path), "--db", url]) == EXIT_DATABASE
    out = capsys.readouterr()
    assert secret not in out.err + out.out


def test_read_only_duckdb_urls_work(tmp_path):
    path = tmp_path / "w.duckdb"
    ss.connect(f"duckdb:///{path}", create=True).backend.raw_sql("CREATE TABLE a AS SELECT 1 AS x")
    for flag in ("true", "1", "yes"):
        db = ss.connect(f"duckdb:///{path}?read_only={flag}")
        assert db.list_tables() == ["a"]
        with pytest.raises(Exception, match="read-only"):
            db.raw.execute("CREATE TABLE b (x INTEGER)")
        db.backend.disconnect()
    with pytest.raises(ss.SynthsqlError, match="'read_only' must be true or false, got 'perhaps'"):
        ss.connect(f"duckdb:///{path}?read_only=perhaps")


def test_a_mistyped_duckdb_path_is_refused_and_creates_nothing(tmp_path, capsys):
    missing = tmp_path / "warehuose.duckdb"
    with pytest.raises(ss.SynthsqlError, match="does not exist.*create=True"):
        ss.connect(f"duckdb:///{missing}")
    catalog = tmp_path / "c.yml"
    catalog.write_text("version: 1\ntables:\n  - {name: a, source: cps1988}\n")
    for command in (["validate", str(catalog)], ["build", str(catalog), "--quiet"]):
        assert main([*command, "--db", f"duckdb:///{missing}"]) == EXIT_DATABASE
        assert "does not exist" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [catalog]


def test_compile_of_an_unknown_template_is_a_usage_error(capsys):
    assert main(["compile", "nosuch"]) == EXIT_USAGE
    assert "No template 'nosuch'" in capsys.readouterr().err


def test_report_to_an_unwritable_path_fails_before_any_evaluation(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(ss, "evaluate", lambda *a, **k: pytest.fail("evaluated before checking -o"))
    catalog = tmp_path / "c.yml"
    catalog.write_text("version: 1\ntables:\n  - {name: a, source: cps1988}\n")
    for output in (tmp_path / "no" / "such" / "dir" / "r.html", tmp_path):
        code = main(["report", str(catalog), "--db", "duckdb://", "--select", "a", "-o", str(output)])
        assert code == EXIT_USAGE
        assert f"cannot write the report to {str(output)!r}" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()


# --------------------------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "target, message",
    [
        ("t" * 60, "may have at most 54 characters"),
        ("x; DROP TABLE t", "is not allowed"),
        ('a"b', "is not allowed"),
        ("s.t.u", "must be 'table' or 'schema.table'"),
    ],
)
def test_validate_without_a_database_refuses_bad_targets(tmp_path, capsys, target, message):
    path = tmp_path / "c.yml"
    path.write_text(f"version: 1\ntables:\n  - {{name: a, source: cps1988, target: '{target}'}}\n")
    with pytest.raises(CatalogError, match=message):
        load(path)
    assert main(["validate", str(path)]) == EXIT_CATALOG
    assert "tables[0].target:" in capsys.readouterr().err


def test_materialize_refuses_a_target_too_long_for_its_companions(db):
    model = ss.fit(db, "cps1988", method="independent", seed=1)
    before = table_names(db)
    with pytest.raises(ss.TargetError, match="at most 54 characters"):
        ss.materialize(db, model, "t" * 60)
    assert table_names(db) == before


# --------------------------------------------------------------------------------------------------------------
# Sizes
# --------------------------------------------------------------------------------------------------------------
def test_materialize_refuses_more_rows_than_its_cap_before_drawing(db, monkeypatch):
    model = ss.fit(db, "cps1988", method="independent", seed=1)
    monkeypatch.setattr(type(model), "sample", lambda *a, **k: pytest.fail("sampled before checking the cap"))
    before = table_names(db)
    with pytest.raises(ss.InvalidParameterError, match=r"1,000,000,000,000 rows is over the cap of 1,000,000,000.*max_rows="):
        ss.materialize(db, model, "huge", rows=10**12)
    with pytest.raises(ss.InvalidParameterError, match="over the cap of 10 rows"):
        ss.materialize(db, model, "huge", rows=11, max_rows=10)
    assert table_names(db) == before


def test_a_catalog_asking_for_too_many_rows_does_not_validate(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text("version: 1\ntables:\n  - {name: a, source: cps1988, rows: 2000000000000}\n")
    with pytest.raises(CatalogError, match=r"tables\[0\].rows: 2,000,000,000,000 rows is over the cap"):
        load(path)
    path.write_text("version: 1\ntables:\n  - {name: a, source: cps1988, rows: 2000000000000, max_rows: 3000000000000}\n")
    assert load(path).tables[0].max_rows == 3 * 10**12


WIDE_COLUMNS, WIDE_CATEGORIES = 40, 1000


@pytest.fixture
def wide(db, fresh_name):
    """40 columns of 1,000 declared categories each (the issue's mst case), on 50 rows."""
    cols = ", ".join(f"CAST((i * {k + 1}) % {WIDE_CATEGORIES} AS VARCHAR) AS c{k}" for k in range(WIDE_COLUMNS))
    source = "range(50) r(i)" if db.dialect == "duckdb" else "generate_series(0, 49) r(i)"
    db.raw.execute(f"CREATE TABLE {fresh_name} AS SELECT {cols} FROM {source}")
    if db.dialect == "postgres":
        db.raw.commit()
    categories = tuple(str(v) for v in range(WIDE_CATEGORIES))
    columns = tuple(
        ss.ColumnSpec(name=f"c{k}", kind="categorical", dtype="string", categories=categories, declared=True)
        for k in range(WIDE_COLUMNS)
    )
    return fresh_name, ss.TableSpec(table=fresh_name, n_rows=50, columns=columns)


@pytest.mark.parametrize("method", ["mst", "aim", "bayesnet"])
def test_all_pairs_over_a_wide_domain_are_refused_before_any_query(db, wide, method, monkeypatch):
    table, spec = wide
    monkeypatch.setattr(type(db), "fetchall", lambda *a, **k: pytest.fail("a marginal was queried"))
    private = {"epsilon": 1.0} if method != "bayesnet" else {"seed": 1}
    with pytest.raises(ss.InvalidParameterError, match=r"over the cap of 100,000,000 cells.*max_aggregate_cells=") as err:
        ss.fit(db, table, method=method, spec=spec, **private)
    assert f"Table {table!r}" in str(err.value)


def test_the_aggregate_cap_can_be_raised_and_lowered(db, wide):
    table, spec = wide
    small = dataclasses.replace(spec, columns=spec.columns[:3])
    with pytest.raises(ss.InvalidParameterError, match="over the cap of 1,000 cells"):
        ss.fit(db, table, method="independent", spec=small, seed=1, max_aggregate_cells=1000)
    model = ss.fit(db, table, method="independent", spec=small, seed=1, max_aggregate_cells=3 * 1001)
    assert model.to_arrow(10, seed=1).num_rows == 10
    with pytest.raises(ss.InvalidParameterError, match="'max_aggregate_cells' must be a positive integer"):
        ss.fit(db, table, method="independent", spec=small, seed=1, max_aggregate_cells=0)


# --------------------------------------------------------------------------------------------------------------
# Races
# --------------------------------------------------------------------------------------------------------------
def test_two_materializes_racing_to_a_new_target(db, fresh_name, monkeypatch, second_connection):
    """Both sessions find no target and write; the second to swap its table in gets a TargetError, not a raw
    DuplicateTable, and the table is whole."""
    other = second_connection(db)
    model = ss.fit(db, "cps1988", method="independent", seed=1)
    barrier = threading.Barrier(2, timeout=60)
    original = write_module._append
    waited = threading.local()

    def append_then_wait(*args, **kwargs):
        original(*args, **kwargs)
        if not getattr(waited, "once", False):  # the synthetic table's append (its __model follows, unsynchronised)
            waited.once = True
            barrier.wait()  # both temporary tables are full before either is renamed

    monkeypatch.setattr(write_module, "_append", append_then_wait)
    outcomes: dict[int, object] = {}

    def run(i: int, database: ss.Database) -> None:
        try:
            outcomes[i] = ss.materialize(database, model, fresh_name, rows=1000, seed=i)
        except Exception as err:  # noqa: BLE001 - the outcome is what the test checks
            outcomes[i] = err

    threads = [threading.Thread(target=run, args=(i, d)) for i, d in enumerate((db, other))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    errors = [o for o in outcomes.values() if isinstance(o, Exception)]
    assert len(outcomes) == 2 and len(errors) == 1, outcomes
    assert isinstance(errors[0], ss.TargetError), repr(errors[0])
    assert "Another session" in str(errors[0]) or "already exists" in str(errors[0])
    assert db.table(fresh_name).count().execute() == 1000
    assert not [n for n in table_names(db) if n.startswith("_synthsql_tmp_")]


def test_evaluate_reads_one_snapshot_while_the_table_is_replaced(db, fresh_name, monkeypatch, second_connection):
    # the package's attribute `evaluate` is the function; the module is reached through sys.modules
    evaluate_module = sys.modules["synthsql.evaluate"]

    spec = ss.describe(db, "cps1988")
    model = ss.fit(db, "cps1988", method="independent", seed=1)
    ss.materialize(db, model, fresh_name, seed=1)
    baseline = ss.evaluate(db, real="cps1988", synthetic=fresh_name, spec=spec, pmse=["cells"], risk=False, write=False)
    other = second_connection(db)
    replacement = ss.fit(db, "cps1988", method="uniform", seed=2)
    original = evaluate_module.column_distances
    replaced = threading.Event()

    replacer = threading.Thread(
        target=lambda: (ss.materialize(other, replacement, fresh_name, seed=3, replace=True), replaced.set())
    )

    def distances_then_replace(*args, **kwargs):
        out = original(*args, **kwargs)
        if not replacer.is_alive() and not replaced.is_set():
            # another session replaces the synthetic table now (on PostgreSQL it waits for this snapshot to end)
            replacer.start()
            replaced.wait(2)
        return out

    monkeypatch.setattr(evaluate_module, "column_distances", distances_then_replace)
    during = ss.evaluate(db, real="cps1988", synthetic=fresh_name, spec=spec, pmse=["cells"], risk=False, write=False)
    monkeypatch.undo()
    replacer.join(60)
    assert replaced.is_set()
    assert during.utility.equals(baseline.utility)
    after = ss.evaluate(db, real="cps1988", synthetic=fresh_name, spec=spec, pmse=["cells"], risk=False, write=False)
    assert not after.utility.equals(baseline.utility)  # the replacement did land: the check above could fail


# --------------------------------------------------------------------------------------------------------------
# A full disk (DuckDB)
# --------------------------------------------------------------------------------------------------------------
FULL_DISK = textwrap.dedent(
    """
    import sys
    import synthsql as ss
    db = ss.connect("duckdb:///" + sys.argv[1] + "/full.duckdb", create=True)
    ss.datasets.load(db, "cps1988")
    db.raw.execute("CHECKPOINT")
    model = ss.fit(db, "cps1988", method="independent", seed=1)
    ss.materialize(db, model, "small", rows=20_000, seed=1)
    try:
        ss.materialize(db, model, "big", rows=300_000, seed=1)
    except ss.SynthsqlError as err:
        print(type(err).__name__ + ": " + str(err))
    """
)


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare for a private tmpfs")
def test_a_full_disk_gives_a_clear_error(tmp_path):
    """A 2 MB tmpfs in a private mount namespace: DuckDB fails writing, then fails to roll back (it invalidates the
    database); synthsql says so plainly instead of DuckDB's internal error."""
    mount = tmp_path / "small"
    mount.mkdir()
    script = tmp_path / "full.py"
    script.write_text(FULL_DISK)
    prefix = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "--map-root-user", "--mount"]
    shell = f"mount -t tmpfs -o size=2m tmpfs {mount} && exec {sys.executable} {script} {mount}"
    done = subprocess.run([*prefix, "sh", "-c", shell], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[1])
    if "mount" in done.stderr and done.returncode != 0 and "permission denied" in done.stderr.lower():
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("DatabaseFailure: DuckDB could not write to the database"), done.stdout
    assert "No space left on device" in done.stdout and "Nothing of this run was committed" in done.stdout
    assert "INTERNAL Error" not in done.stdout.split("either (")[0]
