"""Values to cells (in the database) and cells back to values (in Python).

:func:`encode` builds the Ibis expression that maps a column to its cell code ``0 .. cells-1`` (the NULL cell last;
values outside the declared domain also land there, or in the declared catch-all category). :func:`decode` turns sampled codes back into an Arrow array of
the column's kind: categories keep their spelling, numeric values are drawn *within* their bin by interpolating the
bin's own quantiles (computed in the database), so a synthetic income is continuous rather than a few spikes, and
integers, dates and timestamps stay whole.
"""

from __future__ import annotations

import math

import ibis
import numpy as np
import pyarrow as pa

from synthsql.schema import NUMERIC_KINDS, ColumnSpec, numeric_value

__all__ = ["encode", "decode", "linear_bin_quantiles", "WITHIN_BIN_GRID"]

WITHIN_BIN_GRID = 11  # quantiles kept per numeric bin: 0, 0.1, ..., 1


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
        points = [(x == b.lo, code) for code, b in enumerate(bins) if b.is_point]
        intervals = [
            ((x >= b.lo) & ((x < b.hi) | (x == b.hi) if b.hi == top else (x < b.hi)), code)
            for code, b in enumerate(bins)
            if not b.is_point
        ]
        return ibis.cases(*points, *intervals, else_=null).cast("int32")
    raise ValueError(f"Column {spec.name!r} of kind {spec.kind!r} is not encoded.")


def linear_bin_quantiles(spec: ColumnSpec) -> np.ndarray:
    """Within-bin quantiles that spread values evenly over each bin: the fallback when none were measured."""
    bins = spec.bins or ()
    grid = np.linspace(0.0, 1.0, WITHIN_BIN_GRID)
    out = np.full((spec.cells, WITHIN_BIN_GRID), np.nan)
    for code, b in enumerate(bins):
        out[code] = b.lo + grid * (b.hi - b.lo)
    return out


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
    # numeric kinds
    linear = linear_bin_quantiles(spec)
    table = linear if quantiles is None else np.where(np.isnan(quantiles), linear, quantiles)
    safe = np.where(missing, 0, codes)
    if within is None:
        within = np.zeros(n)
    position = np.clip(np.asarray(within, dtype=np.float64), 0.0, 1.0) * (table.shape[1] - 1)
    left = np.minimum(np.floor(position).astype(np.int64), table.shape[1] - 2)
    frac = position - left
    lo_q, hi_q = table[safe, left], table[safe, left + 1]
    values = lo_q + frac * (hi_q - lo_q)
    if spec.kind == "numeric":
        return pa.array(values, type=pa.float64(), mask=missing)
    lower, upper = _whole_bounds(spec)
    whole = np.clip(np.floor(values + 0.5), lower[safe], upper[safe]).astype(np.int64)
    if spec.kind == "integer":
        return pa.array(whole, type=pa.int64(), mask=missing)
    if spec.kind == "date":
        return pa.array(whole.astype(np.int32), type=pa.int32(), mask=missing).cast(pa.date32())
    return pa.array(whole, type=pa.int64(), mask=missing).cast(pa.timestamp("us"))


def _whole_bounds(spec: ColumnSpec) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest whole number inside each bin (the top interval is closed)."""
    bins = spec.bins or ()
    top = max(b.hi for b in bins)
    lower = np.zeros(spec.cells)
    upper = np.zeros(spec.cells)
    for code, b in enumerate(bins):
        lower[code] = math.ceil(b.lo)
        if b.is_point or b.hi == top:
            upper[code] = math.floor(b.hi)
        else:
            upper[code] = max(math.ceil(b.hi) - 1, lower[code])
    return lower, upper


def _uuid_text(raw: np.ndarray) -> str:
    raw = raw.copy()
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = bytes(raw).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
