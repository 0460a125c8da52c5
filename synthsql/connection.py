"""Open a database through Ibis and keep the few raw operations synthsql needs (transactions, COPY).

``connect`` takes a URL (``duckdb:///warehouse.duckdb``, ``duckdb://`` for an in-memory database,
``postgresql://user@host:port/db``), an Ibis backend the caller already has, or a :class:`Database`.
Tables are named ``table`` or ``schema.table``; names are always quoted by Ibis or sqlglot, never pasted into SQL.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import ibis
import pyarrow as pa
from ibis.backends import BaseBackend
from sqlglot import exp

from synthsql.engines import ENGINES, PINNED_POSTGRES_SETTINGS, Engine
from synthsql.errors import ConnectionError, TableNotFoundError, TargetError, did_you_mean
from synthsql.extras import MissingExtraError

__all__ = ["Database", "TableRef", "connect", "PINNED_POSTGRES_SETTINGS"]

_SAFE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
#: The tables written beside a synthetic table ``t``: ``t__privacy``, ``t__utility``, ``t__risk``, ``t__model``.
COMPANIONS = ("__privacy", "__utility", "__risk", "__model", "__details")
#: The longest identifier every supported engine keeps intact (PostgreSQL truncates names at 63 bytes).
MAX_NAME = 63


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

    def check_target(self) -> TableRef:
        """:meth:`check_safe`, and short enough that every companion table (``<name>__privacy``, ...) fits too."""
        self.check_safe()
        longest = max(len(s) for s in COMPANIONS)
        if len(self.name) + longest > MAX_NAME:
            raise TargetError(
                f"Target table name {self.name!r} has {len(self.name)} characters; synthsql also writes tables named "
                f"'{self.name}__utility' and the like, so a target may have at most {MAX_NAME - longest} characters "
                f"(identifiers are cut at {MAX_NAME})."
            )
        return self

    def companion(self, suffix: str) -> TableRef:
        """The companion table ``<name><suffix>`` in the same schema (``suffix`` one of :data:`COMPANIONS`)."""
        if suffix not in COMPANIONS:
            raise ValueError(f"unknown companion table suffix {suffix!r}")
        return TableRef(f"{self.name}{suffix}", self.schema)

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
        if backend.name not in ENGINES:
            raise ConnectionError(
                f"Backend {backend.name!r} is not supported yet; synthsql runs on {', '.join(sorted(ENGINES))}."
            )
        self.backend = backend
        self.url = url
        self._transaction_depth = 0
        #: What differs on this engine (:mod:`synthsql.engines`); PostgreSQL pins its session settings here.
        self.engine: Engine = ENGINES[backend.name](ENGINES[backend.name].raw_of(backend), _redact(url))

    def __repr__(self) -> str:
        return f"Database({self.dialect}{', ' + _redact(self.url) if self.url else ''})"

    @property
    def dialect(self) -> str:
        """The sqlglot dialect of this database: ``duckdb`` or ``postgres``."""
        return self.engine.dialect

    @property
    def raw(self) -> Any:
        """The connection under Ibis (a duckdb or psycopg connection, a SparkSession)."""
        return self.engine.raw

    # --- tables -------------------------------------------------------------------------------------------
    def list_tables(self, schema: str | None = None) -> list[str]:
        return list(self.backend.list_tables(database=schema) if schema else self.backend.list_tables())

    def exists(self, ref: str | TableRef) -> bool:
        """Whether the table exists as this session sees it (a table written earlier in the same block included,
        on an engine that publishes at the end of a block: :meth:`~synthsql.engines.Engine.resolve`)."""
        seen = self._seen(TableRef.parse(ref))
        if seen is None or (seen.schema is not None and not self.schema_exists(seen.schema)):
            return False
        return seen.name in self.list_tables(seen.schema)

    def _seen(self, ref: TableRef) -> TableRef | None:
        table = self.engine.resolve(ref.sqlglot())
        return None if table is None else TableRef(table.name, table.db or None)

    def check_writable(self, *refs: str | TableRef) -> None:
        """Refuse, before any work, tables this session could not create or replace (a view under the name, a
        schema without the right to create tables, a Spark table format that loses values), naming the table and
        the engine: each existing table is checked (:meth:`~synthsql.engines.Engine.check_replaceable`), and each
        schema tried once (:meth:`~synthsql.engines.Engine.check_creatable`)."""
        tried: set[str | None] = set()
        for ref in map(TableRef.parse, refs):
            if self.exists(ref):
                self.engine.check_replaceable(ref.sqlglot())
            if ref.schema not in tried:
                tried.add(ref.schema)
                self.engine.check_creatable(ref.sqlglot())

    def same_table(self, a: str | TableRef, b: str | TableRef) -> bool:
        """Whether two names denote the same table (an unqualified name is in the current schema)."""
        a, b = TableRef.parse(a), TableRef.parse(b)
        current = self.backend.current_database
        return a.name == b.name and (a.schema or current) == (b.schema or current)

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
        seen = self._seen(ref) or ref
        return self.backend.table(seen.name, database=seen.schema) if seen.schema else self.backend.table(seen.name)

    # --- raw SQL, always from a sqlglot tree ------------------------------------------------------------------
    def render(self, statement: exp.Expression) -> str:
        return self.engine.render(statement)

    def compile(self, expr: ibis.Expr) -> exp.Expression:
        """The sqlglot tree Ibis builds for an expression, to be combined with other trees."""
        return self.backend.compiler.to_sqlglot(expr)

    def execute(self, statement: exp.Expression) -> None:
        self.engine.execute(self.render(statement))

    def fetchall(self, statement: exp.Expression) -> list[tuple]:
        return self.engine.fetchall(self.render(statement))

    def stream(
        self, query: exp.Expression, schema: pa.Schema, batch_rows: int, *, concurrent: bool = False
    ) -> Iterator[pa.RecordBatch]:
        """Stream a query's rows as Arrow batches of at most ``batch_rows`` rows, without holding the result in memory.

        With ``concurrent``, the caller may write on this connection while it reads the stream (see the engine's
        :meth:`~synthsql.engines.Engine.stream`).
        """
        return self.engine.stream(self.render(query), schema, batch_rows, concurrent=concurrent)

    def quantiles(
        self, table: ibis.Table, value: str, probs: Sequence[float], *, by: str | None = None
    ) -> dict[Any, list[Any]]:
        """Exact discrete quantiles of ``table[value]`` per group ``by``, in bounded memory.

        See :func:`synthsql.quantiles.discrete_quantiles`: values of the data, the same bits on every backend.
        """
        from synthsql.quantiles import discrete_quantiles

        return discrete_quantiles(self, table, value, probs, by=by)

    @contextlib.contextmanager
    def transaction(self, *, snapshot: bool = False) -> Iterator[None]:
        """One transaction: committed when the outermost block ends, rolled back on any error or interrupt.

        Blocks nest: an inner block joins the outer transaction, so several writes can be made atomic together.
        With ``snapshot``, every read in the block sees the database as it was when the block began, whatever other
        sessions commit meanwhile (PostgreSQL: ``REPEATABLE READ``; DuckDB's transactions always read a snapshot).
        A nested block joins the outer transaction and its isolation.
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
            with self.engine.transaction(snapshot=snapshot):
                yield
        finally:
            self._transaction_depth = 0

    def conflicts(self, err: BaseException) -> bool:
        """True when ``err`` says another session changed the same table at the same time (a name taken, a
        write-write conflict, a serialization failure)."""
        return self.engine.conflicts(err)


def connect(
    target: str | BaseBackend | Database = "duckdb://", /, *, create: bool = False, **options: Any
) -> Database:
    """Open a database for synthsql.

    ``target`` is a URL, an Ibis backend, a ``pyspark.sql.SparkSession``, or a :class:`Database` (returned as it
    is). URL query parameters and ``options`` go to the backend: for DuckDB, configuration such as
    ``memory_limit='2GB'`` or ``threads=2``, and ``read_only=true``. A DuckDB file that does not exist is refused (a
    mistyped path would otherwise become a new, empty database) unless ``create=True``. Credentials never appear in
    an error message or a repr.

    Spark (the ``[spark]`` extra, Java 17): ``spark://local[2]`` starts (or joins) a local session with two
    threads, ``spark://host:7077`` joins a standalone cluster's master; query parameters are Spark settings
    (``spark://local[2]?spark.sql.warehouse.dir=/data/warehouse``). Where a session exists already (a notebook, a
    cluster job), pass it: ``connect(spark)``.

    >>> db = connect("duckdb://")            # in memory
    >>> db.dialect
    'duckdb'
    """
    if isinstance(target, Database):
        return target
    if isinstance(target, BaseBackend):
        return Database(target)
    for engine in ENGINES.values():
        backend = engine.backend_of_session(target)
        if backend is not None:
            return Database(backend)
    if not isinstance(target, str):
        raise ConnectionError(f"connect() takes a URL or an Ibis backend, got {type(target).__name__}.")
    scheme = target.partition("://")[0].lower() if "://" in target else ""
    engine = next((e for e in ENGINES.values() if scheme in e.schemes), None)
    if engine is None:
        schemes = [s for e in ENGINES.values() for s in e.schemes]
        raise ConnectionError(
            f"Unknown database URL scheme {scheme!r} in {_redact(target)!r}.{did_you_mean(scheme, schemes)} Use "
            f"{', '.join(e.url_example for e in ENGINES.values())}."
        )
    try:
        backend = engine.open(target, options, create=create)
    except ConnectionError as err:
        raise ConnectionError(_mask(str(err), target)) from None
    except MissingExtraError:
        raise
    except Exception as err:
        raise ConnectionError(f"Could not connect to {_redact(target)}: {_mask(str(err), target)}") from None
    return Database(backend, target)


#: Query parameters whose values are secrets: masked wherever a URL is shown.
_SECRET_PARAMS = ("password", "passwd", "pass", "pwd", "sslpassword", "token", "secret", "motherduck_token")


def _secrets(url: str) -> list[str]:
    """The secret values in a URL (its password, secret query parameters), raw and percent-decoded."""
    try:
        parts = urlsplit(url)
        password, query = parts.password, parts.query
    except ValueError:  # not a host the URL parser knows (spark://local[2]): no password in it
        password, query = None, url.partition("?")[2]
    found = [password] if password else []
    found += [v for k, v in parse_qsl(query) if k.lower() in _SECRET_PARAMS and v]
    return sorted({s for v in found for s in (v, unquote(v)) if s}, key=len, reverse=True)


def _mask(text: str, url: str | None) -> str:
    """``text`` with every secret of ``url`` replaced by ``***``."""
    for secret in _secrets(url or ""):
        text = text.replace(secret, "***")
    return text


def _redact(url: str | None) -> str:
    """The URL with its password and secret query parameters masked."""
    if not url:
        return ""
    return _mask(url, url)
