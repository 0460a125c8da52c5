"""Partial synthesis: regenerate only the listed columns, conditionally on the kept ones; keep every record.

Statistical agencies release *partially synthetic* microdata: the surveyed records themselves, with the values of a
few sensitive (or identifying) columns replaced by draws from a model fitted on the data (Little 1993; Reiter 2003).
The released table has exactly the source's rows, one released row per source row; kept columns, identifiers
included, are copied verbatim, so a released record stays linked to its original one (which is what the expected
match risk of :mod:`synthsql.metrics.match_risk` measures).

Fit (aggregates only; ``ss.fit(con, table, synthesize=[...])``, or ``method="partial"``). A Bayesian network over the cells of the columns, as in :mod:`synthsql.generators.bayesnet`,
but only the synthesized columns get conditional tables: the synthesized columns are visited in Prim's order starting
from the kept columns (next the synthesized column sharing the most mutual information with a placed column; kept
columns are placed from the start), and each takes as parents the placed column it shares most information with or,
with ``degree=k > 1``, the set of ``k`` among its ``candidates`` best-informed placed columns (kept columns and
earlier synthesized ones) whose joint count table has the largest mutual information and stays within ``max_cells``
cells. Everything comes from 2-way and (k+1)-way marginals computed by the database
(:class:`~synthsql.aggregates.AggregateStore`). Kept columns are *not* modelled: nothing is fitted for them.

Materialisation (bounded memory; ``ss.materialize(con, model, target)``). The source is read in batches of ``batch_rows`` rows, ordered by ``id`` when the
model has one (a unique, non-NULL kept column) or else by every kept column (text compared byte by byte, NULLs
last, so DuckDB and PostgreSQL read the rows in the same order): the kept values as they are, plus the cell codes of
the kept columns that are parents, computed in the database by :func:`synthsql.discretize.encode`. The synthesized
columns are drawn row by row from their conditional tables given those codes (ancestral sampling; a parent
configuration not seen at fit time falls back to the column's 1-way marginal), decoded into values
(:func:`synthsql.discretize.decode`), and the batches are written by :func:`synthsql.write.write_table`: one
transaction, so a failure leaves no half-written table. Every synthesized column draws from a random stream of its
own spawned from ``seed``, so the output does not depend on ``batch_rows``: the same seed gives the same table, on
DuckDB and on PostgreSQL alike. (Rows tied on every kept column are identical as read, so their order does not
matter.) Without an ``id`` the order is a sort on all kept columns; give ``id`` for a cheaper one-column sort.

Edit rules (``fit(..., synthesize=[...], rules=[...])``). A released row that breaks a rule has its synthesized
columns drawn again, given the same kept values, until it meets every rule (at most
:data:`~synthsql.model.MAX_REDRAWS` times; the kept values are the record's and are never changed): one row per
source row still. Redraw round ``r`` has random streams of its own, positioned at the row's place in the release
(:meth:`numpy.random.PCG64.advance`), so a row's values depend on the seed, its position and its kept values only,
and the table still does not depend on ``batch_rows``. A rule that names no synthesized column cannot be enforced by
drawing and is refused when fitting. :attr:`~synthsql.model.Model.rows_drawn` counts the rows drawn (the source's
plus the redraws), so the release records its rejection rate like any other.

>>> import synthsql as ss
>>> db = ss.connect("duckdb://")
>>> _ = db.backend.raw_sql(
...     "CREATE TABLE p AS SELECT i AS pid, i % 3 AS region, (i % 3) * 10 + i % 2 AS score FROM range(60) r(i)")
>>> spec = ss.describe(db, "p", exclude=["pid"])
>>> model = ss.fit(db, "p", synthesize=["score"], spec=spec, id="pid")
>>> model.kept, model.synthesize, model.parents
(['pid', 'region'], ['score'], {'score': ['region']})
>>> str(ss.materialize(db, model, "p_partial", seed=1))
'p_partial'
>>> db.backend.raw_sql("SELECT count(*) FROM p JOIN p_partial USING (pid, region)").fetchone()[0]
60
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import ibis.expr.datatypes as dt
import numpy as np
import pyarrow as pa
from sqlglot import exp

import ibis
from synthsql.aggregates import AggregateStore
from synthsql.connection import Database, TableRef
from synthsql.discretize import decode, encode
from synthsql.engines import Engine
from synthsql.errors import (
    ColumnNotFoundError,
    EmptyTableError,
    InvalidParameterError,
    ModelFormatError,
    SamplingError,
    TargetError,
    did_you_mean,
)
from synthsql.generators import CellSampler, Fitting, check_int, conditional_cdf, register
from synthsql.generators.bayesnet import mutual_information
from synthsql.metrics.match_risk import check_unique_id
from synthsql import model_format
from synthsql.model import BATCH_ROWS, MAX_REDRAWS, Model, table_from_json, table_to_json
from synthsql.rules import meeting
from synthsql.model_format import StateCheck
from synthsql.schema import NUMERIC_KINDS

__all__ = ["Partial", "PartialModel"]

_METHOD = "partial synthesis"


class PartialModel(Model):
    """A partially synthetic model: conditional count tables of the synthesized columns given kept ones.

    Holds aggregates only, like every model; the kept columns are read from the source table (``source``) when the
    model is released (:meth:`release`, which :func:`synthsql.materialize` writes), so :meth:`sample` is refused.
    """

    generator = "partial"

    def __init__(
        self,
        *,
        source: str,
        synthesize: Sequence[str],
        order: Sequence[str],
        parents: Mapping[str, Sequence[str]],
        counts: Mapping[str, np.ndarray],
        id: str | None = None,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        self.source = source
        self.synthesize = list(synthesize)
        self.order = list(order)
        self.parents = {k: list(v) for k, v in parents.items()}
        self.id = id
        # counts[x] has shape (cells of each parent ..., cells of x): the joint counts of the parents and x.
        self.counts = {k: np.asarray(v, dtype=np.int64) for k, v in counts.items()}
        self._cdf = {name: CellSampler(conditional_cdf(self.counts[name])) for name in self.order}

    def __repr__(self) -> str:
        return f"PartialModel(source={self.source!r}, synthesize={self.synthesize}, params={self.params})"

    @property
    def kept(self) -> list[str]:
        """The columns copied verbatim from the source, in source order."""
        return [name for name in self.spec.names if name not in self.synthesize]

    @property
    def conditioning(self) -> list[str]:
        """The kept columns some synthesized column is conditioned on, in source order."""
        used = {p for name in self.order for p in self.parents[name]}
        return [name for name in self.kept if name in used]

    # --- releasing ----------------------------------------------------------------------------------------------
    def release_rows(self, rows: int | None) -> None:
        """One released row per source row: the source decides the count, so ``rows`` must be left unset."""
        if rows is not None:
            raise InvalidParameterError("A partially synthetic table has one row per source row; leave rows unset.")
        return None

    def release(
        self, db: Database, rows: int | None, seed: int | None, *, batch_rows: int = BATCH_ROWS
    ) -> Iterator[pa.RecordBatch]:
        """The released rows as Arrow batches of at most ``batch_rows`` rows, read from the source in that order.

        Columns come in the spec's order: kept ones as read from the source, synthesized ones drawn here. An empty
        source is refused (there is no record to release).
        """
        self.release_rows(rows)
        batch_rows = check_int(_METHOD, "batch_rows", batch_rows, 1)
        streams = _Streams(seed, len(self.order))
        query, codes, schema = _source_query(db, self)
        names = self.spec.names
        empty = True
        self.rows_drawn = self.rows_kept = 0
        for raw in db.stream(query, schema, batch_rows, concurrent=True):
            empty = False
            found = {name: raw.column(alias).to_numpy() for name, alias in codes.items()}
            drawn = self._draw_batch(raw.num_rows, dict(found), streams.main)
            arrays = [drawn[name] if name in drawn else raw.column(name) for name in names]
            batch = pa.RecordBatch.from_arrays(arrays, names=names)
            self.rows_drawn += batch.num_rows
            if self.rules:
                batch = self._meeting_rules(batch, found, streams)
            streams.start += batch.num_rows
            self.rows_kept += batch.num_rows
            yield batch
        if empty:
            raise EmptyTableError(f"Source table {self.source!r} is empty: there is no record to release.")

    def _meeting_rules(self, batch: pa.RecordBatch, found: dict[str, np.ndarray], streams: _Streams) -> pa.RecordBatch:
        """The batch with the synthesized columns of each row that breaks a rule drawn again (same kept values) until
        it meets every rule: round ``r`` draws from its own streams at the batch's place (see the module notes)."""
        ok = meeting(self.rules, batch)
        n = batch.num_rows
        for r in range(MAX_REDRAWS):
            bad = np.flatnonzero(~ok)
            if not bad.size:
                return batch
            fresh = self._draw_batch(n, dict(found), streams.redraw(r, n))
            redo = pa.array(~ok)
            arrays = [pa.compute.if_else(redo, fresh[name], column) if name in fresh else column
                      for name, column in zip(batch.schema.names, batch.columns, strict=True)]
            batch = pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)
            self.rows_drawn += int(bad.size)
            ok[bad] = meeting(self.rules, batch.take(pa.array(bad)))
        if not ok.all():
            raise SamplingError(
                f"The partial synthesis of {self.source!r} cannot meet its edit rules "
                f"({', '.join(repr(r.name) for r in self.rules)}) for {int((~ok).sum()):,} source record(s) after "
                f"{MAX_REDRAWS} redraws of their synthesized columns ({', '.join(self.synthesize)}): the values they "
                "keep leave (almost) no synthesized value that meets them. Check the rules against the source (fit "
                "warns of a rule the source breaks), or synthesize the columns the rules tie them to as well."
            )
        return batch

    def template(self, db: Database) -> ibis.Table:
        """The source's columns, as an empty table: the release keeps their types."""
        t = db.table(self.source)
        present = t.schema().names
        for name in self.spec.names:
            if name not in present:
                raise ColumnNotFoundError(
                    f"Column {name!r} of the model is not in its source table {self.source!r} any more."
                    f"{did_you_mean(name, present)}"
                )
        return t.select(*self.spec.names).limit(0)

    def sample(self, n: int, seed: int | None = None, *, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        raise InvalidParameterError(
            "A partially synthetic model keeps the source's records and cannot sample rows on its own: write it with "
            f"synthsql.materialize(con, model, target), which reads the kept columns from {self.source!r}."
        )

    def _draw_batch(
        self, n: int, codes: dict[str, np.ndarray], streams: list[tuple[np.random.Generator, np.random.Generator]]
    ) -> dict[str, pa.Array]:
        out: dict[str, pa.Array] = {}
        for name, (draws, within) in zip(self.order, streams, strict=True):
            parents = self.parents[name]
            u = draws.random(n)
            if parents:
                shape = self.counts[name].shape[:-1]
                rows = np.ravel_multi_index(tuple(np.asarray(codes[p], dtype=np.int64) for p in parents), shape)
                codes[name] = self._cdf[name].draw(rows, u)
            else:
                codes[name] = self._cdf[name].draw(None, u)
            col = self.spec.column(name)
            position = within.random(n) if col.kind in NUMERIC_KINDS else None
            out[name] = decode(codes[name], col, within=position, quantiles=self.quantiles.get(name))
        return out

    # --- persistence --------------------------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "synthesize": self.synthesize,
            "id": self.id,
            "order": self.order,
            "parents": self.parents,
            "counts": {k: table_to_json(v) for k, v in self.counts.items()},
        }

    @classmethod
    def _from_state(cls, state: Mapping[str, Any], **common: Any) -> Model:
        counts = {k: table_from_json(v, np.int64) for k, v in state["counts"].items()}
        return cls(
            source=state["source"],
            synthesize=state["synthesize"],
            order=state["order"],
            parents=state["parents"],
            counts=counts,
            id=state.get("id"),
            **common,
        )

    @classmethod
    def _check_state(cls, state: Any, check: StateCheck) -> None:
        state = check.fields(state, "state", ("source", "synthesize", "id", "order", "parents", "counts"))
        model_format.string(state["source"], "state.source")
        try:
            TableRef.parse(state["source"])
        except TargetError as err:
            raise ModelFormatError(f"state.source: {err}") from None
        names = state["synthesize"]
        if not isinstance(names, list) or not names:
            raise ModelFormatError(f"state.synthesize: expected a non-empty list of column names, got "
                                   f"{model_format.show(names)}.")
        seen: set[str] = set()
        for i, name in enumerate(names):
            check.column(name, f"state.synthesize[{i}]", check.cells)
            if name in seen:
                raise ModelFormatError(f"state.synthesize[{i}]: column {name!r} is listed twice.")
            seen.add(name)
        kept = [name for name in check.spec.names if name not in seen]
        if not kept:
            raise ModelFormatError("state.synthesize: lists every column, but partial synthesis keeps at least one.")
        if state["id"] is not None:
            check.column(state["id"], "state.id", set(kept), "kept columns")
        placed = [name for name in check.modelled if name in kept]
        order, parents = check.network(state, "state", names, placed=placed)
        check.tables(state["counts"], "state.counts", order, parents, kind="count")

    @classmethod
    def _check_params(cls, params: Mapping[str, Any]) -> None:
        model_format.fields(params, "params", ("degree", "candidates", "max_cells"))
        check_int(_METHOD, "degree", params["degree"], 1)
        check_int(_METHOD, "candidates", params["candidates"], 1)
        check_int(_METHOD, "max_cells", params["max_cells"], 1)


# --------------------------------------------------------------------------------------------------------------
# Fit
# --------------------------------------------------------------------------------------------------------------
@register
class Partial:
    """Partial synthesis of the ``synthesize`` columns given the kept ones, fitted on aggregates.

    ``id`` names a unique, non-NULL kept column that orders the records when the model is released (default: all
    kept columns); ``degree``, ``candidates`` and ``max_cells`` bound the parent sets as for ``bayesnet``. See the
    module documentation for the method. ``ss.fit(con, table, synthesize=[...])`` chooses this method.
    """

    name = "partial"
    #: The release keeps the source's records (one row per source row), so the model cannot sample on its own.
    keeps_records = True

    def __init__(
        self,
        synthesize: Sequence[str] = (),
        id: str | None = None,
        degree: int = 2,
        candidates: int = 6,
        max_cells: int = 100_000,
    ) -> None:
        self.synthesize = _synthesize_names(synthesize)
        if id is not None and not isinstance(id, str):
            raise InvalidParameterError(f"The 'id' parameter must be a column name. Got {id!r} instead.")
        if id is not None and id in self.synthesize:
            raise InvalidParameterError(
                f"Column {id!r} is the id and is listed in synthesize=; the id links a released record to its "
                "original and is kept verbatim."
            )
        self.id = id
        self.degree = check_int(_METHOD, "degree", degree, 1)
        self.candidates = check_int(_METHOD, "candidates", candidates, 1)
        self.max_cells = check_int(_METHOD, "max_cells", max_cells, 1)

    def check_table(self, present: Sequence[str], table: str) -> None:
        """Refuse columns the source lacks, and a synthesize= list that keeps nothing, before anything is read."""
        for name in self.synthesize:
            if name not in present:
                raise ColumnNotFoundError(
                    f"Column {name!r} (in synthesize) is not in table {table!r}.{did_you_mean(name, present)}"
                )
        if set(self.synthesize) >= set(present):
            raise InvalidParameterError(
                f"synthesize= lists every column of table {table!r}: nothing would be kept. For a fully synthetic "
                "table use ss.fit(con, table, ...) without synthesize=, and ss.materialize(...)."
            )
        if self.id is not None and self.id not in present:
            raise ColumnNotFoundError(
                f"Id column {self.id!r} is not in table {table!r}.{did_you_mean(self.id, present)}"
            )

    def check_rules(self, rules: Sequence[Any], present: Sequence[str], table: str) -> None:
        """Refuse, before anything is read, an edit rule that names no synthesized column: the release copies the
        columns it names, so no draw can make a record meet it (check such a rule with evaluate)."""
        for rule in rules:
            trees = [tree for tree in rule._bound(present, table) if tree is not None]
            named = {c.name for tree in trees for c in tree.find_all(exp.Column)}
            if not named & set(self.synthesize):
                raise InvalidParameterError(
                    f"Edit rule {rule.name!r} names only kept columns ({', '.join(sorted(named))}) of {table!r}: "
                    "partial synthesis copies them from the source, so no draw can make a record meet it. Check it "
                    "with evaluate(..., rules=[...]), or synthesize one of its columns."
                )

    def fit(self, store: AggregateStore, fitting: Fitting, /) -> PartialModel:
        spec = store.spec
        names = self.synthesize
        for name in names:
            if name not in spec.names:
                raise ColumnNotFoundError(
                    f"Column {name!r} (in synthesize) is not in the spec of table {spec.table!r}."
                    f"{did_you_mean(name, spec.names)} Describe the table again or add it."
                )
            col = spec.column(name)
            if not col.modelled:
                raise InvalidParameterError(
                    f"Column {name!r} (in synthesize) is not modelled (kind {col.kind!r}), so it cannot be "
                    f"synthesized; declare its kind with describe(..., columns={{{name!r}: {{'kind': "
                    "'categorical'}})) to model it."
                )
        if self.id is not None and self.id not in spec.names:
            raise ColumnNotFoundError(f"Id column {self.id!r} is not in the spec of table {spec.table!r}.")
        present = store.rows.schema().names
        missing = [name for name in spec.names if name not in present]
        if missing:
            raise ColumnNotFoundError(
                f"Column {missing[0]!r} of the spec is not in table {spec.table!r}.{did_you_mean(missing[0], present)}"
            )
        if self.id is not None:
            check_unique_id(store.db, spec.table, self.id)
        order, parents = _structure(
            store, [n for n in spec.names if n in names], self.degree, self.candidates, self.max_cells
        )
        counts = dict(zip(order, store.marginals([(*parents[x], x) for x in order]), strict=True))
        quantiles = {
            name: store.bin_quantiles(name)
            for name in order
            if spec.column(name).kind in NUMERIC_KINDS and any(not b.is_point for b in spec.column(name).bins or ())
        }
        return PartialModel(
            source=spec.table,
            synthesize=names,
            order=order,
            parents=parents,
            counts=counts,
            id=self.id,
            spec=spec,
            params={"degree": self.degree, "candidates": self.candidates, "max_cells": self.max_cells},
            quantiles=quantiles,
            **fitting.provenance(),
        )


def _synthesize_names(synthesize: Any) -> list[str]:
    if isinstance(synthesize, str) or not isinstance(synthesize, Iterable):
        raise InvalidParameterError(
            f"The 'synthesize' parameter must be a list of column names. Got {synthesize!r} instead."
        )
    names = list(synthesize)
    if not names:
        raise InvalidParameterError(
            "synthesize=[] names no column: partial synthesis needs at least one column to regenerate."
        )
    for name in names:
        if not isinstance(name, str):
            raise InvalidParameterError(f"The 'synthesize' parameter must hold column names. Got {name!r}.")
        if names.count(name) > 1:
            raise InvalidParameterError(f"Column {name!r} is listed twice in synthesize.")
    return names


def _structure(
    store: AggregateStore, synthesized: list[str], degree: int, candidates: int, max_cells: int
) -> tuple[list[str], dict[str, list[str]]]:
    """The visiting order of the synthesized columns and each one's parents (kept or earlier synthesized columns)."""
    modelled = [c.name for c in store.spec.modelled]
    cells = {c.name: c.cells for c in store.spec.modelled}
    index = {name: i for i, name in enumerate(modelled)}
    pairs = sorted(
        {tuple(sorted((s, j), key=index.__getitem__)) for s in synthesized for j in modelled if j != s},
        key=lambda p: (index[p[0]], index[p[1]]),
    )
    mi: dict[tuple[str, str], float] = {}
    for (a, b), table in zip(pairs, store.marginals(pairs), strict=True):
        mi[a, b] = mi[b, a] = mutual_information(table)
    placed = [name for name in modelled if name not in synthesized]  # kept columns condition from the start
    remaining = list(synthesized)
    order: list[str] = []
    parents: dict[str, list[str]] = {}
    subsets: list[tuple[str, tuple[str, ...]]] = []
    while remaining:
        if placed:
            nxt = max(remaining, key=lambda s: (max(mi[s, p] for p in placed), -index[s]))
            tree = max(placed, key=lambda p: (mi[nxt, p], -index[p]))
            parents[nxt] = [tree]
            ranked = sorted(placed, key=lambda p: (-mi[nxt, p], index[p]))[:candidates]
            for subset in itertools.combinations(sorted(ranked, key=index.__getitem__), min(degree, len(ranked))):
                if len(subset) > 1 and math.prod(cells[p] for p in subset) * cells[nxt] <= max_cells:
                    subsets.append((nxt, subset))
        else:  # nothing kept is modelled: the root is the synthesized column most informative about the others
            nxt = max(remaining, key=lambda s: (sum(mi[s, o] for o in remaining if o != s), -index[s]))
            parents[nxt] = []
        order.append(nxt)
        placed.append(nxt)
        remaining.remove(nxt)
    if subsets:
        best = {x: mi[x, ps[0]] for x, ps in parents.items() if ps}
        for (x, subset), table in zip(subsets, store.marginals([(x, *s) for x, s in subsets]), strict=True):
            score = mutual_information(table)
            if score > best[x] + 1e-12:
                best[x], parents[x] = score, list(subset)
    return order, parents


# --------------------------------------------------------------------------------------------------------------
# Release
# --------------------------------------------------------------------------------------------------------------
def _check_seed(seed: Any) -> None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise InvalidParameterError(f"The 'seed' parameter must be None or an int >= 0. Got {seed!r} instead.")


class _Streams:
    """The random streams of a release: two per synthesized column (cells, positions within numeric bins) for the
    first draw, and as many again for each redraw round (rows that break an edit rule), all independent of batching.

    The first draw reads each stream in row order. A redraw round draws a whole batch from its streams, first advanced
    to the batch's first row (``start``: PCG64 draws one 64-bit word per uniform), so that the values redrawn for a
    row are the same whatever the batches and the rounds other batches needed.
    """

    def __init__(self, seed: int | None, k: int) -> None:
        _check_seed(seed)
        self.k = k
        children = np.random.SeedSequence(seed).spawn(2 * k * (1 + MAX_REDRAWS))
        self._children = children
        self.main = self._pairs(0)
        self.start = 0  # the release's rows before the current batch
        self._rounds: dict[int, tuple[list[tuple[np.random.Generator, np.random.Generator]], int]] = {}

    def _pairs(self, round_: int) -> list[tuple[np.random.Generator, np.random.Generator]]:
        first = 2 * self.k * round_
        seeds = self._children[first : first + 2 * self.k]
        return [(np.random.default_rng(seeds[2 * i]), np.random.default_rng(seeds[2 * i + 1])) for i in range(self.k)]

    def redraw(self, r: int, n: int) -> list[tuple[np.random.Generator, np.random.Generator]]:
        """The streams of redraw round ``r`` at the current batch's first row, for the caller to draw its ``n`` rows
        from (a stream a column does not use stays behind, unread, which changes nothing)."""
        pairs, position = self._rounds.get(r) or (self._pairs(r + 1), 0)
        for draws, within in pairs:
            draws.bit_generator.advance(self.start - position)
            within.bit_generator.advance(self.start - position)
        self._rounds[r] = (pairs, self.start + n)
        return pairs


def _source_query(db: Database, model: PartialModel) -> tuple[exp.Expression, dict[str, str], pa.Schema]:
    """The ordered query over the source: kept columns as they are plus the cell codes of the conditioning ones."""
    t = db.table(model.source)
    schema = t.schema()
    kept = model.kept
    taken = set(schema.names)
    codes: dict[str, str] = {}
    for i, name in enumerate(model.conditioning):
        alias = f"_synthsql_code_{i}"
        while alias in taken:
            alias = f"_{alias}"
        taken.add(alias)
        codes[name] = alias
    select = t.select(*[t[name] for name in kept], **{a: encode(t[n], model.spec.column(n)) for n, a in codes.items()})
    inner = exp.Subquery(this=db.compile(select), alias=exp.TableAlias(this=exp.to_identifier("e")))
    columns = [exp.column(name, "e", quoted=True) for name in [*kept, *codes.values()]]
    keys = [model.id] if model.id is not None else kept
    order = [exp.Ordered(this=_sort_key(name, schema[name], db.engine), nulls_first=False) for name in keys]
    return exp.select(*columns).from_(inner).order_by(*order), codes, select.schema().to_pyarrow()


def _sort_key(name: str, dtype: dt.DataType, engine: Engine) -> exp.Expression:
    """A column as sorted the same way on every backend: text byte by byte (:meth:`Engine.text_order`)."""
    column: exp.Expression = exp.column(name, "e", quoted=True)
    if dtype.is_string():
        column = engine.text_order(exp.cast(column, "TEXT"))
    return column
