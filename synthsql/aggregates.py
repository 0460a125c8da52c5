"""The only place that turns a table into numbers.

An :class:`AggregateStore` answers a generator's questions about a table with aggregates computed by the database:
k-way marginals (count tables over cell codes), within-bin quantiles and Spearman rank correlations. Each answer is
cached, so a generator may ask twice and the database computes once. Nothing here returns a row: what reaches Python
is bounded by the domain (the number of cells), never by the number of rows.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import ibis
import numpy as np
import pyarrow as pa
from sqlglot import exp

from synthsql.connection import Database, TableRef, connect
from synthsql.discretize import WITHIN_BIN_GRID, WITHIN_BIN_PROBS, encode, quantile_table
from synthsql.errors import InvalidParameterError
from synthsql.quantiles import exact_literal, order_statistics, rank_of
from synthsql.schema import NUMERIC_KINDS, Bin, ColumnSpec, TableSpec, numeric_value

__all__ = ["AggregateStore", "AGGREGATE_METHODS", "MAX_AGGREGATE_CELLS", "check_max_cells"]

#: What a generator may ask of a store. The conformance tests hand generators a wrapper exposing only these.
AGGREGATE_METHODS = (
    "spec", "n_rows", "marginal", "marginals", "check_cells", "bin_quantiles", "rank_correlation", "null_blocks",
    "tree_nodes",
)

#: The most cells one marginal may have.
MAX_MARGINAL_CELLS = 20_000_000
#: The most cells the marginals a store holds may have together (int64 counts: 100M cells are 800 MB), unless the
#: store is made with another ``max_cells`` (``fit(..., max_aggregate_cells=...)``). Checked before the query runs.
MAX_AGGREGATE_CELLS = 100_000_000
GROUPING_SETS_PER_QUERY = 128
#: The most (rows x modelled columns) values whose combination counts a store keeps in a temporary table when one
#: request of marginals needs several queries (about 800 MB of temporary storage at 8 bytes a value, at worst when
#: every row is distinct). Above it each query reads and encodes the table again.
MAX_COMBINATION_VALUES = 100_000_000
#: The most result rows one query of tree histograms may return (bounded before it runs; 40 bytes a row).
MAX_HISTOGRAM_ROWS = 20_000_000


def check_max_cells(value: Any) -> int:
    """The cap on the cells of aggregates a store may hold, checked (``fit(..., max_aggregate_cells=...)``)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidParameterError(f"'max_aggregate_cells' must be a positive integer, got {value!r}.")
    return value


class AggregateStore:
    """Aggregates of one table, computed in its database and cached.

    >>> import synthsql as ss
    >>> db = ss.connect("duckdb://")
    >>> _ = db.backend.raw_sql("CREATE TABLE t AS SELECT i % 2 = 0 AS even, i % 3 AS m FROM range(6) r(i)")
    >>> store = AggregateStore(db, "t", ss.describe(db, "t"))
    >>> store.marginal(("even",)).tolist()   # False, True, NULL
    [3, 3, 0]
    """

    def __init__(
        self,
        con: Database | Any,
        table: str | TableRef | ibis.Table,
        spec: TableSpec,
        *,
        rows: Callable[[ibis.Table], ibis.Table] | None = None,
        max_cells: int = MAX_AGGREGATE_CELLS,
    ) -> None:
        self.max_cells = check_max_cells(max_cells)
        self._db = connect(con)
        self._table = table if isinstance(table, ibis.Table) else self._db.table(table)
        if rows is not None:  # a subset of the rows, e.g. the training part of a holdout split
            self._table = rows(self._table)
        self.spec = spec
        self._columns = {c.name: c for c in spec.modelled}
        self._cache: dict[tuple[Any, ...], np.ndarray] = {}
        self._encoded_tree: exp.Expression | None = None
        #: Every aggregate computed in the database, in order: (kind, columns). Cached answers are not repeated.
        self.log: list[tuple[str, tuple[str, ...]]] = []

    @property
    def n_rows(self) -> int:
        return self.spec.n_rows

    @property
    def db(self) -> Database:
        """The database the aggregates are computed in."""
        return self._db

    @property
    def rows(self) -> ibis.Table:
        """The rows the aggregates are computed over (the table, or the training rows of a holdout split)."""
        return self._table

    def count_rows(self) -> int:
        """The number of rows the store reads (one COUNT(*) in the database)."""
        return int(self._db.backend.execute(self._table.count()))

    def _check(self, columns: Iterable[str]) -> tuple[str, ...]:
        columns = tuple(columns)
        for name in columns:
            if name not in self._columns:
                self.spec.column(name)  # raises with a suggestion when the name is unknown
                raise InvalidParameterError(f"Column {name!r} is not modelled (kind {self.spec.column(name).kind!r}).")
        if len(set(columns)) != len(columns):
            raise InvalidParameterError(f"A marginal lists a column twice: {columns}.")
        return columns

    def _ordered(self, columns: tuple[str, ...]) -> tuple[str, ...]:
        order = {c.name: i for i, c in enumerate(self.spec.modelled)}
        return tuple(sorted(columns, key=order.__getitem__))

    def marginal(self, columns: Sequence[str]) -> np.ndarray:
        """Counts over the cells of ``columns``: an int64 array of shape ``(cells_1, ..., cells_k)``."""
        return self.marginals([columns])[0]

    def marginals(self, sets: Iterable[Sequence[str]]) -> list[np.ndarray]:
        """Counts for each set of columns, computed together: one scan per batch of sets."""
        sets = [self._check(s) for s in sets]
        canonical = [self._ordered(s) for s in sets]
        missing = self._missing(canonical)
        self._check_cells(missing)
        chunks = [missing[i : i + GROUPING_SETS_PER_QUERY] for i in range(0, len(missing), GROUPING_SETS_PER_QUERY)]
        with self._combinations(len(chunks) > 1) as combinations:
            for chunk in chunks:
                self._cache.update({("marginal", c): v for c, v in self._count(chunk, combinations).items()})
        out = []
        for columns, key in zip(sets, canonical, strict=True):
            counts = self._cache[("marginal", key)]
            out.append(counts.transpose([key.index(c) for c in columns]) if columns != key else counts)
        return out

    def check_cells(self, sets: Sequence[Sequence[str]]) -> None:
        """Refuse now, before any query, a workload of marginals that would take the store past :attr:`max_cells`.

        Generators call it first with every marginal they plan to ask for, so that a fit too large for memory fails
        in a second with the size and the cap, not after minutes of scanning.
        """
        self._check_cells(self._missing([self._ordered(self._check(s)) for s in sets]))

    def _missing(self, canonical: Sequence[tuple[str, ...]]) -> list[tuple[str, ...]]:
        return list(dict.fromkeys(c for c in canonical if ("marginal", c) not in self._cache))

    def _check_cells(self, sets: list[tuple[str, ...]]) -> None:
        """Refuse, before any query, marginals that would take the store past :attr:`max_cells` cells in all."""
        held = sum(v.size for k, v in self._cache.items() if k[0] == "marginal")
        asked = sum(math.prod(self._columns[c].cells for c in s) for s in sets)
        if held + asked > self.max_cells:
            raise InvalidParameterError(
                f"Table {self.spec.table!r}: the {len(sets):,} marginals asked for have {asked:,} cells "
                f"({held:,} more are held), over the cap of {self.max_cells:,} cells of aggregates (8 bytes each); "
                "nothing was computed. Declare fewer bins or categories, model fewer columns, or raise the cap: "
                f"fit(..., max_aggregate_cells={held + asked})."
            )

    def _encoded(self) -> exp.Expression:
        """The table as cell codes, one column ``c<i>`` per modelled column, compiled once per store."""
        if self._encoded_tree is None:
            t = self._table
            codes = {f"c{i}": encode(t[c.name], c) for i, c in enumerate(self.spec.modelled)}
            self._encoded_tree = self._db.compile(t.select(**codes) if codes else t.select(c0=ibis.literal(0)))
        return self._encoded_tree

    @contextlib.contextmanager
    def _combinations(self, wanted: bool) -> Iterator[exp.Table | None]:
        """A temporary table of the rows counted per combination of every modelled column's cell (``c<i>``, ``n``),
        when ``wanted`` (a request that needs several queries) and the table is within
        :data:`MAX_COMBINATION_VALUES`; dropped when the request is answered.

        Each query then reads encoded, already counted combinations instead of encoding and grouping the table
        again: on a 30-column, 300k-row table PostgreSQL spent about 1.5 s of each query on that, in every one of the
        ten queries of an evaluation's marginals.
        """
        columns = len(self.spec.modelled)
        if not wanted or columns == 0 or self.spec.n_rows * columns > MAX_COMBINATION_VALUES:
            yield None
            return
        codes = [exp.column(f"c{i}") for i in range(columns)]
        encoded = exp.Subquery(this=self._encoded(), alias=exp.TableAlias(this=exp.to_identifier("e")))
        query = exp.select(*codes, exp.alias_(exp.Count(this=exp.Star()), "n")).from_(encoded).group_by(*codes)
        name = f"_synthsql_combinations_{secrets.token_hex(6)}"
        self._db.engine.create_temporary(name, query)
        try:
            yield exp.Table(this=exp.to_identifier(name, quoted=True))
        finally:
            self._db.engine.drop_temporary(name)

    def _count(
        self, sets: list[tuple[str, ...]], combinations: exp.Table | None = None
    ) -> dict[tuple[str, ...], np.ndarray]:
        """Several marginals from one ``GROUP BY GROUPING SETS`` query over the encoded table (or over the counted
        ``combinations`` of :meth:`_combinations`).

        The rows are first counted per combination of the cells the sets use (one ``GROUP BY``), and the grouping
        sets sum those counts: an engine that expands every row once per grouping set (Spark) then expands the
        combinations instead of the rows, and one that builds a hash table per set (DuckDB) builds them over fewer
        rows (fit at 10M rows: DuckDB 6.9 -> 4.7 s on cps1988, 68 -> 39 s on eusilc; the counts are the same).
        Cell codes are never NULL, so the columns a result row leaves NULL tell which grouping set it belongs to.
        """
        shapes = {s: tuple(self._columns[c].cells for c in s) for s in sets}
        for columns, shape in shapes.items():
            if math.prod(shape) > MAX_MARGINAL_CELLS:
                raise InvalidParameterError(
                    f"The marginal over {columns} has {math.prod(shape):,} cells, more than {MAX_MARGINAL_CELLS:,}; "
                    "use fewer bins or categories for these columns."
                )
        position = {c.name: i for i, c in enumerate(self.spec.modelled)}
        used = sorted({position[c] for s in sets for c in s})
        slot = {i: k for k, i in enumerate(used)}
        grouping = exp.GroupingSets(
            expressions=[exp.Tuple(expressions=[exp.column(f"c{position[c]}") for c in s]) for s in sets]
        )
        keys = [exp.column(f"c{i}") for i in used]
        # copy=False throughout: the builders would otherwise copy the encoded table's tree (a CASE per column)
        # three times a query, most of a 200-column fit's time; it is only read, and rendering copies it once.
        if combinations is None:
            encoded = exp.Subquery(this=self._encoded(), alias=exp.TableAlias(this=exp.to_identifier("e")))
            counted: exp.Expression = exp.Count(this=exp.Star())
        else:
            encoded, counted = combinations.copy(), exp.Sum(this=exp.column("n"))
        cells = exp.select(*keys, exp.alias_(counted, "n")).from_(encoded, copy=False)
        cells = cells.group_by(*[k.copy() for k in keys], copy=False)
        total = exp.Cast(this=exp.Sum(this=exp.column("n")), to=exp.DataType.build("BIGINT"))
        grouped = exp.Subquery(this=cells, alias=exp.TableAlias(this=exp.to_identifier("g")))
        query = exp.select(*[k.copy() for k in keys], exp.alias_(total, "n")).from_(grouped, copy=False)
        query = query.group_by(grouping, copy=False)
        schema = pa.schema([(f"c{i}", pa.int64()) for i in used] + [("n", pa.int64())])
        result = _arrow_result(self._db, query, schema)
        # A result row of a grouping set has exactly that set's columns not NULL: columnar arrays, not Python
        # tuples (a 200-column table returned rows 201 values wide), and no bit mask of the columns (which
        # overflowed past 63 columns and gave empty marginals).
        present = np.column_stack([result.column(k).is_valid().to_numpy() for k in range(len(used))])
        codes = np.column_stack([result.column(k).fill_null(0).to_numpy() for k in range(len(used))])
        n = result.column(len(used)).to_numpy()
        width = present.sum(axis=1)
        counts = {}
        for columns, shape in shapes.items():
            at = [slot[position[c]] for c in columns]
            rows = (width == len(columns)) & present[:, at].all(axis=1)
            table = np.zeros(shape, dtype=np.int64)
            table[tuple(codes[rows, a] for a in at)] = n[rows]
            counts[columns] = table
        self.log.extend(("marginal", s) for s in sets)
        return counts

    def bin_quantiles(self, column: str) -> np.ndarray:
        """Quantiles of a numeric column within each of its bins, at :data:`~synthsql.discretize.WITHIN_BIN_PROBS`:
        shape ``(cells, WITHIN_BIN_GRID)``.

        Discrete quantiles (values that occur in the bin, see :meth:`Database.quantiles`); rows of empty bins, of
        special values and of the NULL cell are NaN. float64, or Python ints in an object array when a whole number
        beyond 2**53 would not be exact as a double (:func:`~synthsql.discretize.quantile_table`). Used to draw
        values inside a bin as the data spread them.
        """
        (name,) = self._check((column,))
        spec = self._columns[name]
        if spec.kind not in NUMERIC_KINDS:
            raise InvalidParameterError(f"Column {name!r} is {spec.kind}; within-bin quantiles need a numeric column.")
        key = ("bin_quantiles", (name,))
        if key not in self._cache:
            self._cache[key] = self._bin_quantiles(spec)
            self.log.append(("bin_quantiles", (name,)))
        return self._cache[key].copy()

    def _bin_quantiles(self, spec: ColumnSpec) -> np.ndarray:
        t = self._table
        probs = list(WITHIN_BIN_PROBS)
        bins = spec.bins or ()
        # Python numbers until the end (ints stay exact); rows of special values and of the NULL cell stay NaN.
        out: list[list[Any]] = [[math.nan] * WITHIN_BIN_GRID for _ in range(spec.cells)]
        for code, b in enumerate(bins):
            if b.is_point:
                out[code] = [b.lo] * WITHIN_BIN_GRID
        x = numeric_value(t[spec.name], spec.kind)
        if _contiguous(bins, whole=spec.whole):
            # Cells in value order with no gaps: the q-quantile of a cell is the column's order statistic of rank
            # (values in earlier cells) + rank within the cell, so one search over the column serves every cell.
            counts = self.marginal((spec.name,))[: len(bins)]  # the bins only: special values and NULL follow
            offsets = np.cumsum(counts) - counts
            targets = [
                (code, k, int(offsets[code]) + rank_of(p, int(counts[code])))
                for code, b in enumerate(bins)
                if not b.is_point and counts[code]
                for k, p in enumerate(probs)
            ]
            values = t.select(x=x)
            low, top = exact_literal(bins[0].lo), exact_literal(max(b.hi for b in bins))
            inside = values.filter((values.x >= low) & (values.x <= top))  # neither NaN nor infinity
            found = order_statistics(self._db, inside, "x", [rank for _, _, rank in targets]) if targets else []
            for (code, k, _), value in zip(targets, found, strict=True):
                out[code][k] = value
            return quantile_table(out)
        coded = t.select(code=encode(t[spec.name], spec), x=x)
        for code, q in self._db.quantiles(coded, "x", probs, by="code").items():
            if code < len(bins) and not bins[code].is_point:
                out[code] = list(q)
        return quantile_table(out)

    def null_blocks(self) -> list[tuple[str, ...]]:
        """The blocks of modelled columns that are NULL in exactly the same rows (a questionnaire section skipped
        as a whole), each in the spec's order (:func:`null_blocks`)."""
        key = ("null_blocks", ())
        if key not in self._cache:
            self._cache[key] = null_blocks(self._table, [c.name for c in self.spec.modelled if c.null_share > 0])
            self.log.append(("null_blocks", ()))
        return list(self._cache[key])

    def tree_nodes(self, targets: Sequence[str], *, bootstrap: int | None = None) -> NodeTable:
        """The rows, as cell codes, with the node of each of the trees predicting ``targets`` that each row is in
        (all at the root): a :class:`NodeTable` to grow the trees level by level, used as a context manager.

        ``bootstrap`` (a seed): every row weighs a Poisson(1) count drawn from a hash of its content and the seed
        (the Poisson bootstrap, a bootstrap sample's weights for large tables), and every count is of weights."""
        return NodeTable(self, self._check(targets), bootstrap=bootstrap)

    def rank_correlation(self, columns: Sequence[str]) -> np.ndarray:
        """Spearman rank correlations between ``columns``, from their 2-way marginals.

        Each column is ranked by its cells in value order (:func:`value_order`: NULL first, -inf, the bins, +inf,
        NaN; categories by their cell code); rows in the same cell share the mean of their ranks, as
        ``scipy.stats.spearmanr`` treats ties. Working on cells keeps memory bounded by the domain (an exact
        row-level rank needs a sort of the whole table); with quantile bins the loss against row-level ranks is
        small. A constant column has correlation 0 with every other column.
        """
        columns = self._check(columns)
        pairs = list(itertools.combinations(range(len(columns)), 2))
        tables = self.marginals([(columns[i], columns[j]) for i, j in pairs])
        matrix = np.eye(len(columns))
        for (i, j), counts in zip(pairs, tables, strict=True):
            a, b = self._columns[columns[i]], self._columns[columns[j]]
            matrix[i, j] = matrix[j, i] = spearman(counts[value_order(a)][:, value_order(b)])
        return matrix


class NodeTable:
    """Trees grown level by level in the database: the store's rows as cell codes with, for each tree, the node the
    row has reached, in a temporary table.

    Each level costs a fixed number of statements whatever its number of nodes: the histograms of every open node
    (:meth:`histograms`: one ``GROUP BY GROUPING SETS`` per batch of (target, predictor) pairs) and one routing
    statement (:meth:`route`) that moves every row to its child through a join to a small table of splits, one
    row per (node, cell of the split's predictor). A row whose node is a leaf goes to node -1 and is not counted
    again. What reaches Python is counts per (node, predictor cell, target cell), never a row.
    """

    def __init__(self, store: AggregateStore, targets: tuple[str, ...], *, bootstrap: int | None = None) -> None:
        self._store = store
        self._bootstrap = bootstrap
        self._db = store.db
        self._position = {c.name: i for i, c in enumerate(store.spec.modelled)}
        self._cells = {c.name: c.cells for c in store.spec.modelled}
        self.targets = targets
        self._name: str | None = None
        self._level = 0
        self._open_rows = {t: store.n_rows for t in targets}  # rows not yet in a leaf, per tree (a bound)

    def __enter__(self) -> NodeTable:
        codes = [exp.column(f"c{i}") for i in range(len(self._position))]
        nodes = [exp.alias_(exp.Literal.number(0), self._node(t)) for t in self.targets]
        weight = [exp.column("w")] if self._bootstrap is not None else []
        source = self._store._encoded() if self._bootstrap is None else self._weighted(self._bootstrap)
        encoded = exp.Subquery(this=source, alias=exp.TableAlias(this=exp.to_identifier("e")))
        self._name = f"_synthsql_nodes_{secrets.token_hex(6)}"
        self._db.engine.create_temporary(self._name, exp.select(*codes, *weight, *nodes).from_(encoded))
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._name is not None:
            self._db.engine.drop_temporary(self._name)
            self._name = None

    def _weighted(self, seed: int) -> exp.Expression:
        """The cell codes and each row's Poisson(1) weight: the number of the distribution's CDF points
        (k = 0..7, the rest has probability 1e-6) below a uniform number hashed from the row and the seed."""
        from synthsql.holdout import with_hashes  # (holdout imports nothing of this module)

        hashed = with_hashes(self._store.rows, {"_synthsql_u": ("bootstrap", seed, 13)})
        scale = 16**13
        cdf = np.cumsum([math.exp(-1) / math.factorial(k) for k in range(8)])
        weight = sum(ibis.ifelse(hashed["_synthsql_u"] >= float(math.floor(p * scale)), 1, 0) for p in cdf)
        codes = {f"c{i}": encode(hashed[c.name], c) for i, c in enumerate(self._store.spec.modelled)}
        return self._db.compile(hashed.select(**codes, w=weight))

    def marginals(self, columns: Sequence[str]) -> list[np.ndarray]:
        """The 1-way counts (of weights, with ``bootstrap``) of ``columns``, over every row."""
        if not columns:
            return []
        count = self._count_expr()
        query = exp.select(*(exp.column(self._code(c)) for c in columns), exp.alias_(count, "rows_")).from_(
            exp.to_identifier(self._name, quoted=True)
        ).group_by(exp.GroupingSets(expressions=[exp.Tuple(expressions=[exp.column(self._code(c))])
                                                 for c in columns]), copy=False)
        out = []
        rows = self._db.fetchall(query)
        for k, name in enumerate(columns):
            counts = np.zeros(self._cells[name], dtype=np.int64)
            for row in rows:
                if row[k] is not None and all(row[j] is None for j in range(len(columns)) if j != k):
                    counts[int(row[k])] += int(row[-1])
            out.append(counts)
        return out

    def _count_expr(self) -> exp.Expression:
        rows = exp.Count(this=exp.Star()) if self._bootstrap is None else exp.Sum(this=exp.column("w"))
        return exp.Cast(this=rows, to=exp.DataType.build("BIGINT"))

    def _node(self, target: str) -> str:
        return f"n{self._position[target]}"

    def _code(self, column: str) -> str:
        return f"c{self._position[column]}"

    def histograms(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], np.ndarray]:
        """For each (target, predictor): the rows of open nodes counted per (node, predictor cell, target cell), as
        an int64 array of shape (k, 4) (node, predictor cell, target cell, count), empty combinations left out.

        The pairs are batched so that no query can return more than :data:`MAX_HISTOGRAM_ROWS` rows (the bound of
        a pair: its open rows, and its nodes times its cells), each batch one grouping-sets query.
        """
        assert self._name is not None, "use NodeTable as a context manager"
        out: dict[tuple[str, str], np.ndarray] = {}
        batch: list[tuple[str, str]] = []
        held = 0
        for target, predictor in pairs:
            bound = min(self._open_rows[target], (1 << self._level) * self._cells[predictor] * self._cells[target])
            if batch and (held + bound > MAX_HISTOGRAM_ROWS or len(batch) == GROUPING_SETS_PER_QUERY):
                out.update(self._histograms(batch))
                batch, held = [], 0
            batch.append((target, predictor))
            held += bound
        if batch:
            out.update(self._histograms(batch))
        return out

    def _histograms(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], np.ndarray]:
        keys = list(dict.fromkeys(
            name for t, p in pairs for name in (self._node(t), self._code(p), self._code(t))
        ))
        grouping = exp.GroupingSets(expressions=[
            exp.Tuple(expressions=[exp.column(self._node(t)), exp.column(self._code(p)), exp.column(self._code(t))])
            for t, p in pairs
        ])
        count = self._count_expr()
        columns = [exp.alias_(exp.Cast(this=exp.column(k), to=exp.DataType.build("BIGINT")), k) for k in keys]
        open_nodes = exp.and_(*(
            exp.GTE(this=exp.func("COALESCE", exp.column(k), exp.Literal.number(0)), expression=exp.Literal.number(0))
            for k in keys if k.startswith("n")
        ))
        query = (exp.select(*columns, exp.alias_(count, "rows_")).from_(exp.to_identifier(self._name, quoted=True))
                 .group_by(grouping, copy=False).having(open_nodes, copy=False))
        schema = pa.schema([(k, pa.int64()) for k in [*keys, "rows_"]])
        result = _arrow_result(self._db, query, schema)
        present = {k: ~result[k].is_null().to_numpy(zero_copy_only=False) for k in keys}
        values = {k: result[k].fill_null(0).to_numpy() for k in [*keys, "rows_"]}
        out = {}
        for t, p in pairs:
            mine = [self._node(t), self._code(p), self._code(t)]
            rows = np.logical_and.reduce([present[k] if k in mine else ~present[k] for k in keys])
            out[(t, p)] = np.stack([values[k][rows] for k in [*mine, "rows_"]], axis=1).astype(np.int64)
            self._store.log.append(("tree_histogram", (t, p)))
        return out

    def route(self, routes: Mapping[str, Sequence[tuple[int, str, int, int, np.ndarray]]],
              open_rows: Mapping[str, int]) -> None:
        """Move every row to its child, in one statement for all the trees.

        ``routes[target]`` lists the nodes that split: (node, predictor, left child, right child, the predictor's
        cells that go left); a child of -1 is a leaf, and so is every node without a route. ``open_rows``: each
        tree's rows still in open nodes after the move (it bounds the next level's histograms).

        A small table holds one row per split node: its predictor, its children and the cells going left as bits
        of 63-bit words. Each tree's rows join it on their node (an equality: a hash join), take the code of the
        node's predictor (a ``CASE`` over the predictors, never over the nodes) and go left where its bit is set.
        """
        assert self._name is not None, "use NodeTable as a context manager"
        cells = max([self._cells[p] for t in self.targets for _, p, _, _, _ in routes.get(t, ())], default=1)
        words = -(-cells // _BITS)
        splits = []
        for t in self.targets:
            for node, p, left, right, going in routes.get(t, ()):
                bits = [0] * words
                for code in going:
                    bits[int(code) // _BITS] |= 1 << (int(code) % _BITS)
                splits.append((self._position[t], int(node), self._position[p], int(left), int(right), *bits))
        columns = ["t", "node", "pred", "lft", "rgt", *(f"w{i}" for i in range(words))]
        split_table = f"_synthsql_splits_{secrets.token_hex(6)}"
        selected: list[exp.Expression] = [exp.column(f"c{i}", table="e") for i in range(len(self._position))]
        if self._bootstrap is not None:
            selected.append(exp.column("w", table="e"))
        query = exp.select().from_(exp.alias_(exp.Table(this=exp.to_identifier(self._name, quoted=True)), "e",
                                              table=True))
        for t in self.targets:
            k = self._position[t]
            if not routes.get(t):
                selected.append(exp.alias_(exp.Literal.number(-1), self._node(t)))
                continue
            s = f"s{k}"
            predictors = sorted({self._position[p] for _, p, _, _, _ in routes[t]})
            code = exp.Case(this=exp.column("pred", table=s), ifs=[
                exp.If(this=exp.Literal.number(j), true=exp.column(f"c{j}", table="e")) for j in predictors
            ])
            word: exp.Expression = exp.column("w0", table=s)
            if words > 1:
                word = exp.Case(this=exp.IntDiv(this=code.copy(), expression=exp.Literal.number(_BITS)), ifs=[
                    exp.If(this=exp.Literal.number(i), true=exp.column(f"w{i}", table=s)) for i in range(words)
                ])
            shift = exp.Mod(this=code, expression=exp.Literal.number(_BITS)) if words > 1 else code
            bit = exp.BitwiseAnd(this=exp.Paren(this=exp.BitwiseRightShift(this=word, expression=shift)),
                                 expression=exp.Literal.number(1))
            selected.append(exp.alias_(exp.Case(ifs=[
                exp.If(this=exp.column("node", table=s).is_(exp.null()), true=exp.Literal.number(-1)),
                exp.If(this=_eq(exp.Paren(this=bit), exp.Literal.number(1)), true=exp.column("lft", table=s)),
            ], default=exp.column("rgt", table=s)), self._node(t)))
            query = query.join(
                exp.alias_(exp.Table(this=exp.to_identifier(split_table, quoted=True)), s, table=True),
                on=exp.and_(_eq(exp.column("t", table=s), exp.Literal.number(k)),
                            _eq(exp.column("node", table=s), exp.column(self._node(t), table="e"))),
                join_type="LEFT", copy=False,
            )
        query = query.select(*selected, copy=False)
        engine = self._db.engine
        new = f"_synthsql_nodes_{secrets.token_hex(6)}"
        if splits:
            engine.create_temporary(split_table, exp.select(*columns).from_(_values(splits, columns)))
        try:
            engine.create_temporary(new, query)
        finally:
            if splits:
                engine.drop_temporary(split_table)
        engine.drop_temporary(self._name)
        self._name = new
        self._level += 1
        self._open_rows.update(open_rows)
        self._store.log.append(("tree_route", tuple(t for t in self.targets if routes.get(t))))


#: Bits of a split's word of cells going left (a BIGINT keeps 63 without its sign).
_BITS = 63


def _eq(a: exp.Expression, b: exp.Expression) -> exp.EQ:
    return exp.EQ(this=a, expression=b)


def _values(rows: list[tuple[int, ...]], columns: list[str]) -> exp.Values:
    """A VALUES table of integers (built directly: sqlglot's generic conversion is slow for thousands of rows)."""
    return exp.Values(
        expressions=[exp.Tuple(expressions=[exp.Literal.number(v) for v in row]) for row in rows],
        alias=exp.TableAlias(this=exp.to_identifier("v"), columns=[exp.to_identifier(c) for c in columns]),
    )


def _arrow_result(db: Database, query: exp.Expression, schema: pa.Schema) -> pa.Table:
    """A query's whole (bounded) result as an Arrow table of ``schema``."""
    batches = [b.cast(schema) if b.schema != schema else b for b in db.stream(query, schema, 1_000_000)]
    return pa.Table.from_batches(batches, schema=schema)


#: The most nullable columns compared pairwise (in one aggregate query) when looking for blocks NULL together.
MAX_BLOCK_COLUMNS = 64


#: The most aggregates one query of :func:`null_blocks` computes (PostgreSQL allows 1,664 columns in a select list).
MAX_AGGREGATES_PER_QUERY = 1000


def null_blocks(t: ibis.Table, nullable: Sequence[str]) -> list[tuple[str, ...]]:
    """The blocks (two columns or more) of ``nullable`` columns of ``t`` that are NULL in exactly the same rows,
    among the first :data:`MAX_BLOCK_COLUMNS` of them: one query counts each column's NULLs, and only columns with
    the same count are compared pairwise (queries of at most :data:`MAX_AGGREGATES_PER_QUERY` aggregates)."""
    names = list(nullable)[:MAX_BLOCK_COLUMNS]
    if len(names) < 2:
        return []
    nulls = t.aggregate(**{f"n{i}": t[name].isnull().sum().coalesce(0) for i, name in enumerate(names)})
    null_count = nulls.to_pyarrow().to_pylist()[0]
    pairs = [
        (i, j)
        for i, j in itertools.combinations(range(len(names)), 2)
        if null_count[f"n{i}"] == null_count[f"n{j}"] and null_count[f"n{i}"] > 0
    ]
    counts: dict[str, int] = {}
    for start in range(0, len(pairs), MAX_AGGREGATES_PER_QUERY):
        chunk = pairs[start : start + MAX_AGGREGATES_PER_QUERY]
        apart = {f"m{i}_{j}": (t[names[i]].isnull() != t[names[j]].isnull()).sum().coalesce(0) for i, j in chunk}
        counts.update(t.aggregate(**apart).to_pyarrow().to_pylist()[0])
    group = list(range(len(names)))  # union-find over the pairs NULL in exactly the same rows

    def root(i: int) -> int:
        while group[i] != i:
            i = group[i]
        return i

    for i, j in pairs:
        if counts[f"m{i}_{j}"] == 0:
            group[root(j)] = root(i)
    members: dict[int, list[str]] = {}
    for i, name in enumerate(names):
        members.setdefault(root(i), []).append(name)
    return [tuple(block) for block in members.values() if len(block) > 1]


def _contiguous(bins: Sequence[Bin], whole: bool) -> bool:
    """Bins that tile one range in value order, each point on an interval's edge, as describe makes them.

    For whole-number kinds a point may be followed by the next whole number (the interval between them is empty).
    """
    return all(
        a.hi == b.lo or (whole and a.is_point and b.lo == a.hi + 1) for a, b in zip(bins[:-1], bins[1:], strict=True)
    )


def null_first(cells: int) -> np.ndarray:
    """Cell codes in rank order: the NULL cell (the last code) first, then the others in value order."""
    return np.r_[cells - 1, np.arange(cells - 1)]


def value_order(spec: ColumnSpec) -> np.ndarray:
    """A column's cell codes in rank order: NULL first, then -inf, the bins (or categories), +inf and NaN, the order
    in which DuckDB and PostgreSQL sort these values (NaN above every number)."""
    if not spec.specials:
        return null_first(spec.cells)
    bins = np.arange(len(spec.bins or ()))
    special = {name: spec.special_code(name) for name in spec.specials}
    below = [special["-inf"]] if "-inf" in special else []
    above = [special[name] for name in ("inf", "nan") if name in special]
    return np.r_[spec.null_code, below, bins, above].astype(np.int64)


def spearman(counts: np.ndarray) -> float:
    """Spearman's rho of a 2-way count table whose rows and columns are in rank order (mid-ranks for ties)."""
    counts = np.asarray(counts, dtype=np.float64)
    n = counts.sum()
    rows, cols = counts.sum(axis=1), counts.sum(axis=0)
    mean = (n + 1) / 2
    rank_rows = np.cumsum(rows) - (rows - 1) / 2 - mean
    rank_cols = np.cumsum(cols) - (cols - 1) / 2 - mean
    spread = float(rows @ rank_rows**2) * float(cols @ rank_cols**2)
    return float(rank_rows @ counts @ rank_cols / math.sqrt(spread)) if spread > 0 else 0.0
