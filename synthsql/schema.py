"""What a table looks like to a generator: column kinds, domains and NULL shares, inferred in the database.

A :class:`TableSpec` is computed by :func:`describe` with a handful of aggregate queries (counts, distinct counts,
min/max, quantiles, frequent values); it can be overridden column by column and is stored inside every model, so a
model knows the domain it samples from.

Every column has a finite domain of *cells* plus one NULL cell, which also receives any value outside a declared
domain, unless a categorical column declares a catch-all category (``other="Other"``, one of its categories), which
then receives the values outside its list:

* ``categorical`` and ``boolean`` columns: one cell per category, in the declared order;
* ``integer``, ``numeric``, ``date`` and ``timestamp`` columns: :class:`Bin` cells over the column's numeric value
  (epoch days for dates, epoch microseconds for timestamps). A bin is a point (``lo == hi``: a frequent exact value,
  such as a zero income, or every value of a column with few distinct values) or an interval ``[lo, hi)``; the
  interval that reaches the column's largest edge is closed ``[lo, hi]``. Points win over intervals.
  Whole-number kinds (integers, dates, timestamps) keep their edges as Python ints, compared in SQL as integers
  and decoded with integer arithmetic: a 64-bit value never goes through a double, which cannot tell apart
  neighbouring values above 2**53. ``numeric`` edges are floats.
* a ``numeric`` column that holds NaN, +infinity or -infinity gets one more cell for each of these *special values*
  (``specials``, in the order ``-inf``, ``inf``, ``nan``), after its bins and before the NULL cell, so that they come
  back at their share; they take no part in the bins or their quantiles. :func:`describe` finds them in the data
  unless the column's domain is declared: a declared domain is the whole domain (as a declared list of categories
  is), so a special value it does not list falls in the NULL cell, which keeps a declared (public) domain public.

DATE and TIMESTAMP ``'infinity'`` / ``'-infinity'`` (DuckDB and PostgreSQL have both) have no numeric value:
:func:`describe` refuses such a column with an error that counts them and says how to proceed (exclude the column,
or model a view that filters or replaces those rows). Whole numbers beyond 64 bits (HUGEINT, DECIMAL(38, 0)) are
refused the same way, naming the column and its type.

Columns that look like identifiers or free text (close to one value per row) get the kind ``identifier``: they are not
modelled and receive surrogate values; ``excluded`` columns are left NULL in the synthetic table.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import numpy as np

from synthsql.connection import Database, TableRef, connect
from synthsql.quantiles import batch_quantile_counts, finite, searched_value, stack_type, stacked
from synthsql.errors import (
    ColumnNotFoundError,
    EmptyTableError,
    InvalidParameterError,
    UnsupportedTypeError,
    did_you_mean,
)

__all__ = [
    "Bin",
    "ColumnSpec",
    "TableSpec",
    "describe",
    "KINDS",
    "SPECIALS",
    "numeric_value",
    "finite",
    "special_name",
    "IdentifierColumnWarning",
]

KINDS = ("categorical", "boolean", "integer", "numeric", "date", "timestamp", "identifier", "excluded")
NUMERIC_KINDS = ("integer", "numeric", "date", "timestamp")
WHOLE_KINDS = ("integer", "date", "timestamp")  # numeric value is a whole number: int edges, integer arithmetic
MODELLED_KINDS = ("categorical", "boolean", *NUMERIC_KINDS)
#: The special values a ``numeric`` column may hold, in the order of their cells (after the bins).
SPECIALS = ("-inf", "inf", "nan")
SPECIAL_VALUES = {"-inf": -math.inf, "inf": math.inf, "nan": math.nan}
INT64 = (-(2**63), 2**63 - 1)
_SPELLINGS = {"nan": "nan", "inf": "inf", "+inf": "inf", "infinity": "inf", "+infinity": "inf", "-inf": "-inf",
              "-infinity": "-inf"}


class IdentifierColumnWarning(UserWarning):
    """A column was left out of modelling because it looks like an identifier or free text."""


@dataclass(frozen=True, slots=True)
class Bin:
    """One cell of a numeric column: the point ``lo`` when ``lo == hi``, else the interval ``[lo, hi)``.

    Edges are Python ints for whole-number kinds (exact at any 64-bit value) and floats for ``numeric`` columns.
    """

    lo: int | float
    hi: int | float

    def __post_init__(self) -> None:
        for name in ("lo", "hi"):
            edge = getattr(self, name)
            if isinstance(edge, bool) or not isinstance(edge, (int, float, np.number)):
                raise InvalidParameterError(f"A bin needs numbers lo <= hi, got [{self.lo!r}, {self.hi!r}].")
            if isinstance(edge, np.number):  # numpy scalars become Python numbers: ints stay exact
                object.__setattr__(self, name, _number(edge))
        if not (math.isfinite(self.lo) and math.isfinite(self.hi)) or self.hi < self.lo:
            raise InvalidParameterError(f"A bin needs finite lo <= hi, got [{self.lo}, {self.hi}].")

    @property
    def is_point(self) -> bool:
        return self.lo == self.hi

    def to_json(self) -> list[int | float]:
        return [self.lo] if self.is_point else [self.lo, self.hi]

    @classmethod
    def from_json(cls, value: Sequence[int | float] | int | float) -> Bin:
        """A bin from ``value``, ``[value]`` or ``[lo, hi]``; ints stay ints (exact), anything else becomes a float."""
        if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
            return cls(_number(value), _number(value))
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) not in (1, 2):
            raise InvalidParameterError(f"A bin is [value] or [lo, hi], got {value!r}.")
        lo, hi = _number(value[0]), _number(value[-1])
        return cls(lo, hi)

    def whole(self) -> Bin:
        """The same bin with integral float edges as ints (models saved before edges were exact are read this way)."""
        return Bin(_whole(self.lo), _whole(self.hi))


def _number(value: Any) -> int | float:
    """An int as an exact Python int, anything else as a float (a bool or a non-number is refused)."""
    if isinstance(value, bool):
        raise InvalidParameterError(f"A bin edge must be a number, got {value!r}.")
    if isinstance(value, (int, np.integer)):
        return int(value)
    try:
        return float(value)
    except (TypeError, ValueError) as err:
        raise InvalidParameterError(f"A bin edge must be a number, got {value!r}.") from err


def _whole(value: int | float) -> int | float:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def special_name(value: Any) -> str:
    """The canonical name (``-inf``, ``inf`` or ``nan``) of a special value given as a float or a string.

    >>> [special_name(v) for v in (float("nan"), "Infinity", "-inf")]
    ['nan', 'inf', '-inf']
    """
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else "inf" if value > 0 else "-inf"
    if isinstance(value, str) and value.strip().lower() in _SPELLINGS:
        return _SPELLINGS[value.strip().lower()]
    raise InvalidParameterError(f"A special value is one of nan, inf or -inf, got {value!r}.")


@dataclass(frozen=True, kw_only=True)
class ColumnSpec:
    """One column: its kind, its domain (``categories`` or ``bins``), its NULL share and its role."""

    name: str
    kind: str
    dtype: str = ""
    categories: tuple[Any, ...] | None = None
    bins: tuple[Bin, ...] | None = None
    null_share: float = 0.0
    n_distinct: int | None = None
    role: str | None = None  # "key" (quasi-identifier) or "sensitive"
    #: True when the domain (categories or bins) was declared by the user or a catalog rather than read from the
    #: data: only declared domains are public, which differential privacy requires.
    declared: bool = False
    #: A categorical column's catch-all category (one of ``categories``): values outside the list go there, not NULL.
    other: Any = None
    #: The special values (``-inf``, ``inf``, ``nan``) a ``numeric`` column holds: one cell each, after the bins.
    specials: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidParameterError(
                f"Column {self.name!r}: unknown kind {self.kind!r}.{did_you_mean(self.kind, KINDS)} "
                f"Kinds are {', '.join(KINDS)}."
            )
        if self.kind in ("categorical", "boolean") and not self.categories:
            raise InvalidParameterError(f"Column {self.name!r} of kind {self.kind!r} needs at least one category.")
        if self.categories is not None:
            seen: set[Any] = set()
            for value in self.categories:
                if value in seen:
                    raise InvalidParameterError(f"Column {self.name!r} lists the category {value!r} twice.")
                if isinstance(value, str) and "\x00" in value:
                    raise InvalidParameterError(
                        f"Column {self.name!r}: the category {value!r} holds a NUL byte, which PostgreSQL cannot "
                        "store and SQL text cannot carry. Replace it in a view (e.g. replace(x, chr(0), '')) or "
                        f"leave the column out with exclude=[{self.name!r}]."
                    )
                seen.add(value)
        if self.other is not None and (self.kind != "categorical" or self.other not in (self.categories or ())):
            raise InvalidParameterError(
                f"Column {self.name!r}: the catch-all category other={self.other!r} must be one of its categories."
            )
        if self.kind in NUMERIC_KINDS:
            if not self.bins:
                raise InvalidParameterError(f"Column {self.name!r} of kind {self.kind!r} needs at least one bin.")
            # One type of edge per kind, so that a spec read back from JSON (or saved before edges were exact) is
            # the same spec: whole-number kinds keep integral edges as ints, numeric columns have float edges.
            if self.kind in WHOLE_KINDS:
                typed = [b.whole() for b in self.bins]
            else:
                typed = [Bin(float(b.lo), float(b.hi)) for b in self.bins]
            object.__setattr__(self, "bins", tuple(sorted(typed, key=lambda b: (b.lo, b.hi))))
        object.__setattr__(self, "specials", self._checked_specials())
        if not 0.0 <= self.null_share <= 1.0:
            raise InvalidParameterError(f"Column {self.name!r}: null_share must be in [0, 1], got {self.null_share}.")
        if self.role not in (None, "key", "sensitive"):
            raise InvalidParameterError(f"Column {self.name!r}: role must be 'key' or 'sensitive', got {self.role!r}.")

    def _checked_specials(self) -> tuple[str, ...]:
        if isinstance(self.specials, (str, bytes)) or not isinstance(self.specials, Iterable):
            raise InvalidParameterError(
                f"Column {self.name!r}: specials must be a list of nan, inf or -inf, got {self.specials!r}."
            )
        try:
            names = [special_name(v) for v in self.specials]
        except InvalidParameterError as err:
            raise InvalidParameterError(f"Column {self.name!r}: {err}") from None
        if len(set(names)) != len(names):
            raise InvalidParameterError(f"Column {self.name!r} lists a special value twice: {list(self.specials)!r}.")
        if names and self.kind != "numeric":
            raise InvalidParameterError(
                f"Column {self.name!r} of kind {self.kind!r} cannot have special values {names}: only numeric "
                "(floating-point) columns hold nan, inf or -inf."
            )
        return tuple(sorted(names, key=SPECIALS.index))

    @property
    def modelled(self) -> bool:
        return self.kind in MODELLED_KINDS

    @property
    def cells(self) -> int:
        """Number of cells in the domain, the NULL cell included: categories, or bins then special values."""
        if self.kind in ("categorical", "boolean"):
            return len(self.categories or ()) + 1
        if self.kind in NUMERIC_KINDS:
            return len(self.bins or ()) + len(self.specials) + 1
        return 0

    @property
    def whole(self) -> bool:
        """True for the kinds whose numeric value is a whole number (integers, dates, timestamps)."""
        return self.kind in WHOLE_KINDS

    def special_code(self, name: str) -> int:
        """The cell code of a special value (``-inf``, ``inf`` or ``nan``) the column holds."""
        return len(self.bins or ()) + self.specials.index(special_name(name))

    @property
    def null_code(self) -> int:
        return self.cells - 1

    def replace(self, **changes: Any) -> ColumnSpec:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "dtype": self.dtype}
        if self.categories is not None:
            out["categories"] = list(self.categories)
        if self.bins is not None:
            out["bins"] = [b.to_json() for b in self.bins]
        out["null_share"] = self.null_share
        if self.n_distinct is not None:
            out["n_distinct"] = self.n_distinct
        if self.role is not None:
            out["role"] = self.role
        if self.declared:
            out["declared"] = True
        if self.other is not None:
            out["other"] = self.other
        if self.specials:
            out["specials"] = list(self.specials)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ColumnSpec:
        data = dict(data)
        if "categories" in data and data["categories"] is not None:
            data["categories"] = tuple(data["categories"])
        if "bins" in data and data["bins"] is not None:
            data["bins"] = tuple(Bin.from_json(b) for b in data["bins"])
        if isinstance(data.get("specials"), list):
            data["specials"] = tuple(data["specials"])
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            name = sorted(unknown)[0]
            raise InvalidParameterError(
                f"Column {data.get('name')!r}: unknown setting {name!r}.{did_you_mean(name, known)}"
            )
        return cls(**data)


@dataclass(frozen=True, kw_only=True)
class TableSpec:
    """A table's columns in source order, with the row count the description was made on."""

    table: str
    n_rows: int
    columns: tuple[ColumnSpec, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise InvalidParameterError(f"Table {self.table!r}: a column is listed twice.")

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def modelled(self) -> list[ColumnSpec]:
        """The columns generators model, in source order."""
        return [c for c in self.columns if c.modelled]

    def column(self, name: str) -> ColumnSpec:
        for col in self.columns:
            if col.name == name:
                return col
        raise ColumnNotFoundError(
            f"Column {name!r} is not in table {self.table!r}.{did_you_mean(name, self.names)}"
        )

    def keys(self) -> list[str]:
        return [c.name for c in self.columns if c.role == "key"]

    def sensitive(self) -> list[str]:
        return [c.name for c in self.columns if c.role == "sensitive"]

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "n_rows": self.n_rows, "columns": [c.to_json() for c in self.columns]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TableSpec:
        return cls(
            table=data["table"],
            n_rows=int(data["n_rows"]),
            columns=tuple(ColumnSpec.from_json(c) for c in data["columns"]),
        )


# --------------------------------------------------------------------------------------------------------------
# Inference
# --------------------------------------------------------------------------------------------------------------
def bins_from_edges(column: str, edges: Sequence[int | float]) -> tuple[Bin, ...]:
    """Consecutive intervals ``[e0, e1), [e1, e2), ..., [e_{k-1}, e_k]`` from increasing bin edges (ints stay exact)."""
    try:
        values = [_number(e) for e in edges]
    except (TypeError, InvalidParameterError) as err:
        raise InvalidParameterError(f"Column {column!r}: edges must be numbers, got {edges!r}.") from err
    if len(values) < 2 or any(b <= a for a, b in zip(values, values[1:])):
        raise InvalidParameterError(
            f"Column {column!r}: edges must be at least two strictly increasing numbers, got {list(edges)!r}."
        )
    return tuple(Bin(a, b) for a, b in zip(values, values[1:]))


def kind_of(dtype: dt.DataType) -> str | None:
    """The kind synthsql gives a database type, or None when it cannot model it."""
    if dtype.is_string():
        return "categorical"
    if dtype.is_boolean():
        return "boolean"
    if dtype.is_integer() or (dtype.is_decimal() and dtype.scale == 0):  # DECIMAL(p, 0), HUGEINT: whole numbers
        return "integer"
    if dtype.is_floating() or dtype.is_decimal():
        return "numeric"
    if dtype.is_date():
        return "date"
    if dtype.is_timestamp():
        return "timestamp"
    if dtype.is_uuid():
        return "identifier"
    return None


def numeric_value(column: ibis.Value, kind: str) -> ibis.Value:
    """The number a numeric-kind column is binned on: the value, epoch days, or epoch microseconds.

    Whole numbers stay integers (no float round trip): an integer column as it is (UBIGINT included), a
    DECIMAL(p, 0) as BIGINT (:func:`describe` refuses values beyond 64 bits), dates and timestamps as BIGINT. Other
    columns become DOUBLE.
    """
    dtype = column.type()
    if kind in ("date", "timestamp"):
        if kind == "date":
            value = column.epoch_days()
        else:
            value = column.delta(ibis.timestamp("1970-01-01 00:00:00"), unit="microsecond")
        if not (dtype.is_date() or dtype.is_timestamp()):
            return value
        # 'infinity' has no epoch value (NULL in DuckDB, an error in PostgreSQL): it is NULL here on both, so that
        # it falls in the NULL cell of a declared domain; describe refuses it in an inferred one.
        return ibis.ifelse(is_finite_time(column), value, ibis.null("int64"))
    if kind == "integer" and dtype.is_integer():
        return column
    if kind == "integer" and dtype.is_decimal() and dtype.scale == 0:
        return column.cast("int64")
    return column.cast("float64")


def special_tests(x: ibis.Value) -> dict[str, ibis.BooleanValue]:
    """A test per special value (``-inf``, ``inf``, ``nan``) of a DOUBLE value, portable across backends."""
    return {"-inf": x == -math.inf, "inf": x == math.inf, "nan": x.isnan()}


def describe(
    con: Database | Any,
    table: str,
    /,
    *,
    keys: Iterable[str] = (),
    sensitive: Iterable[str] = (),
    columns: Mapping[str, Mapping[str, Any] | ColumnSpec] | None = None,
    exclude: Iterable[str] = (),
    max_bins: int = 20,
    max_categories: int = 1000,
    point_share: float = 0.05,
    identifier_share: float = 0.9,
    min_rows: int = 2,
    rows: ibis.Table | None = None,
) -> TableSpec:
    """Describe ``table`` in the database: each column's kind, domain and NULL share.

    ``columns`` overrides what is inferred, per column (``{"age": {"kind": "integer"}}``, or a whole
    :class:`ColumnSpec`); ``exclude`` leaves columns out of modelling (they come back NULL). Numeric columns with at
    most ``max_bins`` distinct values get one point bin per value; others get up to ``max_bins`` intervals between
    discrete quantiles (values that occur in the data, so DuckDB and PostgreSQL agree to the bit),
    plus a point bin for each value held by at least ``point_share`` of the rows. String columns with more than
    ``max_categories`` values, or with distinct values on at least ``identifier_share`` of the rows, are treated as
    identifiers (not modelled; surrogate values) with a warning saying how to model them instead. ``rows``, when
    given, are the rows of ``table`` to describe (the training part of a holdout split); messages still name
    ``table``.

    >>> import synthsql as ss
    >>> db = ss.connect("duckdb://")
    >>> _ = db.backend.raw_sql("CREATE TABLE t AS SELECT i % 3 AS g, i * 1.5 AS x FROM range(100) r(i)")
    >>> [c.kind for c in ss.describe(db, "t").columns]
    ['integer', 'numeric']
    """
    db = connect(con)
    ref = TableRef.parse(table)
    t = db.table(ref) if rows is None else rows
    schema = t.schema()
    overrides = dict(columns or {})
    keys, sensitive, exclude = list(keys), list(sensitive), list(exclude)
    for label, names in (("keys", keys), ("sensitive", sensitive), ("exclude", exclude), ("columns", overrides)):
        for name in names:
            if name not in schema:
                raise ColumnNotFoundError(
                    f"Column {name!r} (in {label}) is not in table {str(ref)!r}.{did_you_mean(name, schema.names)}"
                )
    both = set(keys) & set(sensitive)
    if both:
        raise InvalidParameterError(f"Column {sorted(both)[0]!r} cannot be both a key and sensitive.")
    if max_bins < 1 or max_categories < 1:
        raise InvalidParameterError("max_bins and max_categories must be at least 1.")

    kinds: dict[str, str] = {}
    for name, dtype in schema.items():
        override = overrides.get(name)
        if isinstance(override, ColumnSpec):
            kinds[name] = override.kind
        elif override and "kind" in override:
            kinds[name] = override["kind"]
        elif name in exclude:
            kinds[name] = "excluded"
        else:
            kind = kind_of(dtype)
            if kind is None:
                raise UnsupportedTypeError(
                    f"Column {name!r} of table {str(ref)!r} has type {dtype}, which synthsql cannot model. "
                    f"Leave it out with exclude=[{name!r}] (it is then written as NULL)."
                )
            kinds[name] = kind

    stats = _column_stats(t, kinds, small=2 * max(max_bins, max_categories) + 100,
                          exact=db.engine.exact_distinct_estimate)
    n_rows = stats["__n"]
    if n_rows < min_rows:
        if n_rows == 0:
            raise EmptyTableError(f"Table {str(ref)!r} is empty: there is nothing to model.")
        raise EmptyTableError(
            f"Table {str(ref)!r} has {n_rows} row(s); synthsql needs at least {min_rows} to model a table."
        )

    # Columns are checked in order first; the domains read from the data (categories, bins) are then read for all
    # columns together, in a fixed number of statements whatever the number of columns (_categories, _bins), and
    # complete the columns that wait for them.
    specs: list[ColumnSpec | dict[str, Any]] = []
    categorical: list[str] = []
    numeric: list[tuple[str, str, int | None]] = []
    for name, dtype in schema.items():
        role = "key" if name in keys else "sensitive" if name in sensitive else None
        override = overrides.get(name)
        if isinstance(override, ColumnSpec):
            specs.append(override.replace(role=override.role or role))
            continue
        kind = kinds[name]
        n_null, n_distinct = stats[f"{name}__null"], stats.get(f"{name}__nd")
        about = n_distinct if n_distinct is not None else stats.get(f"{name}__approx", 0)
        base = {
            "name": name,
            "kind": kind,
            "dtype": str(db.engine.exact_type(dtype)),
            "null_share": n_null / n_rows,
            "n_distinct": n_distinct,
            "role": role,
        }
        if kind == "excluded":
            specs.append(ColumnSpec(**base))
            continue
        if n_null == n_rows and kind != "identifier":
            raise EmptyTableError(
                f"Column {name!r} of table {str(ref)!r} is NULL in every row. Leave it out with exclude=[{name!r}]."
            )
        declared = dict(override or {})
        if "kind" not in declared:
            non_null = n_rows - n_null
            model_as = _identifier_like(kind, non_null, n_distinct, about, max_categories, identifier_share)
            if model_as is not None:
                warnings.warn(
                    f"Column {name!r} of table {str(ref)!r} looks like an identifier or free text "
                    f"({_count(n_distinct, about)} distinct values in {non_null} non-NULL rows): it is not modelled "
                    f"and gets surrogate values (1..n). To model it, pass columns={{{name!r}: {{'kind': {model_as!r}}}}}.",
                    IdentifierColumnWarning,
                    stacklevel=2,
                )
                specs.append(ColumnSpec(**{**base, "kind": "identifier"}))
                continue
        _check_values(str(ref), name, kind, dtype, stats)
        if "edges" in declared:
            declared["bins"] = bins_from_edges(name, declared.pop("edges"))
        base.update({k: v for k, v in declared.items() if k not in ("categories", "bins")})
        base["declared"] = bool(declared.get("declared", "categories" in declared or "bins" in declared))
        waiting = False  # for a domain read from the data
        if kind in ("categorical", "boolean"):
            cats = declared.get("categories")
            if cats is not None:
                base["categories"] = tuple(cats)
            else:
                categorical.append(name)
                waiting = True
        elif kind in NUMERIC_KINDS:
            # Special values found in the data join an inferred domain only: a declared domain is the whole domain.
            found = [v for v in SPECIALS if stats.get(f"{name}__{v}", 0)] if kind == "numeric" else []
            if "specials" not in declared and not base["declared"]:
                base["specials"] = tuple(found)
            bins = declared.get("bins")
            if bins is None and n_rows - n_null - sum(stats.get(f"{name}__{v}", 0) for v in found) == 0:
                raise EmptyTableError(
                    f"Column {name!r} of table {str(ref)!r} has no finite value (only {', '.join(found)} and NULL): "
                    f"there is nothing to bin. Leave it out with exclude=[{name!r}], or declare its bins."
                )
            finite_distinct = None if n_distinct is None else n_distinct - len(found)  # NaN counts as one value
            if bins is not None:
                base["bins"] = tuple(b if isinstance(b, Bin) else Bin.from_json(b) for b in bins)
            else:
                numeric.append((name, kind, finite_distinct))
                waiting = True
        specs.append(base if waiting else ColumnSpec(**base))  # a declared domain is checked in column order
    domains: dict[str, dict[str, Any]] = {}
    for name, values in _categories(t, categorical).items():
        domains[name] = {"categories": values}
    for name, bins in _bins(db, t, numeric, n_rows, max_bins, point_share).items():
        domains[name] = {"bins": bins}
    columns_out = tuple(
        c if isinstance(c, ColumnSpec) else ColumnSpec(**{**c, **domains.get(c["name"], {})}) for c in specs
    )
    return TableSpec(table=str(ref), n_rows=n_rows, columns=columns_out)


def _check_values(table: str, name: str, kind: str, dtype: dt.DataType, stats: Mapping[str, Any]) -> None:
    """Refuse values a kind cannot hold: infinite dates and timestamps, whole numbers beyond 64 bits."""
    infinite = stats.get(f"{name}__infinite", 0)
    if infinite:
        raise UnsupportedTypeError(
            f"Column {name!r} of table {table!r} holds {infinite} infinite value(s) ('infinity' or '-infinity'), "
            f"which have no place on a {kind} scale and would be lost. Leave the column out with "
            f"exclude=[{name!r}], or describe a view that filters those rows or replaces them with NULL or a real "
            f"{kind}."
        )
    if f"{name}__min" in stats and (stats[f"{name}__min"] < INT64[0] or stats[f"{name}__max"] > INT64[1]):
        raise UnsupportedTypeError(
            f"Column {name!r} of table {table!r} has type {dtype} and holds whole numbers beyond 64 bits (from "
            f"{stats[f'{name}__min']} to {stats[f'{name}__max']}), which synthsql cannot model exactly. Leave it out "
            f"with exclude=[{name!r}], or model it approximately as a number: columns={{{name!r}: "
            "{'kind': 'numeric'}}."
        )


def _wide_whole(dtype: dt.DataType) -> bool:
    """A whole-number decimal type (HUGEINT, DECIMAL(38, 0)) whose values may not fit in 64 bits."""
    return dtype.is_decimal() and dtype.scale == 0 and (dtype.precision is None or dtype.precision > 18)


def _column_stats(t: ibis.Table, kinds: Mapping[str, str], small: int, *, exact: bool = False) -> dict[str, Any]:
    """Row count, NULL counts and distinct counts in two aggregate queries of bounded memory.

    Distinct values are first counted approximately (HyperLogLog on DuckDB; PostgreSQL counts exactly on the
    server), then exactly for the columns with at most about ``small`` of them, whose hash tables are small. A large
    column keeps only the estimate (``__approx``); its exact count (``__nd``) is None. Where the estimate is exact
    (``exact``: :attr:`~synthsql.engines.Engine.exact_distinct_estimate`) it is the count, without a second query.
    """
    metrics: dict[str, ibis.Value] = {"__n": t.count()}
    for name, kind in kinds.items():
        metrics[f"{name}__null"] = t[name].isnull().sum().coalesce(0)
        if kind != "excluded":  # an excluded column may have a type that cannot be counted distinct (a list)
            metrics[f"{name}__approx"] = t[name].approx_nunique()
        metrics.update(_value_checks(t[name], name, kind))
    row = {k: int(v or 0) for k, v in t.aggregate(**metrics).to_pyarrow().to_pylist()[0].items()}
    # The estimate is within a few percent; counting exactly up to 25 % above the bar makes the decision below the
    # same on every backend (PostgreSQL's "estimate" is exact).
    few = [n for n, k in kinds.items() if k != "excluded" and row[f"{n}__approx"] <= 1.25 * small]
    if few and exact:
        row.update({f"{n}__nd": row[f"{n}__approx"] for n in few if row[f"{n}__approx"] <= small})
    elif few:
        counted = t.aggregate(**{f"{n}__nd": t[n].nunique() for n in few}).to_pyarrow().to_pylist()[0]
        row.update({k: int(v or 0) for k, v in counted.items() if int(v or 0) <= small})
    return row


def _value_checks(column: ibis.Value, name: str, kind: str) -> dict[str, ibis.Value]:
    """Counts of the values a kind treats apart, computed with the other column statistics: each special value of
    a numeric column, the infinite dates or timestamps, and the range of a whole-number decimal that may not fit in
    64 bits."""
    dtype = column.type()
    if kind == "numeric" and (dtype.is_floating() or dtype.is_decimal()):
        tests = special_tests(column.cast("float64"))
        return {f"{name}__{v}": tests[v].sum().coalesce(0) for v in SPECIALS}
    if kind in ("date", "timestamp") and (dtype.is_date() or dtype.is_timestamp()):
        return {f"{name}__infinite": (column.notnull() & ~is_finite_time(column)).sum().coalesce(0)}
    if kind == "integer" and _wide_whole(dtype):
        return {f"{name}__min": column.min(), f"{name}__max": column.max()}
    return {}


@ibis.udf.scalar.builtin(name="isfinite")
def _date_is_finite(value: dt.date) -> bool:  # type: ignore[empty-body]
    """DuckDB's and PostgreSQL's isfinite(date): false for 'infinity' and '-infinity'."""


@ibis.udf.scalar.builtin(name="isfinite")
def _timestamp_is_finite(value: dt.timestamp) -> bool:  # type: ignore[empty-body]
    """DuckDB's and PostgreSQL's isfinite(timestamp)."""


def is_finite_time(column: ibis.Value) -> ibis.BooleanValue:
    """False for a date or timestamp 'infinity' / '-infinity' (NULL for NULL), on DuckDB and PostgreSQL alike."""
    return _date_is_finite(column) if column.type().is_date() else _timestamp_is_finite(column)


def _categories(t: ibis.Table, names: Sequence[str]) -> dict[str, tuple[Any, ...]]:
    """The categories (distinct non-NULL values) of each column in ``names``, in one statement per value type."""
    values = _distinct({name: t.select(v=t[name]).filter(ibis._.v.notnull()) for name in names})
    # Sorted in Python, not by the database, so DuckDB and PostgreSQL (whose collation depends on the locale) agree.
    return {name: tuple(sorted(values[name])) for name in names}


def _distinct(parts: Mapping[str, ibis.Table]) -> dict[str, list[Any]]:
    """The distinct values of the column ``v`` of each relation in ``parts``: the relations of one value type are
    stacked (:func:`~synthsql.quantiles.stacked`) and read in one statement, bounded by the values returned."""
    out: dict[str, list[Any]] = {name: [] for name in parts}
    names = list(parts)
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        groups.setdefault(stack_type(parts[name].v), []).append(i)
    for members in groups.values():
        found = stacked([
            parts[names[i]].select(c=ibis.literal(i, type="int64"), v=searched_value(parts[names[i]].v)).distinct()
            for i in members
        ]).to_pyarrow()
        for i, v in zip(found["c"].to_pylist(), found["v"].to_pylist(), strict=True):
            out[names[i]].append(v)
    return out


def _identifier_like(
    kind: str, non_null: int, exact: int | None, about: int, max_categories: int, identifier_share: float
) -> str | None:
    """The kind to suggest for modelling a column that looks like an identifier or free text, else None.

    Strings: more than ``max_categories`` values, or distinct on ``identifier_share`` of the rows. Integers: distinct
    on 99 % of at least 100 rows (95 % when only the HyperLogLog estimate, good to a few percent, is known).
    """
    if kind == "identifier":
        return "categorical"
    if kind == "categorical":
        many = exact is None or exact > max_categories or (non_null >= 20 and about >= identifier_share * non_null)
        return "categorical" if many else None
    if kind == "integer" and non_null >= 100 and about >= (0.99 if exact is not None else 0.95) * non_null:
        return "integer"
    return None


def _count(exact: int | None, estimate: int) -> str:
    return str(exact) if exact is not None else f"about {estimate}"


def _bins(
    db: Database,
    t: ibis.Table,
    columns: Sequence[tuple[str, str, int | None]],
    n_rows: int,
    max_bins: int,
    point_share: float,
) -> dict[str, tuple[Bin, ...]]:
    """The bins of each ``(name, kind, distinct finite values)`` in ``columns``, read for all columns together.

    A column with at most ``max_bins`` values gets a point bin per value (one DISTINCT statement per value type for
    all such columns). The others get intervals between discrete quantiles of their finite values and a point bin
    for each value held by at least ``point_share`` of the rows; their quantiles are searched together, with the
    count of each quantile's value (:func:`~synthsql.quantiles.batch_quantile_counts`), so the statements do not
    grow with the columns.
    """
    values = {name: numeric_value(t[name], kind) for name, kind, _ in columns}
    few = [name for name, _, n in columns if n is not None and n <= max_bins]
    distinct = _distinct({name: t.filter(values[name].notnull() & finite(values[name])).select(v=values[name])
                          for name in few})
    out = {name: tuple(Bin(v, v) for v in sorted(distinct[name])) for name in few}
    many = [(name, kind) for name, kind, _ in columns if name not in out]
    if not many:
        return out
    # A value held by a share s of the rows spans s * n consecutive ranks, so it is among the order statistics on a
    # grid finer than s; the search counts the rows of each value it finds.
    edge_probs = np.linspace(0.0, 1.0, max_bins + 1).round(10).tolist()
    grid = np.linspace(0.0, 1.0, math.ceil(2 / point_share) + 1).round(10).tolist()
    probs = sorted(set(edge_probs) | set(grid))
    # special values have cells of their own: only finite values are binned
    searched = batch_quantile_counts(db, t, {name: values[name] for name, _ in many}, probs, specials=False)
    threshold = max(2, math.ceil(point_share * n_rows))
    for name, kind in many:
        found, counts = searched[name]
        at = dict(zip(probs, found, strict=True))
        count_of = dict(zip(found, counts, strict=True))
        quantiles = [at[p] for p in edge_probs]
        candidates = sorted({at[p] for p in grid})
        frequent = [v for v in candidates if count_of[v] >= threshold]
        points = sorted(set(frequent))  # values of the data: ints for whole-number kinds, exact at any 64-bit value
        edges = sorted(set(quantiles) | set(points))
        intervals = list(zip(edges[:-1], edges[1:], strict=True))
        bins = [Bin(p, p) for p in points]
        for i, (a, b) in enumerate(intervals):
            last = i == len(intervals) - 1
            # A whole-number interval [a, a+1) whose only value a is a point holds nothing (the last one also holds b).
            empty = kind != "numeric" and a in points and b - a <= 1 and (not last or b in points)
            if not empty:
                bins.append(Bin(a, b))
        out[name] = tuple(sorted(bins, key=lambda b: (b.lo, b.hi)))
    return out
