"""The only place that turns a table into numbers.

An :class:`AggregateStore` answers a generator's questions about a table with aggregates computed by the database:
k-way marginals (count tables over cell codes), within-bin quantiles and Spearman rank correlations. Each answer is
cached, so a generator may ask twice and the database computes once. Nothing here returns a row: what reaches Python
is bounded by the domain (the number of cells), never by the number of rows.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from typing import Any

import ibis
import numpy as np
from sqlglot import exp

from synthsql.connection import Database, TableRef, connect
from synthsql.discretize import WITHIN_BIN_GRID, encode
from synthsql.errors import InvalidParameterError
from synthsql.schema import NUMERIC_KINDS, TableSpec, numeric_value

__all__ = ["AggregateStore", "AGGREGATE_METHODS"]

#: What a generator may ask of a store. The conformance tests hand generators a wrapper exposing only these.
AGGREGATE_METHODS = ("spec", "n_rows", "marginal", "marginals", "bin_quantiles", "rank_correlation")

MAX_MARGINAL_CELLS = 20_000_000
GROUPING_SETS_PER_QUERY = 128


class AggregateStore:
    """Aggregates of one table, computed in its database and cached.

    >>> import synthsql as ss
    >>> db = ss.connect("duckdb://")
    >>> _ = db.backend.raw_sql("CREATE TABLE t AS SELECT i % 2 = 0 AS even, i % 3 AS m FROM range(6) r(i)")
    >>> store = AggregateStore(db, "t", ss.describe(db, "t"))
    >>> store.marginal(("even",)).tolist()   # False, True, NULL
    [3, 3, 0]
    """

    def __init__(self, con: Database | Any, table: str | TableRef, spec: TableSpec) -> None:
        self._db = connect(con)
        self._table = self._db.table(table)
        self.spec = spec
        self._columns = {c.name: c for c in spec.modelled}
        self._cache: dict[tuple[Any, ...], np.ndarray] = {}
        #: Every aggregate computed in the database, in order: (kind, columns). Cached answers are not repeated.
        self.log: list[tuple[str, tuple[str, ...]]] = []

    @property
    def n_rows(self) -> int:
        return self.spec.n_rows

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
        columns = self._check(columns)
        canonical = self._ordered(columns)
        key = ("marginal", canonical)
        if key not in self._cache:
            self._cache[key] = self._count(canonical)
        counts = self._cache[key]
        axes = [canonical.index(c) for c in columns]
        return counts.transpose(axes) if axes != sorted(axes) else counts

    def marginals(self, sets: Iterable[Sequence[str]]) -> list[np.ndarray]:
        """:meth:`marginal` for each set of columns, computed together: one scan per batch of sets."""
        sets = [self._check(s) for s in sets]
        missing = list(dict.fromkeys(c for c in (self._ordered(s) for s in sets) if ("marginal", c) not in self._cache))
        for start in range(0, len(missing), GROUPING_SETS_PER_QUERY):
            chunk = missing[start : start + GROUPING_SETS_PER_QUERY]
            if len(chunk) == 1 or not all(chunk):
                for columns in chunk:
                    self._cache[("marginal", columns)] = self._count(columns)
            else:
                self._cache.update({("marginal", c): v for c, v in self._count_many(chunk).items()})
        return [self.marginal(s) for s in sets]

    def _count_many(self, sets: list[tuple[str, ...]]) -> dict[tuple[str, ...], np.ndarray]:
        """Several marginals from one ``GROUP BY GROUPING SETS`` query.

        Cell codes are never NULL, so the columns a result row leaves NULL tell which grouping set it belongs to.
        """
        names = [c.name for c in self.spec.modelled if any(c.name in s for s in sets)]
        alias = {name: f"c{i}" for i, name in enumerate(names)}
        shapes = {s: tuple(self._columns[c].cells for c in s) for s in sets}
        for columns, shape in shapes.items():
            if math.prod(shape) > MAX_MARGINAL_CELLS:
                self._count(columns)  # raises with the message naming the columns
        t = self._table
        encoded = t.select(**{alias[n]: encode(t[n], self._columns[n]) for n in names})
        grouping = exp.GroupingSets(
            expressions=[exp.Tuple(expressions=[exp.column(alias[c]) for c in s]) for s in sets]
        )
        query = (
            exp.select(*[exp.column(alias[n]) for n in names], exp.alias_(exp.Count(this=exp.Star()), "n"))
            .from_(self._db.compile(encoded).subquery("e"))
            .group_by(grouping)
        )
        result = self._db.fetchall(query)
        by_pattern = {tuple(names.index(c) for c in s): s for s in sets}
        counts = {s: np.zeros(shape, dtype=np.int64) for s, shape in shapes.items()}
        for row in result:
            pattern = tuple(i for i, v in enumerate(row[:-1]) if v is not None)
            counts[by_pattern[pattern]][tuple(row[i] for i in pattern)] = row[-1]
        self.log.extend(("marginal", s) for s in sets)
        return counts

    def _count(self, columns: tuple[str, ...]) -> np.ndarray:
        specs = [self._columns[c] for c in columns]
        shape = tuple(s.cells for s in specs)
        if math.prod(shape) > MAX_MARGINAL_CELLS:
            raise InvalidParameterError(
                f"The marginal over {columns} has {math.prod(shape):,} cells, more than {MAX_MARGINAL_CELLS:,}; "
                "use fewer bins or categories for these columns."
            )
        t = self._table
        if columns:
            codes = {f"c{i}": encode(t[s.name], s) for i, s in enumerate(specs)}
            query = t.group_by(**codes).agg(n=ibis._.count())
        else:
            query = t.aggregate(n=ibis._.count())
        result = query.to_pyarrow()
        self.log.append(("marginal", columns))
        counts = np.zeros(shape, dtype=np.int64)
        if result.num_rows:
            index = tuple(result[f"c{i}"].to_numpy().astype(np.int64) for i in range(len(columns)))
            counts[index] = result["n"].to_numpy().astype(np.int64)
        return counts

    def bin_quantiles(self, column: str) -> np.ndarray:
        """Quantiles of a numeric column within each of its bins: shape ``(cells, WITHIN_BIN_GRID)``.

        Rows of empty bins and of the NULL cell are NaN. Used to draw values inside a bin as the data spread them.
        """
        (name,) = self._check((column,))
        spec = self._columns[name]
        if spec.kind not in NUMERIC_KINDS:
            raise InvalidParameterError(f"Column {name!r} is {spec.kind}; within-bin quantiles need a numeric column.")
        key = ("bin_quantiles", (name,))
        if key not in self._cache:
            t = self._table
            probs = np.linspace(0.0, 1.0, WITHIN_BIN_GRID).round(10).tolist()
            x = numeric_value(t[name], spec.kind)
            query = (
                t.select(code=encode(t[name], spec), x=x)
                .filter(ibis._.x.notnull())
                .group_by("code")
                .agg(q=ibis._.x.quantile(probs))
            )
            result = query.to_pyarrow()
            self.log.append(("bin_quantiles", (name,)))
            out = np.full((spec.cells, WITHIN_BIN_GRID), np.nan)
            for code, q in zip(result["code"].to_pylist(), result["q"].to_pylist(), strict=True):
                if code != spec.null_code and q is not None:
                    out[code] = np.asarray(q, dtype=np.float64)
            self._cache[key] = out
        return self._cache[key].copy()

    def rank_correlation(self, columns: Sequence[str]) -> np.ndarray:
        """Spearman rank correlations between ``columns`` (NULL ranked first; categories by their cell code).

        Computed in the database as Pearson correlations of mid-ranks, so ties are handled as in
        ``scipy.stats.spearmanr``. A constant column has correlation 0 with every other column.
        """
        columns = self._check(columns)
        key = ("rank_correlation", columns)
        if key not in self._cache:
            t = self._table
            n = t.count()
            ranks: dict[str, ibis.Value] = {}
            for i, name in enumerate(columns):
                spec = self._columns[name]
                if spec.kind in NUMERIC_KINDS:
                    order = numeric_value(t[name], spec.kind)
                else:
                    code = encode(t[name], spec)
                    order = ibis.ifelse(code == spec.null_code, -1, code)
                window = ibis.window(order_by=ibis.asc(order, nulls_first=True))
                low = ibis.rank().over(window) + 1  # Ibis ranks from 0
                high = ibis.cume_dist().over(window) * n
                ranks[f"r{i}"] = (low.cast("float64") + high) / 2.0
            ranked = t.select(**ranks)
            pairs = list(itertools.combinations(range(len(columns)), 2))
            metrics = {f"p{i}_{j}": ranked[f"r{i}"].corr(ranked[f"r{j}"], how="pop") for i, j in pairs}
            matrix = np.eye(len(columns))
            if metrics:
                row = ranked.aggregate(**metrics).to_pyarrow().to_pylist()[0]
                for i, j in pairs:
                    value = row[f"p{i}_{j}"]
                    value = 0.0 if value is None or not np.isfinite(value) else float(value)
                    matrix[i, j] = matrix[j, i] = value
            self.log.append(("rank_correlation", columns))
            self._cache[key] = matrix
        return self._cache[key].copy()
