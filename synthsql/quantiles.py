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

Several columns of one table are searched together (:func:`batch_quantiles`): one aggregate starts them all, and each
pass is one statement for all columns of a type, a UNION ALL of one part per column with that column's ranges as
constants, so a wide table costs as many statements as its hardest column, not one set per column. The search also
counts the rows of each value it settles on (:func:`batch_quantile_counts`), which :func:`~synthsql.schema.describe`
uses to find frequent values without another scan.

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

__all__ = [
    "batch_quantile_counts", "batch_quantiles", "discrete_quantiles", "exact_literal", "finite", "number_literal",
    "order_statistics", "rank_of", "searched_value", "stack_type", "stacked",
]

EXACT_ROWS = 4096  # a range with at most this many rows is settled from its value counts
MAX_EXACT_ROWS = 262144  # value counts fetched by one settling query, all ranges together
MAX_BUCKET_ROWS = 65536  # buckets per pass of one value, all its ranges together
MAX_STATEMENT_BUCKETS = 262144  # buckets per statement, all values searched together
MAX_PASSES = 40
MAX_AGGREGATES = 1000  # aggregates in one select list (PostgreSQL allows 1,664 entries)
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

    def of(self, x: ibis.Value, *, inside: bool = False) -> ibis.Value:
        """The bucket of x (-1 outside ``[lo, hi]``), monotone in x: buckets are value ranges in order.

        ``inside``: every row x is read from lies in ``[lo, hi]`` (the range is a column's whole finite range), so
        neither the test nor the clipping that keeps rows outside from overflowing is written, which PostgreSQL would
        evaluate on every row.
        """
        if self.exact:
            # (x - lo) < 2**52 in BIGINT (UBIGINT stays UBIGINT): the division by an integer width is then exact in
            # the double arithmetic both backends use for it; with width 1 the offset is the bucket. LEAST and
            # GREATEST rather than Ibis's clip, whose NULL guards nest and repeat x (the values searched are never
            # NULL): they cost PostgreSQL four times the time of the bucket.
            whole = x if x.type().is_uint64() else x.cast("int64")
            lo, hi = exact_literal(self.lo), exact_literal(self.hi)
            offset = (whole if inside else _between(whole, lo, hi)) - lo
            position = offset if self.width == 1 else offset // self.width
            if not (inside and self.width == 1):
                position = ibis.least(position, self.buckets - 1) if inside else _between(position, 0, self.buckets - 1)
        elif self.width > 0:
            offset = x.cast("float64") - float(self.lo)
            position = _between((offset / self.width).floor(), 0, self.buckets - 1)
        else:
            position = ibis.literal(0, type="int64")
        if inside:
            return position
        return ibis.ifelse((x >= exact_literal(self.lo)) & (x <= exact_literal(self.hi)), position, -1)


def _between(x: ibis.Value, lower: Any, upper: Any) -> ibis.Value:
    """x clipped to [lower, upper], for a value that is never NULL."""
    return ibis.least(ibis.greatest(x, lower), upper)


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
    whole: bool = False  # the group's whole finite range: every row searched (of its group) lies inside


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


def exact_literal(value: Any) -> Any:
    """:func:`number_literal`, with a finite float written as an integer of at most 53 bits times a power of two,
    which every engine reads as exactly that double. Ibis writes a float as its shortest decimal, which DuckDB reads
    as a DECIMAL and converts in two roundings: one in fourteen doubles of 17 digits came out an ulp off, and a
    range's bound that misses its own value loses that value's rows (a wrong quantile, or none)."""
    if not isinstance(value, float) or value == 0 or not math.isfinite(value) or _short(value):
        return number_literal(value)
    mantissa, exponent = math.frexp(value)
    integer, exponent = int(mantissa * 2**53), exponent - 53
    while integer % 2 == 0:
        integer, exponent = integer // 2, exponent + 1
    if not -1022 <= exponent <= 1023:  # the power of two would not be a normal double
        return value
    return ibis.literal(integer, type="int64").cast("float64") * 2.0**exponent


def _short(value: float) -> bool:
    """True when the shortest decimal of ``value`` has at most 15 significant digits: DuckDB then reads it exactly
    (one rounding; 0 of 20,000 such doubles off, against 22 of 3,000 at 16 digits), and the SQL keeps the number as
    a reader wrote it (a declared edge of 1000 stays 1000.0)."""
    digits = repr(value).lower().split("e")[0].lstrip("-").replace(".", "").strip("0")
    return len(digits) <= 15


def finite(x: ibis.Value) -> ibis.BooleanValue:
    """True where a value is neither NaN nor infinite; always true for integers and dates.

    Written as comparisons, which DuckDB and PostgreSQL agree on: both order NaN above +infinity.
    """
    if not x.type().is_floating():
        return ibis.literal(True)
    return (x > -math.inf) & (x < math.inf)


def searched_value(x: ibis.Value) -> ibis.Value:
    """``x`` in the type its values are searched and stacked in: BIGINT for every integer type but UBIGINT, DOUBLE
    for every floating type, any other type as it is. Exact: these casts keep every value."""
    dtype = x.type()
    if dtype.is_integer() and not dtype.is_uint64() and not dtype.is_int64():
        return x.cast("int64")
    if dtype.is_floating() and not dtype.is_float64():
        return x.cast("float64")
    return x


def stack_type(x: ibis.Value) -> str:
    """The name of the type :func:`searched_value` gives ``x``: values of one such type stack into one relation."""
    return str(searched_value(x).type().copy(nullable=True))


def stacked(parts: Sequence[ibis.Table]) -> ibis.Table:
    """The parts, of one schema, as one relation (UNION ALL): one statement reads them all."""
    return parts[0] if len(parts) == 1 else ibis.union(*parts, distinct=False)


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
    row: Mapping[str, Any], group: Hashable, wanted: list[tuple[int, int]], search: _Search
) -> _Range | None:
    """The range of finite values to search for the ranks in ``wanted``; the ranks that fall on -inf, +inf or NaN
    (ordered -inf, finite values, +inf, NaN) are settled at once in ``search``."""
    minus, plus, nan = (int(row.get(k) or 0) for k in ("minus", "plus", "nan"))
    finite_rows = int(row["n"]) - minus - plus - nan
    searched = []
    for index, rank in wanted:
        if rank <= minus:
            search.settle(group, index, -math.inf, minus)
        elif rank <= minus + finite_rows:
            searched.append((index, rank - minus))
        elif rank <= minus + finite_rows + plus:
            search.settle(group, index, math.inf, plus)
        else:
            search.settle(group, index, math.nan, nan)
    return _Range(group, row["lo"], row["hi"], 0, finite_rows, searched, whole=True) if searched else None


@dataclass
class _Search:
    """One value searched for order statistics: the rows it reads (its non-NULL, finite values), the value, its
    groups, its open ranges, and per group the values settled so far and how many rows hold each."""

    table: ibis.Table
    x: ibis.Value
    by: str | None
    ranges: list[_Range] = field(default_factory=list)
    results: dict[Any, list[Any]] = field(default_factory=dict)
    counts: dict[Any, list[int | None]] = field(default_factory=dict)

    def open(self, group: Hashable, size: int) -> None:
        self.results[group] = [None] * size
        self.counts[group] = [None] * size

    def settle(self, group: Hashable, index: int, value: Any, count: int) -> None:
        self.results[group][index] = value
        self.counts[group][index] = count


def discrete_quantiles(
    db: Database, table: ibis.Table, value: str, probs: Sequence[float], *, by: str | None = None
) -> dict[Any, list[Any]]:
    """Discrete quantiles of ``table[value]`` for each group of ``by`` (one group ``None`` without it).

    NULLs are ignored; a group with no values is absent from the result.
    """
    x = searched_value(table[value])
    keys = [by] if by else []
    present = table.filter(x.notnull())
    summary = _summary(x)
    stats = present.group_by(keys).agg(**summary) if keys else present.aggregate(**summary)
    search = _Search(_finite(present, x), x, by)
    for row in stats.to_pyarrow().to_pylist():
        if row["n"]:
            group = row[by] if by else None
            search.open(group, len(probs))
            r = _start(row, group, [(i, rank_of(p, row["n"])) for i, p in enumerate(probs)], search)
            if r is not None:
                search.ranges.append(r)
    _solve([search])
    return search.results


def batch_quantiles(
    db: Database, table: ibis.Table, values: Mapping[Hashable, ibis.Value], probs: Sequence[float], *,
    specials: bool = True,
) -> dict[Hashable, list[Any] | None]:
    """Discrete quantiles at ``probs`` of several values over one table (each an expression over ``table``; NULLs
    ignored), searched together: the numbers :func:`discrete_quantiles` gives each value alone, in a fixed number of
    statements whatever the number of values. A value without a non-NULL row gets None. ``specials=False`` leaves
    NaN and the infinities out as well.

    One aggregate over the table starts every search (:data:`MAX_AGGREGATES` to a statement); then each pass is one
    statement for all values of one type (:func:`stack_type`: BIGINT, UBIGINT, DOUBLE): a UNION ALL with one part per
    value, which reads that value's rows with its own ranges and bucket widths as constants (no CASE over the
    values, which PostgreSQL would evaluate branch by branch on every row). Each value's ranges get up to
    :data:`MAX_BUCKET_ROWS` buckets as alone, all values together :data:`MAX_STATEMENT_BUCKETS`, and the ranges
    settled from their value counts :data:`MAX_EXACT_ROWS` rows, so what a statement returns stays bounded.
    """
    return {key: found[0] if found else None for key, found in batch_quantile_counts(
        db, table, values, probs, specials=specials).items()}


def batch_quantile_counts(
    db: Database, table: ibis.Table, values: Mapping[Hashable, ibis.Value], probs: Sequence[float], *,
    specials: bool = True,
) -> dict[Hashable, tuple[list[Any], list[int]] | None]:
    """:func:`batch_quantiles`, each quantile with the number of rows that hold its value, known from the search
    itself: a range that holds a single value counts its rows, and a range settled exactly counts each value."""
    keys = list(values)
    xs = [searched_value(values[key]) for key in keys]
    searches = [_Search(_finite(table.filter(x.notnull()), x), x, None) for x in xs]
    metrics: list[tuple[str, ibis.Value]] = []
    for i, x in enumerate(xs):
        summary = _summary(x) if specials else _finite_summary(x)
        metrics += [(f"{name}{i}", value) for name, value in summary.items()]
    row: dict[str, Any] = {}
    for first in range(0, len(metrics), MAX_AGGREGATES):
        row.update(table.aggregate(**dict(metrics[first : first + MAX_AGGREGATES])).to_pyarrow().to_pylist()[0])
    for i, search in enumerate(searches):
        start = {name: row[f"{name}{i}"] for name in ("n", "lo", "hi", "minus", "plus", "nan") if f"{name}{i}" in row}
        if start["n"]:
            search.open(None, len(probs))
            r = _start(start, None, [(j, rank_of(p, start["n"])) for j, p in enumerate(probs)], search)
            search.ranges = [r] if r is not None else []
    groups: dict[str, list[_Search]] = {}
    for x, search in zip(xs, searches, strict=True):
        groups.setdefault(stack_type(x), []).append(search)
    for group in groups.values():
        _solve(group)
    return {key: (s.results[None], s.counts[None]) if None in s.results else None
            for key, s in zip(keys, searches, strict=True)}


def _finite_summary(x: ibis.Value) -> dict[str, ibis.Value]:
    """:func:`_summary` of the finite values of x only."""
    if not x.type().is_floating():
        return _summary(x)
    return {"n": x.count(where=finite(x)), "lo": x.min(where=finite(x)), "hi": x.max(where=finite(x))}


def order_statistics(db: Database, table: ibis.Table, value: str, ranks: Sequence[int]) -> list[Any]:
    """The values of the given 1-based ranks among the non-NULL values of ``table[value]``, in ascending order."""
    x = searched_value(table[value])
    present = table.filter(x.notnull())
    row = present.aggregate(**_summary(x)).to_pyarrow().to_pylist()[0]
    if not row["n"]:
        return [None] * len(ranks)
    if any(not 1 <= r <= row["n"] for r in ranks):
        raise ValueError(f"Ranks must lie in 1..{row['n']}, got {list(ranks)}.")
    search = _Search(_finite(present, x), x, None)
    search.open(None, len(ranks))
    r = _start(row, None, list(enumerate(ranks)), search)
    search.ranges = [r] if r is not None else []
    _solve([search])
    return search.results[None]


def _finite(table: ibis.Table, x: ibis.Value) -> ibis.Table:
    return table.filter(finite(x)) if x.type().is_floating() else table


def _solve(searches: list[_Search]) -> None:
    """Settle every wanted rank of every search, one statement a pass for all of them (more only when the small
    ranges to count exactly hold more than :data:`MAX_EXACT_ROWS` rows)."""
    for _ in range(MAX_PASSES):
        small: list[tuple[int, _Range]] = []
        large: list[tuple[int, _Range]] = []
        for i, search in enumerate(searches):
            search.ranges = _settle_points(search)
            for r in search.ranges:
                (small if r.rows <= EXACT_ROWS else large).append((i, r))
        if not small and not large:
            return
        batches: list[list[tuple[int, _Range]]] = [[]]
        for item in small:  # batches of at most MAX_EXACT_ROWS rows, so that what one query returns stays bounded
            if batches[-1] and sum(r.rows for _, r in batches[-1]) + item[1].rows > MAX_EXACT_ROWS:
                batches.append([])
            batches[-1].append(item)
        narrowed = _pass(searches, batches[0], large)
        for batch in batches[1:]:
            _pass(searches, batch, [])
        for i, search in enumerate(searches):
            search.ranges = narrowed.get(i, [])
    leftover = [(i, r) for i, search in enumerate(searches) for r in search.ranges]
    if leftover:  # unreachable for real data: ranges shrink every pass
        _pass(searches, leftover, [])


def _settle_points(search: _Search) -> list[_Range]:
    """Ranges holding a single value are settled: every wanted rank inside them is that value, held by all the
    range's rows (a range is a value interval, so it holds every row of its value)."""
    still_open = []
    for r in search.ranges:
        if r.lo == r.hi:
            for index, _ in r.wanted:
                search.settle(r.group, index, r.lo, r.rows)
        else:
            still_open.append(r)
    return still_open


def _membership(
    x: ibis.Value, by: str | None, table: ibis.Table, ranges: list[_Range]
) -> tuple[ibis.Value, dict, list[ibis.Value]]:
    """An expression telling which open range a row falls in (-1: none), its values' range indices, and the
    condition of each range, in the order of the indices.

    Ranges of one group are disjoint. A lone range that is the whole finite range of the only group holds every
    row. When every range is a bucket of one bucketing (of the last lone range), the bucket number identifies the
    range, and a hashed IN list replaces a CASE with one branch per range.
    """
    if by is None and len(ranges) == 1 and ranges[0].whole:
        return ibis.literal(0, type="int64"), {0: 0}, [ibis.literal(True)]
    parents = {r.parent for r in ranges}
    if by is None and len(parents) == 1 and None not in parents:
        (parent,) = parents
        index = {r.bucket: i for i, r in enumerate(ranges)}
        bucket = parent.of(x)
        return ibis.ifelse(bucket.isin(list(index)), bucket, -1), index, [bucket == key for key in index]
    conditions = []
    for r in ranges:
        inside = (x >= exact_literal(r.lo)) & (x <= exact_literal(r.hi))
        if by is not None:
            inside = inside & (table[by] == r.group)
        conditions.append(inside)
    member = ibis.cases(*[(inside, i) for i, inside in enumerate(conditions)], else_=-1)
    return member, {i: i for i in range(len(ranges))}, conditions


def _grouped(items: list[tuple[int, _Range]]) -> dict[int, list[_Range]]:
    out: dict[int, list[_Range]] = {}
    for i, r in items:
        out.setdefault(i, []).append(r)
    return out


_SETTLE, _REFINE = 0, 1


def _pass(
    searches: list[_Search], settle: list[tuple[int, _Range]], refine: list[tuple[int, _Range]]
) -> dict[int, list[_Range]]:
    """One statement: the value counts of the ranges in ``settle`` (which settles them) and the bucket histograms of
    those in ``refine``, for every search at once; returns each search's narrowed ranges."""
    parts: list[ibis.Table] = []
    indices: dict[tuple[int, int], dict] = {}
    cuts: dict[int, list[_Bucketing]] = {}
    to_settle, to_refine = _grouped(settle), _grouped(refine)
    for i, ranges in to_settle.items():
        s = searches[i]
        member, index, _ = _membership(s.x, s.by, s.table, ranges)
        indices[(_SETTLE, i)] = index
        counts = s.table.select(r=member, v=s.x).filter(ibis._.r >= 0).group_by(["r", "v"]).agg(n=ibis._.count())
        parts.append(_part(counts, i, _SETTLE, ibis.literal(0, type="int64"), counts.v, counts.v))
    for i, ranges in to_refine.items():
        s = searches[i]
        member, index, conditions = _membership(s.x, s.by, s.table, ranges)
        indices[(_REFINE, i)] = index
        buckets = max(16, min(MAX_BUCKET_ROWS // len(ranges), MAX_STATEMENT_BUCKETS // len(refine)))
        cuts[i] = [_Bucketing.over(s.x, r.lo, r.hi, buckets) for r in ranges]
        lone = cuts[i][0] if len(ranges) == 1 else None
        if lone is not None and s.by is None and ranges[0].whole and lone.width == 1 and s.x.type().is_int64():
            # An integer column's whole range in buckets of one value each (x - lo): counting them is enough, the
            # bucket's value is lo + b (no MIN and MAX on every row).
            counts = s.table.select(b=lone.of(s.x, inside=True)).group_by("b").agg(n=ibis._.count())
            value = counts.b + number_literal(lone.lo)
            counts = counts.mutate(r=ibis.literal(0, type="int64"))
            parts.append(_part(counts, i, _REFINE, counts.b.cast("int64"), value, value))
            continue
        if lone is not None:
            bucket = lone.of(s.x, inside=s.by is None and ranges[0].whole)
        else:
            # Each branch tests its range's own condition: testing ``member == key`` repeated the whole membership
            # expression in every branch, a query quadratic in the ranges (700 KB of SQL for 108 ranges, out of
            # memory at 100M rows with memory_limit 500MB, and 120 s with 1GB).
            branches = zip(conditions, index.values(), strict=True)
            bucket = ibis.cases(*[(test, cuts[i][k].of(s.x)) for test, k in branches], else_=0)
        counts = (
            s.table.select(r=member, b=bucket, v=s.x)
            .filter(ibis._.r != -1)
            .group_by(["r", "b"])
            .agg(n=ibis._.count(), lo=ibis._.v.min(), hi=ibis._.v.max())
        )
        parts.append(_part(counts, i, _REFINE, counts.b.cast("int64"), counts.lo, counts.hi))
    if not parts:
        return {}
    # Up to MAX_EXACT_ROWS + MAX_STATEMENT_BUCKETS rows: kept as Arrow columns, not Python objects, and walked range
    # by range in the order of (search, kind, range, bucket).
    found = stacked(parts).to_pyarrow().sort_by([(k, "ascending") for k in ("s", "kind", "r", "b")])
    keys = found["s"].to_numpy() * 2 + found["kind"].to_numpy()
    narrowed: dict[int, list[_Range]] = {}
    for (kind, i), index in indices.items():
        first, last = np.searchsorted(keys, [2 * i + kind, 2 * i + kind + 1], side="left")
        rows = found.slice(first, last - first)
        if kind == _SETTLE:
            _settled(rows, index, to_settle[i], searches[i])
        else:
            narrowed[i] = _narrowed(rows, index, to_refine[i], cuts[i])
    return narrowed


def _part(
    counts: ibis.Table, search: int, kind: int, bucket: ibis.Value, lo: ibis.Value, hi: ibis.Value
) -> ibis.Table:
    """A search's rows of a pass's statement, in the one schema all parts share."""
    return counts.select(
        s=ibis.literal(search, type="int64"),
        kind=ibis.literal(kind, type="int64"),
        r=counts.r.cast("int64"),
        b=bucket,
        n=counts.n.cast("int64"),
        lo=lo,
        hi=hi,
    )


def _settled(rows: Any, index: Mapping[Any, int], ranges: list[_Range], search: _Search) -> None:
    """Settle the ranks wanted in ``ranges`` from their value counts (``lo`` holds the value)."""
    by_range: dict[int, list[tuple[Any, int]]] = {}
    for r, v, n in zip(rows["r"].to_pylist(), rows["lo"].to_pylist(), rows["n"].to_pylist(), strict=True):
        by_range.setdefault(index[r], []).append((v, n))
    for i, r in enumerate(ranges):
        values = sorted(by_range.get(i, []))
        for target, rank in r.wanted:
            seen = r.below
            for v, n in values:
                seen += n
                if seen >= rank:
                    # every row of the value: its groups, whichever way the database grouped -0.0 and 0.0
                    search.settle(r.group, target, v, sum(m for w, m in values if w == v))
                    break


def _narrowed(rows: Any, index: Mapping[Any, int], ranges: list[_Range], cuts: list[_Bucketing]) -> list[_Range]:
    """The bucket of each wanted rank, from the histograms of ``ranges`` (in order of range, then bucket), as the
    ranges of the next pass."""
    keys, sizes = rows["r"].to_numpy(), rows["n"].to_numpy()
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
            key = (r.group, rows["lo"][j].as_py(), rows["hi"][j].as_py())
            if key not in narrowed:
                b = int(rows["b"][j].as_py())
                narrowed[key] = _Range(r.group, key[1], key[2], int(below[j - first]), int(sizes[j]), [], parent, b)
            narrowed[key].wanted.append((target, rank))
    return list(narrowed.values())
