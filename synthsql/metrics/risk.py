"""Disclosure risk of a fully synthetic table, computed in the database; each function returns rows of
(metric, scope, value, detail).

The measures follow synthpop (Raab, Nowok and Dibben; ``replicated.uniques()``, ``disclosure()``), Taub et al.
(2018, "Differential correct attribution probability for synthetic data") and NIST SDNist (exact matches). Every
original record has a *key* (the values of the key variables, the quasi-identifiers an intruder knows) and, per
target, a *target* value. For a key K and target value T, n_K and n_KT count original records, s_K and s_KT
synthetic records; N and S are the table sizes. Percentages are 0-100, as synthpop prints them.

Uniqueness (scope: the keys)

* ``UiO`` = 100 * #{original records with n_K = 1} / N; ``UiS`` the same in the synthetic table (over S).
* ``repU`` = 100 * #{original records with n_K = 1 and s_K = 1} / N (replicated uniques).
* ``key_match`` = 100 * #{original records with s_K > 0} / N: how many original keys occur in the synthetic data.

Exact matches (scope: the compared columns, every modelled column of the spec; raw values, not cells)

* ``exact_matches`` = #{synthetic rows identical to some original row}; ``exact_match_pct`` = that over S.
* ``unique_exact_matches`` = #{synthetic rows identical to an original row that is unique in the original on all
  compared columns} (SDNist); ``unique_exact_match_pct`` = 100 * #{such unique original rows reproduced} /
  #{unique original rows}.

Equivalence classes on the keys (scope: the keys), for the original (``_orig``) and the synthetic (``_syn``) table

* ``classes``, ``class_size_min``, ``class_size_median`` (the median over classes), ``class_size_max``;
* ``k_anonymity_classes`` = #{classes with size < k}, ``k_anonymity_rows`` = #{rows in them};
* per target (scope ``target | keys``): ``l_diversity_min`` = min over classes of the number of distinct target
  values, ``l_diversity_below2_pct`` = 100 * share of classes with l < 2 (the key determines the target).

Attribute disclosure per target (scope ``target | keys``; synthpop ``disclosure()``)

* ``Dorig`` = 100 * #{original records whose key determines the target in the original: n_KT = n_K} / N;
* ``DiSCO`` = 100 * #{original records with s_K > 0, s_KT = s_K} / N: the key occurs in the synthetic data, all
  synthetic records with it share one target value, and that value is the record's own;
* ``DiSDiO`` = DiSCO restricted to the records counted in Dorig;
* ``baseCAPd`` = 100 * sum_T (n_T / N)^2: the CAP of guessing from the marginal target distribution;
* ``CAPd`` = 100 * mean over original records of n_KT / n_K (the original data attacking itself);
* ``DCAP`` = 100 * mean over original records of s_KT / s_K, a record whose key is not in the synthetic data
  counting 0 (Taub et al.'s CAP with non-matches as 0);
* ``TCAP`` = 100 * mean of s_KT / s_K over the original records whose key determines the target in the synthetic
  data (s_K > 0 and one target value among them), the rest excluded as undefined: = DiSCO records / those records;
  ``TCAP_records`` is how many records it is defined on (TCAP is NaN on none).

Levels left out (``exclude_target_levels``; synthpop ``disclosure(..., not.targetlev = ...)``). A level that tells
an intruder nothing (``"no"``, ``0``, or the value 94 % of the records share) makes Dorig and DiSCO high without
anything being disclosed. ``exclude_target_levels={"smsa": ["no"]}`` leaves such levels out: a record whose target
value is left out counts 0 in the numerator of every attribute measure, and nothing else changes. In detail:

* Dorig, DiSCO and DiSDiO: exactly synthpop's ``not.targetlev``. synthpop (R/disclosure.R, ``disclosure.synds``)
  decides which cells are disclosive (``tab_ktd_p == 1``, ``tab_kts_p == 1``) on all records, then zeroes the rows
  of the left-out levels in the count tables (``tab_exclude``) and divides by ``Nd``, the number of ALL original
  records: so here the key still "determines" the target when all its records share one value, left-out or not
  (a key whose synthetic records are 9 ``"no"`` and 1 ``"yes"`` does not determine ``"yes"``), and N stays N.
* baseCAPd, CAPd, DCAP and TCAP: the same rule (a left-out record counts 0; n_K, s_K, n_T and every denominator
  are on all records). Here synthpop differs, and this module deliberately does not follow it: synthpop keeps
  baseCAPd on all levels (``tab_td`` is taken before the exclusions) but recomputes CAPd, DCAP and TCAP from the
  tables with the left-out rows removed (``tab_ktd_p``, ``tab_kts_p`` and ``tab_kd`` after ``tab_exclude``), as if
  the intruder knew that the record's value is not a left-out one. For a binary target with one level left out
  that makes CAPd the share of the other level (every remaining n'_KT / n'_K is 1) while baseCAPd still counts the
  left-out level, so the two (and DCAP) are no longer comparable. With one rule for all, each CAP measure is the
  mean over the N records of the probability that the guess is right and informative, and DCAP against baseCAPd
  still says whether the synthetic data beat guessing from the marginal.
* ``TCAP_records``, the uniqueness measures (synthpop's UiO and repU also count only the remaining records once
  levels are left out; here they are measures of the keys, not of one target), the equivalence classes and
  l-diversity do not change.

A level is a declared category of a categorical or boolean target (compared by value, as the target is), or a
value in the domain of an integer or numeric target, which leaves out the spec's cell that holds it (a point cell
such as ``[0]`` is that value alone; an interval cell is every value in it): the measures compare numeric targets
by cell. A level outside the column's categories or domain, NULL, a level of a target that is not among the
targets, or of a date or timestamp target, is an :class:`~synthsql.errors.InvalidParameterError` naming the table,
column and level. The ``detail`` of each changed row names the levels left out and how many records had them.
When no levels are given for a target (an empty list says "none, on purpose") and one value holds 90 % or more of
the original records, the details suggest leaving it out, with the catalog key ``exclude_target_levels``
(synthpop's 1-way check suggests ``not.targetlev`` likewise, from the level's share of the DiSCO records).

Only integers leave the database. A database adds floating-point values in an order of its own (DuckDB's parallel
hash aggregation, PostgreSQL's), so a SUM of the ratios n_KT / n_K changes in its last bits from run to run; the
template returns instead, per class size n_K (s_K), the integer sum of n_KT^2 (n_KT s_KT) over the cells with that
size, at most sqrt(2 N) + 1 rows, and the ratios are added here as exact fractions and rounded once
(:func:`_ratio_sum`): every measure is identical to the bit in every run, and the same on every backend.

NULL is a value of its own everywhere: a NULL key value matches a NULL key value (records with a NULL sex form
their own class), and a NULL target is a target value like any other. Numeric key and target columns (integer,
numeric, date, timestamp) are compared by the cells of the spec (:func:`synthsql.discretize.encode`, the same bins
the generators use, the NULL cell also holding values outside the spec's domain), so a continuous income matches
by bin; ``detail`` names them. Categorical and boolean keys and targets are compared by value.

Keys enter each SQL template (``sql/*.sql``) as ONE text column built here with sqlglot: per key column either the
cell code (digits) or ``'N'`` for NULL / ``length(text) || ':' || text`` for a value, joined by ``'|'``; the length
prefix makes the encoding injective whatever the text holds, and the key is never NULL, so ``=`` and
``GROUP BY`` treat NULL keys as equal on every backend.

Bad input: a table that does not exist (:class:`~synthsql.errors.TableNotFoundError`), a key or target missing
from either table or from the spec (:class:`~synthsql.errors.ColumnNotFoundError`, with the closest name), a
target that is also a key, no keys, a duplicated column, a column that is not modelled or ``k < 1``
(:class:`~synthsql.errors.InvalidParameterError`), an empty table (:class:`~synthsql.errors.EmptyTableError`).
Key *columns* must exist in both tables; key *combinations* need not overlap: when no synthetic key occurs in the
original, the measures are 0 (repU, DiSCO, DCAP), TCAP is NaN on 0 records and ``key_match`` is 0, which is the
correct answer (such a release does not reveal anything through these keys), not an error.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import ibis
import pandas as pd
from sqlglot import exp

from synthsql import templates
from synthsql.connection import Database, connect
from synthsql.discretize import encode
from synthsql.engines import for_dialect
from synthsql.errors import ColumnNotFoundError, EmptyTableError, InvalidParameterError, did_you_mean
from synthsql.schema import NUMERIC_KINDS, ColumnSpec, TableSpec, special_name

__all__ = [
    "attribute_disclosure",
    "equivalence_classes",
    "exact_matches",
    "key_expression",
    "risk_measures",
    "uniqueness",
]

COLUMNS = ["metric", "scope", "value", "detail"]
_ALIAS = {"original": "o", "synthetic": "s"}  # the table aliases the templates use
_IBIS_TYPE = {"integer": "int64", "numeric": "float64", "date": "date", "timestamp": "timestamp"}
#: A target value that this share of the original records or more hold is suggested for ``exclude_target_levels``.
SUGGEST_SHARE = Fraction(9, 10)


# --------------------------------------------------------------------------------------------------------------
# Key expressions (sqlglot)
# --------------------------------------------------------------------------------------------------------------
def _compiled(name: str, dtype: Any, build: Any, alias: str, dialect: str) -> exp.Expression:
    """``build(column)`` on one column of type ``dtype``, as the sqlglot expression Ibis compiles for ``dialect``
    (literals typed and escaped by Ibis and sqlglot), its column qualified by ``alias``."""
    table = ibis.table({name: dtype}, name="t")
    select = for_dialect(dialect).compiler().to_sqlglot(table.select(value=build(table[name])))
    value = select.selects[0].unalias().copy()
    for column in value.find_all(exp.Column):
        column.set("table", exp.to_identifier(alias, quoted=True))
    return value


def _cell_code(col: ColumnSpec, alias: str, dialect: str) -> exp.Expression:
    """The spec's cell code of a numeric column, as the sqlglot expression Ibis compiles from ``encode``."""
    return _compiled(col.name, _IBIS_TYPE[col.kind], lambda column: encode(column, col), alias, dialect)


def _raw_text(col: ColumnSpec, alias: str) -> exp.Expression:
    """A column's value as text; numbers go through one type first so INTEGER 3 and BIGINT 3 (or REAL and
    DOUBLE) read alike when the two tables store a column with different types."""
    value: exp.Expression = exp.column(col.name, alias, quoted=True)
    if col.kind == "integer":
        value = exp.cast(value, "BIGINT")
    elif col.kind == "numeric":
        value = exp.cast(value, "DOUBLE")
    return exp.cast(value, "TEXT")


def _prefixed(text: exp.Expression) -> exp.Expression:
    """``'N'`` for NULL, else ``length(text) || ':' || text``: a NULL-safe, self-delimiting code."""
    length = exp.cast(exp.Length(this=text.copy()), "TEXT")
    value = exp.DPipe(this=exp.DPipe(this=length, expression=exp.Literal.string(":")), expression=text.copy())
    return exp.Case(
        ifs=[exp.If(this=exp.Is(this=text.copy(), expression=exp.Null()), true=exp.Literal.string("N"))],
        default=value,
    )


def key_expression(columns: Sequence[ColumnSpec], alias: str, dialect: str, /, *, cells: bool = True) -> exp.Expression:
    """ONE text expression, never NULL, that is equal for two rows exactly when they agree on every column.

    Numeric columns give their cell code when ``cells`` (the code is never NULL: NULL has a cell), other columns
    their text value, length-prefixed, with ``'N'`` for NULL; the parts are joined by ``'|'``. Each part is
    self-delimiting (a code is digits; a value declares its length), so distinct rows never share a key.
    Columns are qualified by ``alias`` (``o`` or ``s`` in the templates) and quoted.
    """
    parts: list[exp.Expression] = []
    for col in columns:
        if cells and col.kind in NUMERIC_KINDS:
            parts.append(exp.cast(_cell_code(col, alias, dialect), "TEXT"))
        else:
            parts.append(_prefixed(_raw_text(col, alias)))
    key = parts[0]
    for part in parts[1:]:
        key = exp.DPipe(this=exp.DPipe(this=key, expression=exp.Literal.string("|")), expression=part)
    return key


def _keys(columns: Sequence[ColumnSpec], dialect: str, *, cells: bool = True, prefix: str = "key") -> dict[str, Any]:
    return {f"{side}_{prefix}": key_expression(columns, alias, dialect, cells=cells) for side, alias in _ALIAS.items()}


# --------------------------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------------------------
def _names(value: Any, label: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidParameterError(f"The {label!r} parameter must be a list of column names. Got {value!r} instead.")
    names = list(value)
    for name in names:
        if not isinstance(name, str):
            raise InvalidParameterError(f"The {label!r} parameter must hold column names. Got {name!r}.")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InvalidParameterError(f"Column {name!r} is listed twice in {label}.")
        seen.add(name)
    return names


def _check(
    db: Database, real: str, synthetic: str, spec: TableSpec, names: Sequence[str], label: str
) -> list[ColumnSpec]:
    """The specs of ``names`` after checking that both tables and the spec have them and that they are modelled."""
    for table in (real, synthetic):
        present = db.table(table).schema().names
        for name in names:
            if name not in present:
                raise ColumnNotFoundError(
                    f"{label.capitalize()} column {name!r} is not in table {table!r}.{did_you_mean(name, present)}"
                )
    cols = []
    for name in names:
        if name not in spec.names:
            raise ColumnNotFoundError(
                f"{label.capitalize()} column {name!r} is not in the spec of table {spec.table!r}."
                f"{did_you_mean(name, spec.names)} Describe the table again or add it."
            )
        col = spec.column(name)
        if not col.modelled:
            raise InvalidParameterError(
                f"{label.capitalize()} column {name!r} is not modelled (kind {col.kind!r}); disclosure risk "
                "needs a categorical, boolean or numeric column."
            )
        cols.append(col)
    return cols


def _check_keys(db: Database, real: str, synthetic: str, spec: TableSpec, keys: Any) -> list[ColumnSpec]:
    names = _names(keys, "keys")
    if not names:
        raise InvalidParameterError("Disclosure risk needs at least one key column: name them with keys=[...].")
    return _check(db, real, synthetic, spec, names, "key")


def _check_targets(
    db: Database, real: str, synthetic: str, spec: TableSpec, targets: Any, keys: Sequence[ColumnSpec]
) -> list[ColumnSpec]:
    names = _names(targets, "targets")
    key_names = {c.name for c in keys}
    for name in names:
        if name in key_names:
            raise InvalidParameterError(
                f"Column {name!r} is both a key and a target; a target is what the keys might disclose."
            )
    return _check(db, real, synthetic, spec, names, "target")


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidParameterError(f"The 'k' parameter must be an int >= 1. Got {k!r} instead.")
    return k


@dataclass(frozen=True)
class LeftOut:
    """A target level left out of the attribute measures: the spec's value, its cell code, and how it reads."""

    value: Any
    code: int
    label: str


def _check_levels(
    real: str, targets: Sequence[ColumnSpec], levels: Mapping[str, Any] | None
) -> dict[str, tuple[LeftOut, ...]]:
    """The levels of ``exclude_target_levels`` per target, checked against the spec (see the module documentation).

    A target given an empty list maps to ``()`` (none left out, on purpose: no suggestion); a target not named is
    absent. Every problem is an :class:`~synthsql.errors.InvalidParameterError` naming the table, column and level.
    """
    if levels is None:
        return {}
    if not isinstance(levels, Mapping):
        raise InvalidParameterError(
            "The 'exclude_target_levels' parameter maps target columns to the levels to leave out, e.g. "
            f"{{'smsa': ['no']}}. Got {levels!r} instead."
        )
    by_name = {c.name: c for c in targets}
    out: dict[str, tuple[LeftOut, ...]] = {}
    for name, given in levels.items():
        if name not in by_name:
            listed = ", ".join(map(repr, by_name)) or "none"
            raise InvalidParameterError(
                f"exclude_target_levels names the column {name!r} of table {real!r}, which is not a target of the "
                f"disclosure measures.{did_you_mean(str(name), by_name)} Targets: {listed}."
            )
        if isinstance(given, (str, bytes)) or not isinstance(given, Iterable):
            raise InvalidParameterError(
                f"exclude_target_levels[{name!r}] must be a list of levels of the target column {name!r} of table "
                f"{real!r}, e.g. [{given!r}]. Got {given!r}."
            )
        found: dict[int, LeftOut] = {}
        for level in given:
            left = _level(real, by_name[name], level)
            if left.code in found and by_name[name].kind not in NUMERIC_KINDS:
                raise InvalidParameterError(
                    f"Level {level!r} of the target column {name!r} of table {real!r} is listed twice in "
                    "exclude_target_levels."
                )
            found.setdefault(left.code, left)  # two values in one interval cell leave out that cell once
        out[name] = tuple(found.values())
    return out


def _level(real: str, col: ColumnSpec, level: Any) -> LeftOut:
    """One level of ``col`` to leave out: a declared category, or a value in the domain of a numeric column."""
    where = f"the target column {col.name!r} of table {real!r}"
    if level is None:
        raise InvalidParameterError(
            f"Level None of {where} cannot be left out: NULL is a value of its own in the disclosure measures, not a "
            "level of the column's categories or domain."
        )
    if col.kind in ("categorical", "boolean"):
        categories = list(col.categories or ())
        for code, category in enumerate(categories):
            if isinstance(category, bool) == isinstance(level, bool) and category == level:
                return LeftOut(category, code, repr(category))
        shown = ", ".join(map(repr, categories[:12])) + (", ..." if len(categories) > 12 else "")
        hint = did_you_mean(str(level), [str(c) for c in categories])
        folded = [c for c in categories if str(c).casefold() == str(level).casefold()]
        if folded and not hint:
            hint = f" Did you mean {folded[0]!r}?"
        if isinstance(level, bool) and not all(isinstance(c, bool) for c in categories):
            hint += ' (YAML reads an unquoted no, yes, on, off, true or false as a boolean: quote it, "no".)'
        raise InvalidParameterError(f"Level {level!r} of {where} is not one of its categories ({shown}).{hint}")
    if col.kind not in ("integer", "numeric"):
        raise InvalidParameterError(
            f"Level {level!r} of {where} cannot be left out: it is a {col.kind} column, and levels can be left out "
            "of categorical, boolean, integer and numeric targets."
        )
    code = _numeric_cell(col, level)
    if code is None:
        specials = f"; special values {', '.join(col.specials)}" if col.specials else ""
        raise InvalidParameterError(
            f"Level {level!r} of {where} is not a number in the column's domain (its cells: "
            f"{_bins_text(col)}{specials})."
        )
    return LeftOut(level, code, _cell_label(col, level, code))


def _numeric_cell(col: ColumnSpec, level: Any) -> int | None:
    """The cell code of ``level`` in a numeric column as :func:`synthsql.discretize.encode` assigns it (special
    values, then points, then intervals, the top one closed), or None outside the domain or for a non-number."""
    if col.kind == "numeric" and (isinstance(level, str) or (isinstance(level, float) and not math.isfinite(level))):
        try:
            name = special_name(level)
        except InvalidParameterError:
            return None
        return col.special_code(name) if name in col.specials else None
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or not math.isfinite(level):
        return None
    if col.kind == "integer" and not float(level).is_integer():
        return None
    bins = col.bins or ()
    for code, b in enumerate(bins):
        if b.is_point and level == b.lo:
            return code
    top = max(b.hi for b in bins)
    for code, b in enumerate(bins):
        if not b.is_point and b.lo <= level and (level < b.hi or level == b.hi == top):
            return code
    return None


def _bin_text(col: ColumnSpec, code: int) -> str:
    b = (col.bins or ())[code]
    top = max(x.hi for x in col.bins or ())
    return f"[{b.lo}]" if b.is_point else f"[{b.lo}, {b.hi}{']' if b.hi == top else ')'}"


def _bins_text(col: ColumnSpec) -> str:
    n = len(col.bins or ())
    shown = [_bin_text(col, code) for code in range(min(n, 8))]
    return ", ".join(shown) + (f", ... ({n} cells)" if n > 8 else "")


def _cell_label(col: ColumnSpec, level: Any, code: int) -> str:
    if code >= len(col.bins or ()):
        return repr(special_name(level))
    b = (col.bins or ())[code]
    return repr(level) if b.is_point else f"{level!r} (cell {_bin_text(col, code)})"


# --------------------------------------------------------------------------------------------------------------
# Running templates
# --------------------------------------------------------------------------------------------------------------
def _fetch(db: Database, name: str, real: str, synthetic: str, values: dict[str, Any]) -> list[tuple]:
    tree = templates.bind(name, tables={"original": real, "synthetic": synthetic}, **values)
    return db.fetchall(tree)


def _matches(db: Database, real: str, synthetic: str, values: dict[str, Any]) -> dict[str, int]:
    tree = templates.bind("key_matches", tables={"original": real, "synthetic": synthetic}, **values)
    (row,) = db.fetchall(tree)
    out = {s.alias_or_name: int(v) for s, v in zip(tree.selects, row, strict=True)}
    if out["original_rows"] == 0:
        raise EmptyTableError(f"Table {real!r} is empty: there is no record whose disclosure risk to measure.")
    if out["synthetic_rows"] == 0:
        raise EmptyTableError(f"Synthetic table {synthetic!r} is empty: its disclosure risk is not defined.")
    return out


def _pct(count: float, total: float) -> float:
    return 100.0 * count / total if total else math.nan


def _cells_note(cols: Sequence[ColumnSpec]) -> str:
    binned = [f"{c.name} ({c.cells} cells)" for c in cols if c.kind in NUMERIC_KINDS]
    return f"; numeric columns compared by the spec's cells: {', '.join(binned)}" if binned else ""


def _row(metric: str, scope: str, value: float, detail: str) -> dict[str, Any]:
    return {"metric": metric, "scope": scope, "value": float(value), "detail": detail}


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS)


# --------------------------------------------------------------------------------------------------------------
# Measures
# --------------------------------------------------------------------------------------------------------------
def uniqueness(
    con: Database | Any, real: str, synthetic: str, spec: TableSpec, /, *, keys: Sequence[str]
) -> pd.DataFrame:
    """Uniques on the keys (synthpop): ``UiO``, ``UiS``, ``repU`` (replicated uniques) and ``key_match``, in %.

    See the module documentation for the exact definitions.

    >>> import synthsql as ss
    >>> db = ss.connect("duckdb://")
    >>> _ = db.backend.raw_sql("CREATE TABLE p AS SELECT i % 7 AS g, i % 2 = 0 AS b FROM range(20) r(i)")
    >>> spec = ss.describe(db, "p")
    >>> uniqueness(db, "p", "p", spec, keys=["g", "b"])[["metric", "value"]].values.tolist()
    [['UiO', 40.0], ['UiS', 40.0], ['repU', 40.0], ['key_match', 100.0]]
    """
    db = connect(con)
    cols = _check_keys(db, real, synthetic, spec, keys)
    return _frame(_uniqueness_rows(_matches(db, real, synthetic, _keys(cols, db.dialect)), cols))


def _uniqueness_rows(m: dict[str, int], cols: Sequence[ColumnSpec]) -> list[dict[str, Any]]:
    scope = ",".join(c.name for c in cols)
    n, s = m["original_rows"], m["synthetic_rows"]
    note = _cells_note(cols)
    overlap = m["original_rows_matched"]
    overlap_detail = f"{overlap} of {n} original rows have a key that occurs in the synthetic data{note}"
    if overlap == 0:
        overlap_detail += "; no key combination is shared, so key-based risk is 0"
    return [
        _row("UiO", scope, _pct(m["original_uniques"], n), f"{m['original_uniques']} of {n} original rows{note}"),
        _row("UiS", scope, _pct(m["synthetic_uniques"], s), f"{m['synthetic_uniques']} of {s} synthetic rows{note}"),
        _row(
            "repU",
            scope,
            _pct(m["replicated_uniques"], n),
            f"{m['replicated_uniques']} of {n} original rows are unique in both tables{note}",
        ),
        _row("key_match", scope, _pct(overlap, n), overlap_detail),
    ]


def exact_matches(
    con: Database | Any, real: str, synthetic: str, spec: TableSpec, /, *, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Synthetic rows identical to an original row on ``columns`` (default: every modelled column), raw values.

    Rows ``exact_matches`` (count), ``exact_match_pct`` (% of synthetic rows), ``unique_exact_matches`` (synthetic
    rows matching an original row unique on the columns) and ``unique_exact_match_pct`` (% of the unique original
    rows that the synthetic data reproduce; SDNist). NULL equals NULL. Values are compared as written, not by cell.
    """
    db = connect(con)
    names = [c.name for c in spec.modelled] if columns is None else _names(columns, "columns")
    if not names:
        raise InvalidParameterError(f"The spec of table {spec.table!r} has no modelled column to compare.")
    cols = _check(db, real, synthetic, spec, names, "compared")
    return _frame(_exact_rows(_matches(db, real, synthetic, _keys(cols, db.dialect, cells=False)), cols))


def _exact_rows(m: dict[str, int], cols: Sequence[ColumnSpec]) -> list[dict[str, Any]]:
    scope = ",".join(c.name for c in cols)
    s = m["synthetic_rows"]
    uniques, reproduced = m["original_uniques"], m["original_uniques_matched"]
    matched, on_uniques = m["synthetic_rows_matched"], m["synthetic_rows_matching_uniques"]
    how = f"{len(cols)} columns, raw values, NULL equals NULL"
    return [
        _row("exact_matches", scope, matched, f"synthetic rows identical to an original row ({how})"),
        _row("exact_match_pct", scope, _pct(matched, s), f"{matched} of {s} synthetic rows ({how})"),
        _row(
            "unique_exact_matches",
            scope,
            on_uniques,
            f"synthetic rows identical to an original row that is unique in the original ({how})",
        ),
        _row(
            "unique_exact_match_pct",
            scope,
            _pct(reproduced, uniques),
            f"{reproduced} of {uniques} unique original rows occur in the synthetic data ({how})",
        ),
    ]


def equivalence_classes(
    con: Database | Any,
    real: str,
    synthetic: str,
    spec: TableSpec,
    /,
    *,
    keys: Sequence[str],
    targets: Sequence[str] = (),
    k: int = 5,
) -> pd.DataFrame:
    """Equivalence classes on the keys in each table: sizes, k-anonymity violations, and l-diversity per target.

    Metrics end in ``_orig`` or ``_syn``; see the module documentation for the definitions.
    """
    db = connect(con)
    k = _check_k(k)
    cols = _check_keys(db, real, synthetic, spec, keys)
    target_cols = _check_targets(db, real, synthetic, spec, targets, cols)
    return _frame(_class_rows(db, real, synthetic, cols, target_cols, k))


def _class_rows(
    db: Database, real: str, synthetic: str, cols: Sequence[ColumnSpec], targets: Sequence[ColumnSpec], k: int
) -> list[dict[str, Any]]:
    scope = ",".join(c.name for c in cols)
    note = _cells_note(cols)
    keys = _keys(cols, db.dialect)
    sizes: dict[str, list[tuple[int, int]]] = {"original": [], "synthetic": []}
    for side, size, classes in _fetch(db, "class_sizes", real, synthetic, keys):
        sizes[side].append((int(size), int(classes)))
    rows = []
    for side, suffix in (("original", "orig"), ("synthetic", "syn")):
        dist = sorted(sizes[side])
        n_classes = sum(c for _, c in dist)
        small = [(size, c) for size, c in dist if size < k]
        rows += [
            _row(f"classes_{suffix}", scope, n_classes, f"equivalence classes on the keys in the {side} table{note}"),
            _row(f"class_size_min_{suffix}", scope, dist[0][0] if dist else math.nan, f"{side} table{note}"),
            _row(f"class_size_median_{suffix}", scope, _median(dist), f"median over classes, {side} table{note}"),
            _row(f"class_size_max_{suffix}", scope, dist[-1][0] if dist else math.nan, f"{side} table{note}"),
            _row(
                f"k_anonymity_classes_{suffix}",
                scope,
                sum(c for _, c in small),
                f"classes smaller than k={k} in the {side} table{note}",
            ),
            _row(
                f"k_anonymity_rows_{suffix}",
                scope,
                sum(size * c for size, c in small),
                f"rows in classes smaller than k={k} in the {side} table{note}",
            ),
        ]
    for target in targets:
        tscope = f"{target.name} | {scope}"
        tnote = _cells_note([*cols, target])
        values = {**keys, **_keys([target], db.dialect, prefix="target")}
        ls: dict[str, list[tuple[int, int]]] = {"original": [], "synthetic": []}
        for side, l_value, classes in _fetch(db, "l_diversity", real, synthetic, values):
            ls[side].append((int(l_value), int(classes)))
        for side, suffix in (("original", "orig"), ("synthetic", "syn")):
            dist = sorted(ls[side])
            total = sum(c for _, c in dist)
            below = sum(c for l_value, c in dist if l_value < 2)
            rows += [
                _row(
                    f"l_diversity_min_{suffix}",
                    tscope,
                    dist[0][0] if dist else math.nan,
                    f"fewest distinct target values in a key class, {side} table (NULL is a value){tnote}",
                ),
                _row(
                    f"l_diversity_below2_pct_{suffix}",
                    tscope,
                    _pct(below, total),
                    f"{below} of {total} key classes of the {side} table have one target value{tnote}",
                ),
            ]
    return rows


def _ratio_sum(terms: Iterable[tuple[Any, Any]]) -> Fraction:
    """The exact sum of ``numerator / denominator`` over (denominator, numerator) pairs of integers: the same
    whatever their order, unlike a floating-point SUM in the database (whose order changes with its threads)."""
    return sum((Fraction(int(numerator), int(size)) for size, numerator in terms), Fraction(0))


def _percent_of(total: Fraction, n: int) -> float:
    """``100 * total / n`` rounded once, to the nearest double."""
    return float(100 * total / n)


def _median(dist: Sequence[tuple[int, int]]) -> float:
    """The median of values given as sorted (value, count) pairs, without expanding them."""
    total = sum(c for _, c in dist)
    if total == 0:
        return math.nan
    wanted = sorted({(total - 1) // 2, total // 2})
    found: list[int] = []
    seen = 0
    for value, count in dist:
        while wanted and wanted[0] < seen + count:
            found.append(value)
            wanted.pop(0)
        seen += count
    return sum(found) / len(found)


def attribute_disclosure(
    con: Database | Any,
    real: str,
    synthetic: str,
    spec: TableSpec,
    /,
    *,
    keys: Sequence[str],
    targets: Sequence[str],
    exclude_target_levels: Mapping[str, Sequence[Any]] | None = None,
) -> pd.DataFrame:
    """Attribute disclosure of each target from the keys: Dorig, DiSCO, DiSDiO, baseCAPd, CAPd, DCAP, TCAP (%).

    synthpop ``disclosure()`` and Taub et al. (2018); see the module documentation for the exact definitions.
    ``exclude_target_levels`` maps a target to the levels that disclose nothing (synthpop's ``not.targetlev``):
    records with them count 0 in every numerator, and every denominator stays all records (module documentation,
    "Levels left out", for what that means for each measure and where synthpop differs).
    """
    db = connect(con)
    cols = _check_keys(db, real, synthetic, spec, keys)
    target_cols = _check_targets(db, real, synthetic, spec, targets, cols)
    left_out = _check_levels(real, target_cols, exclude_target_levels)
    return _frame(_attribute_rows(db, real, synthetic, cols, target_cols, left_out))


def left_out_flag(col: ColumnSpec, levels: Sequence[LeftOut], dialect: str, dtype: Any = "string") -> exp.Expression:
    """TRUE for an original row (alias ``o``) whose target value is left out, FALSE or NULL otherwise (the template
    reads it in a CASE); ``FALSE`` when no level is. The levels are the spec's values (checked by
    :func:`_check_levels`); they reach the SQL as literals of a tree that Ibis types (``dtype``: the column's type in
    the original table) and sqlglot escapes, never as pasted text. Numeric targets compare the spec's cell code."""
    if not levels:
        return exp.false()
    if col.kind in NUMERIC_KINDS:
        codes = [exp.Literal.number(level.code) for level in levels]
        return exp.In(this=_cell_code(col, "o", dialect), expressions=codes)
    values = [level.value for level in levels]
    return _compiled(col.name, dtype, lambda column: column.isin(values), "o", dialect)


def _top_level(col: ColumnSpec, text: Any) -> tuple[Any, str] | None:
    """(value, label) of the target value the template returns as ``top_target`` (the encoded text of
    :func:`key_expression`), when it is a level that could be left out; None for NULL or a value not declared."""
    if text is None or text == "N":
        return None
    if col.kind in NUMERIC_KINDS:
        code, bins = int(text), col.bins or ()
        if col.kind not in ("integer", "numeric") or code >= len(bins) + len(col.specials):
            return None
        if code >= len(bins):
            name = col.specials[code - len(bins)]
            return name, repr(name)
        b = bins[code]
        return (b.lo, repr(b.lo)) if b.is_point else (b.lo, f"the cell {_bin_text(col, code)}")
    value = str(text).split(":", 1)[1]
    for category in col.categories or ():
        if (str(category).lower() if isinstance(category, bool) else str(category)) == value:
            return category, repr(category)
    return None


def _levels_note(
    name: str, levels: Sequence[LeftOut] | None, left: int, top: tuple[Any, str] | None, top_records: int, n: int
) -> str:
    """The part of a detail that says which levels were left out, or suggests one to leave out."""
    if levels:
        return (
            f"; left out: {', '.join(level.label for level in levels)}: {left} of {n} original records, counted 0 "
            "in the numerators (synthpop not.targetlev)"
        )
    if levels is None and top is not None and n and Fraction(top_records, n) >= SUGGEST_SHARE:
        value = json.dumps(top[0].item() if hasattr(top[0], "item") else top[0], default=str)
        return (
            f"; {top[1]} is {100 * top_records / n:.1f} % of the original records: if it tells nothing about a "
            f"person, leave it out with exclude_target_levels: {{{name}: [{value}]}} (synthpop not.targetlev)"
        )
    return ""


def _attribute_rows(
    db: Database,
    real: str,
    synthetic: str,
    cols: Sequence[ColumnSpec],
    targets: Sequence[ColumnSpec],
    left_out: Mapping[str, Sequence[LeftOut]] | None = None,
) -> list[dict[str, Any]]:
    left_out = left_out or {}
    keys = _keys(cols, db.dialect)
    rows = []
    for target in targets:
        scope = f"{target.name} | {','.join(c.name for c in cols)}"
        levels = left_out.get(target.name)
        values = {
            **keys,
            **_keys([target], db.dialect, prefix="target"),
            "original_left_out": left_out_flag(
                target, levels or (), db.dialect, db.table(real).schema()[target.name] if levels else "string"
            ),
        }
        tree = templates.bind("attribute_disclosure", tables={"original": real, "synthetic": synthetic}, **values)
        names = [select.alias_or_name for select in tree.selects]
        parts = [dict(zip(names, raw, strict=True)) for raw in db.fetchall(tree)]
        (r,) = [p for p in parts if p["part"] == 0]
        n = int(r["records"] or 0)
        if n == 0:
            raise EmptyTableError(f"Table {real!r} is empty: there is no record whose disclosure risk to measure.")
        top = _top_level(target, r["top_target"])
        note = _cells_note([*cols, target]) + _levels_note(
            target.name, levels, int(r["left_out"] or 0), top, int(r["top_records"] or 0), n
        )
        # sum over records of n_kt / n_k (and s_kt / s_k): integer numerators per denominator, added exactly
        cap = _ratio_sum((p["size"], p["cap_sum"]) for p in parts if p["part"] == 1)
        dcap = _ratio_sum((p["size"], p["dcap_sum"]) for p in parts if p["part"] == 2 and p["size"] is not None)
        disco, tcap_n = int(r["disco"]), int(r["tcap_records"])
        rows += [
            _row("Dorig", scope, _pct(int(r["dorig"]), n), f"{r['dorig']} of {n} original records{note}"),
            _row("DiSCO", scope, _pct(disco, n), f"{disco} of {n} original records{note}"),
            _row("DiSDiO", scope, _pct(int(r["disdio"]), n), f"{r['disdio']} of {n} original records{note}"),
            _row(
                "baseCAPd",
                scope,
                _percent_of(Fraction(int(r["base_cap"] or 0), n), n),
                f"CAP of the marginal target distribution, sum of squared shares{note}",
            ),
            _row("CAPd", scope, _percent_of(cap, n), f"original attacking itself, {n} records{note}"),
            _row(
                "DCAP",
                scope,
                _percent_of(dcap, n),
                f"mean over {n} original records; {n - int(r['key_matched'])} with no key match count 0{note}",
            ),
            _row(
                "TCAP",
                scope,
                _pct(disco, tcap_n),
                f"defined on {tcap_n} of {n} original records (the synthetic key determines the target){note}",
            ),
            _row("TCAP_records", scope, tcap_n, f"original records TCAP is defined on, of {n}"),
        ]
    return rows


def risk_measures(
    con: Database | Any,
    real: str,
    synthetic: str,
    spec: TableSpec,
    /,
    *,
    keys: Sequence[str],
    targets: Sequence[str],
    k: int = 5,
    exclude_target_levels: Mapping[str, Sequence[Any]] | None = None,
) -> pd.DataFrame:
    """Every disclosure-risk measure of a fully synthetic table, as rows of (metric, scope, value, detail).

    Uniqueness and replicated uniques on ``keys``, exact row matches on every modelled column, equivalence classes
    with k-anonymity (``k``) and l-diversity, and attribute disclosure (Dorig, DiSCO, DiSDiO, baseCAPd, CAPd, DCAP,
    TCAP) of each of ``targets``; the definitions, and how NULLs and numeric columns are treated, are in the
    module documentation. The counting is done in the database; only integer counts reach Python, which divides.

    ``exclude_target_levels`` (target column -> levels, e.g. ``{"smsa": ["no"]}``) is synthpop's ``not.targetlev``:
    records whose target value is one of those levels count 0 in the numerators of the attribute measures (Dorig,
    DiSCO, DiSDiO, TCAP and the CAP measures), while which keys determine a target, the class sizes and every
    denominator stay on all records, as synthpop does for Dorig and DiSCO. Unlike synthpop, the CAP measures
    follow the same rule instead of being recomputed on the remaining records, so that baseCAPd, CAPd and DCAP stay
    comparable (module documentation, "Levels left out"). A level must be a declared category, or a value in the
    domain of an integer or numeric target (which leaves out its cell); anything else, or a column that is not a
    target, is an :class:`~synthsql.errors.InvalidParameterError`. The details name the levels left out; without
    any for a target, they suggest one that 90 % or more of the records share.

    >>> import synthsql as ss
    >>> db = ss.connect("duckdb://")
    >>> _ = db.backend.raw_sql("CREATE TABLE p AS SELECT i % 5 AS g, i % 5 < 2 AS y FROM range(20) r(i)")
    >>> spec = ss.describe(db, "p")
    >>> risk = risk_measures(db, "p", "p", spec, keys=["g"], targets=["y"])
    >>> risk.set_index("metric").loc[["Dorig", "DiSCO", "repU"], "value"].tolist()
    [100.0, 100.0, 0.0]
    """
    db = connect(con)
    k = _check_k(k)
    cols = _check_keys(db, real, synthetic, spec, keys)
    target_cols = _check_targets(db, real, synthetic, spec, targets, cols)
    left_out = _check_levels(real, target_cols, exclude_target_levels)
    modelled = list(spec.modelled)
    _check(db, real, synthetic, spec, [c.name for c in modelled], "compared")
    rows = _uniqueness_rows(_matches(db, real, synthetic, _keys(cols, db.dialect)), cols)
    rows += _exact_rows(_matches(db, real, synthetic, _keys(modelled, db.dialect, cells=False)), modelled)
    rows += _class_rows(db, real, synthetic, cols, target_cols, k)
    rows += _attribute_rows(db, real, synthetic, cols, target_cols, left_out)
    return _frame(rows)
