"""A self-contained HTML report of a synthetic table: plots first, numbers beside them, nothing to download.

:func:`render_report` draws what an evaluation holds and computes in the database what it lacks (one-way marginals
through :class:`~synthsql.aggregates.AggregateStore`, two-way TVDs through :func:`~synthsql.metrics.utility.marginal_tvd`,
the quantiles of numeric columns through :func:`column_quantiles`, and :func:`~synthsql.evaluate` when no evaluation
is given) and returns one HTML document with eight sections:

1. **Summary**: the tables, their rows, the method and its parameters, (epsilon, delta) for a differentially private
   model, and the key figures (mean two-way TVD, k-marginal score, pMSE ratios, headline risk numbers), each with a
   one-line reading in plain language.
2. **Columns**: for each modelled column a bar chart of the share of rows in each cell (categories or bins, and the
   NULL cell), real and synthetic side by side, with the column's TVD (and KS, Wasserstein-1 for numeric columns) in
   the caption; identifier and excluded columns are listed as such. Under each numeric column a QQ plot of the two
   tables' quantiles from the minimum through p0.1, p1, p5, the deciles, p95, p99 and p99.9 to the maximum, so that
   the tails show (on log axes for a non-negative column with a long upper tail, :func:`qq_scale`), beside a table of
   the same statistics.
3. **Edit rules**: each rule of the evaluation with its text, and the records that break it in each table (count
   and share); a rule every real record meets and some synthetic record breaks is flagged.
4. **Pairs**: a heatmap of the TVD of every two-way marginal, with a colour scale, values in tooltips.
5. **Regression**: per GLM formula a forest plot of the real and synthetic confidence intervals, and a table with
   their overlap (Karr et al. 2006) and standardised difference.
6. **Disclosure risk**: the risk rows of the evaluation with a plain-language explanation of each measure, values
   that call for attention highlighted.
7. **Privacy ledger**: each noisy measurement of a differentially private model (step, columns, mechanism, rho,
   sigma) with the totals.
8. **Catalog**: the YAML catalog the table was built from, when given.

The file works offline: CSS is inline, plots are inline SVG drawn here, there is no script, font or image to fetch.
Every name and value that comes from the data is escaped.
"""

from __future__ import annotations

import datetime as dt
import html
import itertools
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from synthsql.aggregates import AggregateStore
from synthsql.connection import Database, connect
from synthsql.metrics.fitness import QQ_PROBS, column_quantiles, finite_number, quantile_label, statistic_flag
from synthsql.metrics.registry import GROUPS, METRICS, base_name, metric_info
from synthsql.metrics.utility import marginal_tvd, tvd
from synthsql.rules import Rule
from synthsql.schema import NUMERIC_KINDS, ColumnSpec, TableSpec
from synthsql.verdict import Verdict, judge

if TYPE_CHECKING:
    from synthsql.evaluate import Evaluation
    from synthsql.model import Model

__all__ = ["QQ_PROBS", "RISK_EXPLANATIONS", "column_quantiles", "qq_scale", "render_report", "write_report"]

REAL = "#2c6fbb"  # blue
SYNTHETIC = "#e07b24"  # orange
MAX_BARS = 30  # categories shown per column; the rest are pooled into one bar
MAX_BINS = 60  # numeric cells shown per column; beyond that, neighbours are merged
LABEL_CHARS = 22
TICK_CHAR = 6.5  # width of a tick label's character at 11px, generously
#: A column's upper tail is long when q99 - q50 is more than this multiple of q50 - q1 (a quantile skewness
#: (q99 + q1 - 2 q50) / (q99 - q1) above 0.5; 1 for a symmetric distribution).
TAIL_RATIO = 3.0
#: ... and its positive values span more than this factor (the largest over the smallest positive quantile).
LOG_SPAN = 10.0

#: What each risk measure means, from the metric registry (:mod:`synthsql.metrics.registry`).
RISK_EXPLANATIONS: dict[str, str] = {m.name: m.explanation for m in METRICS.values() if m.group == "risk"}
_PERCENT_METRICS = {m.name for m in METRICS.values() if m.unit == "percent"}
_COUNT_METRICS = {m.name for m in METRICS.values() if m.unit == "count"}
_RISK_GROUPS = [
    ("Identity disclosure: unique records", ("UiO", "UiS", "repU", "key_match")),
    ("Copies of original records", ("exact_matches", "exact_match_pct", "unique_exact_matches",
                                    "unique_exact_match_pct")),
    ("Equivalence classes on the keys", ("classes", "class_size_min", "class_size_median", "class_size_max",
                                         "k_anonymity_classes", "k_anonymity_rows", "l_diversity_min",
                                         "l_diversity_below2_pct")),
    ("Attribute disclosure", ("Dorig", "DiSCO", "DiSDiO", "baseCAPd", "CAPd", "DCAP", "TCAP", "TCAP_records")),
    ("Distance to closest record and membership inference",
     ("dcr_median", "dcr_p05", "dcr_zero_share", "nndr_median", "dcr_holdout_median", "dcr_holdout_p05",
      "closer_to_training_share", "membership_auc")),
    ("Attribute inference", ("inference_risk", "inference_risk_ci_low", "inference_risk_ci_high",
                             "inference_attack_rate", "inference_control_rate")),
    ("Expected match risk (partial synthesis)", ("expected_match_risk", "expected_match_risk_pct",
                                                 "true_match_rate", "false_match_rate", "targets",
                                                 "unique_matches", "true_matches", "false_matches", "no_matches")),
]


# --------------------------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------------------------
def render_report(
    con: Database | Any,
    /,
    *,
    real: str,
    synthetic: str,
    spec: TableSpec,
    evaluation: Evaluation | None = None,
    model: Model | None = None,
    catalog: str | Mapping[str, Any] | os.PathLike[str] | None = None,
    title: str | None = None,
    thresholds: Mapping[str, Any] | None = None,
    rules: Iterable[Rule | Mapping[str, Any]] | None = None,
) -> str:
    """The HTML report on ``synthetic`` against ``real``, as one self-contained document (a string).

    ``spec`` is the real table's description (its cells are the plots' cells); ``evaluation`` an
    :class:`~synthsql.evaluate.Evaluation` (computed with ``evaluate(..., write=False)`` when omitted; its ``glm``
    rows give the regression section and its ``risk`` rows, when it has them, the risk section); ``model`` the fitted
    model (method, parameters, and for a differentially private one the budget and ledger); ``catalog`` the YAML
    catalog as text, a mapping, or a path to the file; ``thresholds`` the catalog table's own thresholds for the
    verdict (:func:`synthsql.verdict.judge`) that opens the report; ``rules`` the edit rules the evaluation checked
    (:class:`~synthsql.rules.Rule` objects or catalog mappings; default: the model's), whose texts the rule table
    shows beside the evaluation's violation counts.

    The QQ plots' quantiles are those of the evaluation's column summary
    (:func:`~synthsql.metrics.fitness.column_summary` keeps them), so a report drawn from an evaluation, stored or
    fresh, reads nothing from the database but what the evaluation lacks; a summary without them (stored by an
    earlier version) has them computed there (:func:`column_quantiles`).

    >>> import synthsql as ss
    >>> db = ss.connect("duckdb://")
    >>> _ = db.backend.raw_sql("CREATE TABLE t AS SELECT i % 7 AS g, i % 3 = 0 AS b FROM range(200) r(i)")
    >>> spec = ss.describe(db, "t")
    >>> model = ss.fit(db, "t", method="independent", spec=spec, seed=1)
    >>> _ = ss.materialize(db, model, "t_syn", seed=1)
    >>> evaluation = ss.evaluate(db, real="t", synthetic="t_syn", spec=spec, pmse=["cells"], write=False)
    >>> page = render_report(db, real="t", synthetic="t_syn", spec=spec, evaluation=evaluation, model=model)
    >>> page.startswith("<!DOCTYPE html>"), page.count('class="column-chart"')
    (True, 2)
    """
    db = connect(con)
    if evaluation is None:
        from synthsql.pipeline import evaluate

        evaluation = evaluate(db, real=real, synthetic=synthetic, spec=spec, write=False)
    modelled = list(spec.modelled)
    stored = getattr(evaluation, "rows", None) is not None and {c.name for c in modelled} <= set(evaluation.one_way)
    if stored:  # read with the metrics (or stored beside them): no query here
        rows = evaluation.rows
        one_way = [[evaluation.one_way[c.name][i] for c in modelled] for i in (0, 1)]
        pairs = evaluation.pairs if len(modelled) >= 2 else pd.DataFrame()
    else:
        stores = AggregateStore(db, real, spec), AggregateStore(db, synthetic, spec)
        rows = stores[0].count_rows(), stores[1].count_rows()
        singles = [(c.name,) for c in modelled]
        one_way = [s.marginals(singles) if singles else [] for s in stores]
        pairs = marginal_tvd(db, real, synthetic, spec, k=2) if len(modelled) >= 2 else pd.DataFrame()
    utility = _frame(getattr(evaluation, "utility", None))
    risk = _frame(getattr(evaluation, "risk", None))
    glm = _frame(getattr(evaluation, "glm", None))
    columns = _frame(getattr(evaluation, "columns", None))
    column_tvd = {c.name: tvd(a, b) for c, a, b in zip(modelled, one_way[0], one_way[1], strict=True)}
    verdict = judge(utility, risk, thresholds=thresholds)
    levels = _levels(verdict)
    quantiles = _summary_quantiles(columns, modelled)
    if quantiles is None:  # an evaluation whose column summary lacks them (stored by an earlier version)
        quantiles = column_quantiles(db, real, modelled), column_quantiles(db, synthetic, modelled)
    texts = _rule_texts(rules if rules is not None else getattr(model, "rules", ()) or ())

    heading = title or f"Synthetic data report: {synthetic}"
    sections = [
        _summary(real, synthetic, spec, rows, model, utility, risk, pairs, column_tvd, verdict, levels),
        _columns_section(spec, modelled, one_way, utility, columns, column_tvd, quantiles),
        _rules_section(_frame(getattr(evaluation, "rules", None)), texts, levels),
        _pairs_section(modelled, pairs),
        _glm_section(glm, utility, levels),
        _risk_section(risk, levels),
        _privacy_section(model),
        _catalog_section(catalog),
    ]
    nav = "".join(f'<a href="#{key}">{label}</a>' for key, label in _SECTIONS)
    from synthsql import __version__

    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(heading)}</title><style>{_CSS}</style></head>\n<body>\n"
        f'<header><h1>{_e(heading)}</h1><p class="sub">{_e(synthetic)} against {_e(real)} · synthsql {__version__}'
        f"</p><nav>{nav}</nav></header>\n<main>\n" + "\n".join(sections) + "\n</main>\n"
        '<footer>Computed in the database by synthsql: only aggregates (counts, TVDs, quantiles, model fits, risk '
        "counts) were read; no row of either table is in this file except as a category or bin label, or as a "
        "quantile of a numeric column (its minimum and maximum included).</footer>\n"
        "</body></html>\n"
    )


def write_report(path: str | os.PathLike[str], con: Database | Any, /, **kwargs: Any) -> Path:
    """Write :func:`render_report` (same keyword arguments) to ``path`` as UTF-8 and return the path."""
    path = Path(path)
    text = render_report(con, **kwargs)
    path.write_text(text, encoding="utf-8")
    return path


_SECTIONS = [
    ("summary", "Summary"),
    ("columns", "Columns"),
    ("rules", "Edit rules"),
    ("pairs", "Pairs"),
    ("glm", "Regression"),
    ("risk", "Disclosure risk"),
    ("privacy", "Privacy ledger"),
    ("catalog", "Catalog"),
]


# --------------------------------------------------------------------------------------------------------------
# Formatting helpers
# --------------------------------------------------------------------------------------------------------------
def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _frame(value: Any) -> pd.DataFrame:
    return value if isinstance(value, pd.DataFrame) else pd.DataFrame()


def _num(value: Any, digits: int = 4) -> str:
    """A number for a table: NaN as a dash, integers without decimals, others to ``digits`` significant digits."""
    if not finite_number(value):
        return "—"
    x = float(value)
    if x == int(x) and abs(x) < 1e15:
        return f"{int(x):,}"
    if 10 ** digits <= abs(x) < 1e15:
        return f"{x:,.0f}"
    return f"{x:,.{digits}g}" if abs(x) >= 1e-3 else f"{x:.{digits}g}"


def _pct(share: float, digits: int = 1) -> str:
    return "—" if not finite_number(share) else f"{100 * share:.{digits}f}%"


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _value_label(x: float, kind: str) -> str:
    """A bin edge as the column's values read: a date, a timestamp, an integer or a short decimal."""
    if kind == "date":
        try:
            return (dt.date(1970, 1, 1) + dt.timedelta(days=x)).isoformat()
        except OverflowError:
            return f"{x:g}"
    if kind == "timestamp":
        try:
            moment = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=x)
        except OverflowError:
            return f"{x:g}"
        return moment.isoformat(sep=" ", timespec="seconds" if moment.second or moment.microsecond else "minutes")
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.6g}"


def cell_labels(col: ColumnSpec) -> list[str]:
    """The label of each cell of ``col``, the NULL cell last: categories, points ``5`` and intervals ``[1, 2)``.

    >>> from synthsql.schema import Bin
    >>> cell_labels(ColumnSpec(name="x", kind="numeric", bins=(Bin(0, 0), Bin(0, 1000), Bin(1000, 2500.5))))
    ['0', '[0, 1000)', '[1000, 2500.5]', 'NULL']
    """
    if col.kind in NUMERIC_KINDS:
        bins = col.bins or ()
        top = max(b.hi for b in bins)
        labels = []
        for b in bins:
            if b.is_point:
                labels.append(_value_label(b.lo, col.kind))
            else:
                close = "]" if b.hi == top else ")"
                labels.append(f"[{_value_label(b.lo, col.kind)}, {_value_label(b.hi, col.kind)}{close}")
    else:
        labels = [
            ("true" if v else "false") if isinstance(v, (bool, np.bool_)) else str(v) for v in col.categories or ()
        ]
    return [*labels, "NULL"]


# --------------------------------------------------------------------------------------------------------------
# 1. Summary
# --------------------------------------------------------------------------------------------------------------
def _metric(frame: pd.DataFrame, name: str, scope: str | None = None) -> tuple[float, str] | None:
    if frame.empty or "metric" not in frame:
        return None
    hit = frame[frame["metric"] == name]
    if scope is not None:
        hit = hit[hit["scope"] == scope]
    if hit.empty:
        return None
    row = hit.iloc[0]
    return float(row["value"]), str(row.get("detail", ""))


def _reading_tvd(v: float) -> str:
    quality = "close to" if v < 0.05 else "moderately different from" if v < 0.15 else "far from"
    return (f"On average {_pct(v)} of the synthetic rows would have to move to another cell for a two-way table to "
            f"match the real one: the synthetic pairs are {quality} the real ones (0 is identical).")


def _reading_pmse(v: float) -> str:
    if v <= 3:
        return "A classifier separates the tables hardly better than chance (about 1 is ideal)."
    if v <= 10:
        return "A classifier can tell the tables apart somewhat (about 1 is ideal)."
    return "A classifier tells the synthetic rows from the real ones easily (about 1 is ideal)."


def _summary(
    real: str,
    synthetic: str,
    spec: TableSpec,
    rows: tuple[int, int],
    model: Any,
    utility: pd.DataFrame,
    risk: pd.DataFrame,
    pairs: pd.DataFrame,
    column_tvd: Mapping[str, float],
    verdict: Verdict,
    levels: Levels,
) -> str:
    info = [
        ("Real table", f"<code>{_e(real)}</code>, {rows[0]:,} rows"),
        ("Synthetic table", f"<code>{_e(synthetic)}</code>, {rows[1]:,} rows"),
        ("Columns", f"{len(spec.columns)} ({len(spec.modelled)} modelled)"),
    ]
    if model is not None:
        params = getattr(model, "params", {}) or {}
        text = ", ".join(f"{_e(k)}={_e(v)}" for k, v in params.items()) or "defaults"
        seed = getattr(model, "seed", None)
        info.append(("Method", f"<b>{_e(getattr(model, 'generator', '') or type(model).__name__)}</b> ({text})"
                     + (f", seed {_e(seed)}" if seed is not None else "")))
        epsilon, delta = getattr(model, "epsilon", None), getattr(model, "delta", None)
        if epsilon is not None:
            privacy = getattr(model, "privacy", None) or {}
            dp = f"differentially private, <b>ε = {_num(epsilon)}</b>, δ = {_e(f'{delta:.3g}')}"
            if "rho" in privacy:
                dp += f" (zCDP ρ = {_num(privacy['rho'])})"
            if not _differentially_private(privacy):
                dp = ("<b>NOT differentially private</b>: the noise was seeded (noise: reproducible) and can be "
                      f"removed by whoever knows the noise seed; budget ε = {_num(epsilon)}, δ = {_e(f'{delta:.3g}')}")
            info.append(("Privacy", dp))
        else:
            info.append(("Privacy", "not differentially private"))
        rules = getattr(model, "rules", ())
        if rules:
            drawn, kept = getattr(model, "rows_drawn", 0), getattr(model, "rows_kept", 0)
            cost = (f"; {drawn - kept:,} of {drawn:,} drawn rows broke one and were redrawn ({(drawn - kept) / drawn:.2%})"
                    if drawn else "")
            info.append(("Edit rules", f"{len(rules)} enforced while sampling ({_e(', '.join(r.name for r in rules))})"
                         + cost))
    else:
        info.append(("Method", "not given (pass <code>model=</code>)"))
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in info)

    cards: list[tuple[str, str, str, str]] = []  # (label, value, reading, level)
    mean2 = _metric(utility, "tvd_2way_mean")
    if mean2 is None and not pairs.empty:
        mean2 = (float(pairs["value"].mean()), "")
    if mean2 is not None:
        cards.append(("Mean 2-way TVD", _num(mean2[0], 3), _reading_tvd(mean2[0]),
                      _card_level(levels, "tvd_2way_mean", "table")))
    score = _metric(utility, "k_marginal_score")
    if score is None and mean2 is not None:
        score = (1000 * (1 - mean2[0]), "")
    if score is not None:
        cards.append(("k-marginal score", f"{score[0]:.0f} / 1000",
                      "1000 when every two-way table of the synthetic data matches the real one exactly.", ""))
    if column_tvd:
        worst = max(column_tvd, key=lambda k: column_tvd[k])
        worst_tvd = column_tvd[worst]
        reading = (f"Its distribution differs by TVD {_num(worst_tvd, 3)} ({_pct(worst_tvd)} of the rows in another "
                   "cell).")
        cards.append(("Worst column", _e(_short(worst)), reading, ""))
    for name, label in (("s_pmse_cells", "pMSE ratio (cells)"), ("s_pmse_cart", "pMSE ratio (CART)"),
                        ("s_pmse_logit", "pMSE ratio (logistic)")):
        hit = _metric(utility, name)
        if hit is None:
            continue
        if finite_number(hit[0]):
            cards.append((label, _num(hit[0], 3), _reading_pmse(hit[0]), _card_level(levels, name, "table")))
        else:
            cards.append((label, "—", _short(hit[1], 160), ""))
    cards += _risk_cards(risk, levels)
    figures = "".join(
        f'<div class="card {level}"><div class="label">{label}</div><div class="value">{value}</div>'
        f'<div class="reading">{_e(reading)}</div></div>'
        for label, value, reading, level in cards
    )
    return (
        '<section id="summary"><h2>Summary</h2>' + _verdict_block(verdict)
        + f'<table class="info">{table}</table><div class="cards">{figures}</div></section>'
    )


#: Where the rows behind each group of the verdict are shown.
_GROUP_SECTION = {"fit_for_purpose": "columns", "global": "pairs", "outcome_specific": "glm", "risk": "risk"}
MAX_VERDICT_ROWS = 40  # problems listed under the verdict; the rest are counted


def _section_of(metric: str, group: str) -> str:
    """The section that shows a verdict row: the group's, the rule table for an edit rule."""
    return "rules" if metric == "rule_violation_rate" else _GROUP_SECTION[group]


def _card_level(levels: Levels, metric: str, scope: str) -> str:
    level = levels.get((metric, scope), (None, ""))[0]
    return {"pass": "good", "warn": "fair", "fail": "poor"}.get(level or "", "")


def _verdict_block(verdict: Verdict) -> str:
    """The verdict that opens the report: the release's level, each group's, and the rows that warn or fail."""
    groups = []
    for group, label in GROUPS.items():
        level = verdict.groups[group]
        problems = verdict.problems(group)
        judged = int((verdict.rows["group"] == group).sum())
        count = (f"{len(problems)} of {judged} judged rows warn or fail" if len(problems)
                 else f"{judged} judged rows, all pass" if judged else "nothing judged")
        groups.append(f'<tr><th><a href="#{_GROUP_SECTION[group]}">{_e(label)}</a></th>'
                      f'<td>{_badge(level)}</td><td class="detail">{_e(count)}</td></tr>')
    problems = verdict.problems()
    rows = []
    for r in problems.head(MAX_VERDICT_ROWS).itertuples(index=False):
        explain = metric_info(r.metric).explanation
        rows.append(f'<tr class="{"bad" if r.level == "fail" else "warn"}"><td>{_badge(r.level)}</td>'
                    f'<td><a href="#{_section_of(r.metric, r.group)}">'
                    f'<code title="{_e(explain)}">{_e(r.metric)}</code></a>'
                    f'</td><td>{_scope(r.scope)}</td><td class="detail">{_e(r.why)}</td></tr>')
    more = len(problems) - MAX_VERDICT_ROWS
    listing = (
        '<table class="data verdict-rows"><tr><th>level</th><th>metric</th><th>scope</th><th>why</th></tr>'
        + "".join(rows) + "</table>"
        + (f'<p class="note">… and {more} more rows that warn or fail (in the sections below).</p>' if more > 0 else "")
        if rows else ""
    )
    notes = "".join(f'<p class="note">{_e(n)}</p>' for n in verdict.notes)
    return (
        f'<div class="verdict {_e(verdict.overall.replace(" ", "-"))}"><div class="label">Verdict</div>'
        f'<div class="value">{_e(verdict.overall.upper())}</div><div class="reading">From the thresholds of the '
        "metric registry (<code>synthsql.metrics.METRICS</code>), or the catalog table's own <code>thresholds</code>. "
        "A row passes inside its good range, warns inside its acceptable range and fails outside it; a group takes "
        "its worst row, the release its worst group.</div></div>"
        f'<table class="info verdict-groups">{"".join(groups)}</table>{notes}{listing}'
    )


def _badge(level: str) -> str:
    return f'<span class="badge {_e(level.replace(" ", "-"))}">{_e(level)}</span>'


def _risk_cards(risk: pd.DataFrame, levels: Levels) -> list[tuple[str, str, str, str]]:
    if risk.empty or "metric" not in risk:
        return [("Disclosure risk", "—", "Not measured in this evaluation; see the risk section.", "")]
    lookup = _risk_lookup(risk)
    cards = []

    def worst(metric: str) -> tuple[str, float] | None:
        hits = [(s, v) for (m, s), v in lookup.items() if m == metric and finite_number(v)]
        return max(hits, key=lambda h: h[1]) if hits else None

    rep = worst("repU")
    if rep is not None:
        uio = lookup.get(("UiO", rep[0]), math.nan)
        level = _risk_level(levels, "repU", rep[0])[0]
        reading = (f"of original records are unique on the keys and unique in the synthetic data too "
                   f"(unique in the original: {uio:.2f}%).")
        cards.append(("Replicated uniques", f"{rep[1]:.2f}%", reading, _css_level(level)))
    disco = worst("DiSCO")
    if disco is not None:
        level = _risk_level(levels, "DiSCO", disco[0])[0]
        reading = (f"of original records have their {disco[0].split(' | ')[0]} correctly disclosed by the "
                   "synthetic data from their keys.")
        cards.append(("DiSCO (highest target)", f"{disco[1]:.2f}%", reading, _css_level(level)))
    copies = worst("unique_exact_match_pct")
    if copies is not None:
        level = _risk_level(levels, "unique_exact_match_pct", copies[0])[0]
        cards.append(("Unique records copied", f"{copies[1]:.2f}%",
                      "of the original's unique records appear unchanged in the synthetic data.", _css_level(level)))
    for metric, label, text in (
        ("membership_auc", "Membership AUC", "0.5 means an attacker cannot tell who was in the training data."),
        ("closer_to_training_share", "Closer to training",
         "Share of synthetic records nearer the training rows than the holdout; 0.5 is ideal."),
        ("inference_risk", "Attribute inference (highest)",
         "Attacker's gain over guessing for people outside the data; 0 is no gain."),
        ("expected_match_risk_pct", "Expected match risk", "Expected correct re-identifications, % of targets."),
    ):
        hit = worst(metric)
        if hit is not None:
            level = _risk_level(levels, metric, hit[0])[0]
            value = f"{hit[1]:.2f}%" if metric in _PERCENT_METRICS else f"{hit[1]:.3f}"
            cards.append((label, value, text, _css_level(level)))
    return cards


def _css_level(level: str | None) -> str:
    return {"high": "poor", "elevated": "fair"}.get(level or "", "good")


# --------------------------------------------------------------------------------------------------------------
# 2. Columns
# --------------------------------------------------------------------------------------------------------------
def _columns_section(
    spec: TableSpec,
    modelled: Sequence[ColumnSpec],
    one_way: Sequence[Sequence[np.ndarray]],
    utility: pd.DataFrame,
    columns: pd.DataFrame,
    column_tvd: Mapping[str, float],
    quantiles: tuple[Mapping[str, Sequence[float]], Mapping[str, Sequence[float]]] = ({}, {}),
) -> str:
    per_column: dict[str, dict[str, float]] = {}
    if not utility.empty and "metric" in utility:
        for r in utility[utility["metric"].isin(["ks", "wasserstein1", "tvd"])].itertuples(index=False):
            per_column.setdefault(str(r.scope), {})[str(r.metric)] = float(r.value)
    cards = []
    for col, real, syn in zip(modelled, one_way[0], one_way[1], strict=True):
        labels = cell_labels(col)
        stats = columns[columns["column"] == col.name] if not columns.empty and "column" in columns else None
        labels[-1] = _null_label(stats, real, syn)
        shown, a, b = _chart_cells(col, labels, real, syn)
        caption = [f"TVD {_num(column_tvd[col.name], 3)}"]
        known = per_column.get(col.name, {})
        if "ks" in known:
            caption.append(f"KS {_num(known['ks'], 3)}")
        if "wasserstein1" in known:
            caption.append(f"Wasserstein-1 {_num(known['wasserstein1'], 4)}")
        note = "" if len(shown) == col.cells else f" · {col.cells} cells, shown as {len(shown)}"
        svg = _bar_chart(col.name, shown, a, b, (int(real.sum()), int(syn.sum())))
        role = f' <span class="badge">{_e(col.role)}</span>' if col.role else ""
        pair = (quantiles[0].get(col.name), quantiles[1].get(col.name)) if col.kind in NUMERIC_KINDS else None
        table = _stats_table(col, stats, pair)
        detail = f'<div class="dist">{_qq_figure(col, *pair)}{table}</div>' if pair is not None else table
        cards.append(
            f'<figure class="column"><h3>{_e(col.name)} <span class="kind">{_e(col.kind)}</span>{role}</h3>{svg}'
            f"<figcaption>{' · '.join(caption)}{_e(note)}</figcaption>{detail}</figure>"
        )
    others = [c for c in spec.columns if not c.modelled]
    listed = ""
    if others:
        what = {
            "identifier": "identifier or free text: not modelled; the synthetic table holds surrogate values",
            "excluded": "excluded: not modelled; left NULL in the synthetic table",
        }
        items = "".join(f"<li><code>{_e(c.name)}</code> — {_e(what.get(c.kind, c.kind))}</li>" for c in others)
        listed = f'<div class="note"><b>Columns not modelled</b><ul class="unmodelled">{items}</ul></div>'
    legend = (f'<p class="legend"><span class="swatch" style="background:{REAL}"></span>real '
              f'<span class="swatch" style="background:{SYNTHETIC}"></span>synthetic · share of rows in each cell '
              "(category or bin; the last cell holds NULLs and values outside the described domain). Hover a bar "
              "for its numbers. TVD is half the sum of the absolute share differences over all cells: the share of "
              "rows in another cell. Under each numeric column, a QQ plot: each point is one quantile, the real "
              "table's on the horizontal axis and the synthetic table's on the vertical, at the minimum, p0.1, p1, "
              "p5, the deciles, p95, p99, p99.9 and the maximum (hollow points: the minimum and maximum); on the "
              "dashed diagonal the two agree, above it the synthetic quantile is larger. Quantiles are discrete, "
              "values of the data (the smallest value whose cumulative share reaches p), NULLs left out, computed "
              f"in the database. Both axes are logarithmic for an integer or numeric column whose real values are "
              f"non-negative with a long upper tail (q99 − q50 more than {TAIL_RATIO:g} × (q50 − q1)) over more "
              f"than a factor of {LOG_SPAN:g} (largest over smallest positive quantile); when either table has a "
              "zero or a negative value there, the axes are a symmetric log, sign(x)·log10(1 + |x|/c), linear "
              "below c, the power of ten at or below the smallest positive quantile.</p>")
    return (f'<section id="columns"><h2>Columns: real and synthetic distributions</h2>{legend}'
            f'<div class="grid">{"".join(cards)}</div>{listed}</section>')


def _null_label(stats: pd.DataFrame | None, real: np.ndarray, syn: np.ndarray) -> str:
    """``NULL`` when the last cell holds only NULLs in both tables, else ``NULL / outside``."""
    if stats is None or stats.empty:
        return "NULL"
    row = stats[stats["statistic"] == "null_share"]
    if row.empty:
        return "NULL"
    for share, counts in ((row.iloc[0]["real"], real), (row.iloc[0]["synthetic"], syn)):
        total = counts.sum()
        if finite_number(share) and total and abs(counts[-1] / total - float(share)) > 0.5 / total:
            return "NULL / outside"
    return "NULL"


def _chart_cells(
    col: ColumnSpec, labels: list[str], real: np.ndarray, syn: np.ndarray
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The cells drawn: all of them, or for a long domain the largest categories / merged neighbouring bins."""
    real, syn = real.astype(float), syn.astype(float)
    n = len(labels) - 1
    if col.kind in NUMERIC_KINDS and n > MAX_BINS:
        size = math.ceil(n / MAX_BINS)
        groups = [range(i, min(i + size, n)) for i in range(0, n, size)]
        bins = col.bins or ()
        top = max(b.hi for b in bins)
        merged = []
        for g in groups:
            lo, hi = bins[g[0]].lo, max(bins[i].hi for i in g)
            close = "]" if hi == top else ")"
            merged.append(f"[{_value_label(lo, col.kind)}, {_value_label(hi, col.kind)}{close}")
        return ([*merged, labels[-1]], np.array([real[list(g)].sum() for g in groups] + [real[-1]]),
                np.array([syn[list(g)].sum() for g in groups] + [syn[-1]]))
    if col.kind not in NUMERIC_KINDS and n > MAX_BARS:
        share = real[:-1] / max(real.sum(), 1) + syn[:-1] / max(syn.sum(), 1)
        keep = sorted(np.argsort(-share, kind="stable")[: MAX_BARS - 1].tolist(), key=lambda i: -real[i])
        rest = sorted(set(range(n)) - set(keep))
        return ([*(labels[i] for i in keep), f"({len(rest)} other categories)", labels[-1]],
                np.array([*(real[i] for i in keep), real[rest].sum(), real[-1]]),
                np.array([*(syn[i] for i in keep), syn[rest].sum(), syn[-1]]))
    return labels, real, syn


def _nice_top(m: float) -> tuple[float, float]:
    """The top of a share axis and its tick step."""
    if m <= 0:
        return 1.0, 0.25
    for step in (0.01, 0.02, 0.05, 0.1, 0.2, 0.25):
        if m / step <= 5:
            return min(1.0, math.ceil(m / step - 1e-9) * step), step
    return 1.0, 0.25


def _bar_chart(name: str, labels: Sequence[str], real: np.ndarray, syn: np.ndarray, totals: tuple[int, int]) -> str:
    n = len(labels)
    p = real / totals[0] if totals[0] else real * 0
    q = syn / totals[1] if totals[1] else syn * 0
    group = 28.0 if n <= 12 else 20.0 if n <= 30 else 12.0
    shown = [_short(label) for label in labels]
    longest = max(len(s) for s in shown)
    rotate = longest * 6.2 > group - 2
    plot_w = max(260.0, n * group)
    gx = plot_w / n
    # A label rotated by 45 degrees reaches about 0.72 of its length to the left of its bar.
    left = max(46.0, len(shown[0]) * TICK_CHAR * 0.72 - gx / 2 + 6) if rotate else 46.0
    top_pad, plot_h = 26.0, 150.0
    bottom = (min(longest, LABEL_CHARS) * TICK_CHAR * 0.72 + 26) if rotate else 34.0
    width, height = left + plot_w + 10, top_pad + plot_h + bottom
    top, step = _nice_top(float(max(p.max(initial=0), q.max(initial=0))))
    bw = max(1.5, (gx - 4) / 2)
    out = [
        (
            f'<svg class="column-chart" data-column="{_e(name)}" xmlns="http://www.w3.org/2000/svg" '
            f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img">'
            f"<title>{_e(name)}: share of rows per cell, real and synthetic</title>"
        )
    ]
    ticks = round(top / step)
    for k in range(ticks + 1):
        y = top_pad + plot_h - plot_h * (k * step) / top
        out.append(f'<line class="gl" x1="{left}" x2="{left + plot_w:.1f}" y1="{y:.1f}" y2="{y:.1f}"/>'
                   f'<text class="tick" x="{left - 4}" y="{y + 3.5:.1f}" text-anchor="end">{100 * k * step:g}%</text>')
    for i, label in enumerate(labels):
        x0 = left + i * gx + (gx - 2 * bw) / 2
        hr, hs = plot_h * p[i] / top, plot_h * q[i] / top
        tip = (f"{label}: real {_pct(p[i], 2)} ({int(real[i]):,} rows), synthetic {_pct(q[i], 2)} "
               f"({int(syn[i]):,} rows)")
        out.append(
            f"<g><title>{_e(tip)}</title>"
            f'<rect x="{x0:.1f}" y="{top_pad + plot_h - hr:.1f}" width="{bw:.1f}" height="{hr:.1f}" fill="{REAL}"/>'
            f'<rect x="{x0 + bw:.1f}" y="{top_pad + plot_h - hs:.1f}" width="{bw:.1f}" height="{hs:.1f}" '
            f'fill="{SYNTHETIC}"/></g>'
        )
        cx, ly = left + (i + 0.5) * gx, top_pad + plot_h + 12
        if rotate:
            out.append(f'<text class="tick" transform="translate({cx:.1f},{ly - 4:.1f}) rotate(-45)" '
                       f'text-anchor="end">{_e(shown[i])}</text>')
        else:
            out.append(f'<text class="tick" x="{cx:.1f}" y="{ly:.1f}" text-anchor="middle">{_e(shown[i])}</text>')
    out.append(f'<line class="axis" x1="{left}" x2="{left + plot_w:.1f}" y1="{top_pad + plot_h}" '
               f'y2="{top_pad + plot_h}"/>')
    out.append(f'<text class="axis-title" transform="translate(11,{top_pad + plot_h / 2:.1f}) rotate(-90)" '
               'text-anchor="middle">share of rows</text>')
    out.append(f'<text class="axis-title" x="{left + plot_w / 2:.1f}" y="{height - 4:.1f}" '
               f'text-anchor="middle">{_e(_short(name, 60))}</text>')
    lx = left + plot_w - 150
    out.append(f'<rect x="{lx:.1f}" y="6" width="10" height="10" fill="{REAL}"/>'
               f'<text class="tick" x="{lx + 14:.1f}" y="15">real</text>'
               f'<rect x="{lx + 60:.1f}" y="6" width="10" height="10" fill="{SYNTHETIC}"/>'
               f'<text class="tick" x="{lx + 74:.1f}" y="15">synthetic</text></svg>')
    return "".join(out)


def _stats_table(
    col: ColumnSpec,
    stats: pd.DataFrame | None,
    quantiles: tuple[Sequence[float] | None, Sequence[float] | None] | None = None,
) -> str:
    """The summary statistics of a numeric column side by side: those of the evaluation's ``columns`` frame, and
    the tail quantiles (p0.1, p1, p5, p95, p99, p99.9) of the QQ plot's."""
    if col.kind not in NUMERIC_KINDS:
        return ""
    wanted = ["mean", "sd", "min", "p0.1", "p1", "p5", "p10", "p50", "p90", "p95", "p99", "p99.9", "max",
              "null_share"]
    by: dict[str, Mapping[str, Any]] = {}
    if quantiles is not None:
        for i, p in enumerate(QQ_PROBS):
            a, b = (q[i] if q is not None else math.nan for q in quantiles)
            by[_p_label(p)] = {"real": a, "synthetic": b}
    if stats is not None and not stats.empty:
        by.update({r["statistic"]: r for r in stats.to_dict("records")})
    cells = []
    for key in wanted:
        if key not in by:
            continue
        r = by[key]
        if key == "null_share":
            a, b = _pct(r["real"], 2), _pct(r["synthetic"], 2)
        elif key == "sd" and col.kind in ("date", "timestamp"):  # epoch days or microseconds: in days
            per_day = 1 if col.kind == "date" else _DAY_US
            a, b = (f"{_num(float(v) / per_day)} days" if finite_number(v) else "—"
                    for v in (r["real"], r["synthetic"]))
        elif key == "sd" or col.kind not in ("date", "timestamp"):
            a, b = _num(r["real"]), _num(r["synthetic"])
        else:
            a = _value_label(float(r["real"]), col.kind) if finite_number(r["real"]) else "—"
            b = _value_label(float(r["synthetic"]), col.kind) if finite_number(r["synthetic"]) else "—"
        why = statistic_flag(col.kind, key, float(r["real"]), float(r["synthetic"]))
        flag = f' class="flag" title="{_e(why)}"' if why else ""
        cells.append(f"<tr{flag}><th>{_e(key)}</th><td>{_e(a)}</td><td>{_e(b)}{' ⚠' if why else ''}</td></tr>")
    if not cells:
        return ""
    return f'<table class="stats"><tr><th></th><th>real</th><th>synthetic</th></tr>{"".join(cells)}</table>'


# --------------------------------------------------------------------------------------------------------------
# 2b. Quantiles of numeric columns: QQ plots
# --------------------------------------------------------------------------------------------------------------
def _summary_quantiles(
    columns: pd.DataFrame, modelled: Sequence[ColumnSpec]
) -> tuple[dict[str, list[float]], dict[str, list[float]]] | None:
    """The QQ quantiles of each numeric column in both tables, read from the evaluation's column summary, as
    :func:`column_quantiles` gives them (a table in which the column has no value leaves it out); None when the
    summary lacks one of them."""
    numeric = [c for c in modelled if c.kind in NUMERIC_KINDS]
    if not numeric:
        return {}, {}
    if columns.empty or not {"column", "statistic", "real", "synthetic"} <= set(columns.columns):
        return None
    rows = columns[columns["category"].isna()] if "category" in columns else columns
    found = {(r["column"], r["statistic"]): r for r in rows.to_dict("records")}
    out: tuple[dict[str, list[float]], dict[str, list[float]]] = ({}, {})
    for col in numeric:
        wanted = [found.get((col.name, quantile_label(p))) for p in QQ_PROBS]
        share = found.get((col.name, "null_share"))
        if share is None or any(r is None for r in wanted):
            return None
        for side, into in (("real", out[0]), ("synthetic", out[1])):
            if finite_number(share[side]) and float(share[side]) < 1:  # the column has a value in this table
                into[col.name] = [float(r[side]) for r in wanted]
    return out


def qq_scale(kind: str, real: Sequence[float], synthetic: Sequence[float]) -> tuple[str, float, str]:
    """``(scale, c, why)``: the axes of a QQ plot of a column of ``kind`` from its quantiles at :data:`QQ_PROBS`.

    ``"log"`` for an integer or numeric column whose real values are non-negative (the real minimum is at least 0),
    with a long upper tail, q99 − q50 > :data:`TAIL_RATIO` · (q50 − q1), and positive values spanning more than a
    factor :data:`LOG_SPAN` (the largest quantile of either table over the smallest positive one), when every
    quantile of both tables is positive; ``"symlog"`` for such a column when a quantile of either table is zero or
    negative (zero-inflated amounts, or synthetic values below the real range): sign(x) · log10(1 + |x| / c), linear
    below ``c``, the power of ten at or below the smallest positive quantile. Otherwise, and always for dates and
    timestamps, ``"linear"``. ``why`` says which in words, with the tail ratio.

    >>> probs = dict(zip(QQ_PROBS, range(len(QQ_PROBS)), strict=True))
    >>> def quantiles(q1, q50, q99, low=0.0, high=None):
    ...     values = [q1] * len(QQ_PROBS)
    ...     values[0] = low if low is not None else q1
    ...     for p, i in probs.items():
    ...         values[i] = q50 if 0.1 <= p <= 0.9 else q99 if p > 0.9 else values[i]
    ...     values[-1] = high if high is not None else q99
    ...     return values
    >>> qq_scale("numeric", quantiles(70, 520, 2200, low=50), quantiles(70, 500, 2500, low=50))[:2]  # wage-like
    ('log', 1.0)
    >>> qq_scale("numeric", quantiles(0, 2500, 44000), quantiles(0, 2400, 40000))[:2]  # zero-inflated income
    ('symlog', 1000.0)
    >>> qq_scale("integer", quantiles(4, 12, 18), quantiles(4, 12, 18))[0]  # education in years
    'linear'
    """
    if kind not in ("integer", "numeric"):
        return "linear", 1.0, "linear axes (dates and times)"
    at = dict(zip(QQ_PROBS, real, strict=True))
    q1, q50, q99 = at[0.01], at[0.5], at[0.99]
    values = [float(v) for v in (*real, *synthetic) if finite_number(v)]
    if not all(finite_number(v) for v in (q1, q50, q99)) or not values:
        return "linear", 1.0, "linear axes"
    ratio = (q99 - q50) / (q50 - q1) if q50 > q1 else math.inf if q99 > q50 else math.nan
    tail = (f"q99 − q50 = {_num(ratio, 3)} × (q50 − q1)" if finite_number(ratio)
            else "q1 = q50 < q99" if ratio == math.inf else "q1 = q50 = q99")
    positive = [v for v in values if v > 0]
    span = max(positive) / min(positive) if positive else 1.0
    skewed = ratio > TAIL_RATIO and not any(v < 0 for v in real) and span > LOG_SPAN
    if not skewed:
        return "linear", 1.0, f"linear axes ({tail})"
    if min(values) > 0:
        return "log", 1.0, f"log axes: a long upper tail ({tail}), quantiles spanning a factor of {_num(span, 3)}"
    c = 10.0 ** math.floor(math.log10(min(positive)))
    below = "negative values" if min(values) < 0 else "zeros"
    return "symlog", c, f"symmetric log axes, linear below {_num(c)}: a long upper tail ({tail}) and {below}"


@dataclass(frozen=True)
class _Axis:
    """A QQ plot's scale (both axes share it): where a value lies, in the transformed units, and the ticks."""

    scale: str  # "linear", "log" or "symlog"
    c: float
    kind: str  # the column's kind: dates and timestamps get date labels

    def f(self, x: float) -> float:
        if self.scale == "log":
            return math.log10(x)
        if self.scale == "symlog":
            return math.copysign(math.log10(1 + abs(x) / self.c), x)
        return x

    def ticks(self, lo: float, hi: float) -> list[tuple[float, str]]:
        """The ticks in ``[lo, hi]`` (values, not transformed) with their labels."""
        if self.scale == "log":
            values = _log_ticks(lo, hi)
        elif self.scale == "symlog":
            values = _symlog_ticks(lo, hi, self.c)
        elif self.kind in ("date", "timestamp"):
            return _time_ticks(lo, hi, self.kind)
        else:
            values = _linear_ticks(lo, hi)
        for digits in range(3, 17):  # as many digits as it takes for the labels to differ
            labels = [_tick_label(v, digits) for v in values]
            if len(set(labels)) == len(labels):
                break
        return list(zip(values, labels, strict=True))


def _tick_label(x: float, digits: int = 3) -> str:
    return _num(x, digits) if x == 0 or abs(x) >= 1e-3 else f"{x:.{digits}g}"


def _linear_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / target
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    places = 1 - math.floor(math.log10(step))  # the decimals of a multiple of step (1, 2, 2.5 or 5 times 10^k)
    return [round(k * step, places) + 0.0 for k in range(first, last + 1)]


def _thin(values: list[float], most: int = 6) -> list[float]:
    """Every k-th of ``values`` so that at most ``most`` are left."""
    return values[:: math.ceil(len(values) / most)] if len(values) > most else values


def _log_ticks(lo: float, hi: float) -> list[float]:
    """Powers of ten in ``[lo, hi]`` (lo > 0), with 2 and 5 times them where fewer than three powers fit."""
    first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    decades = [10.0**k for k in range(first, last + 1) if lo <= 10.0**k <= hi]
    if len(decades) < 3:
        decades = [m * 10.0**k for k in range(first, last + 1) for m in (1, 2, 5) if lo <= m * 10.0**k <= hi]
    return _thin([float(f"{v:.12g}") for v in decades])


def _symlog_ticks(lo: float, hi: float, c: float) -> list[float]:
    """0 and ± powers of ten from c on, in ``[lo, hi]``."""
    top = max(abs(lo), abs(hi), c)
    powers = [c * 10.0**k for k in range(math.ceil(math.log10(top / c)) + 1)]
    values = sorted({0.0, *powers, *(-v for v in powers)})
    inside = [float(f"{v:.12g}") for v in values if lo <= v <= hi]
    if len(inside) > 6:  # keep 0 and thin the powers on each side
        positive, negative = [v for v in inside if v > 0], [v for v in inside if v < 0]
        inside = sorted({*_thin(negative[::-1], 3), *([0.0] if 0.0 in inside else []), *_thin(positive, 3)})
    return inside


_EPOCH = dt.date(1970, 1, 1)
_DAY_US = 86_400_000_000


def _time_ticks(lo: float, hi: float, kind: str) -> list[tuple[float, str]]:
    """Ticks of a date or timestamp axis (epoch days, epoch microseconds): years over three years or more, month
    starts over two months or more, else whole days (dates, timestamps over two days or more), else instants."""
    per_day = 1 if kind == "date" else _DAY_US
    days = hi / per_day - lo / per_day
    try:
        start, end = _EPOCH + dt.timedelta(days=math.floor(lo / per_day)), _EPOCH + dt.timedelta(days=hi // per_day)
    except OverflowError:
        return [(v, _value_label(v, kind)) for v in _linear_ticks(lo, hi)]
    if days >= 3 * 365.25:
        step = next(s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 500, 1000, 2000, 5000) if s >= days / 365.25 / 5)
        years = [y for y in range(math.ceil(start.year / step) * step, end.year + 1, step) if y >= 1]
        ticks = [((dt.date(y, 1, 1) - _EPOCH).days * per_day, str(y)) for y in years]
    elif days >= 60:
        first, last = start.year * 12 + start.month - 1, end.year * 12 + end.month - 1
        step = next(s for s in (1, 2, 3, 6, 12) if (last - first + 1) / s <= 6)
        months = [m for m in range(first, last + 1) if m % step == 0]
        ticks = [((dt.date(m // 12, m % 12 + 1, 1) - _EPOCH).days * per_day, f"{m // 12}-{m % 12 + 1:02d}")
                 for m in months]
    elif kind == "date" or days >= 2:
        ticks = [(d * per_day, _value_label(d, "date")) for d in _linear_ticks(lo / per_day, hi / per_day)
                 if d == int(d)]
    else:
        ticks = [(v, _value_label(v, kind)) for v in _linear_ticks(lo, hi)]
    return [(v, label) for v, label in ticks if lo <= v <= hi]


def _spaced(positions: Sequence[float], sizes: Sequence[float], gap: float = 6.0, first: int = 0) -> set[int]:
    """The indices of the labels kept so that no two overlap: labels centred at ``positions`` with extents ``sizes``
    along the axis, taken from index ``first`` (0 on a symmetric log axis) outwards, nearest first."""
    order = sorted(range(len(positions)), key=lambda i: (abs(i - first), i))
    kept: list[int] = []
    for i in order:
        if all(abs(positions[i] - positions[j]) >= (sizes[i] + sizes[j]) / 2 + gap for j in kept):
            kept.append(i)
    return set(kept)


def _p_label(p: float) -> str:
    """A probability's name: ``min``, ``p0.1``, ``p50``, ``max``."""
    return quantile_label(p)


def _quantile_text(x: float, kind: str) -> str:
    if not finite_number(x):
        return str(x)
    return _value_label(x, kind) if kind in ("date", "timestamp") else _num(x, 6)


def _qq_figure(col: ColumnSpec, real: Sequence[float] | None, synthetic: Sequence[float] | None) -> str:
    """A column's QQ plot and, under it, what its axes are; a note when a table has no value of the column."""
    if real is None or synthetic is None:
        empty = " and ".join(name for name, q in (("real", real), ("synthetic", synthetic)) if q is None)
        return f'<div class="qq"><div class="qq-note">No QQ plot: the {empty} table has no value here.</div></div>'
    scale, c, why = qq_scale(col.kind, real, synthetic)
    svg, dropped = _qq_plot(col.name, real, synthetic, _Axis(scale, c, col.kind))
    note = _e(why[0].upper() + why[1:]) + "."
    if dropped:
        note += f" {dropped} quantile{'s are' if dropped > 1 else ' is'} NaN or infinite in a table, not drawn."
    return f'<div class="qq">{svg}<div class="qq-note">{note}</div></div>'


def _qq_plot(name: str, real: Sequence[float], synthetic: Sequence[float], axis: _Axis) -> tuple[str, int]:
    """The SVG of a QQ plot (real quantiles across, synthetic up, the diagonal dashed) and the quantiles left out."""
    points = [(p, float(a), float(b)) for p, a, b in zip(QQ_PROBS, real, synthetic, strict=True)
              if finite_number(a) and finite_number(b)]
    dropped = len(QQ_PROBS) - len(points)
    if not points:
        return "", dropped
    lo = min(min(a, b) for _, a, b in points)
    hi = max(max(a, b) for _, a, b in points)
    ticks = axis.ticks(lo, hi)
    lo_t, hi_t = axis.f(lo), axis.f(hi)
    if hi_t - lo_t <= 0:  # one value in both tables
        lo_t, hi_t = lo_t - 1, hi_t + 1
        ticks = [(v, label) for v, label in ticks if lo_t <= axis.f(v) <= hi_t]
    pad = (hi_t - lo_t) * 0.04
    lo_t, hi_t = lo_t - pad, hi_t + pad
    plot = 230.0
    widest = max((len(label) for _, label in ticks), default=1) * TICK_CHAR
    left, top = 22 + widest + 6, 26.0
    right = max(12.0, (len(ticks[-1][1]) if ticks else 0) * TICK_CHAR / 2 + 4)
    width, height = left + plot + right, top + plot + 40

    def sx(v: float) -> float:
        return left + plot * (axis.f(v) - lo_t) / (hi_t - lo_t)

    def sy(v: float) -> float:
        return top + plot - plot * (axis.f(v) - lo_t) / (hi_t - lo_t)

    head = (f'<svg class="qq-plot" data-column="{_e(name)}" data-scale="{axis.scale}" data-points="{len(points)}" '
            f'xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" role="img">'
            f"<title>{_e(name)}: quantiles of the synthetic table against the real table's ({axis.scale} axes)</title>")
    out = [head]
    # every tick has its grid lines; a label is left out where it would touch one kept already (long dates across,
    # the squeezed part of a symmetric log axis, whose 0 is kept first)
    zero = next((k for k, (v, _) in enumerate(ticks) if v == 0), 0)
    across = _spaced([sx(v) for v, _ in ticks], [len(label) * TICK_CHAR for _, label in ticks], first=zero)
    up = _spaced([sy(v) for v, _ in ticks], [11.0] * len(ticks), gap=2.0, first=zero)
    for k, (v, label) in enumerate(ticks):
        x, y = sx(v), sy(v)
        out.append(f'<line class="gl" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot}"/>'
                   f'<line class="gl" x1="{left:.1f}" x2="{left + plot}" y1="{y:.1f}" y2="{y:.1f}"/>')
        if k in up:
            out.append(f'<text class="tick" x="{left - 4:.1f}" y="{y + 3.5:.1f}" text-anchor="end">{_e(label)}</text>')
        if k in across:
            out.append(f'<text class="tick" x="{x:.1f}" y="{top + plot + 14:.1f}" text-anchor="middle">'
                       f"{_e(label)}</text>")
    out.append(f'<rect class="frame" x="{left:.1f}" y="{top}" width="{plot}" height="{plot}" fill="none"/>'
               f'<line class="zero" x1="{left:.1f}" y1="{top + plot}" x2="{left + plot:.1f}" y2="{top}"/>')
    path = " ".join(f"{sx(a):.1f},{sy(b):.1f}" for _, a, b in points)
    out.append(f'<polyline class="qq-line" points="{path}" fill="none" stroke="{SYNTHETIC}"/>')
    for p, a, b in points:
        tip = f"{_p_label(p)}: real {_quantile_text(a, axis.kind)}, synthetic {_quantile_text(b, axis.kind)}"
        hollow = p in (0.0, 1.0)
        out.append(f'<circle class="q" data-p="{p:g}" cx="{sx(a):.1f}" cy="{sy(b):.1f}" r="3.2" '
                   f'fill="{"#fff" if hollow else SYNTHETIC}" stroke="{SYNTHETIC}" stroke-width="1.3">'
                   f"<title>{_e(tip)}</title></circle>")
    out.append(f'<text class="axis-title" x="{left + plot / 2:.1f}" y="{height - 6:.1f}" text-anchor="middle">'
               "real quantile</text>"
               f'<text class="axis-title" transform="translate(11,{top + plot / 2:.1f}) rotate(-90)" '
               'text-anchor="middle">synthetic quantile</text>')
    out.append(f'<circle cx="{left + 5:.1f}" cy="11" r="3.2" fill="{SYNTHETIC}"/>'
               f'<text class="tick" x="{left + 13:.1f}" y="15">quantiles</text>'
               f'<line class="zero" x1="{left + 82:.1f}" x2="{left + 104:.1f}" y1="11" y2="11"/>'
               f'<text class="tick" x="{left + 109:.1f}" y="15">equal (y = x)</text></svg>')
    return "".join(out), dropped


# --------------------------------------------------------------------------------------------------------------
# 2c. Edit rules
# --------------------------------------------------------------------------------------------------------------
def _rule_texts(rules: Iterable[Rule | Mapping[str, Any]]) -> dict[str, Rule]:
    """The rules by name, from :class:`~synthsql.rules.Rule` objects or catalog mappings."""
    out = {}
    for r in rules:
        rule = r if isinstance(r, Rule) else Rule.from_json(r)
        out[rule.name] = rule
    return out


def _share(part: int, whole: int) -> str:
    """``part`` of ``whole`` as a percentage that never reads 0 for a part that is not: ``<0.01%``."""
    if not whole:
        return "—"
    share = part / whole
    return "<0.01%" if 0 < share < 0.0001 else f"{100 * share:.2f}%"


def _violations(r: Mapping[str, Any]) -> str:
    violations, applicable, unknown = int(r["violations"]), int(r["applicable"]), int(r.get("unknown", 0) or 0)
    text = f"{violations:,} of {applicable:,}<br>({_share(violations, applicable)})"
    if unknown:
        text += f'<div class="explain">{unknown:,} of them NULL</div>'
    return text


def _rules_section(frame: pd.DataFrame, texts: Mapping[str, Rule], levels: Levels) -> str:
    head = '<section id="rules"><h2>Edit rules</h2>'
    needed = {"rule", "table", "applicable", "violations"}
    if frame.empty or not needed <= set(frame.columns):
        return head + ('<p class="note">No edit rules were checked in this evaluation: pass <code>rules=[...]</code> '
                       "to <code>evaluate()</code> (or list them under the table's <code>rules</code> in the "
                       "catalog) to count the records each table breaks them with.</p></section>")
    rows = []
    for name, group in frame.groupby("rule", sort=False):
        by = {str(r["table"]): r for r in group.to_dict("records")}
        if not {"real", "synthetic"} <= set(by):
            continue
        real, syn = by["real"], by["synthetic"]
        rule = texts.get(str(name))
        if rule is None:
            text = '<span class="note" title="pass rules= to render_report, or the model that met them">—</span>'
        else:
            text = f"<code>{_e(rule.condition)}</code>"
            if rule.when is not None:
                text += f'<div class="explain">when <code>{_e(rule.when)}</code></div>'
        rate_real, rate_syn = (r["violations"] / r["applicable"] if r["applicable"] else math.nan for r in (real, syn))
        if int(real["violations"]) == 0 and int(syn["violations"]) > 0:
            cls, flag = "bad", ('<span class="flag high" title="the real records all meet this rule; synthetic '
                                'records break it">new</span>')
        elif int(syn["violations"]) > 0 and finite_number(rate_real) and rate_syn > rate_real:
            cls, flag = "warn", ('<span class="flag elevated" title="the synthetic records break this rule more '
                                 'often than the real ones">more often</span>')
        else:
            cls, flag = "", ""
        level = levels.get(("rule_violation_rate", str(name)), (None, ""))
        verdict = f'<span title="{_e(level[1])}">{_badge(level[0])}</span>' if level[0] else ""
        rows.append(f'<tr class="{cls}"><td><code>{_e(name)}</code> {flag}</td><td>{text}</td>'
                    f'<td class="num">{_violations(real)}</td><td class="num">{_violations(syn)}</td>'
                    f"<td>{verdict}</td></tr>")
    new = sum('class="bad"' in r for r in rows)
    summary = (f"<b>{new} of {len(rows)} rules</b> are met by every real record and broken by synthetic ones."
               if new else f"No rule of the {len(rows)} is broken by the synthetic records alone.")
    return (head + "<p>Each edit rule with the records that break it in each table: a rule applies to the rows "
            "where its <code>when</code> holds (all rows without one), and an applicable row breaks it unless its "
            "condition is TRUE, so a NULL condition counts (shown apart). Shares are of the applicable rows. "
            '<span class="flag high">new</span> marks a rule every real record meets and some synthetic record '
            'breaks, <span class="flag elevated">more often</span> one the synthetic records break at a higher rate; '
            f"the verdict judges the synthetic rate against the registry's thresholds. {summary}</p>"
            '<table class="data rules"><tr><th>rule</th><th>condition</th><th>real: violations</th>'
            f"<th>synthetic: violations</th><th>verdict</th></tr>{''.join(rows)}</table></section>")


# --------------------------------------------------------------------------------------------------------------
# 3. Two-way TVD heatmap
# --------------------------------------------------------------------------------------------------------------
_RAMP = [(0.0, (255, 247, 236)), (0.25, (253, 212, 158)), (0.5, (252, 141, 89)), (0.75, (215, 48, 31)),
         (1.0, (127, 0, 0))]


def _colour(t: float) -> str:
    t = min(1.0, max(0.0, t))
    for (a, ca), (b, cb) in itertools.pairwise(_RAMP):
        if t <= b:
            f = (t - a) / (b - a)
            return "#" + "".join(f"{round(x + f * (y - x)):02x}" for x, y in zip(ca, cb, strict=True))
    return "#7f0000"


def _pairs_section(modelled: Sequence[ColumnSpec], pairs: pd.DataFrame) -> str:
    names = [c.name for c in modelled]
    head = '<section id="pairs"><h2>Pairs: two-way marginal distances</h2>'
    if len(names) < 2 or pairs.empty:
        return head + '<p class="note">Fewer than two modelled columns: there is no two-way marginal.</p></section>'
    expected = list(itertools.combinations(names, 2))
    values = {pair: float(v) for pair, v in zip(expected, pairs["value"], strict=True)}
    details = {pair: str(d) for pair, d in zip(expected, pairs["detail"], strict=True)}
    vmax = next(s for s in (0.05, 0.1, 0.2, 0.3, 0.5, 1.0) if max(values.values()) <= s + 1e-12)
    d = len(names)
    cs = max(14.0, min(40.0, 560.0 / (d - 1)))
    short = [_short(n, 20) for n in names]
    lw = max(len(s) for s in short) * 6.3 + 10
    plot = cs * (d - 1)
    left, top = lw, 10.0
    bottom = max(len(s) for s in short) * 6.3 * 0.72 + 20
    inside = d >= 6  # the colour scale fits in the empty upper-right triangle
    width, height = left + plot + (30 if inside else 80), max(top + plot + bottom, 150.0)
    out = [(f'<svg class="heatmap" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" role="img"><title>TVD of each two-way marginal</title>')]
    show_text = cs >= 26
    for i in range(1, d):
        y = top + (i - 1) * cs
        out.append(f'<text class="tick" x="{left - 5:.1f}" y="{y + cs / 2 + 4:.1f}" text-anchor="end">'
                   f"{_e(short[i])}<title>{_e(names[i])}</title></text>")
        for j in range(i):
            v = values[(names[j], names[i])]
            x = left + j * cs
            tip = f"{names[j]} × {names[i]}: TVD {v:.4f} ({details[(names[j], names[i])]})"
            out.append(f'<rect class="cell" x="{x:.1f}" y="{y:.1f}" width="{cs - 1:.1f}" height="{cs - 1:.1f}" '
                       f'fill="{_colour(v / vmax)}"><title>{_e(tip)}</title></rect>')
            if show_text:
                ink = "#fff" if v / vmax > 0.55 else "#222"
                out.append(f'<text class="cell-text" x="{x + cs / 2 - 0.5:.1f}" y="{y + cs / 2 + 3.5:.1f}" '
                           f'text-anchor="middle" fill="{ink}">{v:.2f}</text>')
    for j in range(d - 1):
        cx, cy = left + j * cs + cs / 2, top + plot + 8
        out.append(f'<text class="tick" transform="translate({cx:.1f},{cy:.1f}) rotate(-45)" text-anchor="end">'
                   f"{_e(short[j])}<title>{_e(names[j])}</title></text>")
    lh = max(60.0, min(plot * 0.45, 200.0)) if inside else 100.0
    lx = left + plot - 40 if inside else left + plot + 16
    out.append('<defs><linearGradient id="tvd-scale" x1="0" y1="1" x2="0" y2="0">')
    out += [f'<stop offset="{t:.2f}" stop-color="{_colour(t)}"/>' for t in np.linspace(0, 1, 9)]
    out.append(f'</linearGradient></defs><rect x="{lx:.1f}" y="{top:.1f}" width="14" height="{lh:.1f}" '
               'fill="url(#tvd-scale)" stroke="#999" stroke-width="0.5"/>')
    for t in (0.0, 0.5, 1.0):
        y = top + lh - t * lh
        out.append(f'<text class="tick" x="{lx + 18:.1f}" y="{y + 4:.1f}">{t * vmax:g}</text>')
    out.append(f'<text class="tick" x="{lx:.1f}" y="{top + lh + 16:.1f}">TVD</text></svg>')
    worst = sorted(values.items(), key=lambda kv: -kv[1])[:5]
    rows = "".join(f"<tr><td>{_e(a)} × {_e(b)}</td><td>{v:.4f}</td><td>{_e(details[(a, b)])}</td></tr>"
                   for (a, b), v in worst)
    mean = float(np.mean(list(values.values())))
    return (head + f'<p>TVD of each of the {len(values)} two-way marginals (numeric columns by their bins, NULL a '
            f"cell of its own): 0 is identical, 1 disjoint. Mean {mean:.4f}, colour scale 0 to {vmax:g}. Hover a "
            f'square for its value.</p><div class="scroll">{"".join(out)}</div>'
            '<h3>Largest differences</h3><table class="data"><tr><th>pair</th><th>TVD</th><th>cells</th></tr>'
            f"{rows}</table></section>")


# --------------------------------------------------------------------------------------------------------------
# 4. GLM coefficients
# --------------------------------------------------------------------------------------------------------------
def _glm_level(utility: pd.DataFrame) -> float:
    if not utility.empty and "metric" in utility:
        hit = utility[utility["metric"] == "glm_ci_overlap"]
        for detail in hit["detail"]:
            found = re.search(r"(\d+(?:\.\d+)?)% intervals", str(detail))
            if found:
                return float(found.group(1)) / 100
    return 0.95


def _glm_section(glm: pd.DataFrame, utility: pd.DataFrame, levels: Levels) -> str:
    head = '<section id="glm"><h2>Regression: the same GLM on both tables</h2>'
    failed = utility[utility["metric"] == "glm_failed"] if not utility.empty and "metric" in utility else utility
    for r in failed.itertuples(index=False):
        head += (f'<p class="note bad">{_badge("fail")} <code>{_e(r.scope)}</code> could not be fitted on the '
                 f"synthetic table: {_e(r.detail)}</p>")
    needed = {"term", "coef_real", "se_real", "coef_synthetic", "se_synthetic"}
    if glm.empty or not needed <= set(glm.columns):
        if len(failed):
            return head + "</section>"
        return head + ('<p class="note">No GLM was fitted in this evaluation: pass <code>formulas=[...]</code> to '
                       "<code>evaluate()</code> to compare regression coefficients.</p></section>")
    from scipy import stats

    level = _glm_level(utility)
    z = float(stats.norm.ppf(0.5 + level / 2))
    frame = glm.copy()
    if "formula" not in frame:
        frame["formula"] = "model"
    if "family" not in frame:
        frame["family"] = "gaussian"
    parts = [head, (f"<p>Coefficients with {level:.0%} Wald confidence intervals, "
             f'<span class="swatch" style="background:{REAL}"></span>real and '
             f'<span class="swatch" style="background:{SYNTHETIC}"></span>synthetic. Each row has its own scale '
             "(its ends are labelled); the dashed line marks 0. CI overlap (Karr et al. 2006) is 1 for identical "
             "intervals and 0 or less when they do not meet; the standardised difference is |β_syn − β_real| / "
             "se_real.</p>")]
    for (formula, family), group in frame.groupby(["formula", "family"], sort=False):
        parts.append(f"<h3><code>{_e(formula)}</code> <span class=\"kind\">{_e(family)}</span></h3>")
        parts.append(f'<div class="scroll">{_forest(str(formula), group, z)}</div>')
        rows = []
        for r in group.to_dict("records"):
            overlap, diff = r.get("ci_overlap", math.nan), r.get("std_diff", math.nan)
            judged = levels.get(("glm_ci_overlap", f"{str(formula).strip()}: {r['term']}"), ("pass", ""))[0]
            cls = {"fail": "bad", "warn": "warn"}.get(judged, "")
            rows.append(
                f'<tr class="{cls}"><td>{_e(r["term"])}</td>'
                f"<td>{_num(r['coef_real'])} {_ci(r['coef_real'], r['se_real'], z)}</td>"
                f"<td>{_num(r['coef_synthetic'])} {_ci(r['coef_synthetic'], r['se_synthetic'], z)}</td>"
                f"<td>{_num(overlap, 3)}</td><td>{_num(diff, 3)}</td></tr>"
            )
        parts.append('<table class="data"><tr><th>term</th><th>real: coefficient (CI)</th>'
                     "<th>synthetic: coefficient (CI)</th><th>CI overlap</th><th>std. difference</th></tr>"
                     + "".join(rows) + "</table>")
    parts.append("</section>")
    return "".join(parts)


def _ci(coef: float, se: float, z: float) -> str:
    if not (finite_number(coef) and finite_number(se)):
        return ""
    return f'<span class="ci">[{_num(coef - z * se)}, {_num(coef + z * se)}]</span>'


def _forest(formula: str, group: pd.DataFrame, z: float) -> str:
    records = group.to_dict("records")
    terms = [_short(str(r["term"]), 28) for r in records]
    lw = max(len(t) for t in terms) * 6.3 + 14
    plot, row_h, top = 420.0, 36.0, 8.0
    width, height = lw + plot + 80, top + row_h * len(records) + 8
    out = [(f'<svg class="forest" data-formula="{_e(formula)}" xmlns="http://www.w3.org/2000/svg" '
           f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img">'
           f"<title>{_e(formula)}: coefficients and confidence intervals</title>")]
    for k, (r, term) in enumerate(zip(records, terms, strict=True)):
        y = top + k * row_h
        if k % 2 == 0:
            out.append(f'<rect x="0" y="{y:.1f}" width="{width:.0f}" height="{row_h}" fill="#f6f7f9"/>')
        out.append(f'<text class="tick" x="{lw - 8:.1f}" y="{y + row_h / 2 + 4:.1f}" text-anchor="end">{_e(term)}'
                   f"<title>{_e(r['term'])}</title></text>")
        sides = [(r["coef_real"], r["se_real"], REAL, "real", -6), (r["coef_synthetic"], r["se_synthetic"], SYNTHETIC,
                                                                     "synthetic", 6)]
        ok = [s for s in sides if finite_number(s[0]) and finite_number(s[1])]
        if not ok:
            out.append(f'<text class="tick" x="{lw:.1f}" y="{y + row_h / 2 + 4:.1f}">not estimable</text>')
            continue
        lo = min(b - z * s for b, s, *_ in ok)
        hi = max(b + z * s for b, s, *_ in ok)
        pad = (hi - lo) * 0.08 or max(abs(lo), 1.0) * 0.1
        lo, hi = lo - pad, hi + pad

        def sx(v: float, lo: float = lo, hi: float = hi) -> float:
            return lw + plot * (v - lo) / (hi - lo)

        if lo < 0 < hi:
            out.append(f'<line class="zero" x1="{sx(0):.1f}" x2="{sx(0):.1f}" y1="{y + 3:.1f}" '
                       f'y2="{y + row_h - 3:.1f}"/>')
        out.append(f'<text class="end" x="{lw:.1f}" y="{y + row_h - 2:.1f}">{_e(_num(lo, 3))}</text>'
                   f'<text class="end" x="{lw + plot:.1f}" y="{y + row_h - 2:.1f}" text-anchor="end">'
                   f"{_e(_num(hi, 3))}</text>")
        for b, s, colour, label, dy in ok:
            cy = y + row_h / 2 + dy - 2
            tip = f"{r['term']}, {label}: {_num(b)} [{_num(b - z * s)}, {_num(b + z * s)}]"
            out.append(f'<g><title>{_e(tip)}</title><line x1="{sx(b - z * s):.1f}" x2="{sx(b + z * s):.1f}" '
                       f'y1="{cy:.1f}" y2="{cy:.1f}" stroke="{colour}" stroke-width="2.5"/>'
                       f'<circle cx="{sx(b):.1f}" cy="{cy:.1f}" r="3.5" fill="{colour}"/></g>')
        overlap = r.get("ci_overlap", math.nan)
        out.append(f'<text class="tick" x="{lw + plot + 8:.1f}" y="{y + row_h / 2 + 4:.1f}">J {_num(overlap, 2)}'
                   "<title>CI overlap</title></text>")
    out.append("</svg>")
    return "".join(out)


# --------------------------------------------------------------------------------------------------------------
# 5. Disclosure risk
# --------------------------------------------------------------------------------------------------------------
def _risk_lookup(risk: pd.DataFrame) -> dict[tuple[str, str], float]:
    return {(str(r.metric), str(r.scope)): float(r.value) for r in risk.itertuples(index=False)}


#: A judged metric row's (level, why) by (metric, scope), from the verdict.
Levels = Mapping[tuple[str, str], tuple[str, str]]


def _levels(verdict: Verdict) -> dict[tuple[str, str], tuple[str, str]]:
    return {(r.metric, r.scope): (r.level, r.why) for r in verdict.rows.itertuples(index=False)}


def _risk_level(levels: Levels, metric: str, scope: str) -> tuple[str | None, str]:
    """``("high" | "elevated" | None, why)``: a risk row's verdict (fail, warn) in the risk section's words."""
    level, why = levels.get((metric, scope), ("pass", ""))
    return {"fail": "high", "warn": "elevated"}.get(level), why


def _scope(scope: str) -> str:
    """A risk row's scope for a table cell: long column lists shortened, the full list in a tooltip."""
    names = scope.split(",")
    if len(names) <= 5:
        return _e(scope).replace(",", ",<wbr>")
    return f'<span title="{_e(scope)}">{_e(", ".join(names[:3]))}, … ({len(names)} columns)</span>'


def _risk_value(metric: str, value: float) -> str:
    if not finite_number(value):
        return "—"
    base = base_name(metric)
    if metric in _PERCENT_METRICS or base in _PERCENT_METRICS:
        return f"{value:.2f}%"
    if metric in _COUNT_METRICS or base in _COUNT_METRICS:
        return _num(value)
    return f"{value:.4g}"


def _risk_section(risk: pd.DataFrame, levels: Levels) -> str:
    head = '<section id="risk"><h2>Disclosure risk</h2>'
    if risk.empty or not {"metric", "scope", "value"} <= set(risk.columns):
        return head + ('<p class="note">No disclosure-risk measures are in this evaluation. Measure them with '
                       "<code>synthsql.metrics.risk.risk_measures</code> (uniqueness, copies, equivalence classes, "
                       "attribute disclosure) and <code>synthsql.metrics.distance.distance_risk</code> (distance to "
                       "closest record, membership inference).</p></section>")
    order = {m: i for i, (_, metrics) in enumerate(_RISK_GROUPS) for m in metrics}
    groups: dict[int, list[dict[str, Any]]] = {}
    for r in risk.to_dict("records"):
        groups.setdefault(order.get(base_name(str(r["metric"])), len(_RISK_GROUPS)), []).append(r)
    parts = [head, ('<p>Each measure with what it means. Rows <span class="flag high">high</span> and '
             '<span class="flag elevated">elevated</span> call for a look: they are judged against the same '
             "measure on the original data where there is one (repU against UiO, DiSCO against Dorig, DCAP between "
             "baseCAPd and CAPd), else against the thresholds of the metric registry (membership AUC above 0.55, "
             "copies of unique records above 1%), or the catalog's own. Percentages are of records.</p>")]
    for index in sorted(groups):
        label = _RISK_GROUPS[index][0] if index < len(_RISK_GROUPS) else "Other measures"
        rows = []
        for r in groups[index]:
            metric, scope, value = str(r["metric"]), str(r["scope"]), r["value"]
            level, why = _risk_level(levels, metric, scope)
            explanation = RISK_EXPLANATIONS.get(metric) or RISK_EXPLANATIONS.get(base_name(metric))
            if explanation and metric.endswith("_orig"):
                explanation += " (original table)"
            elif explanation and metric.endswith("_syn"):
                explanation += " (synthetic table)"
            flag = f' <span class="flag {level}" title="{_e(why)}">{level}</span>' if level else ""
            detail = _e(r.get("detail", ""))
            rows.append(
                f'<tr class="{level or ""}"><td><code>{_e(metric)}</code>{flag}'
                f'<div class="explain">{_e(explanation) if explanation else detail}</div></td>'
                f"<td>{_scope(scope)}</td><td class=\"num\">{_risk_value(metric, value)}</td>"
                f'<td class="detail">{detail}</td></tr>'
            )
        parts.append(f"<h3>{_e(label)}</h3><table class=\"data risk\"><tr><th>measure</th><th>scope</th>"
                     f"<th>value</th><th>detail</th></tr>{''.join(rows)}</table>")
    parts.append("</section>")
    return "".join(parts)


# --------------------------------------------------------------------------------------------------------------
# 6. Privacy ledger, 7. Catalog
# --------------------------------------------------------------------------------------------------------------
def _privacy_section(model: Any) -> str:
    head = '<section id="privacy"><h2>Privacy ledger</h2>'
    if model is None or getattr(model, "epsilon", None) is None:
        what = "No model was given" if model is None else "The model is not differentially private"
        return head + f'<p class="note">{what}: there is no privacy budget to account for.</p></section>'
    ledger = model.ledger()
    privacy = getattr(model, "privacy", None) or {}
    rows = []
    for r in ledger.to_dict("records"):
        rows.append(
            f"<tr><td>{_e(r['step'])}</td><td>{_e(r['columns'])}</td><td>{_e(r['mechanism'])}</td>"
            f'<td class="num">{_sci(r["rho"])}</td><td class="num">{_sci(r["sigma"])}</td>'
            f'<td class="num">{_sci(r.get("epsilon"))}</td><td class="num">{_sci(r.get("delta"))}</td></tr>'
        )
    rho = float(ledger["rho"].sum()) if len(ledger) else 0.0
    by_step = ledger.groupby("step", sort=False)["rho"].agg(["size", "sum"]) if len(ledger) else pd.DataFrame()
    spent = "".join(
        f'<tr><td>{_e(step)}</td><td class="num">{int(r["size"])}</td><td class="num">{_sci(r["sum"])}</td>'
        f'<td class="num">{_pct(r["sum"] / rho if rho else math.nan)}</td>'
        f'<td><svg class="share" xmlns="http://www.w3.org/2000/svg" width="160" height="12" viewBox="0 0 160 12">'
        f'<rect width="160" height="12" fill="#eef1f4"/><rect width="{160 * r["sum"] / rho if rho else 0:.1f}" '
        f'height="12" fill="{REAL}"/></svg></td></tr>'
        for step, r in by_step.iterrows()
    )
    total = (f'<tr class="total"><th colspan="3">total ({len(ledger)} measurements)</th><td class="num">{_sci(rho)}'
             "</td><td></td><td></td><td></td></tr>")
    status = (f"The model is (<b>ε = {_num(model.epsilon)}</b>, <b>δ = {model.delta:.3g}</b>)-differentially private"
              if _differentially_private(privacy) else
              f'<b class="bad">The model is NOT differentially private</b>: it was fitted with reproducible '
              f"(seeded) noise, which whoever knows the noise seed can subtract; the budget was (ε = "
              f"{_num(model.epsilon)}, δ = {model.delta:.3g}). Refit it with the default noise for a release")
    budget = (f"<p>{status}, accounted in zero-concentrated DP: the measurements below spend ρ = {_sci(rho)} of the "
              f"budget ρ = {_sci(privacy.get('rho', math.nan))}. Each Gaussian measurement of a count vector (L2 "
              "sensitivity 1) with noise σ costs ρ = 1/(2σ²); a selection step by the exponential mechanism is "
              "given with its pure ε.")
    if privacy.get("delta_reserved"):
        budget += (f" A part δ = {float(privacy['delta_reserved']):.3g} of δ is reserved for the discovery of "
                   "categories (the thresholded steps).")
    return (head + budget + "</p><h3>Budget by step</h3>"
            '<table class="data"><tr><th>step</th><th>measurements</th><th>ρ</th><th>share of ρ</th><th></th></tr>'
            f"{spent}</table><h3>Every measurement</h3>"
            '<table class="data"><tr><th>step</th><th>columns</th><th>mechanism</th><th>ρ</th><th>σ</th>'
            f"<th>ε</th><th>δ</th></tr>{''.join(rows)}{total}</table></section>")


def _differentially_private(privacy: Mapping[str, Any]) -> bool:
    return privacy.get("noise", "private") == "private" and bool(privacy.get("differentially_private", True))


def _sci(value: Any) -> str:
    if not finite_number(value):
        return "—"
    x = float(value)
    return f"{x:.4g}" if x == 0 or 1e-3 <= abs(x) < 1e5 else f"{x:.3e}"


def _catalog_text(catalog: str | Mapping[str, Any] | os.PathLike[str] | None) -> str | None:
    """The catalog as YAML text, with what must never be published (a noise seed) withheld."""
    from synthsql.catalog import withhold_secrets

    if catalog is None:
        return None
    if isinstance(catalog, os.PathLike):
        text = Path(catalog).read_text(encoding="utf-8")
    elif isinstance(catalog, Mapping):
        import yaml

        text = yaml.safe_dump(dict(catalog), sort_keys=False, allow_unicode=True)
    else:
        text = str(catalog)
    return withhold_secrets(text)


def _catalog_section(catalog: str | Mapping[str, Any] | os.PathLike[str] | None) -> str:
    head = '<section id="catalog"><h2>Catalog</h2>'
    text = _catalog_text(catalog)
    if text is None:
        return head + '<p class="note">No catalog was given.</p></section>'
    return head + f'<pre class="catalog">{_e(text)}</pre></section>'


_CSS = """
:root{--ink:#1d2430;--muted:#5b6472;--line:#dfe3e8;--bg:#fbfbfc;--real:#2c6fbb;--syn:#e07b24}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--ink);background:var(--bg)}
header{padding:18px 28px 10px;background:#fff;border-bottom:1px solid var(--line);position:sticky;top:0;z-index:2}
h1{margin:0;font-size:22px}h2{font-size:19px;margin:0 0 10px;padding-bottom:4px;border-bottom:2px solid var(--line)}
h3{font-size:15px;margin:16px 0 6px}
.sub{margin:2px 0 8px;color:var(--muted)}
nav a{margin-right:14px;color:var(--real);text-decoration:none;font-weight:600}
main{padding:8px 28px 28px;max-width:1500px}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px 20px;margin:18px 0;
scroll-margin-top:96px}
table{border-collapse:collapse}
table.info th{text-align:left;padding:3px 16px 3px 0;color:var(--muted);font-weight:600}
table.data{margin:6px 0 10px;font-size:13px}
table.data th,table.data td{border-bottom:1px solid var(--line);padding:4px 10px;text-align:left;vertical-align:top}
table.data th{background:#f3f5f7}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.detail{color:var(--muted);font-size:12px;max-width:520px}
.explain{color:var(--muted);font-size:12px;max-width:440px}
table.risk{width:100%;table-layout:fixed}table.risk th:nth-child(1){width:34%}table.risk th:nth-child(2){width:17%}
table.risk th:nth-child(3){width:9%}table.risk td{overflow-wrap:anywhere}
tr.high{background:#fde8e6}tr.elevated{background:#fff5dd}tr.bad{background:#fde8e6}tr.warn{background:#fff5dd}
tr.total{font-weight:600}
.flag{font-size:11px;padding:1px 6px;border-radius:9px;color:#fff;font-family:system-ui,sans-serif}
.flag.high{background:#c0392b}.flag.elevated{background:#d68910}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:12px;margin-top:14px}
.verdict{border:1px solid var(--line);border-left:8px solid #9aa5b1;border-radius:6px;padding:10px 14px;margin:6px 0 12px}
.verdict.pass{border-left-color:#2e8b57}.verdict.warn{border-left-color:#d68910}.verdict.fail{border-left-color:#c0392b}
.verdict .label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.verdict .value{font-size:28px;font-weight:700}.verdict .reading{font-size:12.5px;color:var(--muted)}
.badge{display:inline-block;font-size:11px;padding:1px 8px;border-radius:9px;color:#fff!important;background:#9aa5b1;
font-family:system-ui,sans-serif;white-space:nowrap}
.badge.pass{background:#2e8b57}.badge.warn{background:#d68910}.badge.fail{background:#c0392b}
.card{border:1px solid var(--line);border-left:5px solid #9aa5b1;border-radius:6px;padding:10px 12px}
.card.good{border-left-color:#2e8b57}.card.fair{border-left-color:#d68910}.card.poor{border-left-color:#c0392b}
.card .label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:24px;font-weight:650;margin:2px 0}
.card .reading{font-size:12.5px;color:var(--muted)}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(440px,1fr));gap:14px}
figure.column{margin:0;border:1px solid var(--line);border-radius:6px;padding:8px 10px;overflow-x:auto}
figure.column h3{margin:2px 0 4px}
figcaption{font-size:13px;color:var(--ink);margin:2px 0 4px}
.kind,.badge{font-size:11px;font-weight:600;color:var(--muted);background:#eef1f4;border-radius:8px;padding:1px 7px}
.badge{background:#e8effa;color:var(--real)}
table.stats{font-size:12px;margin-top:4px}
table.stats th,table.stats td{padding:1px 10px 1px 0;text-align:right;font-variant-numeric:tabular-nums}
table.stats th:first-child{text-align:left;color:var(--muted);font-weight:500}
table.stats tr.flag td:last-child{color:#b42318;font-weight:600}
.legend{color:var(--muted)}
.swatch{display:inline-block;width:11px;height:11px;border-radius:2px;vertical-align:-1px;margin:0 4px 0 6px}
.note{color:var(--muted)}
.scroll{overflow-x:auto}
.ci{color:var(--muted);font-size:12px}
pre.catalog{background:#f6f7f9;border:1px solid var(--line);border-radius:6px;padding:10px;overflow:auto;
max-height:520px;font-size:12.5px}
svg{display:block;max-width:none}
svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}
svg .tick{font-size:11px;fill:#3c4450}svg .axis-title{font-size:11.5px;fill:var(--muted)}
svg .end{font-size:9.5px;fill:#8a929c}svg .cell-text{font-size:10px}
svg .gl{stroke:#e9ecef;stroke-width:1}svg .axis{stroke:#8a929c;stroke-width:1}
svg .zero{stroke:#8a929c;stroke-dasharray:3 3}
svg rect.cell:hover{stroke:#111;stroke-width:1.5}
svg .frame{fill:none;stroke:#8a929c;stroke-width:1}svg .qq-line{stroke-width:1.3;stroke-opacity:.55}
.dist{display:flex;flex-wrap:wrap;gap:6px 22px;align-items:flex-start;margin-top:8px}
.qq{display:inline-block;max-width:340px}.qq-note{font-size:12px;color:var(--muted);margin:2px 0 0}
table.rules{width:100%;table-layout:fixed}table.rules th:nth-child(1){width:20%}table.rules th:nth-child(2){width:38%}
table.rules th:nth-child(5){width:9%}table.rules td{overflow-wrap:anywhere}table.rules td.num{white-space:normal}
footer{padding:0 28px 24px;color:var(--muted);font-size:12px}
@media print{header{position:static}section{break-inside:avoid-page}}
"""
