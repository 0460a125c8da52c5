"""One test suite over every backend: each test that takes ``db`` runs on DuckDB and on PostgreSQL.

PostgreSQL is the machine's server (``SYNTHSQL_PG_URL``, default ``postgresql://postgres@127.0.0.1:5432/test``); each
test session works in a schema of its own, dropped at the end. Under CI (``CI=true`` or
``SYNTHSQL_REQUIRE_POSTGRES=1``) an unreachable server fails the PostgreSQL tests instead of skipping them.

Spark (``spark_db``, marked ``spark``) is one local session per test run (``local[2]``, its warehouse in a temporary
folder), shared by every Spark test; tests/test_spark.py holds them (a statement costs about a second there, so
the whole suite does not run on it). Under CI (or ``SYNTHSQL_REQUIRE_SPARK=1``) a missing pyspark or Java fails
them instead of skipping; ``-m "not spark"`` deselects them locally.

dbt (tests/test_dbt.py, marked ``dbt``) runs the ``dbt`` command of this environment (the ``[dbt]`` extra); under
CI (or ``SYNTHSQL_REQUIRE_DBT=1``) a missing dbt fails those tests instead of skipping them.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from psycopg import sql

import synthsql as ss
from synthsql import datasets

PG_URL = os.environ.get("SYNTHSQL_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REQUIRE_POSTGRES = os.environ.get("CI", "").lower() == "true" or os.environ.get("SYNTHSQL_REQUIRE_POSTGRES") == "1"
REQUIRE_SPARK = os.environ.get("CI", "").lower() == "true" or os.environ.get("SYNTHSQL_REQUIRE_SPARK") == "1"
REQUIRE_DBT = os.environ.get("CI", "").lower() == "true" or os.environ.get("SYNTHSQL_REQUIRE_DBT") == "1"


def real_table(name: str) -> pa.Table:
    """A real dataset from ../shared/data, or the project's shipped copy when the shared folder is absent."""
    path = SHARED_DATA / f"{name}.parquet"
    if not path.exists():
        path = datasets.path(name)
    return pq.read_table(path)


def mixed_table(n: int = 400, seed: int = 3) -> pa.Table:
    """A small table with every kind synthsql models, NULLs, a point mass at zero and an identifier."""
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south", "east", "west", ""], size=n, p=[0.3, 0.3, 0.2, 0.15, 0.05])
    region_mask = rng.random(n) < 0.1
    age = rng.integers(16, 90, size=n)
    income = np.where(rng.random(n) < 0.25, 0.0, np.round(rng.lognormal(10, 0.6, size=n), 2))
    income_mask = rng.random(n) < 0.05
    days = rng.integers(0, 3650, size=n)
    seconds = rng.integers(0, 86400 * 365, size=n)
    return pa.table(
        {
            "person_id": pa.array(np.arange(1, n + 1, dtype=np.int32)),
            "region": pa.array(region.tolist(), mask=region_mask),
            "employed": pa.array((age < 65) & (rng.random(n) < 0.8)),
            "age": pa.array(age.astype(np.int32)),
            "children": pa.array(rng.integers(0, 4, size=n).astype(np.int64)),
            "income": pa.array(income, mask=income_mask),
            "born": pa.array([dt.date(1990, 1, 1) + dt.timedelta(days=int(d)) for d in days], type=pa.date32()),
            "seen": pa.array(
                [dt.datetime(2020, 1, 1) + dt.timedelta(seconds=int(s), microseconds=123) for s in seconds],
                type=pa.timestamp("us"),
            ),
        }
    )


def _postgres(request: pytest.FixtureRequest) -> ss.Database:
    try:
        db = ss.connect(PG_URL)
    except ss.SynthsqlError as err:
        message = f"PostgreSQL is not reachable at {PG_URL}: {err}"
        if REQUIRE_POSTGRES:
            pytest.fail(message)
        pytest.skip(message)
    schema = f"synthsql_test_{secrets.token_hex(4)}"
    with db.raw.cursor() as cur:
        cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        cur.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
    request.addfinalizer(lambda: _drop_schema(db, schema))
    return db


def _drop_schema(db: ss.Database, schema: str) -> None:
    with db.raw.cursor() as cur:
        cur.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    db.raw.close()


def _load_test_tables(database: ss.Database) -> ss.Database:
    ss.write_table(database, "mixed", mixed_table())
    for name in ("cps1988", "eusilc", "ses"):
        ss.write_table(database, name, real_table(name))
    return database


@pytest.fixture(scope="session")
def duckdb_db(tmp_path_factory: pytest.TempPathFactory) -> ss.Database:
    return _load_test_tables(ss.connect(f"duckdb:///{tmp_path_factory.mktemp('duckdb') / 'test.duckdb'}", create=True))


@pytest.fixture(scope="session")
def postgres_db(request: pytest.FixtureRequest) -> ss.Database:
    return _load_test_tables(_postgres(request))


@pytest.fixture(scope="session")
def spark_session(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One local Spark session for the test run, stopped at the end."""
    try:
        from pyspark.sql import SparkSession

        session = (
            SparkSession.builder.master("local[2]")
            .appName("synthsql-tests")
            .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("spark-warehouse")))
            .config("spark.sql.shuffle.partitions", "2")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.memory", "2g")
            .getOrCreate()
        )
    except Exception as err:  # ImportError, or Java missing
        message = f"Spark is not available (pyspark with Java 17: pip install -e '.[spark]'): {err}"
        if REQUIRE_SPARK:
            pytest.fail(message)
        pytest.skip(message)
    session.sparkContext.setLogLevel("OFF")  # codegen fallbacks log stack traces; the results are unaffected
    yield session
    session.stop()


@pytest.fixture(scope="session")
def spark_db(spark_session: Any) -> ss.Database:
    """The Spark session as a synthsql database, with the test tables loaded."""
    return _load_test_tables(ss.connect(spark_session))


@pytest.fixture(scope="session", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> ss.Database:
    """A database with the test tables loaded (``mixed``, ``cps1988``, ``eusilc``, ``ses``): each backend in turn."""
    return request.getfixturevalue(f"{request.param}_db")


@pytest.fixture
def fresh_name() -> str:
    """A table name no other test uses."""
    return f"t_{secrets.token_hex(4)}"


def table_names(db: ss.Database) -> set[str]:
    return set(db.list_tables())


def read_sorted(db: ss.Database, name: str) -> pd.DataFrame:
    """A table's rows in a canonical order (PostgreSQL keeps no insertion order)."""
    frame = db.table(name).to_pandas()
    return frame.sort_values(list(frame.columns), na_position="first", kind="stable").reset_index(drop=True)


def holdout_only_value_table(db: ss.Database, name: str, split: Any) -> None:
    """Table ``name`` (``k``, ``g``; 100 values of ``k``, each repeated) whose column ``g`` is ``'a'`` on the training
    rows of ``split`` and ``'held'`` on its holdout rows (over 500 of them). The split is a function of a row's content, so the table keeps the
    ``'a'`` rows that fall in training and the ``'held'`` rows that fall in the holdout."""
    parts = {}
    for side, value, offset in (("training", "a", 0), ("holdout", "held", 2000)):
        part = f"{name}_{side}"
        source = "range(2000) r(i)" if db.dialect == "duckdb" else "generate_series(0, 1999) r(i)"
        db.backend.raw_sql(f"CREATE TABLE {part} AS SELECT i % 100 + {offset} AS k, '{value}' AS g FROM {source}")
        parts[side] = getattr(split, side)(db.table(part))
    db.backend.create_table(name, parts["training"].union(parts["holdout"]))
    assert db.table(name).filter(ibis._.g == "held").count().execute() > 500
    assert split.holdout(db.table(name)).filter(ibis._.g == "a").count().execute() == 0


# Counting the statements a database receives
_DUCKDB_LOG = "SELECT count(*) FROM duckdb_logs WHERE type = 'QueryLog'"
# Every way a statement leaves psycopg: a cursor's execute/executemany/copy/stream (Connection.execute goes through
# Cursor.execute), a server-side cursor's execute, and the BEGIN of a transaction block.
_PSYCOPG_ENTRY_POINTS = [
    (psycopg.Cursor, "execute"),
    (psycopg.Cursor, "executemany"),
    (psycopg.Cursor, "copy"),
    (psycopg.Cursor, "stream"),
    (psycopg.ServerCursor, "execute"),
    (psycopg.ServerCursor, "executemany"),
    (psycopg.Connection, "transaction"),
]


@pytest.fixture
def statements(db: ss.Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], int]]:
    """A function returning how many statements ``db`` has received since the fixture started."""
    if db.dialect == "duckdb":
        db.raw.execute("CALL enable_logging('QueryLog')")
        own = 0  # the counting queries, which the log records too

        def logged() -> int:
            nonlocal own
            own += 1
            return int(db.raw.execute(_DUCKDB_LOG).fetchone()[0])

        base = logged()
        try:
            yield lambda: logged() - base - (own - 1)
        finally:
            db.raw.execute("CALL disable_logging()")
            db.raw.execute("CALL truncate_duckdb_logs()")
        return
    calls: list[str] = []
    for cls, name in _PSYCOPG_ENTRY_POINTS:
        original = getattr(cls, name)

        def counted(self, *args, _original=original, _name=name, **kwargs):  # type: ignore[no-untyped-def]
            calls.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, counted)
    yield lambda: len(calls)
