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
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import ibis
import numpy as np

if TYPE_CHECKING:
    from synthsql.connection import Database

__all__ = ["discrete_quantiles", "order_statistics", "rank_of"]

EXACT_ROWS = 4096  # a range with at most this many rows is settled from its value counts
MAX_EXACT_ROWS = 262144  # value counts fetched by one settling query, all ranges together
MAX_BUCKET_ROWS = 65536  # buckets per pass, all ranges together
MAX_PASSES = 40


def rank_of(p: float, n: int) -> int:
    """The 1-based rank of the discrete p-quantile of n values, in exact arithmetic (p as written in decimal)."""
    return max(math.ceil(Fraction(str(float(p))) * n), 1)


@dataclass
class _Range:
    group: Hashable
    lo: Any
    hi: Any
    below: int  # values of the group smaller than lo
    rows: int  # values of the group inside [lo, hi]
    wanted: list[tuple[int, int]] = field(default_factory=list)  # (target index, rank within the group)
    parent: tuple[Any, float, int] | None = None  # the bucketing (lo, width, buckets) this range is a bucket of
    bucket: int | None = None


def discrete_quantiles(
    db: Database, table: ibis.Table, value: str, probs: Sequence[float], *, by: str | None = None
) -> dict[Any, list[Any]]:
    """Discrete quantiles of ``table[value]`` for each group of ``by`` (one group ``None`` without it).

    NULLs are ignored; a group with no values is absent from the result.
    """
    x = table[value]
    keys = [by] if by else []
    present = table.filter(x.notnull())
    stats = present.group_by(keys).agg(n=ibis._.count(), lo=x.min(), hi=x.max()) if keys else present.aggregate(
        n=ibis._.count(), lo=x.min(), hi=x.max()
    )
    ranges = []
    for row in stats.to_pyarrow().to_pylist():
        if row["n"]:
            wanted = [(i, rank_of(p, row["n"])) for i, p in enumerate(probs)]
            ranges.append(_Range(row[by] if by else None, row["lo"], row["hi"], 0, row["n"], wanted))
    return _solve(present, x, by, ranges, len(probs))


def order_statistics(db: Database, table: ibis.Table, value: str, ranks: Sequence[int]) -> list[Any]:
    """The values of the given 1-based ranks among the non-NULL values of ``table[value]``, in ascending order."""
    x = table[value]
    present = table.filter(x.notnull())
    row = present.aggregate(n=ibis._.count(), lo=x.min(), hi=x.max()).to_pyarrow().to_pylist()[0]
    if not row["n"]:
        return [None] * len(ranks)
    if any(not 1 <= r <= row["n"] for r in ranks):
        raise ValueError(f"Ranks must lie in 1..{row['n']}, got {list(ranks)}.")
    ranges = [_Range(None, row["lo"], row["hi"], 0, row["n"], list(enumerate(ranks)))]
    return _solve(present, x, None, ranges, len(ranks))[None]


def _solve(table: ibis.Table, x: ibis.Value, by: str | None, ranges: list[_Range], size: int) -> dict[Any, list[Any]]:
    results: dict[Any, list[Any]] = {r.group: [None] * size for r in ranges}
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

    Ranges of one group are disjoint. When every range is a bucket of one bucketing of the whole column, the
    bucket number identifies the range, and a hashed IN list replaces a CASE with one branch per range.
    """
    parents = {r.parent for r in ranges}
    if by is None and len(parents) == 1 and None not in parents:
        (parent,) = parents
        index = {r.bucket: i for i, r in enumerate(ranges)}
        bucket = _bucket(x, *parent)
        return ibis.ifelse(bucket.isin(list(index)), bucket, -1), index, [bucket == key for key in index]
    conditions = []
    for r in ranges:
        inside = (x >= r.lo) & (x <= r.hi)
        if by is not None:
            inside = inside & (table[by] == r.group)
        conditions.append(inside)
    member = ibis.cases(*[(inside, i) for i, inside in enumerate(conditions)], else_=-1)
    return member, {i: i for i in range(len(ranges))}, conditions


def _bucket(x: ibis.Value, lo: Any, width: float, buckets: int) -> ibis.Value:
    """The equal-width bucket of x in [lo, lo + buckets * width], monotone in x."""
    position = ((x - lo) / width).floor() if width > 0 else ibis.literal(0)
    return position.clip(lower=0, upper=buckets - 1)


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
    widths = [(float(r.hi) - float(r.lo)) / buckets for r in ranges]
    if len(ranges) == 1:
        bucket = _bucket(x, ranges[0].lo, widths[0], buckets)
    else:
        # Each branch tests its range's own condition: testing ``member == key`` repeated the whole membership
        # expression in every branch, a query quadratic in the ranges (700 KB of SQL for 108 ranges, out of memory
        # at 100M rows with memory_limit 500MB, and 120 s with 1GB).
        branches = zip(conditions, index.values(), strict=True)
        bucket = ibis.cases(*[(test, _bucket(x, ranges[i].lo, widths[i], buckets)) for test, i in branches], else_=0)
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
        parent = (r.lo, widths[i], buckets) if len(ranges) == 1 else None
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
