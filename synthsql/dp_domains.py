"""Domains estimated with differential privacy, for a DP fit whose user cannot declare them.

A DP release needs public domains (DESIGN.md): declared, or estimated with DP and charged to the budget. With
``fit(..., domain_share=0.1)`` a DP method spends that share of its rho here, split evenly over the columns whose
domain was not declared, and the ledger records each step:

* a categorical column's categories are discovered by Gaussian thresholding over the unknown set of values
  (Rogers 2023; OpenDP's ``make_gaussian_threshold`` gives its privacy map): the database counts each value, noise
  is added, and only values whose noisy count clears the threshold are released. It is approximate zCDP: the
  threshold is set so that its delta fits in the part of delta reserved for it (half of delta), shared by the
  categorical columns. Values that do not clear it go to the NULL cell.
* a numeric, integer, date or timestamp column's bins come from a noisy histogram over a fixed public grid (round
  numbers 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k of both signs and zero, every whole number below 10 for integers; five-year steps for dates): the grid is cut into up to
  ``max_bins`` bins of about equal noisy mass, zero gets a point bin of its own when its noisy share is at least
  ``point_share``, and grid cells at the ends whose noisy count is below a family-wise threshold are dropped (values
  there go to the NULL cell). The threshold is the Gaussian quantile at ``1 - FALSE_CELL_RATE / cells`` (about 3.9
  sigma for 200 cells): with a plain 3 sigma, one of the ~200 empty cells of the grid cleared it in about a quarter
  of the fits, and the domain of a column of school years reached minus five billion. The grid and the outer bins
  never leave the range of the column's SQL type (INTEGER, SMALLINT, DECIMAL(p, 0)), so every value drawn fits it.

Only the kinds of the columns (from their SQL types, or the spec) are taken as known.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from collections.abc import Sequence
from typing import Any

import ibis
import numpy as np
from scipy import stats

from synthsql.connection import Database, TableRef
from synthsql.errors import InvalidParameterError, UnsupportedTypeError
from synthsql.privacy import Budget
from synthsql.schema import NUMERIC_KINDS, Bin, ColumnSpec, TableSpec, kind_of, numeric_value

__all__ = ["FALSE_CELL_RATE", "MAX_DISTINCT", "bins_from_histogram", "estimate_domains", "numeric_grid", "type_range", "undeclared"]

MAX_DISTINCT = 100_000  # a column with more distinct values than this is an identifier, not a category
FALSE_CELL_RATE = 0.01  # the chance that noise alone makes any empty grid cell part of an estimated domain


class DomainWarning(UserWarning):
    """A domain estimated with DP came out empty at this budget."""


def undeclared(db: Database, ref: TableRef, spec: TableSpec | None) -> list[tuple[str, str, str]]:
    """(name, kind, dtype) of every modelled column whose domain is not declared (kinds from the SQL types when
    there is no spec)."""
    if spec is not None:
        return [(c.name, c.kind, c.dtype) for c in spec.columns if c.modelled and not c.declared and c.kind != "boolean"]
    out = []
    for name, dtype in db.table(ref).schema().items():
        kind = kind_of(dtype)
        if kind is None:
            raise UnsupportedTypeError(
                f"Column {name!r} of table {str(ref)!r} has type {dtype}, which synthsql cannot model; declare a spec "
                f"that excludes it."
            )
        if kind != "boolean":
            out.append((name, kind, str(dtype)))
    return out


def type_range(kind: str, dtype: str) -> tuple[float, float] | None:
    """The smallest and largest value of a whole-number SQL type (``dtype`` as Ibis spells it), or None for any other
    kind: an estimated domain must not reach past them."""
    if kind != "integer" or not dtype:
        return None
    parsed = ibis.dtype(dtype)
    if parsed.is_integer():
        return float(parsed.bounds.lower), float(parsed.bounds.upper)
    if parsed.is_decimal() and parsed.precision is not None:
        top = 10.0**parsed.precision - 1
        return -top, top
    return None


def numeric_grid(kind: str, dtype: str = "") -> list[float]:
    """The public grid of bucket edges for a kind (sorted; zero included for numbers), inside the range of the
    column's SQL type ``dtype`` for whole numbers."""
    if kind in ("date", "timestamp"):
        days = [(dt.date(year, 1, 1) - dt.date(1970, 1, 1)).days for year in range(1800, 2201, 5)]
        return [float(d) * (86_400_000_000 if kind == "timestamp" else 1) for d in days]
    series = (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8)  # about ten steps per decade, round numbers
    if kind == "integer":
        magnitudes = sorted({float(i) for i in range(1, 10)} | {m * 10.0**k for k in range(1, 10) for m in series})
    else:
        magnitudes = sorted(m * 10.0**k for k in range(-2, 10) for m in series)
    grid = [-m for m in reversed(magnitudes)] + [0.0] + magnitudes
    bounds = type_range(kind, dtype)
    return grid if bounds is None else [edge for edge in grid if bounds[0] <= edge <= bounds[1]]


def estimate_domains(
    db: Database,
    ref: TableRef,
    spec: TableSpec | None,
    budget: Budget,
    *,
    share: float,
    max_bins: int = 10,
    point_share: float = 0.05,
    rows: ibis.Table | None = None,
) -> TableSpec:
    """The spec with every undeclared domain estimated with DP, spending ``share`` of the budget's remaining rho.

    ``rows`` are the rows the guarantee covers, when not the whole of ``ref`` (the training part of a holdout
    split): the domains are read from them only.
    """
    todo = undeclared(db, ref, spec)
    by_name = {c.name: c for c in spec.columns} if spec is not None else {}
    t = db.table(ref) if rows is None else rows
    if todo:
        rho_each = share * budget.remaining / len(todo)
        sigma = Budget.sigma_for(rho_each)
        categorical = [name for name, kind, _ in todo if kind == "categorical"]
        delta_each = budget.delta_reserved / len(categorical) * (1 - 1e-9) if categorical else 0.0
        if categorical and budget.delta_reserved <= 0:
            raise InvalidParameterError("Category discovery needs a delta reserve in the budget (delta_reserved).")
    estimated: dict[str, ColumnSpec] = {}
    for name, kind, dtype in todo:
        base = by_name.get(name)
        common = {"name": name, "kind": kind, "dtype": dtype, "declared": True, "role": base.role if base else None}
        if kind == "categorical":
            counts = _value_counts(db, t, name, str(ref))
            kept = budget.threshold(counts, sigma=sigma, delta=delta_each, step="domain: categories", columns=(name,))
            if not kept:
                warnings.warn(
                    f"No category of column {name!r} is frequent enough to be released at this budget: it is left out "
                    "(written as NULL). Declare its categories, or give the domains a larger share.",
                    DomainWarning,
                    stacklevel=3,
                )
                estimated[name] = ColumnSpec(name=name, kind="excluded", dtype=dtype, role=common["role"])
                continue
            estimated[name] = ColumnSpec(**common, categories=tuple(sorted(kept, key=lambda v: (str(type(v)), v))))
        elif kind in NUMERIC_KINDS:
            grid = numeric_grid(kind, dtype)
            counts = _grid_counts(db, t, name, kind, grid)
            noisy = budget.gaussian(counts, sigma=sigma, step="domain: histogram", columns=(name,))
            bins = bins_from_histogram(grid, noisy, sigma, kind, max_bins, point_share, bounds=type_range(kind, dtype))
            estimated[name] = ColumnSpec(**common, bins=bins)
        else:
            raise InvalidParameterError(f"Column {name!r}: no DP domain estimation for kind {kind!r}; declare it.")
    if spec is None:
        columns = []
        for name, dtype in t.schema().items():
            kind = kind_of(dtype)
            if name in estimated:
                columns.append(estimated[name])
            elif kind == "boolean":
                columns.append(ColumnSpec(name=name, kind="boolean", dtype=str(dtype), categories=(False, True), declared=True))
        return TableSpec(table=str(ref), n_rows=0, columns=tuple(columns))
    return TableSpec(
        table=spec.table, n_rows=spec.n_rows, columns=tuple(estimated.get(c.name, c) for c in spec.columns)
    )


def occupied_threshold(sigma: float, cells: int) -> float:
    """The noisy count a grid cell must reach to be part of the domain: empty cells all stay below it with
    probability ``1 - FALSE_CELL_RATE`` (a Bonferroni bound over the ``cells`` Gaussian noises)."""
    return sigma * float(stats.norm.isf(FALSE_CELL_RATE / max(cells, 1)))


def _value_counts(db: Database, t: ibis.Table, name: str, table: str) -> dict[Any, int]:
    counts = t.filter(t[name].notnull()).group_by(name).agg(n=ibis._.count())
    distinct = int(db.backend.execute(counts.count()))
    if distinct > MAX_DISTINCT:
        raise InvalidParameterError(
            f"Column {name!r} of table {table!r} has more than {MAX_DISTINCT:,} distinct values: it is an identifier, "
            "not a category. Exclude it."
        )
    frame = db.backend.execute(counts)
    return {value: int(n) for value, n in zip(frame[name], frame["n"], strict=True)}


def _grid_counts(db: Database, t: ibis.Table, name: str, kind: str, grid: Sequence[float]) -> np.ndarray:
    """Counts per grid cell: cell 0 below the grid, cell i in [grid[i-1], grid[i]), the last above it, and (for
    numbers) one more cell, the last, for exactly zero. One GROUP BY in the database."""
    x = numeric_value(t[name], kind)
    cases = [(x == 0, len(grid) + 1)] if kind not in ("date", "timestamp") else []
    cases += [(x < edge, i) for i, edge in enumerate(grid)]
    cell = ibis.cases(*cases, else_=len(grid)).name("cell")
    frame = db.backend.execute(t.filter(t[name].notnull()).select(cell).group_by("cell").agg(n=ibis._.count()))
    counts = np.zeros(len(grid) + 2, dtype=np.int64)
    counts[frame["cell"].to_numpy(dtype=np.int64)] = frame["n"].to_numpy(dtype=np.int64)
    return counts


def bins_from_histogram(
    grid: Sequence[float],
    noisy: np.ndarray,
    sigma: float,
    kind: str,
    max_bins: int,
    point_share: float,
    *,
    bounds: tuple[float, float] | None = None,
) -> tuple[Bin, ...]:
    """Bins of about equal noisy mass over the grid cells (plus a point bin for zero when it is frequent), between
    the first and the last cell whose noisy count clears the family-wise threshold; the outer cells end at
    ``bounds``, the range of the column's type, when given."""
    noisy = np.clip(np.asarray(noisy, dtype=np.float64), 0.0, None)
    zero = noisy[-1] if kind not in ("date", "timestamp") else 0.0
    cells = noisy[:-1]
    total = cells.sum() + zero
    lows = [grid[0] * 10 if grid[0] < 0 else grid[0] - (grid[1] - grid[0])] + list(grid)
    highs = list(grid) + [grid[-1] * 10 if grid[-1] > 0 else grid[-1] + 1]
    if bounds is not None:  # the cells below and above the grid stop at the type's range ([lo, hi) holds its top)
        lows[0], highs[-1] = max(lows[0], bounds[0]), min(highs[-1], bounds[1] + 1)
    bins: list[Bin] = []
    if total > 0 and zero / total >= point_share:
        bins.append(Bin(0.0, 0.0))
    else:
        cells = cells.copy()  # zero's mass goes back to the cell that holds zero
        cells[list(grid).index(0.0) + 1 if 0.0 in grid else 0] += zero
    occupied = np.flatnonzero(cells >= occupied_threshold(sigma, cells.size))
    if occupied.size == 0:
        occupied = np.array([int(np.argmax(cells))])
    first, last = int(occupied[0]), int(occupied[-1])
    mass = cells[first : last + 1]
    target = mass.sum() / max_bins if mass.sum() > 0 else 1.0
    start, running = first, 0.0
    for i in range(first, last + 1):
        running += cells[i]
        if running >= target or i == last:
            bins.append(Bin(lows[start], highs[i]))
            start, running = i + 1, 0.0
    if kind == "integer":
        bins = [b if b.is_point or math.ceil(b.lo) < b.hi else Bin(math.ceil(b.lo), math.ceil(b.lo)) for b in bins]
    return tuple(sorted(set(bins), key=lambda b: (b.lo, b.hi)))
