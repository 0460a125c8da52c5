"""Exact discrete quantiles in memory bounded by a constant, not by the rows or the distinct values.

The p-quantile of n values is the order statistic of rank ``max(ceil(p * n), 1)``: the smallest value whose
cumulative count reaches p * n (the inverse of the empirical distribution function, SQL's ``percentile_disc``).
It is always a value of the data, so DuckDB and PostgreSQL agree to the bit, where interpolated quantiles differ in
the last one.

A database's own quantile aggregate holds every value of the column (DuckDB's even outside its memory limit), and a
value-count table grows with the distinct values, which for a continuous column is the row count. This module finds
order statistics by histogram refinement instead: each pass counts the rows of every still-open value range in at
most a few hundred equal-width buckets (one GROUP BY whose result is bounded by the number of buckets), keeps the
bucket that holds the wanted rank and narrows the range to that bucket's smallest and largest value. A range with
few rows left is settled exactly from its value counts. Ranges shrink about a thousandfold per pass, so a few scans
settle any column, and what each pass returns is bounded by a constant.

Integers are bucketed exactly: on integer offsets from the range's low end, in BIGINT, once the range is narrower
than 2**52 (so that neither ``x - lo`` overflows nor a double blurs neighbouring values above 2**53, which could keep
a range from shrinking); a wider range is first cut with doubles, which only needs the bucket to be monotone in x.
The quantiles of an integer column are then its exact values, Python ints, at any 64-bit value (UBIGINT included).
NaN and the infinities of a DOUBLE column are counted apart and take the ranks the database orders them at
(-inf first, then the finite values, +inf, NaN last, as DuckDB and PostgreSQL both do); only finite values are
searched.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import ibis
import numpy as np

if TYPE_CHECKING:
    from synthsql.connection import Database

__all__ = ["discrete_quantiles", "order_statistics", "rank_of", "finite", "number_literal"]

EXACT_ROWS = 4096  # a range with at most this many rows is settled from its value counts
MAX_EXACT_ROWS = 262144  # value counts fetched by one settling query, all ranges together
MAX_BUCKET_ROWS = 65536  # buckets per pass, all ranges together
MAX_PASSES = 40
EXACT_SPAN = 2**52  # an integer range narrower than this is bucketed on exact integer offsets


def rank_of(p: float, n: int) -> int:
    """The 1-based rank of the discrete p-quantile of n values, in exact arithmetic (p as written in decimal)."""
    return max(math.ceil(Fraction(str(float(p))) * n), 1)


@dataclass(frozen=True)
class _Bucketing:
    """``buckets`` equal-width buckets over ``[lo, hi]``, exact on integer offsets when ``exact``."""

    lo: Any
    hi: Any
    width: int | float
    buckets: int
    exact: bool

    @classmethod
    def over(cls, x: ibis.Value, lo: Any, hi: Any, buckets: int) -> _Bucketing:
        if x.type().is_integer() and hi - lo < EXACT_SPAN:
            return cls(lo, hi, max(1, -(-(hi - lo + 1) // buckets)), buckets, True)  # ceil: the top value fits
        return cls(lo, hi, (float(hi) - float(lo)) / buckets, buckets, False)

    def of(self, x: ibis.Value) -> ibis.Value:
        """The bucket of x (-1 outside ``[lo, hi]``), monotone in x: buckets are value ranges in order."""
        if self.exact:
            # (x - lo) < 2**52 in BIGINT (UBIGINT stays UBIGINT): the division by an integer width is then exact in
            # the double arithmetic both backends use for it. Clipping first keeps rows outside from overflowing.
            whole = x if x.type().is_uint64() else x.cast("int64")
            lo, hi = number_literal(self.lo), number_literal(self.hi)
            position = ((whole.clip(lower=lo, upper=hi) - lo) // self.width).clip(lower=0, upper=self.buckets - 1)
        elif self.width > 0:
            offset = x.cast("float64") - float(self.lo)
            position = (offset / self.width).floor().clip(lower=0, upper=self.buckets - 1)
        else:
            position = ibis.literal(0)
        return ibis.ifelse((x >= number_literal(self.lo)) & (x <= number_literal(self.hi)), position, -1)


@dataclass
class _Range:
    group: Hashable
    lo: Any
    hi: Any
    below: int  # values of the group smaller than lo
    rows: int  # values of the group inside [lo, hi]
    wanted: list[tuple[int, int]] = field(default_factory=list)  # (target index, rank within the group)
    parent: _Bucketing | None = None  # the bucketing of the whole column this range is a bucket of
    bucket: int | None = None


def number_literal(value: Any) -> Any:
    """A number for an Ibis comparison or subtraction: an int as a typed 64-bit literal (UBIGINT above 2**63, where
    Ibis cannot infer a type), exact in the SQL; anything else as it is.

    An int beyond 64 bits (a declared edge outside every 64-bit value) becomes a float, which compares the same.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        return value
    if -(2**63) <= value < 2**63:
        return ibis.literal(value, type="int64")
    if 0 <= value < 2**64:
        return ibis.literal(value, type="uint64")
    return float(value)


def finite(x: ibis.Value) -> ibis.BooleanValue:
    """True where a value is neither NaN nor infinite; always true for integers and dates.

    Written as comparisons, which DuckDB and PostgreSQL agree on: both order NaN above +infinity.
    """
    if not x.type().is_floating():
        return ibis.literal(True)
    return (x > -math.inf) & (x < math.inf)


def _summary(x: ibis.Value) -> dict[str, ibis.Value]:
    """Aggregates that start the search: the count, the finite range, and the count of each non-finite value."""
    if not x.type().is_floating():
        return {"n": x.count(), "lo": x.min(), "hi": x.max()}
    return {
        "n": x.count(),
        "lo": x.min(where=finite(x)),
        "hi": x.max(where=finite(x)),
        "minus": (x == -math.inf).sum().coalesce(0),
        "plus": (x == math.inf).sum().coalesce(0),
        "nan": x.isnan().sum().coalesce(0),
    }


def _start(
    row: Mapping[str, Any], group: Hashable, wanted: list[tuple[int, int]], results: dict[Any, list[Any]]
) -> _Range | None:
    """The range of finite values to search for the ranks in ``wanted``; the ranks that fall on -inf, +inf or NaN
    (ordered -inf, finite values, +inf, NaN) are settled at once in ``results``."""
    minus, plus, nan = (int(row.get(k) or 0) for k in ("minus", "plus", "nan"))
    finite_rows = int(row["n"]) - minus - plus - nan
    searched = []
    for index, rank in wanted:
        if rank <= minus:
            results[group][index] = -math.inf
        elif rank <= minus + finite_rows:
            searched.append((index, rank - minus))
        else:
            results[group][index] = math.inf if rank <= minus + finite_rows + plus else math.nan
    return _Range(group, row["lo"], row["hi"], 0, finite_rows, searched) if searched else None


def discrete_quantiles(
    db: Database, table: ibis.Table, value: str, probs: Sequence[float], *, by: str | None = None
) -> dict[Any, list[Any]]:
    """Discrete quantiles of ``table[value]`` for each group of ``by`` (one group ``None`` without it).

    NULLs are ignored; a group with no values is absent from the result.
    """
    x = table[value]
    keys = [by] if by else []
    present = table.filter(x.notnull())
    summary = _summary(x)
    stats = present.group_by(keys).agg(**summary) if keys else present.aggregate(**summary)
    ranges, results = [], {}
    for row in stats.to_pyarrow().to_pylist():
        if row["n"]:
            group = row[by] if by else None
            results[group] = [None] * len(probs)
            r = _start(row, group, [(i, rank_of(p, row["n"])) for i, p in enumerate(probs)], results)
            if r is not None:
                ranges.append(r)
    return _solve(_finite(present, x), x, by, ranges, results)


def order_statistics(db: Database, table: ibis.Table, value: str, ranks: Sequence[int]) -> list[Any]:
    """The values of the given 1-based ranks among the non-NULL values of ``table[value]``, in ascending order."""
    x = table[value]
    present = table.filter(x.notnull())
    row = present.aggregate(**_summary(x)).to_pyarrow().to_pylist()[0]
    if not row["n"]:
        return [None] * len(ranks)
    if any(not 1 <= r <= row["n"] for r in ranks):
        raise ValueError(f"Ranks must lie in 1..{row['n']}, got {list(ranks)}.")
    results: dict[Any, list[Any]] = {None: [None] * len(ranks)}
    r = _start(row, None, list(enumerate(ranks)), results)
    return _solve(_finite(present, x), x, None, [r] if r is not None else [], results)[None]


def _finite(table: ibis.Table, x: ibis.Value) -> ibis.Table:
    return table.filter(finite(x)) if x.type().is_floating() else table


def _solve(
    table: ibis.Table, x: ibis.Value, by: str | None, ranges: list[_Range], results: dict[Any, list[Any]]
) -> dict[Any, list[Any]]:
    open_ranges = ranges
    for _ in range(MAX_PASSES):
        open_ranges = _settle_points(open_ranges, results)
        if not open_ranges:
            return results
        small = [r for r in open_ranges if r.rows <= EXACT_ROWS]
        batch: list[_Range] = []
        for r in small:  # batches of at most MAX_EXACT_ROWS rows, so that what one query returns stays bounded
            if batch and sum(b.rows for b in batch) + r.rows > MAX_EXACT_ROWS:
                _settle_exactly(table, x, by, batch, results)
                batch = []
            batch.append(r)
        _settle_exactly(table, x, by, batch, results)
        open_ranges = [r for r in open_ranges if r.rows > EXACT_ROWS]
        if open_ranges:
            open_ranges = _refine(table, x, by, open_ranges)
    _settle_exactly(table, x, by, open_ranges, results)  # unreachable for real data: ranges shrink every pass
    return results


def _settle_points(ranges: list[_Range], results: dict[Any, list[Any]]) -> list[_Range]:
    """Ranges holding a single value are settled: every wanted rank inside them is that value."""
    still_open = []
    for r in ranges:
        if r.lo == r.hi:
            for index, _ in r.wanted:
                results[r.group][index] = r.lo
        else:
            still_open.append(r)
    return still_open


def _membership(
    x: ibis.Value, by: str | None, table: ibis.Table, ranges: list[_Range]
) -> tuple[ibis.Value, dict, list[ibis.Value]]:
    """An expression telling which open range a row falls in (-1: none), its values' range indices, and the
    condition of each range, in the order of the indices.

    Ranges of one group are disjoint. When every range is a bucket of one bucketing (of the last lone range), the
    bucket number identifies the range, and a hashed IN list replaces a CASE with one branch per range.
    """
    parents = {r.parent for r in ranges}
    if by is None and len(parents) == 1 and None not in parents:
        (parent,) = parents
        index = {r.bucket: i for i, r in enumerate(ranges)}
        bucket = parent.of(x)
        return ibis.ifelse(bucket.isin(list(index)), bucket, -1), index, [bucket == key for key in index]
    conditions = []
    for r in ranges:
        inside = (x >= number_literal(r.lo)) & (x <= number_literal(r.hi))
        if by is not None:
            inside = inside & (table[by] == r.group)
        conditions.append(inside)
    member = ibis.cases(*[(inside, i) for i, inside in enumerate(conditions)], else_=-1)
    return member, {i: i for i in range(len(ranges))}, conditions


def _settle_exactly(
    table: ibis.Table, x: ibis.Value, by: str | None, ranges: list[_Range], results: dict[Any, list[Any]]
) -> None:
    if not ranges:
        return
    member, index, _ = _membership(x, by, table, ranges)
    counts = (
        table.select(r=member, v=x)
        .filter(ibis._.r >= 0)
        .group_by(["r", "v"])
        .agg(n=ibis._.count())
        .to_pyarrow()
        .to_pylist()
    )
    by_range: dict[int, list[tuple[Any, int]]] = {}
    for row in counts:
        by_range.setdefault(index[row["r"]], []).append((row["v"], row["n"]))
    for i, r in enumerate(ranges):
        values = sorted(by_range.get(i, []))
        for index, rank in r.wanted:
            seen = r.below
            for v, n in values:
                seen += n
                if seen >= rank:
                    results[r.group][index] = v
                    break


def _refine(table: ibis.Table, x: ibis.Value, by: str | None, ranges: list[_Range]) -> list[_Range]:
    buckets = max(16, MAX_BUCKET_ROWS // len(ranges))
    member, index, conditions = _membership(x, by, table, ranges)
    cuts = [_Bucketing.over(x, r.lo, r.hi, buckets) for r in ranges]
    if len(ranges) == 1:
        bucket = cuts[0].of(x)
    else:
        # Each branch tests its range's own condition: testing ``member == key`` repeated the whole membership
        # expression in every branch, a query quadratic in the ranges (700 KB of SQL for 108 ranges, out of memory
        # at 100M rows with memory_limit 500MB, and 120 s with 1GB).
        branches = zip(conditions, index.values(), strict=True)
        bucket = ibis.cases(*[(test, cuts[i].of(x)) for test, i in branches], else_=0)
    counts = (
        table.select(r=member, b=bucket, v=x)
        .filter(ibis._.r != -1)
        .group_by(["r", "b"])
        .agg(n=ibis._.count(), lo=ibis._.v.min(), hi=ibis._.v.max())
        .order_by(["r", "b"])
        .to_pyarrow()
    )
    # Up to MAX_BUCKET_ROWS rows: kept as Arrow columns, not Python objects, and walked range by range.
    keys, sizes = counts["r"].to_numpy(), counts["n"].to_numpy()
    starts = np.searchsorted(keys, list(index), side="left")
    ends = np.searchsorted(keys, list(index), side="right")
    by_range = {index[key]: (a, b) for key, a, b in zip(index, starts, ends, strict=True)}
    narrowed: dict[tuple[Hashable, Any, Any], _Range] = {}
    for i, r in enumerate(ranges):
        # The buckets of a lone range identify the ranges of the next pass (a bucket outside it is -1).
        parent = cuts[i] if len(ranges) == 1 else None
        first, last = by_range.get(i, (0, 0))
        below = r.below + np.concatenate([[0], np.cumsum(sizes[first:last])])  # rows before each bucket
        for target, rank in r.wanted:
            j = first + int(np.searchsorted(below[1:], rank, side="left"))  # the bucket holding the rank
            key = (r.group, counts["lo"][j].as_py(), counts["hi"][j].as_py())
            if key not in narrowed:
                b = int(counts["b"][j].as_py())
                narrowed[key] = _Range(r.group, key[1], key[2], int(below[j - first]), int(sizes[j]), [], parent, b)
            narrowed[key].wanted.append((target, rank))
    return list(narrowed.values())
