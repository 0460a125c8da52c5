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
_EXACT = "decimal(38, 0)"  # sums of squared ranks stay exact up to about 10^12 rows


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
        self._encoded_tree: exp.Expression | None = None
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
        return self.marginals([columns])[0]

    def marginals(self, sets: Iterable[Sequence[str]]) -> list[np.ndarray]:
        """Counts for each set of columns, computed together: one scan per batch of sets."""
        sets = [self._check(s) for s in sets]
        canonical = [self._ordered(s) for s in sets]
        missing = list(dict.fromkeys(c for c in canonical if ("marginal", c) not in self._cache))
        for start in range(0, len(missing), GROUPING_SETS_PER_QUERY):
            chunk = missing[start : start + GROUPING_SETS_PER_QUERY]
            self._cache.update({("marginal", c): v for c, v in self._count(chunk).items()})
        out = []
        for columns, key in zip(sets, canonical, strict=True):
            counts = self._cache[("marginal", key)]
            out.append(counts.transpose([key.index(c) for c in columns]) if columns != key else counts)
        return out

    def _encoded(self) -> exp.Expression:
        """The table as cell codes, one column ``c<i>`` per modelled column, compiled once per store."""
        if self._encoded_tree is None:
            t = self._table
            codes = {f"c{i}": encode(t[c.name], c) for i, c in enumerate(self.spec.modelled)}
            self._encoded_tree = self._db.compile(t.select(**codes) if codes else t.select(c0=ibis.literal(0)))
        return self._encoded_tree

    def _count(self, sets: list[tuple[str, ...]]) -> dict[tuple[str, ...], np.ndarray]:
        """Several marginals from one ``GROUP BY GROUPING SETS`` query over the encoded table.

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
        query = exp.select(*[exp.column(f"c{i}") for i in used], exp.alias_(exp.Count(this=exp.Star()), "n"))
        query = query.from_(exp.Subquery(this=self._encoded(), alias=exp.TableAlias(this=exp.to_identifier("e"))))
        query = query.group_by(grouping, copy=False)
        result = self._db.fetchall(query)
        values = np.array(result, dtype=np.float64).reshape(len(result), len(used) + 1)  # NULL -> NaN
        pattern = (~np.isnan(values[:, :-1])).astype(np.int64) @ (1 << np.arange(len(used), dtype=np.int64))
        counts = {}
        for columns, shape in shapes.items():
            rows = pattern == sum(1 << slot[position[c]] for c in columns)
            table = np.zeros(shape, dtype=np.int64)
            index = tuple(values[rows, slot[position[c]]].astype(np.int64) for c in columns)
            table[index] = values[rows, -1].astype(np.int64)
            counts[columns] = table
        self.log.extend(("marginal", s) for s in sets)
        return counts

    def bin_quantiles(self, column: str) -> np.ndarray:
        """Quantiles of a numeric column within each of its bins: shape ``(cells, WITHIN_BIN_GRID)``.

        Discrete quantiles (values that occur in the bin, see :meth:`Database.quantiles`); rows of empty bins and of
        the NULL cell are NaN. Used to draw values inside a bin as the data spread them.
        """
        (name,) = self._check((column,))
        spec = self._columns[name]
        if spec.kind not in NUMERIC_KINDS:
            raise InvalidParameterError(f"Column {name!r} is {spec.kind}; within-bin quantiles need a numeric column.")
        key = ("bin_quantiles", (name,))
        if key not in self._cache:
            t = self._table
            probs = np.linspace(0.0, 1.0, WITHIN_BIN_GRID).round(10).tolist()
            values = t.select(code=encode(t[name], spec), x=numeric_value(t[name], spec.kind)).filter(ibis._.x.notnull())
            result = self._db.quantiles(values, "x", probs, by="code")
            self.log.append(("bin_quantiles", (name,)))
            out = np.full((spec.cells, WITHIN_BIN_GRID), np.nan)
            for code, q in result.items():
                if code != spec.null_code:
                    out[code] = np.asarray(q, dtype=np.float64)
            self._cache[key] = out
        return self._cache[key].copy()

    def rank_correlation(self, columns: Sequence[str]) -> np.ndarray:
        """Spearman rank correlations between ``columns`` (NULL ranked first; categories by their cell code).

        Spearman's rho is Pearson's correlation of mid-ranks (ties share the mean of their ranks, as in
        ``scipy.stats.spearmanr``). The database computes twice the mid-ranks, which are whole numbers, and their
        sums of squares and products as exact decimals; the correlation is formed from those exact sums in Python,
        so every backend gives the same bits. A constant column has correlation 0 with every other column.
        """
        columns = self._check(columns)
        key = ("rank_correlation", columns)
        if key not in self._cache:
            t = self._table
            doubled: dict[str, ibis.Value] = {}
            for i, name in enumerate(columns):
                spec = self._columns[name]
                if spec.kind in NUMERIC_KINDS:
                    order = numeric_value(t[name], spec.kind)
                else:
                    code = encode(t[name], spec)
                    order = ibis.ifelse(code == spec.null_code, -1, code)
                below = ibis.rank().over(ibis.window(order_by=ibis.asc(order, nulls_first=True)))  # from 0
                ties = order.isnull().count().over(ibis.window(group_by=order))
                doubled[f"a{i}"] = (2 * below + ties + 1).cast(_EXACT)  # twice the mid-rank
            ranked = t.select(**doubled)
            a = [ranked[f"a{i}"] for i in range(len(columns))]
            sums: dict[str, ibis.Value] = {"n": ranked.count()}
            for i in range(len(columns)):
                sums[f"s{i}"] = a[i].sum()
                sums[f"q{i}"] = (a[i] * a[i]).cast(_EXACT).sum()
            pairs = list(itertools.combinations(range(len(columns)), 2))
            for i, j in pairs:
                sums[f"p{i}_{j}"] = (a[i] * a[j]).cast(_EXACT).sum()
            row = {k: int(v) for k, v in ranked.aggregate(**sums).to_pyarrow().to_pylist()[0].items()}
            n = row["n"]
            spread = [n * row[f"q{i}"] - row[f"s{i}"] ** 2 for i in range(len(columns))]
            matrix = np.eye(len(columns))
            for i, j in pairs:
                if spread[i] > 0 and spread[j] > 0:
                    covariance = n * row[f"p{i}_{j}"] - row[f"s{i}"] * row[f"s{j}"]
                    rho = float(covariance) / math.sqrt(float(spread[i]) * float(spread[j]))
                    matrix[i, j] = matrix[j, i] = rho
            self.log.append(("rank_correlation", columns))
            self._cache[key] = matrix
        return self._cache[key].copy()
