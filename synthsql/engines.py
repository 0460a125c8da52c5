"""What differs between the database engines synthsql runs on: one class per engine.

A :class:`~synthsql.connection.Database` holds one :class:`Engine` (``db.engine``), chosen by the Ibis backend's
name. Executing and streaming SQL, transactions and their isolation, telling a concurrent-write conflict from other
errors, the session settings an engine needs, the column types it can store, the fence that stops its optimizer
from inlining a derived table, and byte-order text sorting live here, so that other modules ask the engine rather
than compare dialect names. Adding an engine is one class here plus its test fixture.

The bulk append that :mod:`synthsql.write` streams synthetic batches through is here too: an ``INSERT`` from an
Arrow stream on DuckDB, ``COPY`` on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import io
import secrets
from collections.abc import Iterator
from typing import Any, ClassVar, Protocol

import ibis.expr.datatypes as dt
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlglot
from sqlglot import exp

from synthsql.errors import ConnectionError, DatabaseFailure

__all__ = ["ENGINES", "PINNED_POSTGRES_SETTINGS", "DuckDBEngine", "Engine", "PostgresEngine", "for_dialect"]


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

    def __init__(self, raw: Any, where: str = "") -> None:
        self.raw = raw
        self.where = where

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

    def append(self, table: exp.Table, schema: pa.Schema, stream: BatchStream) -> None:
        """Write every batch of ``stream`` (columns as in ``schema``) into ``table``, in the current transaction;
        ``stream`` is closed when this returns or fails."""
        raise NotImplementedError

    def render(self, statement: exp.Expression) -> str:
        return statement.sql(dialect=self.dialect)

    def storable(self, dtype: dt.DataType) -> dt.DataType:
        """The column type this engine stores a value of ``dtype`` in, exactly."""
        return dtype

    def fence_subqueries(self, tree: exp.Select) -> None:
        """Stop the optimizer from pasting derived tables of ``tree`` into the query above them (in place)."""

    def text_order(self, column: exp.Expression) -> exp.Expression:
        """``column`` (already cast to text) as sorted byte by byte, the same on every engine."""
        return column

    @classmethod
    def compiler(cls) -> Any:
        """The Ibis compiler of this engine, to compile expressions without a connection."""
        raise NotImplementedError


class DuckDBEngine(Engine):
    name = "duckdb"
    dialect = "duckdb"

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


class PostgresEngine(Engine):
    name = "postgres"
    dialect = "postgres"

    def __init__(self, raw: Any, where: str = "") -> None:
        super().__init__(raw, where)
        self._pin_session()

    def _pin_session(self) -> None:
        """Set the pinned session settings and read them back; refuse a session where one does not hold."""
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
        """No unsigned integers: the next wider signed type, NUMERIC(20, 0) for UBIGINT, so every value up to
        2**64 - 1 is kept exactly."""
        if dtype.is_unsigned_integer():
            return dt.Decimal(20, 0) if dtype.is_uint64() else {1: dt.int16, 2: dt.int32, 4: dt.int64}[dtype.nbytes]
        return dtype

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


#: The engine class for each Ibis backend name synthsql supports.
ENGINES: dict[str, type[Engine]] = {cls.name: cls for cls in (DuckDBEngine, PostgresEngine)}


def for_dialect(dialect: str) -> type[Engine]:
    """The engine class whose SQL is written in sqlglot ``dialect`` (for SQL rendered without a connection)."""
    for cls in ENGINES.values():
        if cls.dialect == dialect:
            return cls
    raise ValueError(f"no engine writes the sqlglot dialect {dialect!r}")


def _plain(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Decode dictionary columns (the CSV writer wants plain arrays)."""
    arrays = [a.dictionary_decode() if pa.types.is_dictionary(a.type) else a for a in batch.columns]
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
