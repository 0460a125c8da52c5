"""Open a database through Ibis and keep the few raw operations synthsql needs (transactions, COPY).

``connect`` takes a URL (``duckdb:///warehouse.duckdb``, ``duckdb://`` for an in-memory database,
``postgresql://user@host:port/db``), an Ibis backend the caller already has, or a :class:`Database`.
Tables are named ``table`` or ``schema.table``; names are always quoted by Ibis or sqlglot, never pasted into SQL.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import ibis
import pyarrow as pa
from ibis.backends import BaseBackend
from sqlglot import exp

from synthsql.errors import ConnectionError, TableNotFoundError, TargetError, did_you_mean

__all__ = ["Database", "TableRef", "connect"]

_SAFE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_SQLGLOT_DIALECT = {"duckdb": "duckdb", "postgres": "postgres"}


@dataclass(frozen=True, slots=True)
class TableRef:
    """A table name with its optional schema, as the user wrote it (``schema.table`` or ``table``)."""

    name: str
    schema: str | None = None

    @classmethod
    def parse(cls, ref: str | TableRef) -> TableRef:
        if isinstance(ref, TableRef):
            return ref
        if not isinstance(ref, str) or not ref.strip():
            raise TargetError(f"A table name must be a non-empty string, got {ref!r}.")
        parts = ref.split(".")
        if len(parts) == 1:
            return cls(parts[0])
        if len(parts) == 2 and all(parts):
            return cls(parts[1], parts[0])
        raise TargetError(f"Table name {ref!r} must be 'table' or 'schema.table'.")

    def check_safe(self) -> TableRef:
        """Refuse names that are not plain identifiers (quotes, semicolons, spaces, over 63 characters)."""
        for part in (self.schema, self.name):
            if part is not None and not _SAFE_NAME.match(part):
                raise TargetError(
                    f"Target table name {str(self)!r} is not allowed: {part!r} must start with a letter or '_' and "
                    "hold only letters, digits and '_' (at most 63 characters); quotes, semicolons and spaces are "
                    "refused."
                )
        return self

    def sqlglot(self) -> exp.Table:
        return exp.Table(
            this=exp.to_identifier(self.name, quoted=True),
            db=exp.to_identifier(self.schema, quoted=True) if self.schema else None,
        )

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


class Database:
    """An Ibis backend plus the raw connection beneath it; the one object every synthsql function takes."""

    def __init__(self, backend: BaseBackend, url: str | None = None) -> None:
        if backend.name not in _SQLGLOT_DIALECT:
            raise ConnectionError(
                f"Backend {backend.name!r} is not supported yet; synthsql runs on DuckDB and PostgreSQL."
            )
        self.backend = backend
        self.url = url
        self._transaction_depth = 0
        if backend.name == "postgres":
            # PostgreSQL's JIT compiles every expression of a query whose estimated cost passes jit_above_cost before
            # running it; synthsql's generated queries (cell encodings, row hashes, distances) are long, and compiling
            # them took minutes where running them took seconds. Off for this session.
            with backend.con.cursor() as cur:
                cur.execute("SET jit = off")

    def __repr__(self) -> str:
        return f"Database({self.dialect}{', ' + _redact(self.url) if self.url else ''})"

    @property
    def dialect(self) -> str:
        """The sqlglot dialect of this database: ``duckdb`` or ``postgres``."""
        return _SQLGLOT_DIALECT[self.backend.name]

    @property
    def raw(self) -> Any:
        """The DB-API connection under Ibis (duckdb or psycopg)."""
        return self.backend.con

    # --- tables -------------------------------------------------------------------------------------------
    def list_tables(self, schema: str | None = None) -> list[str]:
        return list(self.backend.list_tables(database=schema) if schema else self.backend.list_tables())

    def exists(self, ref: str | TableRef) -> bool:
        ref = TableRef.parse(ref)
        if ref.schema is not None and not self.schema_exists(ref.schema):
            return False
        return ref.name in self.list_tables(ref.schema)

    def schema_exists(self, schema: str) -> bool:
        return schema in self.backend.list_databases()

    def table(self, ref: str | TableRef) -> ibis.Table:
        """The Ibis table for ``ref``; a clear error (with the closest name) when it does not exist."""
        ref = TableRef.parse(ref)
        if not self.exists(ref):
            if ref.schema is not None and not self.schema_exists(ref.schema):
                raise TableNotFoundError(f"Table {str(ref)!r} does not exist: there is no schema {ref.schema!r}.")
            known = self.list_tables(ref.schema)
            where = f"schema {ref.schema!r}" if ref.schema else "the database"
            raise TableNotFoundError(f"Table {str(ref)!r} does not exist in {where}.{did_you_mean(ref.name, known)}")
        return self.backend.table(ref.name, database=ref.schema) if ref.schema else self.backend.table(ref.name)

    # --- raw SQL, always from a sqlglot tree ------------------------------------------------------------------
    def render(self, statement: exp.Expression) -> str:
        return statement.sql(dialect=self.dialect)

    def compile(self, expr: ibis.Expr) -> exp.Expression:
        """The sqlglot tree Ibis builds for an expression, to be combined with other trees."""
        return self.backend.compiler.to_sqlglot(expr)

    def execute(self, statement: exp.Expression) -> None:
        sql = self.render(statement)
        if self.dialect == "duckdb":
            self.raw.execute(sql)
        else:
            with self.raw.cursor() as cur:
                cur.execute(sql)

    def fetchall(self, statement: exp.Expression) -> list[tuple]:
        sql = self.render(statement)
        if self.dialect == "duckdb":
            return self.raw.execute(sql).fetchall()
        with self.raw.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()

    def stream(
        self, query: exp.Expression, schema: pa.Schema, batch_rows: int, *, concurrent: bool = False
    ) -> Iterator[pa.RecordBatch]:
        """Stream a query's rows as Arrow batches of at most ``batch_rows`` rows, without holding the result in memory.

        DuckDB: with ``concurrent``, a cursor of its own (another connection to the same database, which sees only
        committed tables) streams the result, so the caller may write on the main connection meanwhile; otherwise the
        main connection streams it (the caller runs nothing else until the stream ends). PostgreSQL: a server-side cursor ``WITH HOLD``, which survives the
        transactions the caller commits or rolls back while it reads (the server keeps its result, spilling to disk).
        """
        sql = self.render(query)
        if self.dialect == "duckdb":
            cursor = self.raw.cursor() if concurrent else self.raw
            try:
                reader = cursor.execute(sql).fetch_record_batch(batch_rows)
                for batch in reader:
                    for start in range(0, batch.num_rows, batch_rows):
                        yield batch.slice(start, batch_rows)
            finally:
                if concurrent:
                    cursor.close()
            return
        cursor = self.raw.cursor(name=f"synthsql_stream_{secrets.token_hex(6)}", withhold=True)
        try:
            cursor.execute(sql)
            struct = pa.struct(list(schema))
            while rows := cursor.fetchmany(batch_rows):
                yield pa.RecordBatch.from_struct_array(pa.array(rows, type=struct))
        finally:
            with contextlib.suppress(Exception):
                cursor.close()

    def quantiles(
        self, table: ibis.Table, value: str, probs: Sequence[float], *, by: str | None = None
    ) -> dict[Any, list[Any]]:
        """Exact discrete quantiles of ``table[value]`` per group ``by``, in bounded memory.

        See :func:`synthsql.quantiles.discrete_quantiles`: values of the data, the same bits on every backend.
        """
        from synthsql.quantiles import discrete_quantiles

        return discrete_quantiles(self, table, value, probs, by=by)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction: committed when the outermost block ends, rolled back on any error or interrupt.

        Blocks nest: an inner block joins the outer transaction, so several writes can be made atomic together.
        """
        if self._transaction_depth:
            self._transaction_depth += 1
            try:
                yield
            finally:
                self._transaction_depth -= 1
            return
        self._transaction_depth = 1
        try:
            if self.dialect == "duckdb":
                self.raw.begin()
                try:
                    yield
                except BaseException:
                    self.raw.rollback()
                    raise
                self.raw.commit()
            else:
                with self.raw.transaction():
                    yield
        finally:
            self._transaction_depth = 0


def connect(target: str | BaseBackend | Database = "duckdb://", /, **options: Any) -> Database:
    """Open a database for synthsql.

    ``target`` is a URL, an Ibis backend, or a :class:`Database` (returned as it is). URL query parameters and
    ``options`` go to the backend: for DuckDB, configuration such as ``memory_limit='2GB'`` or ``threads=2``.

    >>> db = connect("duckdb://")            # in memory
    >>> db.dialect
    'duckdb'
    """
    if isinstance(target, Database):
        return target
    if isinstance(target, BaseBackend):
        return Database(target)
    if not isinstance(target, str):
        raise ConnectionError(f"connect() takes a URL or an Ibis backend, got {type(target).__name__}.")
    parts = urlsplit(target)
    scheme = parts.scheme.lower()
    params = {**dict(parse_qsl(parts.query)), **options}
    try:
        if scheme == "duckdb":
            # SQLAlchemy's convention: duckdb:///rel/path.duckdb, duckdb:////abs/path.duckdb, duckdb:// in memory.
            database = unquote(parts.netloc + (parts.path[1:] if parts.path.startswith("/") else parts.path))
            backend = ibis.duckdb.connect(database=database or ":memory:", **params)
        elif scheme in ("postgresql", "postgres"):
            backend = ibis.postgres.connect(
                host=parts.hostname or "localhost",
                port=parts.port or 5432,
                user=unquote(parts.username) if parts.username else None,
                password=unquote(parts.password) if parts.password else None,
                database=parts.path.lstrip("/") or None,
                **params,
            )
        else:
            raise ConnectionError(
                f"Unknown database URL scheme {scheme!r} in {_redact(target)!r}."
                f"{did_you_mean(scheme, ['duckdb', 'postgresql'])} Use duckdb:///file.duckdb, duckdb:// or "
                "postgresql://user@host:port/database."
            )
    except ConnectionError:
        raise
    except Exception as err:
        raise ConnectionError(f"Could not connect to {_redact(target)}: {err}") from err
    return Database(backend, target)


def _redact(url: str | None) -> str:
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url
