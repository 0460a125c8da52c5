"""A self-contained HTML report of a synthetic table: plots first, numbers beside them, nothing to download.

:func:`render_report` computes what it shows in the database (one-way marginals through
:class:`~synthsql.aggregates.AggregateStore`, two-way TVDs through :func:`~synthsql.metrics.utility.marginal_tvd`,
and :func:`~synthsql.evaluate` when no evaluation is given) and returns one HTML document with seven sections:

1. **Summary**: the tables, their rows, the method and its parameters, (epsilon, delta) for a differentially private
   model, and the key figures (mean two-way TVD, k-marginal score, pMSE ratios, headline risk numbers), each with a
   one-line reading in plain language.
2. **Columns**: for each modelled column a bar chart of the share of rows in each cell (categories or bins, and the
   NULL cell), real and synthetic side by side, with the column's TVD (and KS, Wasserstein-1 for numeric columns) in
   the caption; identifier and excluded columns are listed as such.
3. **Pairs**: a heatmap of the TVD of every two-way marginal, with a colour scale, values in tooltips.
4. **Regression**: per GLM formula a forest plot of the real and synthetic confidence intervals, and a table with
   their overlap (Karr et al. 2006) and standardised difference.
5. **Disclosure risk**: the risk rows of the evaluation with a plain-language explanation of each measure, values
   that call for attention highlighted.
6. **Privacy ledger**: each noisy measurement of a differentially private model (step, columns, mechanism, rho,
   sigma) with the totals.
7. **Catalog**: the YAML catalog the table was built from, when given.

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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from synthsql.aggregates import AggregateStore
from synthsql.connection import Database, connect
from synthsql.metrics.fitness import finite_number, statistic_flag
from synthsql.metrics.registry import GROUPS, METRICS, base_name, metric_info
from synthsql.metrics.utility import marginal_tvd, tvd
from synthsql.schema import NUMERIC_KINDS, ColumnSpec, TableSpec
from synthsql.verdict import Verdict, judge

if TYPE_CHECKING:
    from synthsql.evaluate import Evaluation
    from synthsql.model import Model

__all__ = ["render_report", "write_report", "RISK_EXPLANATIONS"]

REAL = "#2c6fbb"  # blue
SYNTHETIC = "#e07b24"  # orange
MAX_BARS = 30  # categories shown per column; the rest are pooled into one bar
MAX_BINS = 60  # numeric cells shown per column; beyond that, neighbours are merged
LABEL_CHARS = 22

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
) -> str:
    """The HTML report on ``synthetic`` against ``real``, as one self-contained document (a string).

    ``spec`` is the real table's description (its cells are the plots' cells); ``evaluation`` an
    :class:`~synthsql.evaluate.Evaluation` (computed with ``evaluate(..., write=False)`` when omitted; its ``glm``
    rows give the regression section and its ``risk`` rows, when it has them, the risk section); ``model`` the fitted
    model (method, parameters, and for a differentially private one the budget and ledger); ``catalog`` the YAML
    catalog as text, a mapping, or a path to the file; ``thresholds`` the catalog table's own thresholds for the
    verdict (:func:`synthsql.verdict.judge`) that opens the report.

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

    heading = title or f"Synthetic data report: {synthetic}"
    sections = [
        _summary(real, synthetic, spec, rows, model, utility, risk, pairs, column_tvd, verdict, levels),
        _columns_section(spec, modelled, one_way, utility, columns, column_tvd),
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
        '<footer>Computed in the database by synthsql: only aggregates (counts, TVDs, model fits, risk counts) '
        "were read; no row of either table is in this file except as a category or bin label.</footer>\n"
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
        cards.append(("Worst column", _e(_short(worst)), f"Its distribution differs by TVD {_num(worst_tvd, 3)} "
                      f"({_pct(worst_tvd)} of the rows in another cell).", ""))
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
                    f'<td><a href="#{_GROUP_SECTION[r.group]}"><code title="{_e(explain)}">{_e(r.metric)}</code></a>'
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
        cards.append(("Replicated uniques", f"{rep[1]:.2f}%",
                      f"of original records are unique on the keys and unique in the synthetic data too "
                      f"(unique in the original: {uio:.2f}%).", _css_level(level)))
    disco = worst("DiSCO")
    if disco is not None:
        level = _risk_level(levels, "DiSCO", disco[0])[0]
        cards.append(("DiSCO (highest target)", f"{disco[1]:.2f}%",
                      f"of original records have their {disco[0].split(' | ')[0]} correctly disclosed by the "
                      "synthetic data from their keys.", _css_level(level)))
    copies = worst("unique_exact_match_pct")
    if copies is not None:
        level = _risk_level(levels, "unique_exact_match_pct", copies[0])[0]
        cards.append(("Unique records copied", f"{copies[1]:.2f}%",
                      "of the original's unique records appear unchanged in the synthetic data.", _css_level(level)))
    for metric, label, text in (
        ("membership_auc", "Membership AUC", "0.5 means an attacker cannot tell who was in the training data."),
        ("closer_to_training_share", "Closer to training", "Share of synthetic records nearer the training rows "
         "than the holdout; 0.5 is ideal."),
        ("inference_risk", "Attribute inference (highest)", "Attacker's gain over guessing for people outside the "
         "data; 0 is no gain."),
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
        cards.append(
            f'<figure class="column"><h3>{_e(col.name)} <span class="kind">{_e(col.kind)}</span>{role}</h3>{svg}'
            f"<figcaption>{' · '.join(caption)}{_e(note)}</figcaption>{_stats_table(col, stats)}</figure>"
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
              "rows in another cell.</p>")
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
    left = max(46.0, len(shown[0]) * 6.0 * 0.72 - gx / 2 + 6) if rotate else 46.0
    top_pad, plot_h = 26.0, 150.0
    bottom = (min(longest, LABEL_CHARS) * 6.0 * 0.72 + 26) if rotate else 34.0
    width, height = left + plot_w + 10, top_pad + plot_h + bottom
    top, step = _nice_top(float(max(p.max(initial=0), q.max(initial=0))))
    bw = max(1.5, (gx - 4) / 2)
    out = [
        f'<svg class="column-chart" data-column="{_e(name)}" xmlns="http://www.w3.org/2000/svg" '
        f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img">'
        f"<title>{_e(name)}: share of rows per cell, real and synthetic</title>"
    ]
    ticks = int(round(top / step))
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


def _stats_table(col: ColumnSpec, stats: pd.DataFrame | None) -> str:
    if stats is None or stats.empty or col.kind not in NUMERIC_KINDS:
        return ""
    wanted = ["mean", "sd", "min", "p10", "p50", "p90", "max", "null_share"]
    by = {r["statistic"]: r for r in stats.to_dict("records")}
    cells = []
    for key in wanted:
        if key not in by:
            continue
        r = by[key]
        if key == "null_share":
            a, b = _pct(r["real"], 2), _pct(r["synthetic"], 2)
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
    out = [f'<svg class="heatmap" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" role="img"><title>TVD of each two-way marginal</title>']
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
    parts = [head, f"<p>Coefficients with {level:.0%} Wald confidence intervals, "
             f'<span class="swatch" style="background:{REAL}"></span>real and '
             f'<span class="swatch" style="background:{SYNTHETIC}"></span>synthetic. Each row has its own scale '
             "(its ends are labelled); the dashed line marks 0. CI overlap (Karr et al. 2006) is 1 for identical "
             "intervals and 0 or less when they do not meet; the standardised difference is |β_syn − β_real| / "
             "se_real.</p>"]
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
    out = [f'<svg class="forest" data-formula="{_e(formula)}" xmlns="http://www.w3.org/2000/svg" '
           f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img">'
           f"<title>{_e(formula)}: coefficients and confidence intervals</title>"]
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
    parts = [head, '<p>Each measure with what it means. Rows <span class="flag high">high</span> and '
             '<span class="flag elevated">elevated</span> call for a look: they are judged against the same '
             "measure on the original data where there is one (repU against UiO, DiSCO against Dorig, DCAP between "
             "baseCAPd and CAPd), else against the thresholds of the metric registry (membership AUC above 0.55, "
             "copies of unique records above 1%), or the catalog's own. Percentages are of records.</p>"]
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
footer{padding:0 28px 24px;color:var(--muted);font-size:12px}
@media print{header{position:static}section{break-inside:avoid-page}}
"""
