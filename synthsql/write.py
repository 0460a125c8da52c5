"""Write Arrow batches to a table atomically, with the source's column names and types (for :mod:`synthsql.pipeline`).

The whole write is one transaction: the table is built under a temporary name, filled from the stream of batches
(DuckDB scans it as Arrow streams of ~5M rows; PostgreSQL gets ``COPY ... FROM STDIN`` per batch, never row inserts),
and only then swapped in for the target. An error or an interrupt rolls everything back: no half-written target, no
temporary table left behind, an existing target untouched. DuckDB and PostgreSQL both make DDL transactional, which
is what this relies on.

The batches are produced by a background thread a few ahead of the database, so that sampling (numpy) and writing
(the database) overlap; memory stays bounded by that queue. DuckDB writes the stream with ``preserve_insertion_order``
off, which lets both its threads write: the rows are the same for the same seed, but their physical order in the
table is not fixed (synthetic rows are exchangeable, and every synthsql metric orders rows by a hash of their
content).
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import numpy as np
import pandas as pd
import pyarrow as pa
from sqlglot import exp

from synthsql.connection import Database, TableRef, connect
from synthsql.engines import staging_name
from synthsql.errors import InvalidParameterError, TargetError
from synthsql.model import BATCH_ROWS, Model

__all__ = ["write_table", "privacy_table", "model_table", "MAX_ROWS", "check_rows"]

#: The most rows :func:`synthsql.materialize` writes unless asked for more (``max_rows=``): about 10 minutes of writing here.
MAX_ROWS = 1_000_000_000


def check_rows(rows: Any, max_rows: Any = None) -> int:
    """A positive integer number of rows within ``max_rows`` (default :data:`MAX_ROWS`), else a clear error."""
    cap = MAX_ROWS if max_rows is None else max_rows
    if isinstance(cap, bool) or not isinstance(cap, int) or cap <= 0:
        raise InvalidParameterError(f"'max_rows' must be a positive integer, got {max_rows!r}.")
    if isinstance(rows, bool) or not isinstance(rows, (int, np.integer)) or rows <= 0:
        raise InvalidParameterError(f"The number of rows to write must be a positive integer, got {rows!r}.")
    if rows > cap:
        raise InvalidParameterError(
            f"Writing {int(rows):,} rows is over the cap of {cap:,} rows (max_rows); nothing was written. Write fewer "
            f"rows, or raise the cap: materialize(..., max_rows={int(rows)})."
        )
    return int(rows)


def privacy_table(model: Model) -> pa.Table:
    """The ledger of a DP model as a table: one row per measurement, then a total row with (epsilon, delta).

    Every row carries the noise source and whether the release is differentially private: a model fitted with
    ``noise="reproducible"`` is marked ``differentially_private = false`` (its noise can be removed by whoever knows
    the noise seed, which is never written anywhere).
    """
    ledger = model.ledger()
    info = model.privacy or {}
    noise = str(info.get("noise", "private"))
    private = bool(info.get("differentially_private", noise == "private"))
    rows = [
        {
            "step": r.step,
            "columns": r.columns,
            "mechanism": r.mechanism,
            "rho": float(r.rho),
            "sigma": None if pd.isna(r.sigma) else float(r.sigma),
            "epsilon": None if pd.isna(r.epsilon) else float(r.epsilon),
            "delta": None if pd.isna(r.delta) else float(r.delta),
        }
        for r in ledger.itertuples()
    ]
    verdict = "" if private else "; NOT differentially private: reproducible (seeded) noise"
    rows.append(
        {
            "step": "total",
            "columns": f"{model.generator}, {len(rows)} measurements, budget rho={info.get('rho', 0.0):.6g}{verdict}",
            "mechanism": "zCDP",
            "rho": float(ledger["rho"].sum()) if len(ledger) else 0.0,
            "sigma": None,
            "epsilon": model.epsilon,
            "delta": model.delta,
        }
    )
    for row in rows:
        row.update(noise=noise, differentially_private=private)
    schema = pa.schema(
        [("step", pa.string()), ("columns", pa.string()), ("mechanism", pa.string()), ("rho", pa.float64()),
         ("sigma", pa.float64()), ("epsilon", pa.float64()), ("delta", pa.float64()), ("noise", pa.string()),
         ("differentially_private", pa.bool_())]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def model_table(model: Model) -> pa.Table:
    """The ``<target>__model`` row of a release: the model's JSON (aggregates only) and what its edit rules cost.

    ``rows_drawn`` and ``rows_kept`` are the counts of the sampling (or partial release) that made the table, and
    ``rejection_rate`` is :attr:`~synthsql.model.Model.rejection_rate`, the rows redrawn per row kept (0 without
    rules). :func:`synthsql.materialize` writes it beside every synthetic table, whichever path released it
    (``synthsql build`` goes through it too); ``synthsql report`` reads it back.
    """
    return pa.table({
        "model": pa.array([json.dumps(model.to_json(), sort_keys=True)], pa.string()),
        "rows_drawn": pa.array([int(model.rows_drawn)], pa.int64()),
        "rows_kept": pa.array([int(model.rows_kept)], pa.int64()),
        "rejection_rate": pa.array([float(model.rejection_rate)], pa.float64()),
    })


def write_table(
    con: Database | Any,
    target: str | TableRef,
    batches: Iterable[pa.RecordBatch] | pa.Table,
    /,
    *,
    template: ibis.Table | None = None,
    replace: bool = False,
) -> TableRef:
    """Write Arrow batches to ``target`` in one transaction (build under a staging name, then publish it).

    ``template`` is an empty Ibis table whose column types the target takes (``source.limit(0)``); without it the
    types follow the Arrow schema. With ``replace=True`` an existing target is dropped in the same transaction.
    """
    db = connect(con)
    ref = TableRef.parse(target).check_safe()
    if isinstance(batches, pa.Table):
        batches = batches.to_batches(max_chunksize=BATCH_ROWS) or [pa.RecordBatch.from_pylist([], batches.schema)]
    iterator = iter(batches)
    first = next(iterator, None)
    if first is None:
        raise InvalidParameterError(f"Nothing to write to {str(ref)!r}: no batches.")
    temporary = TableRef(staging_name(), ref.schema)
    with db.transaction():
        db.execute(_create_statement(db, temporary, template, first.schema))
        db.engine.stage(temporary.sqlglot())
        _append(db, temporary, first.schema, _chain(first, iterator))
        try:
            exists = db.exists(ref)
            if exists and not replace:
                raise TargetError(f"Target table {str(ref)!r} already exists; pass replace=True to replace it.")
            db.engine.publish(temporary.sqlglot(), ref.sqlglot(), exists=exists)
        except Exception as err:
            if db.conflicts(err):
                raise TargetError(
                    f"Another session created, replaced or dropped the table {str(ref)!r} while this one was writing "
                    "it; nothing was written. Run again (with replace=True to replace what the other session wrote)."
                ) from err
            raise
    return ref


def _chain(first: pa.RecordBatch, rest: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield first
    yield from rest


def _create_statement(db: Database, ref: TableRef, template: ibis.Table | None, schema: pa.Schema) -> exp.Create:
    if template is not None:
        return exp.Create(this=ref.sqlglot(), kind="TABLE", expression=db.compile(template))
    ibis_schema = ibis.Schema.from_pyarrow(schema)
    type_mapper = db.backend.compiler.type_mapper
    columns = [
        exp.ColumnDef(this=exp.to_identifier(name, quoted=True), kind=type_mapper.from_ibis(_storable(db, dtype)))
        for name, dtype in ibis_schema.items()
    ]
    return exp.Create(this=exp.Schema(this=ref.sqlglot(), expressions=columns), kind="TABLE")


def _storable(db: Database, dtype: dt.DataType) -> dt.DataType:
    """The column type for an Arrow type without a template: NULL-only columns become strings; other types as the
    engine stores them exactly (:meth:`~synthsql.engines.Engine.storable`: PostgreSQL has no unsigned integers)."""
    if dtype.is_null():
        return dt.string
    return db.engine.storable(dtype)


_PREFETCH = 3  # batches produced ahead of the database (100k rows each by default)
_DONE = object()


class _Prefetched:
    """The same batches in the same order, produced by a background thread up to ``_PREFETCH`` ahead.

    numpy, pyarrow and the database drivers release the GIL, so drawing the next batches overlaps with writing this
    one. An error in the producer is raised to the consumer (and kept in ``error``, for a driver that wraps it); when
    the consumer stops early, :meth:`close` stops the producer.
    """

    def __init__(self, batches: Iterator[pa.RecordBatch]) -> None:
        self.error: BaseException | None = None
        self._ready: queue.Queue[Any] = queue.Queue(maxsize=_PREFETCH)
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._produce, args=(batches,), name="synthsql-sample", daemon=True)
        self._worker.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self, batches: Iterator[pa.RecordBatch]) -> None:
        try:
            for batch in batches:
                if not self._put(batch):
                    return
        except BaseException as err:  # handed to the consumer, raised there
            self._put(err)
            return
        self._put(_DONE)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        while (item := self._ready.get()) is not _DONE:
            if isinstance(item, BaseException):
                self.error = item
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._worker.join()


def _append(db: Database, ref: TableRef, schema: pa.Schema, batches: Iterator[pa.RecordBatch]) -> None:
    """Stream every batch into ``ref`` through the engine's bulk append (:meth:`~synthsql.engines.Engine.append`),
    fed while the next batches are drawn."""
    db.engine.append(ref.sqlglot(), schema, _Prefetched(batches))
