"""Values to cells (in the database) and cells back to values (in Python).

:func:`encode` builds the Ibis expression that maps a column to its cell code ``0 .. cells-1`` (bins, then special
values, then the NULL cell last; values outside the declared domain also land there, or in the declared catch-all
category). :func:`decode` turns sampled codes back into an Arrow array of the column's kind: categories keep their
spelling, special values come back as NaN or infinity, numeric values are drawn *within* their bin by interpolating
the bin's own quantiles (computed in the database), so a synthetic income is continuous rather than a few spikes.

Integers, dates and timestamps stay whole, and exact: their bin edges and quantiles are Python ints, compared in
SQL as integers, and decoded with integer arithmetic (uint64 offsets from the column's smallest edge), so a value
never leaves its bin's whole-number bounds, nor the source's range, at any 64-bit value. Unsigned 64-bit columns
come back as uint64, other integers as int64 (the write casts them to the source's types).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import ibis
import numpy as np
import pyarrow as pa

from synthsql.quantiles import exact_literal
from synthsql.schema import NUMERIC_KINDS, SPECIAL_VALUES, ColumnSpec, numeric_value, special_tests

__all__ = ["encode", "decode", "linear_bin_quantiles", "quantile_table", "WITHIN_BIN_GRID", "WITHIN_BIN_PROBS"]

#: The probabilities, in thousandths, of the quantiles kept per numeric bin: the deciles, then ever finer towards
#: the top, where a skewed amount (income, wages, dividends) spreads its largest values far apart. Values are drawn
#: by linear interpolation between neighbouring quantiles, so the top segment spreads its share of the bin evenly
#: up to the bin's largest value: with deciles only (0.1 of the bin there) the standard deviation of cps1988's
#: wage came out 2.1 times the source's, of ses's earnings 1.5 times; with 0.001 there, within 10 %. The top
#: quantiles of a bin are values of few records (the maximum, kept before too, of one): a model is an aggregate of
#: the confidential table and stays with it; what leaves is the synthetic table, whose risk `evaluate` measures. A
#: spread that rests on one or two records (ses's notPaid: one holds 35 % of its variance) is not reproduced.
WITHIN_BIN_PERMILLE = (0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 950, 980, 990, 995, 998, 999, 1000)
#: The number of quantiles kept per numeric bin.
WITHIN_BIN_GRID = len(WITHIN_BIN_PERMILLE)
#: :data:`WITHIN_BIN_PERMILLE` as probabilities.
WITHIN_BIN_PROBS = tuple(p / 1000 for p in WITHIN_BIN_PERMILLE)


def encode(column: ibis.Value, spec: ColumnSpec) -> ibis.IntegerValue:
    """The cell code of each value of ``column`` as an Ibis expression (NULL and out-of-domain: the NULL cell)."""
    null = spec.null_code
    if spec.kind in ("categorical", "boolean"):
        cases = [(column == value, code) for code, value in enumerate(spec.categories or ())]
        if spec.other is not None:  # the declared catch-all takes every other non-NULL value
            cases.append((column.notnull(), list(spec.categories or ()).index(spec.other)))
        return ibis.cases(*cases, else_=null).cast("int32")
    if spec.kind in NUMERIC_KINDS:
        x = numeric_value(column, spec.kind)
        bins = spec.bins or ()
        top = max(b.hi for b in bins)
        # Special values first: PostgreSQL and DuckDB order NaN above every number (and +inf), so no interval
        # test may see it; without a cell of their own they fail every test below and land in the NULL cell.
        tests = special_tests(x) if spec.specials else {}
        specials = [(tests[name], spec.special_code(name)) for name in spec.specials]
        points = [(x == exact_literal(b.lo), code) for code, b in enumerate(bins) if b.is_point]
        intervals = [(_inside(x, b, b.hi == top), code) for code, b in enumerate(bins) if not b.is_point]
        return ibis.cases(*specials, *points, *intervals, else_=null).cast("int32")
    raise ValueError(f"Column {spec.name!r} of kind {spec.kind!r} is not encoded.")


def _inside(x: ibis.Value, b: Any, closed: bool) -> ibis.BooleanValue:
    """x in [lo, hi), or [lo, hi] for the top interval; integer edges compare as integer literals (exact)."""
    lo, hi = exact_literal(b.lo), exact_literal(b.hi)
    return (x >= lo) & (((x < hi) | (x == hi)) if closed else (x < hi))


def linear_bin_quantiles(spec: ColumnSpec) -> np.ndarray:
    """Within-bin quantiles that spread values evenly over each bin: the fallback when none were measured.

    Floats for ``numeric`` columns; whole-number kinds get whole numbers (Python ints, exact) in an object array.
    """
    bins = spec.bins or ()
    out = np.full((spec.cells, WITHIN_BIN_GRID), np.nan, dtype=object if spec.whole else np.float64)
    if spec.whole:
        for code, (lower, upper) in enumerate(_whole_bounds(spec)):
            out[code] = [lower + (upper - lower) * k // 1000 for k in WITHIN_BIN_PERMILLE]
        return out
    grid = np.array(WITHIN_BIN_PROBS)
    for code, b in enumerate(bins):
        out[code] = b.lo + grid * (b.hi - b.lo)
    return out


def quantile_table(rows: Any) -> np.ndarray:
    """A within-bin quantile table (cells x grid) from an array or nested lists (None or NaN: not measured).

    float64 when every number is exact as a double, as for most columns; an object array of Python ints (NaN where
    not measured) when a whole number beyond 2**53 would be rounded by a double, so that it stays exact in the model
    and in its JSON.
    """
    if isinstance(rows, np.ndarray) and rows.dtype != object:
        return rows.astype(np.float64)
    table = np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=object)
    if table.size and table.ndim == 2 and any(isinstance(v, (int, np.integer)) and abs(int(v)) > 2**53
                                              for v in table.flat):
        return np.vectorize(_exact, otypes=[object])(table)
    return table.astype(np.float64)


def _exact(v: Any) -> Any:
    return int(v) if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else float(v)


def decode(
    codes: np.ndarray,
    spec: ColumnSpec,
    *,
    within: np.ndarray | None = None,
    quantiles: np.ndarray | None = None,
    offset: int = 0,
    rng: np.random.Generator | None = None,
) -> pa.Array:
    """Arrow values for ``codes`` of one column.

    ``within`` (in [0, 1)) places a value inside its numeric bin; ``quantiles`` (cells x grid) are the bin's
    quantiles from the database (linear within the bin when absent). ``offset`` numbers identifier surrogates across
    batches; ``rng`` draws UUID surrogates.
    """
    n = len(codes)
    if spec.kind == "excluded":
        return pa.nulls(n)
    if spec.kind == "identifier":
        numbers = np.arange(offset + 1, offset + n + 1, dtype=np.int64)
        if spec.dtype.startswith(("int", "uint")):
            return pa.array(numbers)
        if spec.dtype == "uuid":
            rng = rng or np.random.default_rng(offset)
            raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
            return pa.array([_uuid_text(row) for row in raw])
        return pa.array(numbers.astype(str).tolist(), type=pa.string())
    codes = np.asarray(codes, dtype=np.int64)
    missing = codes == spec.null_code
    if spec.kind in ("categorical", "boolean"):
        dictionary = pa.array(list(spec.categories or ()))
        indices = pa.array(np.where(missing, 0, codes).astype(np.int32), mask=missing)
        return pa.DictionaryArray.from_arrays(indices, dictionary).cast(dictionary.type)
    # numeric kinds: a position on the within-bin quantile grid
    safe = np.where(missing, 0, codes)
    if within is None:
        within = np.zeros(n)
    u = np.clip(np.asarray(within, dtype=np.float64), 0.0, 1.0)
    probs = np.array(WITHIN_BIN_PROBS)
    left = np.minimum(np.searchsorted(probs, u, side="right") - 1, WITHIN_BIN_GRID - 2)
    frac = (u - probs[left]) / (probs[left + 1] - probs[left])
    if spec.kind == "numeric":
        linear = linear_bin_quantiles(spec)
        table = linear if quantiles is None else np.where(np.isnan(_floats(quantiles)), linear, _floats(quantiles))
        lo_q, hi_q = table[safe, left], table[safe, left + 1]
        values = lo_q + frac * (hi_q - lo_q)
        for name in spec.specials:
            values[codes == spec.special_code(name)] = SPECIAL_VALUES[name]
        return pa.array(values, type=pa.float64(), mask=missing)
    whole = _decode_whole(spec, safe, left, frac, quantiles)
    if spec.kind == "integer":
        return pa.array(whole, type=pa.uint64() if whole.dtype == np.uint64 else pa.int64(), mask=missing)
    if spec.kind == "date":
        return pa.array(whole.astype(np.int32), type=pa.int32(), mask=missing).cast(pa.date32())
    return pa.array(whole, type=pa.int64(), mask=missing).cast(pa.timestamp("us"))


def _floats(quantiles: np.ndarray) -> np.ndarray:
    return np.asarray(quantiles, dtype=np.float64)


def _decode_whole(
    spec: ColumnSpec, codes: np.ndarray, left: np.ndarray, frac: np.ndarray, quantiles: np.ndarray | None
) -> np.ndarray:
    """Whole numbers between the within-bin quantiles, in exact integer arithmetic: uint64 offsets from the
    column's smallest bound, so that a 64-bit value is never rounded and never leaves its bin.

    Returns uint64 for an unsigned 64-bit column, int64 otherwise.
    """
    unsigned = _unsigned(spec)
    bounds = _whole_bounds(spec)
    base = min(lower for lower, _ in bounds)
    rows = _whole_quantiles(spec, quantiles, bounds)
    rows += [[base] * WITHIN_BIN_GRID] * (spec.cells - len(rows))  # special and NULL cells: masked out
    offsets = np.array([[q - base for q in row] for row in rows], dtype=np.uint64)
    lo_q, hi_q = offsets[codes, left], offsets[codes, left + 1]
    span = hi_q - lo_q  # >= 0: quantiles do not decrease within a bin
    # The step is rounded in double precision, then capped by the exact span, so it never leaves [lo_q, hi_q].
    step = np.minimum(np.floor(frac * span.astype(np.float64) + 0.5), _BELOW_2_64).astype(np.uint64)
    value = lo_q + np.minimum(step, span)
    if unsigned:
        return value + np.uint64(base)
    return (value + np.uint64(base % 2**64)).view(np.int64)  # two's complement: exact for every int64 result


_BELOW_2_64 = float(np.nextafter(2.0**64, 0))  # the largest double a uint64 holds


def _whole_quantiles(
    spec: ColumnSpec, quantiles: np.ndarray | None, bounds: Sequence[tuple[int, int]]
) -> list[list[int]]:
    """Each bin's quantiles as Python ints inside the bin's whole-number bounds and non-decreasing; quantiles not
    measured (or a model without them) fall back to an even spread over the bin."""
    linear = linear_bin_quantiles(spec)
    rows = []
    for code, (lower, upper) in enumerate(bounds):
        measured = quantiles[code] if quantiles is not None else linear[code]
        row, running = [], lower
        for q, fallback in zip(measured, linear[code], strict=True):
            if q is None or (isinstance(q, float) and math.isnan(q)):
                q = fallback
            # floats come from models saved before quantiles were exact (or a double-only table): rounded, clamped
            running = max(running, min(max(int(q) if isinstance(q, (int, np.integer)) else round(q), lower), upper))
            row.append(running)
        rows.append(row)
    return rows


def _unsigned(spec: ColumnSpec) -> bool:
    return spec.dtype.lstrip("!") == "uint64"


def _whole_bounds(spec: ColumnSpec) -> list[tuple[int, int]]:
    """Smallest and largest whole number inside each bin (the top interval is closed), within the 64-bit range of
    the column's values (uint64 for an unsigned 64-bit column, int64 otherwise)."""
    bins = spec.bins or ()
    top = max(b.hi for b in bins)
    least, most = (0, 2**64 - 1) if _unsigned(spec) else (-(2**63), 2**63 - 1)
    out = []
    for b in bins:
        lower = math.ceil(b.lo)
        upper = math.floor(b.hi) if b.is_point or b.hi == top else math.ceil(b.hi) - 1
        lower = min(max(lower, least), most)
        out.append((lower, min(max(upper, lower), most)))
    return out


def _uuid_text(raw: np.ndarray) -> str:
    raw = raw.copy()
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = bytes(raw).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
