"""Fit-for-purpose utility, computed in the database: per-column summaries, per-column distances and edit rules.

"Fit for purpose" is the first of the utility categories of Drechsler, Haensch and others (Drechsler et al. 2024,
*30 Years of Synthetic Data*): before any model is fitted on the synthetic data, does each column look like the
original, and does the synthetic data obey the rules the original obeys? This module answers with three functions:

* :func:`column_summary`: per column, the original's and the synthetic table's statistics side by side
  (NULL share; min, max, mean, sample sd and deciles of numbers; the share of each category);
* :func:`column_distances`: per column, one number saying how far apart the two distributions are: the total
  variation distance of a categorical column, the Kolmogorov–Smirnov statistic and the Wasserstein-1 distance of a
  numeric one, in the metric-row shape ``(metric, scope, value, detail)``;
* :func:`plausibility`: from the summary, the columns a statistician would not release as they are: a mean or a
  standard deviation far from the source's, a NULL share off by more than a point (rule violations are their own rows,
  ``rule_violation_rate``);
* :func:`missingness_blocks`: the blocks of columns that are NULL together in the source (a questionnaire section
  skipped as a whole), and whether the synthetic table keeps the share of rows where the whole block is NULL;
* :func:`check_rules`: edit rules (plausibility checks, SQL boolean conditions with an optional ``when``) with their
  violation counts and rates in each table. The rules themselves, and the closed predicate language they are
  checked against before any SQL runs, live in :mod:`synthsql.rules`.

Everything is an aggregate query: what reaches Python is bounded by the number of columns, categories and rules,
never by the number of rows. Dates and timestamps are measured on their numeric value
(:func:`~synthsql.schema.numeric_value`: epoch days, epoch microseconds).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from fractions import Fraction
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
from sqlglot import exp

from synthsql.aggregates import AggregateStore, null_blocks
from synthsql.connection import Database, connect
from synthsql.errors import ColumnNotFoundError, InvalidParameterError, did_you_mean
from synthsql.metrics.glm import _exact_literal, _sql_times
from synthsql.metrics.utility import tvd
from synthsql.quantiles import batch_quantiles
from synthsql.rules import Rule
from synthsql.schema import NUMERIC_KINDS, ColumnSpec, TableSpec, numeric_value

__all__ = [
    "DECILES", "MEAN_RATIO_BOUNDS", "NULL_SHARE_POINTS", "QQ_PROBS", "SD_RATIO_BOUNDS", "Rule", "check_rules",
    "column_distances", "column_quantiles", "column_summary", "missingness_blocks", "plausibility", "quantile_label",
    "statistic_flag",
]

#: The probabilities of the deciles :func:`column_summary` reports.
DECILES = tuple(round(i / 10, 10) for i in range(1, 10))
#: The probabilities of the quantiles compared in each numeric column's QQ plot (:mod:`synthsql.report`): the
#: minimum, the far tails, the deciles and the maximum (17 points). :func:`column_summary` keeps all of them (the
#: minimum and maximum as ``min`` and ``max``), so that a report drawn from stored results reads no quantile again.
QQ_PROBS = (0.0, 0.001, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999, 1.0)
_CATEGORY_KINDS = ("categorical", "boolean")
_UNITS = {"date": "days", "timestamp": "microseconds"}
_METRIC_COLUMNS = ["metric", "scope", "value", "detail"]
#: The synthetic/real ratio of a column's mean, and of its standard deviation, that is plausible; and the most a
#: column's NULL share may differ, as a share of rows (one percentage point).
MEAN_RATIO_BOUNDS = (0.9, 1.1)
SD_RATIO_BOUNDS = (0.8, 1.25)
NULL_SHARE_POINTS = 0.01
_RATIO_KINDS = ("integer", "numeric")  # a ratio of epoch days or microseconds would say nothing


# --------------------------------------------------------------------------------------------------------------
# Per-column summaries, side by side
# --------------------------------------------------------------------------------------------------------------
def column_summary(
    con: Database | Any,
    real: str,
    synthetic: str,
    spec: TableSpec,
    /,
    *,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Each column's statistics in the real and in the synthetic table, side by side (Drechsler et al. 2024).

    One row per (column, statistic), with columns ``column``, ``kind``, ``statistic``, ``category``, ``real`` and
    ``synthetic``. Every column gets ``null_share`` (share of rows that are NULL). Numeric kinds (integer, numeric,
    date, timestamp; dates and timestamps on their numeric value, epoch days and epoch microseconds) add ``min``,
    ``max``, ``mean``, ``sd`` (the sample standard deviation, divisor n − 1, as pandas) and the quantiles of the QQ
    plots between them (:data:`QQ_PROBS`: ``p0.1``, ``p1``, ``p5``, the deciles ``p10`` … ``p90``, ``p95``, ``p99``,
    ``p99.9``; :func:`quantile_label`); a quantile is discrete, the smallest value whose cumulative count reaches
    p · n (:func:`column_quantiles`), NULLs left out. Categorical and boolean columns add one
    ``share`` row per category of ``spec`` (the category in ``category``; shares of all rows, so with
    ``null_share`` they sum to one) and, when either table holds values outside those categories, a ``share_other``
    row. Statistics a table cannot have (the mean of a column that is NULL throughout) are NaN.

    ``spec`` is the real table's description; ``columns`` restricts the summary (default: every modelled column).
    Each table costs a few aggregate queries, whatever the number of columns: counts and moments, quantiles (a few
    passes of :func:`column_quantiles`), category counts.

    >>> import synthsql as ss
    >>> db = ss.connect("duckdb://")
    >>> _ = db.backend.raw_sql("CREATE TABLE a AS SELECT i AS x FROM range(10) r(i)")
    >>> _ = db.backend.raw_sql("CREATE TABLE b AS SELECT i * 2 AS x FROM range(10) r(i)")
    >>> s = column_summary(db, "a", "b", ss.describe(db, "a"))
    >>> s.set_index("statistic").loc[["mean", "p50"], ["real", "synthetic"]].values.tolist()
    [[4.5, 9.0], [4.0, 8.0]]
    """
    db = connect(con)
    cols = _columns(db, real, synthetic, spec, columns)
    per_table = [_summary_stats(db, name, spec, cols) for name in (real, synthetic)]
    rows: list[dict[str, Any]] = []
    for col in cols:
        real_stats, syn_stats = (stats[col.name] for stats in per_table)
        for (statistic, category), value in real_stats.items():
            if statistic == "share_other" and value == 0 and syn_stats[(statistic, category)] == 0:
                continue  # no value outside the declared categories in either table: the row would say nothing
            rows.append(
                {
                    "column": col.name,
                    "kind": col.kind,
                    "statistic": statistic,
                    "category": category,
                    "real": value,
                    "synthetic": syn_stats[(statistic, category)],
                }
            )
    return pd.DataFrame(rows, columns=["column", "kind", "statistic", "category", "real", "synthetic"])


def statistic_flag(kind: str, statistic: str, real: float, synthetic: float) -> str:
    """Why a summary statistic is implausible ('' when it is not): a mean or sd ratio outside
    :data:`MEAN_RATIO_BOUNDS` / :data:`SD_RATIO_BOUNDS` (integer and numeric columns), or a NULL share that differs
    by more than :data:`NULL_SHARE_POINTS`."""
    if statistic == "null_share":
        if finite_number(real) and finite_number(synthetic) and abs(synthetic - real) > NULL_SHARE_POINTS:
            return f"NULL share {synthetic:.1%} against {real:.1%} (more than {NULL_SHARE_POINTS:.0%} apart)"
        return ""
    bounds = {"mean": MEAN_RATIO_BOUNDS, "sd": SD_RATIO_BOUNDS}.get(statistic)
    if bounds is None or kind not in _RATIO_KINDS or not (finite_number(real) and finite_number(synthetic)) or real == 0:
        return ""
    ratio = synthetic / real
    if bounds[0] <= ratio <= bounds[1]:
        return ""
    return f"{statistic} ratio {ratio:.3g} outside [{bounds[0]}, {bounds[1]}] ({synthetic:.6g} against {real:.6g})"


def plausibility(summary: pd.DataFrame) -> pd.DataFrame:
    """Metric rows from :func:`column_summary`: ``mean_ratio`` and ``sd_ratio`` (synthetic over real) for each
    integer and numeric column, ``null_share_difference`` (synthetic minus real, a share of rows) for every column,
    each with a detail that says when it is outside its bounds (:func:`statistic_flag`); and one
    ``implausible_columns`` row (scope ``table``): how many columns are flagged, and which, with why.

    >>> summary = pd.DataFrame({"column": ["wage"] * 3, "kind": ["numeric"] * 3, "category": [None] * 3,
    ...     "statistic": ["null_share", "mean", "sd"], "real": [0.0, 604.0, 453.0], "synthetic": [0.0, 647.0, 943.0]})
    >>> plausibility(summary).set_index("metric")["value"].round(3).to_dict()
    {'null_share_difference': 0.0, 'mean_ratio': 1.071, 'sd_ratio': 2.082, 'implausible_columns': 1.0}
    """
    rows: list[dict[str, Any]] = []
    flagged: dict[str, list[str]] = {}
    names = {"null_share": "null_share_difference", "mean": "mean_ratio", "sd": "sd_ratio"}
    for r in summary.to_dict("records"):
        statistic = r["statistic"]
        if statistic not in names or (statistic != "null_share" and r["kind"] not in _RATIO_KINDS):
            continue
        real, synthetic = float(r["real"]), float(r["synthetic"])
        if statistic == "null_share":
            value = synthetic - real if finite_number(real) and finite_number(synthetic) else math.nan
        else:
            value = synthetic / real if finite_number(real) and finite_number(synthetic) and real != 0 else math.nan
        why = statistic_flag(r["kind"], statistic, real, synthetic)
        if why:
            flagged.setdefault(r["column"], []).append(why)
        rows.append({"metric": names[statistic], "scope": r["column"], "value": value, "detail": why or "plausible"})
    detail = "; ".join(f"{c}: {', '.join(w)}" for c, w in flagged.items()) or "every column plausible"
    rows.append({"metric": "implausible_columns", "scope": "table", "value": float(len(flagged)), "detail": detail})
    return pd.DataFrame(rows, columns=_METRIC_COLUMNS)


def missingness_blocks(con: Database | Any, real: str, synthetic: str, spec: TableSpec, /) -> pd.DataFrame:
    """Metric rows ``null_block_share_difference``: for each block of modelled columns that are NULL in exactly the
    same rows of ``real`` (found by one aggregate counting, for each pair of nullable columns, the rows where one is
    NULL and the other not), the share of rows where the whole block is NULL in ``synthetic`` minus that in ``real``
    (scope: the block's columns), flagged when more than :data:`NULL_SHARE_POINTS` apart. Per-column NULL shares can
    be right while the pattern is lost: with independent columns a 10-column block NULL in 18 % of rows is NULL as a
    whole in none. The first :data:`~synthsql.aggregates.MAX_BLOCK_COLUMNS` nullable columns are compared.

    >>> import synthsql as ss
    >>> db = ss.connect("duckdb://")
    >>> _ = db.backend.raw_sql("CREATE TABLE r AS SELECT i, CASE WHEN i < 5 THEN NULL ELSE i END AS a, "
    ...                        "CASE WHEN i < 5 THEN NULL ELSE -i END AS b FROM range(20) t(i)")
    >>> _ = db.backend.raw_sql("CREATE TABLE s AS SELECT i, CASE WHEN i < 5 THEN NULL ELSE i END AS a, "
    ...                        "CASE WHEN i >= 15 THEN NULL ELSE -i END AS b FROM range(20) t(i)")
    >>> missingness_blocks(db, "r", "s", ss.describe(db, "r"))[["scope", "value"]].values.tolist()
    [['a, b', -0.25]]
    """
    db = connect(con)
    blocks = null_blocks(db.table(real), [c.name for c in spec.modelled if c.null_share > 0])
    if not blocks:
        return pd.DataFrame(columns=_METRIC_COLUMNS)
    shares = []
    for name in (real, synthetic):
        s = db.table(name)
        whole = {f"b{k}": ibis.and_(*(s[c].isnull() for c in block)).sum().coalesce(0)
                 for k, block in enumerate(blocks)}
        row = s.aggregate(n=s.count(), **whole).to_pyarrow().to_pylist()[0]
        shares.append([row[f"b{k}"] / row["n"] if row["n"] else math.nan for k in range(len(blocks))])
    rows = []
    for k, block in enumerate(blocks):
        a, b = shares[0][k], shares[1][k]
        off = abs(b - a) > NULL_SHARE_POINTS
        rows.append({
            "metric": "null_block_share_difference",
            "scope": ", ".join(block),
            "value": b - a,
            "detail": f"NULL together in {a:.1%} of real rows, {b:.1%} of synthetic rows"
            + (f" (more than {NULL_SHARE_POINTS:.0%} apart)" if off else ""),
        })
    return pd.DataFrame(rows, columns=_METRIC_COLUMNS)


def finite_number(value: Any) -> bool:
    """Whether ``value`` is a finite number (False for None, NaN, infinities and what is not a number)."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _summary_stats(
    db: Database, name: str, spec: TableSpec, cols: list[ColumnSpec]
) -> dict[str, dict[tuple[str, Any], float]]:
    t = db.table(name)
    numeric = [c for c in cols if c.kind in NUMERIC_KINDS]
    categorical = [c for c in cols if c.kind in _CATEGORY_KINDS]

    # Query 1: row count, NULL counts and moments of every column.
    metrics: dict[str, ibis.Value] = {"n": t.count()}
    for i, col in enumerate(cols):
        metrics[f"null{i}"] = t[col.name].isnull().sum().coalesce(0)
        if col.kind in NUMERIC_KINDS:
            x = numeric_value(t[col.name], col.kind).cast("float64")
            metrics.update({f"min{i}": x.min(), f"max{i}": x.max(), f"count{i}": x.count()})
    moments = t.aggregate(**metrics).to_pyarrow().to_pylist()[0]
    n = int(moments["n"])
    moments.update(_exact_moments(db, t, [(i, c) for i, c in enumerate(cols) if c.kind in NUMERIC_KINDS], moments))

    # Query 2: the QQ plots' quantiles of every numeric column (deciles and tails), all columns together.
    quantiles = column_quantiles(db, name, numeric) if numeric else {}

    # Query 3: category counts, over the real table's categories (values outside them land in the NULL cell).
    counts = AggregateStore(db, name, spec).marginals([(c.name,) for c in categorical]) if categorical else []
    by_name = {c.name: v for c, v in zip(categorical, counts, strict=True)}

    out: dict[str, dict[tuple[str, Any], float]] = {}
    for i, col in enumerate(cols):
        nulls = int(moments[f"null{i}"])
        stats: dict[tuple[str, Any], float] = {("null_share", None): _share(nulls, n)}
        if col.kind in NUMERIC_KINDS:
            for key in ("min", "max", "mean", "sd"):
                stats[(key, None)] = _float(moments[f"{key}{i}"])
            values = quantiles.get(col.name, [None] * len(QQ_PROBS))
            for p, q in zip(QQ_PROBS[1:-1], values[1:-1], strict=True):  # min and max are the moments' above
                stats[(quantile_label(p), None)] = _float(q)
        else:
            cells = by_name[col.name]
            for category, count in zip(col.categories or (), cells[:-1], strict=True):
                stats[("share", category)] = _share(int(count), n)
            stats[("share_other", None)] = _share(int(cells[-1]) - nulls, n)
        out[col.name] = stats
    return out


def quantile_label(p: float) -> str:
    """A quantile's statistic name: ``p0.1``, ``p10``, ``p99.9`` (``min`` and ``max`` for 0 and 1)."""
    return "min" if p == 0 else "max" if p == 1 else f"p{100 * p:g}"


def column_quantiles(
    con: Database | Any, table: str, columns: Sequence[ColumnSpec], probs: Sequence[float] = QQ_PROBS
) -> dict[str, list[float]]:
    """The discrete quantiles at ``probs`` of each numeric column of ``table``, computed in the database: the
    quantiles of :func:`column_summary` and of the report's QQ plots.

    Dates are measured as epoch days and timestamps as epoch microseconds (:func:`~synthsql.schema.numeric_value`),
    every value as a double. A quantile is a value of the data, the smallest whose cumulative count reaches p · n
    (SQL's ``percentile_disc``; p = 0 is the minimum, p = 1 the maximum), NULLs left out: the same bits on every
    backend. All columns are searched together by exact histogram refinement
    (:func:`~synthsql.quantiles.batch_quantiles`): a few aggregate queries over the table in bounded memory, whatever
    the number of columns, and never a row in Python. A column without a value is left out; a DOUBLE column's NaN
    and infinities take the ranks SQL orders them at.

    >>> import synthsql as ss
    >>> db = ss.connect("duckdb://")
    >>> _ = db.backend.raw_sql("CREATE TABLE t AS SELECT i % 250 AS x, 'a' AS c FROM range(1000) r(i)")
    >>> column_quantiles(db, "t", ss.describe(db, "t").columns, probs=(0, 0.001, 0.5, 0.999, 1))
    {'x': [0.0, 0.0, 124.0, 249.0, 249.0]}
    """
    db = connect(con)
    numeric = [c for c in columns if c.kind in NUMERIC_KINDS]
    if not numeric:
        return {}
    t = db.table(table)
    values = {c.name: numeric_value(t[c.name], c.kind).cast("float64") for c in numeric}
    found = batch_quantiles(db, t, values, list(probs))
    return {c.name: [float(v) for v in found[c.name]] for c in numeric if found[c.name] is not None}


def _exact_moments(
    db: Database, t: ibis.Table, numeric: Sequence[tuple[int, ColumnSpec]], moments: Mapping[str, Any]
) -> dict[str, float | None]:
    """``mean<i>`` and ``sd<i>`` (sample standard deviation) of each numeric column, the same bits on every run.

    A database adds doubles in an order of its own, so a plain ``AVG`` or ``STDDEV`` changed in its last bits from
    run to run on a parallel aggregate. Here each value's distance d = x - p from the midpoint p of the column's
    range (read before, with the min and max) is scaled by 2^(62 - e), where 2^e bounds |d|, rounded to an integer,
    and so is d² at 2^(62 - 2e); the integers are summed exactly (:meth:`~synthsql.engines.Engine.integer_sum`) and
    the mean p + Σd/n and variance (Σd² - (Σd)²/n) / (n - 1) computed with fractions. Centring on p keeps the
    variance free of cancellation; rounding costs at most 2^(e - 63) a value (2^(2e - 63) a square).
    """
    out: dict[str, float | None] = {}
    scales: dict[int, tuple[float, int]] = {}
    sums: list[exp.Expression] = []
    engine = db.engine
    for i, col in numeric:
        count = int(moments[f"count{i}"] or 0)
        low, high = moments[f"min{i}"], moments[f"max{i}"]
        if count == 0 or low is None or not (math.isfinite(low) and math.isfinite(high)):
            out[f"mean{i}"] = None if count == 0 else float("nan")
            out[f"sd{i}"] = None if count < 2 else float("nan")
            continue
        middle = low / 2 + high / 2  # no overflow near the largest doubles
        spread = max(high - middle, middle - low)
        if spread == 0:
            out[f"mean{i}"], out[f"sd{i}"] = float(low), (0.0 if count > 1 else None)
            continue
        exponent = min(max(math.frexp(spread)[1], -400), 500)  # spread < 2**exponent (d² stays a finite double)
        scales[i] = (middle, exponent)
        d = exp.column(f"d{i}", quoted=True)
        one = _sql_times(d, 2.0 ** (62 - exponent))
        two = _sql_times(exp.Mul(this=d.copy(), expression=d.copy()), 2.0 ** (62 - 2 * exponent))
        sums.append(exp.alias_(engine.integer_sum(engine.round_integer(one)), f"s1_{i}", quoted=True))
        sums.append(exp.alias_(engine.integer_sum(engine.round_integer(two)), f"s2_{i}", quoted=True))
    if not sums:
        return out
    distances = {  # the midpoint written so that every engine reads exactly that double
        f"d{i}": numeric_value(t[c.name], c.kind).cast("float64") - _exact_literal(scales[i][0])
        for i, c in numeric
        if i in scales
    }
    values = exp.Subquery(this=db.compile(t.select(**distances)), alias=exp.TableAlias(this=exp.to_identifier("v")))
    tree = exp.select(*sums).from_(values)
    (row,) = db.fetchall(tree)
    totals = dict(zip([s.alias for s in sums], row, strict=True))
    for i, (middle, exponent) in scales.items():
        count = int(moments[f"count{i}"])
        s1 = Fraction(int(totals[f"s1_{i}"] or 0)) / Fraction(2) ** (62 - exponent)
        s2 = Fraction(int(totals[f"s2_{i}"] or 0)) / Fraction(2) ** (62 - 2 * exponent)
        out[f"mean{i}"] = float(Fraction(middle) + s1 / count)
        out[f"sd{i}"] = math.sqrt(max(float((s2 - s1 * s1 / count) / (count - 1)), 0.0)) if count > 1 else None
    return out


# --------------------------------------------------------------------------------------------------------------
# Per-column distances
# --------------------------------------------------------------------------------------------------------------
def column_distances(
    con: Database | Any,
    real: str,
    synthetic: str,
    spec: TableSpec,
    /,
    *,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """How far apart each column's distribution is in the two tables, one or two numbers per column.

    Rows ``(metric, scope, value, detail)``, ``scope`` being the column:

    * ``tvd`` for a categorical or boolean column: the total variation distance of its 1-way marginal,
      TVD = ½ Σ_x |p_real(x) − p_syn(x)| over the real table's categories and a NULL cell (which also holds values
      outside those categories), as :func:`~synthsql.metrics.utility.marginal_tvd` with ``k=1``;
    * ``ks`` for a numeric-kind column: the two-sample Kolmogorov–Smirnov statistic
      D = max_x |F_real(x) − F_syn(x)|, F being the empirical distribution function of the non-NULL values
      (as ``scipy.stats.ks_2samp(...).statistic``);
    * ``wasserstein1`` for a numeric-kind column: the Wasserstein-1 (earth mover's) distance
      W1 = ∫ |F_real(x) − F_syn(x)| dx, in the column's unit (epoch days for dates, microseconds for timestamps;
      as ``scipy.stats.wasserstein_distance``).

    KS and W1 are computed in the database in one query for all numeric columns: the value counts of each table
    (``GROUP BY`` column and value) are stacked, cumulative sums by window functions over the sorted distinct
    values give both distribution functions, and one aggregate per column takes the largest |difference| (KS,
    compared in whole numbers, so it is exact) and the sum of |difference| × the gap to the next distinct value (W1).
    A column that is NULL throughout in either table gets NaN. ``spec`` is the real table's description;
    ``columns`` restricts the rows (default: every modelled column).

    >>> import synthsql as ss
    >>> db = ss.connect("duckdb://")
    >>> _ = db.backend.raw_sql("CREATE TABLE a AS SELECT i AS x FROM range(10) r(i)")
    >>> _ = db.backend.raw_sql("CREATE TABLE b AS SELECT i + 2 AS x FROM range(10) r(i)")
    >>> column_distances(db, "a", "b", ss.describe(db, "a"))[["metric", "value"]].values.tolist()
    [['ks', 0.2], ['wasserstein1', 2.0]]
    """
    db = connect(con)
    cols = _columns(db, real, synthetic, spec, columns)
    categorical = [c for c in cols if c.kind in _CATEGORY_KINDS]
    numeric = [c for c in cols if c.kind in NUMERIC_KINDS]

    tvds: dict[str, tuple[float, int]] = {}
    if categorical:
        sets = [(c.name,) for c in categorical]
        real_counts = AggregateStore(db, real, spec).marginals(sets)
        syn_counts = AggregateStore(db, synthetic, spec).marginals(sets)
        for col, a, b in zip(categorical, real_counts, syn_counts, strict=True):
            tvds[col.name] = (tvd(a, b), a.size)
    ecdf = _ecdf_distances(db, real, synthetic, numeric) if numeric else {}

    rows: list[dict[str, Any]] = []
    for col in cols:
        if col.kind in _CATEGORY_KINDS:
            value, cells = tvds[col.name]
            rows.append({"metric": "tvd", "scope": col.name, "value": value, "detail": f"{cells} cells"})
            continue
        ks, w1, n_real, n_syn = ecdf[col.name]
        counts = f"{n_real} vs {n_syn} non-NULL values"
        unit = f", in {_UNITS[col.kind]}" if col.kind in _UNITS else ""
        rows.append({"metric": "ks", "scope": col.name, "value": ks, "detail": counts})
        rows.append({"metric": "wasserstein1", "scope": col.name, "value": w1, "detail": counts + unit})
    return pd.DataFrame(rows, columns=_METRIC_COLUMNS)


def _ecdf_distances(
    db: Database, real: str, synthetic: str, cols: list[ColumnSpec]
) -> dict[str, tuple[float, float, int, int]]:
    """KS and W1 of every column in ``cols``: (ks, w1, non-NULL real values, non-NULL synthetic values).

    Exact, over every distinct value: the database counts each value in both tables and sorts the counts, one value
    range at a time for large tables, and the two empirical CDFs are accumulated over that sorted stream one batch at
    a time, so memory is bounded whatever the number of distinct values (a window function over them, and one sort
    of all of them, ran out of memory at 10M rows).
    """
    out: dict[str, tuple[float, float, int, int]] = {}
    for col in cols:
        sides = []
        for name, real_side in ((real, True), (synthetic, False)):
            t = db.table(name)
            x = numeric_value(t[col.name], col.kind).cast("float64")
            one, zero = ibis.literal(1, type="int64"), ibis.literal(0, type="int64")
            sides.append(t.select(v=x, a=one if real_side else zero, b=zero if real_side else one))
        stacked = ibis.union(*sides, distinct=False).filter(ibis._.v.notnull())
        na, nb = (int(db.backend.execute(db.table(name)[col.name].count())) for name in (real, synthetic))
        if not (na and nb):
            out[col.name] = (math.nan, math.nan, na, nb)
            continue
        # DuckDB's sort of the value counts ran out of memory past ~10M distinct values (memory_limit 500MB), so
        # large tables are cut into value ranges at quantiles of the real column, each counted and sorted alone.
        chunks = math.ceil((na + nb) / _ECDF_CHUNK_ROWS)
        bounds: list[Any] = []
        if chunks > 1:
            probs = [k / chunks for k in range(1, chunks)]
            found = db.quantiles(sides[0].filter(ibis._.v.notnull()), "v", probs)[None]
            bounds = sorted({float(q) for q in found if q is not None})
        edges = [None, *bounds, None]

        def stream(edges: list[Any] = edges, stacked: ibis.Table = stacked) -> Iterator[pa.RecordBatch]:
            for lo, hi in zip(edges, edges[1:], strict=False):
                part = stacked
                if lo is not None:
                    part = part.filter(part.v > lo)
                if hi is not None:
                    part = part.filter(part.v <= hi)
                merged = part.group_by("v").agg(a=ibis._.a.sum().cast("int64"), b=ibis._.b.sum().cast("int64"))
                yield from db.stream(db.compile(merged.order_by("v")), _ECDF_SCHEMA, _ECDF_BATCH)

        ks, w1 = _ecdf_stream(stream(), na, nb)
        out[col.name] = (ks, w1, na, nb)
    return out


_ECDF_SCHEMA = pa.schema([("v", pa.float64()), ("a", pa.int64()), ("b", pa.int64())])
_ECDF_BATCH = 500_000
_ECDF_CHUNK_ROWS = 5_000_000  # rows of both tables per sorted value range


def _ecdf_stream(batches: Iterable[pa.RecordBatch], na: int, nb: int) -> tuple[float, float]:
    """KS and W1 from (value, real count, synthetic count) rows in value order, one batch at a time.

    KS in whole numbers: |nb * (na F_real) - na * (nb F_syn)| = na nb |F_real - F_syn|, exact in int64 (below
    about 3e9 rows a side). W1 sums |F_real - F_syn| times the gap to the next value (none after the last value,
    where both CDFs are 1).
    """
    ca = cb = 0  # counts up to the end of the previous batch
    ks = 0
    w1 = 0.0
    carry: tuple[float, float] | None = None  # the previous batch's last value and its |F_real - F_syn|
    for batch in batches:
        if not batch.num_rows:
            continue
        v = batch.column("v").to_numpy(zero_copy_only=False)
        a = np.cumsum(batch.column("a").to_numpy(zero_copy_only=False), dtype=np.int64) + ca
        b = np.cumsum(batch.column("b").to_numpy(zero_copy_only=False), dtype=np.int64) + cb
        ks = max(ks, int(np.abs(a * nb - b * na).max()))
        diff = np.abs(a / na - b / nb)
        if carry is not None:
            w1 += carry[1] * (v[0] - carry[0])
        w1 += float(np.sum(diff[:-1] * np.diff(v)))
        carry, ca, cb = (float(v[-1]), float(diff[-1])), int(a[-1]), int(b[-1])
    return float(Fraction(ks, na * nb)), float(w1)


# --------------------------------------------------------------------------------------------------------------
# Edit rules
# --------------------------------------------------------------------------------------------------------------
def check_rules(
    con: Database | Any,
    real: str,
    synthetic: str,
    rules: Iterable[Rule | Mapping[str, Any]],
    /,
) -> pd.DataFrame:
    """Violations of edit rules in the real and in the synthetic table (Drechsler et al. 2024, fit for purpose).

    ``rules`` are :class:`Rule` objects or mappings with ``name``, ``condition`` and optionally ``when`` (as a
    catalog lists them). Returns one row per rule and table, in rule order, real before synthetic, with columns
    ``rule``, ``table`` (``"real"`` or ``"synthetic"``), ``rows`` (all rows), ``applicable`` (rows where ``when`` is
    TRUE, all rows without ``when``), ``violations``, ``unknown`` and ``rate``.

    NULLs follow SQL's three-valued logic, read the way edit rules are: a row is *applicable* only when ``when`` is
    TRUE (a NULL ``when`` is not applicable, as in a ``WHERE`` clause); an applicable row *violates* the rule unless
    the condition is TRUE, so a NULL condition counts as a violation (the rule could not be confirmed; write
    ``x IS NULL OR ...`` to allow NULLs). ``unknown`` counts the applicable rows whose condition is NULL, the part of
    ``violations`` that is due to NULLs. ``rate`` = violations / applicable (NaN with no applicable row).

    Each table is checked in one query: two ``COUNT(CASE WHEN ... THEN 1 END)`` per rule over the table, built as a
    sqlglot tree around the table's compiled Ibis expression, identifiers quoted.

    >>> import synthsql as ss
    >>> db = ss.connect("duckdb://")
    >>> _ = db.backend.raw_sql("CREATE TABLE a AS SELECT i - 2 AS age FROM range(10) r(i)")
    >>> check_rules(db, "a", "a", [Rule("age", "age >= 0")])[["table", "violations", "rate"]].values.tolist()
    [['real', 2, 0.2], ['synthetic', 2, 0.2]]
    """
    db = connect(con)
    parsed = [r if isinstance(r, Rule) else Rule.from_json(r) for r in rules]
    seen: set[str] = set()
    for rule in parsed:
        if rule.name in seen:
            raise InvalidParameterError(f"Two edit rules are named {rule.name!r}; rule names must be unique.")
        seen.add(rule.name)
    tables = {"real": real, "synthetic": synthetic}
    counts = {role: _rule_counts(db, name, parsed) for role, name in tables.items()}
    rows = []
    for i, rule in enumerate(parsed):
        for role in tables:
            n, applicable, violations, unknown = counts[role][0], *counts[role][1][i]
            rows.append(
                {
                    "rule": rule.name,
                    "table": role,
                    "rows": n,
                    "applicable": applicable,
                    "violations": violations,
                    "unknown": unknown,
                    "rate": violations / applicable if applicable else math.nan,
                }
            )
    return pd.DataFrame(rows, columns=["rule", "table", "rows", "applicable", "violations", "unknown", "rate"])


def _rule_counts(db: Database, name: str, rules: list[Rule]) -> tuple[int, list[tuple[int, int, int]]]:
    table = db.table(name)
    columns = list(table.schema().names)
    selections: list[exp.Expression] = [exp.alias_(exp.Count(this=exp.Star()), "n", quoted=True)]
    for i, rule in enumerate(rules):
        condition, when = rule._bound(columns, name)
        applies = exp.paren(when, copy=False) if when is not None else exp.true()
        holds = exp.paren(condition, copy=False)
        counts = {
            "applicable": applies,
            # An applicable row violates the rule unless the condition is TRUE: NULL counts as a violation.
            "violations": exp.and_(applies, exp.not_(exp.func("COALESCE", holds, exp.false()))),
            "unknown": exp.and_(applies, exp.Is(this=holds.copy(), expression=exp.null())),
        }
        for label, predicate in counts.items():
            case = exp.Case(ifs=[exp.If(this=predicate, true=exp.Literal.number(1))])
            selections.append(exp.alias_(exp.Count(this=case), f"{label}{i}", quoted=True))
    source = exp.Subquery(this=db.compile(table), alias=exp.TableAlias(this=exp.to_identifier("t", quoted=True)))
    (row,) = db.fetchall(exp.select(*selections).from_(source))
    values = [int(v) for v in row]
    return values[0], [tuple(values[1 + 3 * i : 4 + 3 * i]) for i in range(len(rules))]


# --------------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------------
def _columns(
    db: Database, real: str, synthetic: str, spec: TableSpec, names: Sequence[str] | None
) -> list[ColumnSpec]:
    if names is None:
        cols = spec.modelled
    else:
        cols = [spec.column(n) for n in names]  # raises, with a suggestion, for a name not in the spec
        for col in cols:
            if not col.modelled:
                raise InvalidParameterError(f"Column {col.name!r} is not modelled (kind {col.kind!r}).")
    for name in (real, synthetic):
        present = db.table(name).schema().names
        for col in cols:
            if col.name not in present:
                raise ColumnNotFoundError(
                    f"Column {col.name!r} is not in table {name!r}.{did_you_mean(col.name, present)}"
                )
    return cols


def _share(count: int, n: int) -> float:
    return count / n if n else math.nan


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)

