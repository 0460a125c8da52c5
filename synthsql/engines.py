"""What differs between the database engines synthsql runs on: one class per engine.

A :class:`~synthsql.connection.Database` holds one :class:`Engine` (``db.engine``), chosen by the Ibis backend's
name. Executing and streaming SQL, transactions and their isolation, telling a concurrent-write conflict from other
errors, the session settings an engine needs, the column types it can store, the fence that stops its optimizer
from inlining a derived table, and byte-order text sorting live here, so that other modules ask the engine rather
than compare dialect names. Adding an engine is one class here plus its test fixture.

The bulk append that :mod:`synthsql.write` streams synthetic batches through is here too: an ``INSERT`` from an
Arrow stream on DuckDB, ``COPY`` on PostgreSQL, Spark DataFrames on Spark. So is publishing: every table synthsql
writes is built under a staging name (:func:`staging_name`) and then *published* under its own name
(:meth:`Engine.publish`). DuckDB and PostgreSQL make DDL transactional, so a publish is a drop and a rename inside
the transaction. Spark has no multi-statement transactions: there the publishes of a whole block (a synthetic
table and its ``__privacy`` ledger, say) wait until the block has succeeded, and a failed block drops its staging
tables instead, so no partial table ever appears under a published name; staging tables an interrupted process
left behind are dropped by a later run (:meth:`SparkEngine.transaction`). A process killed in the middle of a block's
publishes (where no undo can run) leaves its journal, and the next run completes that publishing.
"""

from __future__ import annotations

import contextlib
import io
import logging
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

import ibis.expr.datatypes as dt
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlglot
from sqlglot import exp

from synthsql.errors import ConnectionError, DatabaseFailure, TargetError
from synthsql.extras import require

log = logging.getLogger("synthsql")

__all__ = [
    "ENGINES",
    "PINNED_POSTGRES_SETTINGS",
    "PINNED_SPARK_SETTINGS",
    "DuckDBEngine",
    "Engine",
    "PostgresEngine",
    "SparkEngine",
    "for_dialect",
    "staging_name",
]

#: The prefix of every staging table: ``_synthsql_tmp_<unix seconds>_<random hex>``.
STAGING_PREFIX = "_synthsql_tmp_"
#: The prefix of a Spark publish journal (:meth:`SparkEngine._run_publishes`): ``_synthsql_journal_<secs>_<hex>``.
JOURNAL_PREFIX = "_synthsql_journal_"


def staging_name() -> str:
    """A fresh staging table name that records when it was made (so that a later run can tell a stale one)."""
    return f"{STAGING_PREFIX}{int(time.time())}_{secrets.token_hex(6)}"


class BatchStream(Protocol):
    """Record batches produced ahead of the writer (:class:`synthsql.write._Prefetched`): ``error`` holds an error
    the producer raised (for a driver that wraps it); ``close`` stops the producer."""

    error: BaseException | None

    def __iter__(self) -> Iterator[pa.RecordBatch]: ...

    def close(self) -> None: ...


class Engine:
    """The operations whose SQL or driver calls differ between engines, on one raw DB-API connection.

    ``where`` names the database in messages (its URL with secrets masked, or empty).
    """

    #: The Ibis backend name this class serves.
    name: ClassVar[str]
    #: The sqlglot dialect SQL is written in for this engine.
    dialect: ClassVar[str]
    #: The engine's name in messages.
    title: ClassVar[str]
    #: The URL schemes :func:`synthsql.connect` opens with this engine, and an example URL for messages.
    schemes: ClassVar[tuple[str, ...]] = ()
    url_example: ClassVar[str] = ""
    #: Whether Ibis's ``approx_nunique`` is an exact count here, so that describe need not count distinct values a
    #: second time (PostgreSQL has no estimate: Ibis writes COUNT(DISTINCT x)).
    exact_distinct_estimate: ClassVar[bool] = False

    def __init__(self, raw: Any, where: str = "") -> None:
        self.raw = raw
        self.where = where

    @classmethod
    def raw_of(cls, backend: Any) -> Any:
        """The connection (or session) under an Ibis backend of this engine."""
        return backend.con

    @classmethod
    def open(cls, url: str, options: dict[str, Any], *, create: bool) -> Any:
        """The Ibis backend for ``url`` (one of :attr:`schemes`); URL query parameters and ``options`` are the
        engine's settings. A :class:`~synthsql.errors.ConnectionError` says what is wrong with the URL."""
        raise NotImplementedError

    @classmethod
    def backend_of_session(cls, session: Any) -> Any:
        """An Ibis backend around ``session`` when it is a live session of this engine (a SparkSession), else None."""
        return None

    def execute(self, sql: str) -> None:
        raise NotImplementedError

    def fetchall(self, sql: str) -> list[tuple]:
        raise NotImplementedError

    def stream(self, sql: str, schema: pa.Schema, batch_rows: int, *, concurrent: bool) -> Iterator[pa.RecordBatch]:
        """A query's rows as Arrow batches of at most ``batch_rows`` rows, without holding the result in memory."""
        raise NotImplementedError

    @contextlib.contextmanager
    def transaction(self, *, snapshot: bool) -> Iterator[None]:
        """One outermost transaction: committed at the end of the block, rolled back on any error or interrupt."""
        raise NotImplementedError
        yield  # pragma: no cover

    def conflicts(self, err: BaseException) -> bool:
        """True when ``err`` says another session changed the same table at the same time."""
        raise NotImplementedError

    def create_temporary(self, name: str, query: exp.Expression) -> None:
        """Compute ``query`` once into the temporary table ``name``, seen by this session only."""
        create = exp.Create(this=exp.Table(this=exp.to_identifier(name, quoted=True)), kind="TABLE",
                            expression=query, properties=exp.Properties(expressions=[exp.TemporaryProperty()]))
        self.execute(self.render(create))

    def drop_temporary(self, name: str) -> None:
        self.execute(self.render(exp.Drop(this=exp.Table(this=exp.to_identifier(name, quoted=True)), kind="TABLE",
                                          exists=True)))

    def cause(self, err: BaseException) -> str:
        """What went wrong, in one line, from a driver's error."""
        return _first_line(err)

    def check_replaceable(self, target: exp.Table) -> None:
        """Refuse, before any work, an existing ``target`` that synthsql could not replace (:meth:`replaceable`)."""
        problem = self.replaceable(target)
        if problem:
            raise TargetError(f"{self.title} cannot replace the table {_named(target)}: {problem}. Nothing was written.")

    def check_creatable(self, target: exp.Table) -> None:
        """Refuse, before any work, a schema where this session cannot create ``target`` (tried with an empty
        staging table beside it, dropped at once). The error names the table and the engine."""
        named = _named(target)
        probe = exp.Table(this=exp.to_identifier(staging_name(), quoted=True), db=target.args.get("db"))
        column = exp.ColumnDef(this=exp.to_identifier("x"), kind=exp.DataType.build("INT"))
        try:
            self.execute(self.render(exp.Create(this=exp.Schema(this=probe, expressions=[column]), kind="TABLE")))
        except Exception as err:
            raise TargetError(
                f"{self.title} cannot create the table {named}{self._at()}: {self.cause(err).rstrip('.!')}. "
                "Nothing was written."
            ) from None
        self.execute(self.render(exp.Drop(this=probe.copy(), kind="TABLE", exists=True)))

    def replaceable(self, target: exp.Table) -> str:
        """Why the existing ``target`` cannot be replaced by a table (empty when it can): here, when it is a view
        or another object that is not a base table."""
        schema = exp.Literal.string(target.db) if target.db else exp.func("current_schema")
        query = (
            exp.select("table_type").from_("information_schema.tables")
            .where(exp.column("table_name").eq(exp.Literal.string(target.name)))
            .where(exp.column("table_schema").eq(schema))
        )
        rows = self.fetchall(self.render(query))
        kind = str(rows[0][0]).lower() if rows else ""
        if kind == "base table":
            return ""
        named = {"view": "a view", "foreign": "a foreign table", "local temporary": "a temporary table"}
        return f"it is {named.get(kind, 'not a table (a materialized view, say)')}, and synthsql replaces only tables"

    def _at(self) -> str:
        return f" in {self.where}" if self.where else ""

    def stage(self, table: exp.Table) -> None:
        """Note a staging table made in the current transaction. DuckDB and PostgreSQL roll it back with the
        transaction; an engine without transactions drops it when the transaction fails."""

    def publish(self, staging: exp.Table, target: exp.Table, *, exists: bool) -> None:
        """Make the staging table the table ``target`` (dropping ``target`` first when it ``exists``), in the
        current transaction: at once here, where DDL is transactional."""
        if exists:
            self.execute(self.render(exp.Drop(this=target.copy(), kind="TABLE")))
        rename = exp.AlterRename(this=exp.Table(this=target.this.copy()))
        self.execute(self.render(exp.Alter(this=staging.copy(), kind="TABLE", actions=[rename])))

    def resolve(self, table: exp.Table) -> exp.Table | None:
        """The table that holds ``table``'s rows as this session sees them now (None: dropped). Where publishes
        happen at once, ``table`` itself; where they wait for the end of the block (Spark), a table published in
        the block is read from its staging table, so that a block reads what it wrote, as in a transaction."""
        return table

    def drop(self, table: exp.Table) -> None:
        """Drop ``table`` if it exists, in the current transaction (with the publishes, where they wait)."""
        self.execute(self.render(exp.Drop(this=table.copy(), kind="TABLE", exists=True)))

    def append(self, table: exp.Table, schema: pa.Schema, stream: BatchStream) -> None:
        """Write every batch of ``stream`` (columns as in ``schema``) into ``table``, in the current transaction;
        ``stream`` is closed when this returns or fails."""
        raise NotImplementedError

    def render(self, statement: exp.Expression) -> str:
        return statement.sql(dialect=self.dialect)

    def storable(self, dtype: dt.DataType) -> dt.DataType:
        """The column type this engine stores a value of ``dtype`` in, exactly."""
        return dtype

    def exact_type(self, dtype: dt.DataType) -> dt.DataType:
        """The type a column of ``dtype`` read from this engine has, spelled in full (what a spec records)."""
        return dtype

    def fence_subqueries(self, tree: exp.Select) -> None:
        """Stop the optimizer from pasting derived tables of ``tree`` into the query above them (in place)."""

    def text_order(self, column: exp.Expression) -> exp.Expression:
        """``column`` (already cast to text) as sorted byte by byte, the same on every engine."""
        return column

    def integer_sum(self, value: exp.Expression) -> exp.Expression:
        """``SUM`` of the ``BIGINT`` ``value`` over the rows, exact: the total, an integer of up to 127 bits, does not
        depend on the order in which the engine adds the rows (the fixed-point sums of GLMs). DuckDB sums ``BIGINT``
        to ``HUGEINT``, PostgreSQL to ``NUMERIC``."""
        return exp.Sum(this=value)

    def round_integer(self, value: exp.Expression) -> exp.Expression:
        """``value``, a double of magnitude below 2**63, rounded to the nearest ``BIGINT``, ties to even: the same
        integer on every engine (DuckDB and PostgreSQL both round so in a cast)."""
        return exp.cast(value, exp.DataType.build("BIGINT"))

    @classmethod
    def compiler(cls) -> Any:
        """The Ibis compiler of this engine, to compile expressions without a connection."""
        raise NotImplementedError


class DuckDBEngine(Engine):
    name = "duckdb"
    dialect = "duckdb"
    title = "DuckDB"
    schemes = ("duckdb",)
    url_example = "duckdb:///file.duckdb, duckdb:// (in memory)"

    @classmethod
    def open(cls, url: str, options: dict[str, Any], *, create: bool) -> Any:
        """SQLAlchemy's convention: ``duckdb:///rel/path.duckdb``, ``duckdb:////abs/path.duckdb``, ``duckdb://`` in
        memory. A file that does not exist is refused unless ``create``; ``read_only=true`` opens it read-only."""
        import ibis

        parts = urlsplit(url)
        params = {**dict(parse_qsl(parts.query)), **options}
        database = unquote(parts.netloc + (parts.path[1:] if parts.path.startswith("/") else parts.path))
        if "read_only" in params:
            params["read_only"] = _flag("read_only", params["read_only"])
        if database and database != ":memory:" and not create and not Path(database).exists():
            raise ConnectionError(
                f"The DuckDB file {database!r} does not exist (looked for {str(Path(database).resolve())!r}). "
                "Check the path, or ask for a new, empty database with connect(..., create=True)."
            )
        return ibis.duckdb.connect(database=database or ":memory:", **params)

    def execute(self, sql: str) -> None:
        self.raw.execute(sql)

    def fetchall(self, sql: str) -> list[tuple]:
        return self.raw.execute(sql).fetchall()

    def stream(self, sql: str, schema: pa.Schema, batch_rows: int, *, concurrent: bool) -> Iterator[pa.RecordBatch]:
        """With ``concurrent``, a cursor of its own (another connection to the same database, which sees only
        committed tables) streams the result, so the caller may write on the main connection meanwhile; otherwise
        the main connection streams it (the caller runs nothing else until the stream ends)."""
        cursor = self.raw.cursor() if concurrent else self.raw
        try:
            reader = cursor.execute(sql).fetch_record_batch(batch_rows)
            for batch in reader:
                for start in range(0, batch.num_rows, batch_rows):
                    yield batch.slice(start, batch_rows)
        finally:
            if concurrent:
                cursor.close()

    @contextlib.contextmanager
    def transaction(self, *, snapshot: bool) -> Iterator[None]:
        """DuckDB's transactions always read a snapshot, so ``snapshot`` needs nothing more."""
        self.raw.begin()
        try:
            yield
        except BaseException as err:
            self._rollback(err)
            raise
        self.raw.commit()

    def _rollback(self, cause: BaseException) -> None:
        """Roll back, and say plainly when the cause was the disk: DuckDB reports a full disk as an IO error and,
        after some failed writes, cannot roll back either (it then invalidates the database with an internal
        error)."""
        import duckdb

        where = f" {self.where!r}" if self.where else ""
        try:
            self.raw.rollback()
        except duckdb.Error as fatal:
            raise DatabaseFailure(
                f"DuckDB could not write to the database{where}: {_first_line(cause)}. It could not roll the "
                f"transaction back either ({_first_line(fatal)}) and has closed the database for this process. "
                "Nothing of this run was committed: free disk space, then connect again."
            ) from cause
        if isinstance(cause, duckdb.IOException):
            raise DatabaseFailure(
                f"DuckDB could not write to the database{where}: {_first_line(cause)}. The transaction was rolled "
                "back: nothing of this run was committed. Free disk space and run again."
            ) from cause

    #: Rows per INSERT statement (all in the same transaction): DuckDB holds on to what an Arrow stream scan read
    #: until the statement ends (about 13 bytes a row here: 1.3 GB over 100M rows in one statement).
    STATEMENT_ROWS = 5_000_000
    _ARROW_VIEW = "_synthsql_batch"

    def append(self, table: exp.Table, schema: pa.Schema, stream: BatchStream) -> None:
        """An INSERT from a registered Arrow stream per ~:attr:`STATEMENT_ROWS` rows, with insertion order off."""
        import duckdb

        names = [exp.to_identifier(name, quoted=True) for name in schema.names]
        (ordered,) = self.raw.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
        batches_left = iter(stream)
        try:
            self.raw.execute("SET preserve_insertion_order = false")
            select = exp.select(*[exp.column(n.copy()) for n in names]).from_(exp.to_identifier(self._ARROW_VIEW))
            insert = self.render(exp.insert(select, into=table, columns=[n.copy() for n in names]))
            while (first := next(batches_left, None)) is not None:
                reader = pa.RecordBatchReader.from_batches(schema, self._statement_batches(first, batches_left))
                self.raw.register(self._ARROW_VIEW, reader)
                try:
                    self.raw.execute(insert)
                except Exception:
                    if stream.error is not None:  # DuckDB wraps an error raised while it reads the stream
                        raise stream.error from None
                    raise
                finally:
                    self.raw.unregister(self._ARROW_VIEW)
        finally:
            stream.close()
            # Not possible in a transaction the failure aborted: the setting then stays off for this connection,
            # which only changes the order of results that have no ORDER BY.
            with contextlib.suppress(duckdb.Error):
                self.raw.execute(f"SET preserve_insertion_order = {'true' if ordered else 'false'}")

    def _statement_batches(
        self, first: pa.RecordBatch, rest: Iterator[pa.RecordBatch]
    ) -> Iterator[pa.RecordBatch]:
        """``first``, then batches from ``rest`` until about :attr:`STATEMENT_ROWS` rows: one INSERT's worth."""
        rows = first.num_rows
        yield first
        while rows < self.STATEMENT_ROWS and (batch := next(rest, None)) is not None:
            rows += batch.num_rows
            yield batch

    def conflicts(self, err: BaseException) -> bool:
        import duckdb

        return isinstance(err, duckdb.TransactionException) or (
            isinstance(err, duckdb.CatalogException) and "already exists" in str(err)
        )

    @classmethod
    def compiler(cls) -> Any:
        from ibis.backends.sql.compilers import DuckDBCompiler

        return DuckDBCompiler()


#: Session settings synthsql pins on every PostgreSQL connection, and the value each must have afterwards.
#: ``standard_conforming_strings``: with it off (a legal per-database or per-role setting) a backslash in a string
#: literal is an escape character, and a category value such as ``\'`` would end the literal early. ``jit``: the JIT
#: compiled synthsql's long generated queries for minutes where running them took seconds. ``client_encoding``: text
#: crosses as UTF-8 whatever the server's default.
PINNED_POSTGRES_SETTINGS = {"standard_conforming_strings": "on", "jit": "off", "client_encoding": "UTF8"}
#: The least ``work_mem`` a synthsql session runs with (raised to it when the server's is lower, never lowered): with
#: PostgreSQL's default of 4MB, a query of 128 grouping sets over 300k distinct rows sorted the rows again for most
#: sets (24 s); from 32MB it hashes them all in one pass (8.6 s).
MIN_POSTGRES_WORK_MEM = "64MB"


class PostgresEngine(Engine):
    name = "postgres"
    dialect = "postgres"
    title = "PostgreSQL"
    schemes = ("postgresql", "postgres")
    url_example = "postgresql://user@host:port/database"
    exact_distinct_estimate = True

    @classmethod
    def open(cls, url: str, options: dict[str, Any], *, create: bool) -> Any:
        import ibis

        parts = urlsplit(url)
        params = {**dict(parse_qsl(parts.query)), **options}
        user = params.pop("user", None) or (unquote(parts.username) if parts.username else None)
        password = params.pop("password", None) or (unquote(parts.password) if parts.password else None)
        require("psycopg", "postgres")
        return ibis.postgres.connect(
            host=parts.hostname or "localhost",
            port=parts.port or 5432,
            user=user,
            password=password,
            database=parts.path.lstrip("/") or None,
            **params,
        )

    def __init__(self, raw: Any, where: str = "") -> None:
        super().__init__(raw, where)
        self._pin_session()

    def _pin_session(self) -> None:
        """Set the pinned session settings and read them back; refuse a session where one does not hold. Raise
        ``work_mem`` to :data:`MIN_POSTGRES_WORK_MEM` when it is lower."""
        raw = self.raw
        try:
            with raw.cursor() as cur:
                for name, value in PINNED_POSTGRES_SETTINGS.items():
                    try:
                        cur.execute("SELECT set_config(%s, %s, false)", (name, value))
                    except Exception as err:  # noqa: BLE001 - any refusal by the server means the same here
                        raise ConnectionError(
                            f"The PostgreSQL server refused the session setting {name} = {value!r} "
                            f"({str(err).splitlines()[0]}); synthsql relies on it (see PINNED_POSTGRES_SETTINGS) "
                            "and will not run without it."
                        ) from None
                cur.execute(
                    "SELECT set_config('work_mem', %s, false) "
                    "WHERE pg_size_bytes(current_setting('work_mem')) < pg_size_bytes(%s)",
                    (MIN_POSTGRES_WORK_MEM, MIN_POSTGRES_WORK_MEM),
                )
                for name, value in PINNED_POSTGRES_SETTINGS.items():
                    cur.execute("SELECT current_setting(%s)", (name,))
                    (actual,) = cur.fetchone()
                    if str(actual).lower() != value.lower():
                        raise ConnectionError(
                            f"The PostgreSQL session setting {name} is {actual!r} after synthsql set it to "
                            f"{value!r}; synthsql relies on it (see PINNED_POSTGRES_SETTINGS) and will not run "
                            "without it."
                        )
            if not raw.autocommit:
                raw.commit()
        except BaseException:
            raw.close()  # the session is not used: do not leave it open
            raise

    def execute(self, sql: str) -> None:
        with self.raw.cursor() as cur:
            cur.execute(sql)

    def fetchall(self, sql: str) -> list[tuple]:
        with self.raw.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()

    def stream(self, sql: str, schema: pa.Schema, batch_rows: int, *, concurrent: bool) -> Iterator[pa.RecordBatch]:
        """A server-side cursor ``WITH HOLD``, which survives the transactions the caller commits or rolls back
        while it reads (the server keeps its result, spilling to disk); ``concurrent`` needs nothing more."""
        cursor = self.raw.cursor(name=f"synthsql_stream_{secrets.token_hex(6)}", withhold=True)
        try:
            cursor.execute(sql)
            struct = pa.struct(list(schema))
            while rows := cursor.fetchmany(batch_rows):
                yield pa.RecordBatch.from_struct_array(pa.array(rows, type=struct))
        finally:
            with contextlib.suppress(Exception):
                cursor.close()

    @contextlib.contextmanager
    def transaction(self, *, snapshot: bool) -> Iterator[None]:
        """``snapshot``: ``REPEATABLE READ``, so every read sees the database as it was when the block began."""
        with self.raw.transaction():
            if snapshot:
                with self.raw.cursor() as cur:
                    cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            yield

    def append(self, table: exp.Table, schema: pa.Schema, stream: BatchStream) -> None:
        """A ``COPY ... FROM STDIN (FORMAT csv)`` per batch: the connection is free between batches for a producer
        that reads from it (partial synthesis streams the kept columns through a server-side cursor on the same
        connection). Every non-NULL value is quoted, which keeps an empty string apart from NULL."""
        names = [exp.to_identifier(name, quoted=True) for name in schema.names]
        statement = sqlglot.parse_one("COPY t (c) FROM STDIN WITH (FORMAT csv)", dialect="postgres")
        statement.set("this", exp.Schema(this=table, expressions=names))
        copy = self.render(statement)
        options = pacsv.WriteOptions(include_header=False, quoting_style="all_valid")
        try:
            for batch in stream:
                if batch.num_rows:
                    buffer = io.BytesIO()
                    pacsv.write_csv(pa.Table.from_batches([_plain(batch)]), buffer, options)
                    with self.raw.cursor() as cur, cur.copy(copy) as pipe:
                        pipe.write(buffer.getvalue())
        finally:
            stream.close()

    def conflicts(self, err: BaseException) -> bool:
        from psycopg import errors

        return isinstance(
            err, (errors.DuplicateTable, errors.UniqueViolation, errors.UndefinedTable, errors.SerializationFailure)
        )

    def storable(self, dtype: dt.DataType) -> dt.DataType:
        """No unsigned integers (:func:`_signed`)."""
        return _signed(dtype)

    def fence_subqueries(self, tree: exp.Select) -> None:
        """PostgreSQL pulls derived tables up into the query above them, pasting each column's expression wherever
        it is used (IRLS weights recomputed in each of the k(k + 1)/2 sums: 40 times slower at k = 6). ``OFFSET 0``
        keeps every level computed once."""
        for select in tree.find_all(exp.Select):
            # Not on an operand of UNION ALL (the operand Ibis writes is SELECT * FROM (...), fenced inside).
            if select is not tree and select.args.get("offset") is None and not isinstance(
                select.parent, exp.SetOperation
            ):
                select.offset(0, copy=False)

    def text_order(self, column: exp.Expression) -> exp.Expression:
        """The "C" collation: byte order, as DuckDB sorts text."""
        return exp.Collate(this=column, expression=exp.to_identifier("C", quoted=True))

    @classmethod
    def compiler(cls) -> Any:
        from ibis.backends.sql.compilers import PostgresCompiler

        return PostgresCompiler()


#: Session settings synthsql pins on every Spark session, and the value each must have afterwards.
#: ``caseSensitive``: column and table names keep their case, as on DuckDB and PostgreSQL (``Age`` and ``age`` are
#: two columns). ``ansi.enabled``: overflow, invalid casts and division by zero are errors, not silent NULLs.
#: ``session.timeZone``: timestamps are read and written in UTC, whatever the driver machine's zone.
PINNED_SPARK_SETTINGS = {
    "spark.sql.caseSensitive": "true",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.session.timeZone": "UTC",
}


#: Functions DuckDB and PostgreSQL have and Spark lacks, defined for each Spark session as SQL functions (no
#: Python runs per row): ``isfinite`` of a date or timestamp (Spark has no infinite dates: true unless NULL).
SPARK_FUNCTIONS = (
    "CREATE OR REPLACE TEMPORARY FUNCTION isfinite(x TIMESTAMP_NTZ) RETURNS BOOLEAN "
    "RETURN CASE WHEN x IS NULL THEN NULL ELSE TRUE END",
)


class SparkEngine(Engine):
    """Apache Spark through Ibis's pyspark backend (a local or cluster ``SparkSession``).

    Spark runs every statement as a job (about a second each on a local session), so synthsql's aggregates, which
    ask for many cells per statement, matter more here than anywhere. It has no multi-statement transactions:
    :meth:`transaction` defers publishing (see the module documentation). Tables are created in the session's
    default format (``spark.sql.sources.default``, Parquet unless configured); where the catalog is Iceberg or
    Delta, a publish is still a drop and a rename.
    """

    name = "pyspark"
    dialect = "spark"
    title = "Spark"
    schemes = ("spark",)
    url_example = "spark://local[2]"
    #: Rows per DataFrame appended: each append is a Spark job, so batches are gathered up to this many rows.
    STATEMENT_ROWS = 1_000_000
    #: A staging table older than this is left over from an interrupted run, and a later run drops it.
    STALE_SECONDS = 6 * 3600
    #: A publish journal older than this belongs to a process that was killed while publishing (publishing a block
    #: is a few renames: seconds), and a later run completes its publishing; a younger one may be a run still going.
    RECOVER_SECONDS = 600
    #: The table formats synthsql writes and replaces: they keep every value exactly (CSV or JSON would cut
    #: timestamps to milliseconds and write doubles as text).
    WRITABLE_FORMATS = ("parquet", "orc", "delta", "iceberg")

    def __init__(self, raw: Any, where: str = "") -> None:
        super().__init__(raw, where)
        self._pending: list[tuple[str, Any]] | None = None  # publishes and drops waiting for the block's end
        self._staged: list[exp.Table] = []
        self._pin_session()

    @classmethod
    def raw_of(cls, backend: Any) -> Any:
        return backend._session

    @classmethod
    def open(cls, url: str, options: dict[str, Any], *, create: bool) -> Any:
        """``spark://local[n]`` starts (or joins) a local session, ``spark://host:port`` a standalone cluster's
        master; query parameters and ``options`` are Spark settings."""
        import ibis

        where, _, query = url[len("spark://"):].partition("?")
        if not where or "/" in where:
            raise ConnectionError(f"A Spark URL names a master: spark://local[2] or spark://host:7077, got {url!r}.")
        master = where if where.startswith("local") else f"spark://{where}"
        settings = {**dict(parse_qsl(query)), **{k: str(v) for k, v in options.items()}}
        SparkSession = require("pyspark.sql", "spark").SparkSession
        builder = SparkSession.builder.master(master).appName("synthsql")
        for key, value in {"spark.ui.showConsoleProgress": "false", **settings}.items():
            builder = builder.config(key, value)
        return ibis.pyspark.connect(builder.getOrCreate())

    @classmethod
    def backend_of_session(cls, session: Any) -> Any:
        if type(session).__module__.startswith("pyspark.sql") and type(session).__name__ == "SparkSession":
            import ibis

            return ibis.pyspark.connect(session)
        return None

    def _pin_session(self) -> None:
        conf = self.raw.conf
        for name, value in PINNED_SPARK_SETTINGS.items():
            conf.set(name, value)
            actual = conf.get(name)
            if str(actual).lower() != value.lower():
                raise ConnectionError(
                    f"The Spark session setting {name} is {actual!r} after synthsql set it to {value!r}; synthsql "
                    "relies on it (see PINNED_SPARK_SETTINGS) and will not run without it."
                )
        for statement in SPARK_FUNCTIONS:
            self.raw.sql(statement).collect()

    def render(self, statement: exp.Expression) -> str:
        """Spark SQL; inside a block, a table published in the block is read from its staging table
        (:meth:`resolve`)."""
        from ibis.backends.sql.dialects import PySpark

        if self._pending:
            statement = statement.transform(self._read_staging, copy=True)
        return statement.sql(dialect=PySpark)

    def _read_staging(self, node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
            seen = self.resolve(node)
            if seen is not None and seen is not node:
                moved = node.copy()
                moved.set("this", seen.this.copy())
                moved.set("db", seen.args.get("db").copy() if seen.args.get("db") else None)
                if not moved.alias:  # columns qualified by the table's own name still find it
                    moved.set("alias", exp.TableAlias(this=exp.to_identifier(node.name, quoted=True)))
                return moved
        return node

    def resolve(self, table: exp.Table) -> exp.Table | None:
        for kind, args in reversed(self._pending or []):
            target = args if kind == "drop" else args[1]
            if target.name == table.name and (target.db or "") == (table.db or ""):
                return None if kind == "drop" else args[0]
        return table

    def execute(self, sql: str) -> None:
        self.raw.sql(sql).collect()

    def fetchall(self, sql: str) -> list[tuple]:
        return [tuple(row) for row in self.raw.sql(sql).collect()]

    def stream(self, sql: str, schema: pa.Schema, batch_rows: int, *, concurrent: bool) -> Iterator[pa.RecordBatch]:
        """The rows through the driver one partition at a time (``toLocalIterator``), in batches of ``batch_rows``;
        Spark's reads never block its writes, so ``concurrent`` needs nothing more."""
        struct = pa.struct(list(schema))
        rows: list[tuple] = []
        for row in self.raw.sql(sql).toLocalIterator(prefetchPartitions=False):
            rows.append(tuple(row))
            if len(rows) == batch_rows:
                yield pa.RecordBatch.from_struct_array(pa.array(rows, type=struct))
                rows = []
        if rows:
            yield pa.RecordBatch.from_struct_array(pa.array(rows, type=struct))

    @contextlib.contextmanager
    def transaction(self, *, snapshot: bool) -> Iterator[None]:
        """No transaction: the block's publishes and drops wait and run, in order, once it has succeeded; if it
        fails, its staging tables are dropped and nothing is published. Stale staging tables (older than
        :attr:`STALE_SECONDS`) are dropped first. ``snapshot`` has no effect: each statement reads the tables as
        they are when it runs."""
        self._recover()
        self._drop_stale()
        self._pending, self._staged = [], []
        try:
            yield
        except BaseException:
            self._pending = None
            for table in self._staged:
                with contextlib.suppress(Exception):
                    super().drop(table)
            self._staged = []
            raise
        pending, self._pending = self._pending, None
        staged, self._staged = self._staged, []
        self._run_publishes(pending, staged)

    def _run_publishes(self, pending: list[tuple[str, Any]], staged: list[exp.Table]) -> None:
        """Run the block's publishes and drops all or none: each existing table they replace or drop is first
        moved aside (renamed to a staging name), then the staging table renamed into place; the tables moved aside
        are dropped once every step has succeeded. A failing or interrupted step undoes the ones before it (the
        tables published are dropped and the tables moved aside renamed back) and drops the staging tables.

        Before the first rename the plan is written to a journal table (:data:`JOURNAL_PREFIX`), and the journal is
        dropped after the last step: it is the release's completion record. A process killed between two renames
        cannot undo anything, but leaves its journal, and the next run completes the plan (:meth:`_recover`): every
        staging table was complete before the first rename, so the release is then published whole."""
        plan = []  # (kind, staging table or None, target, the target's name while aside)
        for kind, args in pending:
            source, target = (None, args) if kind == "drop" else args
            aside = exp.Table(this=exp.to_identifier(staging_name(), quoted=True), db=target.args.get("db"))
            plan.append((kind, source, target, aside))
        journal = self._write_journal(plan)
        moved: list[tuple[exp.Table, exp.Table]] = []  # (name, the table's name while it is aside)
        published: list[exp.Table] = []
        try:
            for kind, source, target, aside in plan:
                if self._exists(target):
                    self._rename(target, aside)
                    moved.append((target, aside))
                if source is not None:
                    published.append(target)  # first: the rename may complete and still be interrupted
                    self._rename(source, target)
                    staged = [t for t in staged if t != source]
        except BaseException:
            for table in reversed(published):  # nothing was under its name before the rename: it was moved aside
                with contextlib.suppress(Exception):
                    super().drop(table)
            for target, aside in reversed(moved):
                with contextlib.suppress(Exception):
                    self._rename(aside, target)
            for table in [*staged, journal]:
                with contextlib.suppress(Exception):
                    super().drop(table)
            raise
        for _, aside in moved:
            with contextlib.suppress(Exception):
                super().drop(aside)
        super().drop(journal)

    def _write_journal(self, plan: list[tuple[str, exp.Table | None, exp.Table, exp.Table]]) -> exp.Table:
        """One table with the block's steps in order (kind, staging table, target, its name while aside)."""
        journal = exp.Table(this=exp.to_identifier(staging_name().replace(STAGING_PREFIX, JOURNAL_PREFIX), quoted=True))

        def name(table: exp.Table | None) -> list[exp.Expression]:
            if table is None:
                return [exp.Literal.string(""), exp.Literal.string("")]
            return [exp.Literal.string(table.db or ""), exp.Literal.string(table.name)]

        rows = [exp.Tuple(expressions=[exp.Literal.number(i), exp.Literal.string(kind), *name(source), *name(target),
                                       *name(aside)])
                for i, (kind, source, target, aside) in enumerate(plan)]
        columns = ["step", "kind", "source_db", "source", "target_db", "target", "aside_db", "aside"]
        values = exp.Values(expressions=rows, alias=exp.TableAlias(
            this=exp.to_identifier("j"), columns=[exp.to_identifier(c) for c in columns]))
        query = exp.select("*").from_(values)
        self.execute(f"CREATE TABLE {self.render(journal)} USING parquet AS {self.render(query)}")
        return journal

    def _recover(self) -> None:
        """Complete the publishing of each run that was killed while publishing (its journal is older than
        :attr:`RECOVER_SECONDS`), step by step from what exists: a step whose staging table is still there had not
        run, and a target whose aside name exists was moved aside already. Then its asides and journal are dropped."""
        now = time.time()
        for row in self.raw.sql(f"SHOW TABLES LIKE '{JOURNAL_PREFIX}*'").collect():
            stamp = row["tableName"][len(JOURNAL_PREFIX):].split("_", 1)[0]
            if row["isTemporary"] or not stamp.isdigit():
                continue
            journal = exp.Table(this=exp.to_identifier(row["tableName"], quoted=True))
            if now - int(stamp) <= self.RECOVER_SECONDS:
                log.warning("A run is publishing (or was killed %d s ago while publishing): journal %s",
                            now - int(stamp), journal.name)
                continue
            steps = self.fetchall(f"SELECT kind, source_db, source, target_db, target, aside_db, aside FROM "
                                  f"{self.render(journal)} ORDER BY step")

            def table(db: str, name: str) -> exp.Table:
                return exp.Table(this=exp.to_identifier(name, quoted=True),
                                 db=exp.to_identifier(db, quoted=True) if db else None)

            for _kind, source_db, source, target_db, target, aside_db, aside in steps:
                to, away = table(target_db, target), table(aside_db, aside)
                pending = bool(source) and self._exists(table(source_db, source))
                if (pending or not source) and self._exists(to) and not self._exists(away):
                    self._rename(to, away)
                if pending:
                    self._rename(table(source_db, source), to)
            for *_, aside_db, aside in steps:
                if self._exists(table(aside_db, aside)):
                    super().drop(table(aside_db, aside))
            super().drop(journal)
            log.warning("Completed the publishing of a run that was killed while publishing (journal %s): %s",
                        journal.name, ", ".join(f"{d + '.' if d else ''}{t}" for _, _, _, d, t, _, _ in steps))

    def cause(self, err: BaseException) -> str:
        """The Java exception's own message (py4j puts 'An error occurred while calling o32.sql.' first)."""
        lines = str(err).strip().splitlines()
        for line in lines:
            if line.startswith(": "):
                return line[2:].split(": ", 1)[-1].strip()
        return lines[0] if lines else type(err).__name__

    def check_creatable(self, target: exp.Table) -> None:
        """As for every engine, and the session's table format (``spark.sql.sources.default``) must be one that
        keeps values exactly (:attr:`WRITABLE_FORMATS`)."""
        default = str(self.raw.conf.get("spark.sql.sources.default")).lower()
        if default not in self.WRITABLE_FORMATS:
            raise TargetError(
                f"Spark would write the table {_named(target)} in its default format {default!r} "
                f"(spark.sql.sources.default), which does not keep every value exactly; synthsql writes "
                f"{', '.join(self.WRITABLE_FORMATS)}: set spark.sql.sources.default=parquet. Nothing was written."
            )
        super().check_creatable(target)

    def replaceable(self, target: exp.Table) -> str:
        """A view cannot be replaced by a table, nor a table in a format outside :attr:`WRITABLE_FORMATS`."""
        table = self.raw.catalog.getTable(f"{target.db}.{target.name}" if target.db else target.name)
        if table.isTemporary or table.tableType == "VIEW":
            return "it is a view, and synthsql replaces only tables"
        rows = self.raw.sql(f"DESCRIBE TABLE EXTENDED {self.render(target)}").collect()
        provider = next((str(r["data_type"]).lower() for r in rows if r["col_name"] == "Provider"), "unknown")
        if provider not in self.WRITABLE_FORMATS:
            return (
                f"it is stored as {provider!r}, and synthsql writes only {', '.join(self.WRITABLE_FORMATS)} tables "
                "(drop it, or choose another target)"
            )
        return ""

    def _rename(self, table: exp.Table, to: exp.Table) -> None:
        rename = exp.AlterRename(this=exp.Table(this=to.this.copy()))
        self.execute(self.render(exp.Alter(this=table.copy(), kind="TABLE", actions=[rename])))

    def _exists(self, table: exp.Table) -> bool:
        return bool(self.raw.catalog.tableExists(table.name, table.db or None))

    def create_temporary(self, name: str, query: exp.Expression) -> None:
        """A temporary view of the query's rows, computed once and checkpointed (``localCheckpoint``: held by the
        executors, seen by this session only). The checkpoint also cuts the query's plan off: a view of the plan
        itself (``CACHE TABLE ... AS``) was analysed again by every query that read it (a holdout split's hash
        layers: 7 s a query)."""
        self.raw.sql(self.render(query)).localCheckpoint(eager=True).createOrReplaceTempView(name)

    def drop_temporary(self, name: str) -> None:
        self.raw.catalog.dropTempView(name)

    def stage(self, table: exp.Table) -> None:
        self._staged.append(table.copy())

    def publish(self, staging: exp.Table, target: exp.Table, *, exists: bool) -> None:
        if self._pending is None:
            raise RuntimeError("a Spark publish must happen inside a transaction block")
        self._pending.append(("publish", (staging.copy(), target.copy())))

    def drop(self, table: exp.Table) -> None:
        if self._pending is None:
            super().drop(table)
        else:
            self._pending.append(("drop", table.copy()))

    def _drop_stale(self) -> None:
        """Drop staging tables an interrupted run left behind (named by :func:`staging_name`, older than
        :attr:`STALE_SECONDS`), in the current database."""
        now = time.time()
        for row in self.raw.sql(f"SHOW TABLES LIKE '{STAGING_PREFIX}*'").collect():
            name = row["tableName"]
            stamp = name[len(STAGING_PREFIX):].split("_", 1)[0]
            if not row["isTemporary"] and stamp.isdigit() and now - int(stamp) > self.STALE_SECONDS:
                with contextlib.suppress(Exception):
                    super().drop(exp.Table(this=exp.to_identifier(name, quoted=True)))

    def append(self, table: exp.Table, schema: pa.Schema, stream: BatchStream) -> None:
        """One Spark DataFrame per ~:attr:`STATEMENT_ROWS` rows, inserted by position into ``table``."""
        name = self.render(table)
        try:
            gathered: list[pa.RecordBatch] = []
            rows = 0
            for batch in stream:
                gathered.append(_plain(batch))
                rows += batch.num_rows
                if rows >= self.STATEMENT_ROWS:
                    self._insert(name, schema, gathered)
                    gathered, rows = [], 0
            if rows:
                self._insert(name, schema, gathered)
        finally:
            stream.close()

    def _insert(self, name: str, schema: pa.Schema, batches: list[pa.RecordBatch]) -> None:
        data = pa.Table.from_batches(batches)
        self.raw.createDataFrame(data).write.insertInto(name)

    def conflicts(self, err: BaseException) -> bool:
        text = str(err)
        return "TABLE_OR_VIEW_ALREADY_EXISTS" in text or "TABLE_OR_VIEW_NOT_FOUND" in text

    def storable(self, dtype: dt.DataType) -> dt.DataType:
        """No unsigned integers (:func:`_signed`)."""
        return _signed(dtype)

    def exact_type(self, dtype: dt.DataType) -> dt.DataType:
        """Spark's timestamps are microseconds, which its Ibis backend leaves unsaid."""
        if dtype.is_timestamp() and dtype.scale is None:
            return dtype.copy(scale=6)
        return dtype

    def integer_sum(self, value: exp.Expression) -> exp.Expression:
        """Spark's ``SUM`` of a ``BIGINT`` is a ``BIGINT``, which overflows: the integers are summed as
        ``DECIMAL(28, 0)``, whose ``SUM`` is a ``DECIMAL(38, 0)``."""
        return exp.Sum(this=exp.cast(value, exp.DataType.build("DECIMAL(28, 0)", dialect="spark")))

    def round_integer(self, value: exp.Expression) -> exp.Expression:
        """Spark's cast of a double to ``BIGINT`` truncates: ``rint`` rounds half to even first."""
        return exp.cast(exp.Anonymous(this="RINT", expressions=[value]), exp.DataType.build("BIGINT"))

    @classmethod
    def compiler(cls) -> Any:
        from ibis.backends.sql.compilers import PySparkCompiler

        return PySparkCompiler()


#: The engine class for each Ibis backend name synthsql supports.
ENGINES: dict[str, type[Engine]] = {cls.name: cls for cls in (DuckDBEngine, PostgresEngine, SparkEngine)}


def for_dialect(dialect: str) -> type[Engine]:
    """The engine class whose SQL is written in sqlglot ``dialect`` (for SQL rendered without a connection)."""
    for cls in ENGINES.values():
        if cls.dialect == dialect:
            return cls
    raise ValueError(f"no engine writes the sqlglot dialect {dialect!r}")


def _signed(dtype: dt.DataType) -> dt.DataType:
    """For an engine without unsigned integers: the next wider signed type, DECIMAL(20, 0) for UBIGINT, so every
    value up to 2**64 - 1 is kept exactly."""
    if dtype.is_unsigned_integer():
        return dt.Decimal(20, 0) if dtype.is_uint64() else {1: dt.int16, 2: dt.int32, 4: dt.int64}[dtype.nbytes]
    return dtype


def _plain(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Decode dictionary columns (the CSV writer wants plain arrays)."""
    arrays = [a.dictionary_decode() if pa.types.is_dictionary(a.type) else a for a in batch.columns]
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _named(table: exp.Table) -> str:
    return repr(".".join(part.name for part in table.parts))


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ConnectionError(f"The connection option {name!r} must be true or false, got {value!r}.")
