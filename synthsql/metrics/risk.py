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

import math
from collections.abc import Iterable, Sequence
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
from synthsql.schema import NUMERIC_KINDS, ColumnSpec, TableSpec

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


# --------------------------------------------------------------------------------------------------------------
# Key expressions (sqlglot)
# --------------------------------------------------------------------------------------------------------------
def _cell_code(col: ColumnSpec, alias: str, dialect: str) -> exp.Expression:
    """The spec's cell code of a numeric column, as the sqlglot expression Ibis compiles from ``encode``."""
    table = ibis.table({col.name: _IBIS_TYPE[col.kind]}, name="t")
    select = for_dialect(dialect).compiler().to_sqlglot(table.select(cell=encode(table[col.name], col)))
    code = select.selects[0].unalias().copy()
    for column in code.find_all(exp.Column):
        column.set("table", exp.to_identifier(alias, quoted=True))
    return code


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


def key_expression(
    columns: Sequence[ColumnSpec], alias: str, dialect: str, /, *, cells: bool = True
) -> exp.Expression:
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
    return {
        f"{side}_{prefix}": key_expression(columns, alias, dialect, cells=cells) for side, alias in _ALIAS.items()
    }


# --------------------------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------------------------
def _names(value: Any, label: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidParameterError(
            f"The {label!r} parameter must be a list of column names. Got {value!r} instead."
        )
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
) -> pd.DataFrame:
    """Attribute disclosure of each target from the keys: Dorig, DiSCO, DiSDiO, baseCAPd, CAPd, DCAP, TCAP (%).

    synthpop ``disclosure()`` and Taub et al. (2018); see the module documentation for the exact definitions.
    """
    db = connect(con)
    cols = _check_keys(db, real, synthetic, spec, keys)
    target_cols = _check_targets(db, real, synthetic, spec, targets, cols)
    return _frame(_attribute_rows(db, real, synthetic, cols, target_cols))


def _attribute_rows(
    db: Database, real: str, synthetic: str, cols: Sequence[ColumnSpec], targets: Sequence[ColumnSpec]
) -> list[dict[str, Any]]:
    keys = _keys(cols, db.dialect)
    rows = []
    for target in targets:
        scope = f"{target.name} | {','.join(c.name for c in cols)}"
        note = _cells_note([*cols, target])
        values = {**keys, **_keys([target], db.dialect, prefix="target")}
        tree = templates.bind("attribute_disclosure", tables={"original": real, "synthetic": synthetic}, **values)
        names = [select.alias_or_name for select in tree.selects]
        parts = [dict(zip(names, raw, strict=True)) for raw in db.fetchall(tree)]
        (r,) = [p for p in parts if p["part"] == 0]
        n = int(r["records"] or 0)
        if n == 0:
            raise EmptyTableError(f"Table {real!r} is empty: there is no record whose disclosure risk to measure.")
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
                _percent_of(Fraction(int(r["base_cap"]), n), n),
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
) -> pd.DataFrame:
    """Every disclosure-risk measure of a fully synthetic table, as rows of (metric, scope, value, detail).

    Uniqueness and replicated uniques on ``keys``, exact row matches on every modelled column, equivalence classes
    with k-anonymity (``k``) and l-diversity, and attribute disclosure (Dorig, DiSCO, DiSDiO, baseCAPd, CAPd, DCAP,
    TCAP) of each of ``targets``; the definitions, and how NULLs and numeric columns are treated, are in the
    module documentation. The counting is done in the database; only integer counts reach Python, which divides.

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
    modelled = list(spec.modelled)
    _check(db, real, synthetic, spec, [c.name for c in modelled], "compared")
    rows = _uniqueness_rows(_matches(db, real, synthetic, _keys(cols, db.dialect)), cols)
    rows += _exact_rows(_matches(db, real, synthetic, _keys(modelled, db.dialect, cells=False)), modelled)
    rows += _class_rows(db, real, synthetic, cols, target_cols, k)
    rows += _attribute_rows(db, real, synthetic, cols, target_cols)
    return _frame(rows)
