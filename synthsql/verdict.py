"""The release verdict: pass / warn / fail per group of metrics and for the release, from the registry's thresholds.

Each metric row that ``evaluate`` wrote (``<synthetic>__utility``, ``<synthetic>__risk``) and whose metric has
thresholds (:mod:`synthsql.metrics.registry`) is judged: *pass* inside the metric's ``good`` range, *warn* inside its
``acceptable`` range, *fail* outside both. NaN values are not judged (the row's detail says why it is missing). A
group's level is its worst row; a group with no judged row is *not measured*. The release's level is the worst of
its groups, and a release whose disclosure risk was not measured cannot pass: it is at best *warn*. Judging reads
only the metric rows, so a verdict can be given again from stored tables, with other thresholds, without a query.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from synthsql.metrics.registry import GROUPS, Metric, with_thresholds

__all__ = ["LEVELS", "Verdict", "judge"]

LEVELS = ("pass", "warn", "fail")
NOT_MEASURED = "not measured"
VERDICT_COLUMNS = ["group", "metric", "scope", "value", "judged", "level", "why"]


@dataclass(frozen=True)
class Verdict:
    """``overall`` and ``groups`` (group name to level) with ``rows``: every judged metric row (group, metric,
    scope, value, judged value, level, why), worst first within each group."""

    overall: str
    groups: dict[str, str]
    rows: pd.DataFrame
    notes: tuple[str, ...] = ()

    def problems(self, group: str | None = None) -> pd.DataFrame:
        """The rows that warn or fail (of one group, or of all)."""
        hit = self.rows[self.rows["level"] != "pass"]
        return hit if group is None else hit[hit["group"] == group]


def judge(
    utility: pd.DataFrame | None,
    risk: pd.DataFrame | None = None,
    *,
    thresholds: Mapping[str, Any] | None = None,
) -> Verdict:
    """The :class:`Verdict` of a release from its metric rows (frames with ``metric``, ``scope``, ``value``);
    ``thresholds`` are a catalog table's own (see :func:`synthsql.metrics.registry.with_thresholds`).

    >>> utility = pd.DataFrame({"metric": ["tvd_2way_mean", "rule_violation_rate"], "scope": ["table", "no_child_wage"],
    ...                         "value": [0.03, 0.002], "detail": ["", ""]})
    >>> v = judge(utility)
    >>> v.overall, v.groups["global"], v.groups["fit_for_purpose"], v.groups["risk"]
    ('fail', 'pass', 'fail', 'not measured')
    """
    metrics = with_thresholds(thresholds)
    frames = [f for f in (utility, risk) if f is not None and len(f) and "metric" in f]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["metric", "scope", "value"])
    lookup = {(str(r.metric), str(r.scope)): float(r.value) for r in table.itertuples(index=False)}
    rows = []
    for r in table.itertuples(index=False):
        metric = metrics.get(str(r.metric))
        if metric is None or not metric.judged:
            continue
        judged = _judged_value(metric, str(r.scope), float(r.value), lookup)
        if judged is None:
            continue
        level, why = judged
        rows.append({"group": metric.group, "metric": metric.name, "scope": str(r.scope), "value": float(r.value),
                     "judged": level[1], "level": level[0], "why": why})
    frame = pd.DataFrame(rows, columns=VERDICT_COLUMNS)
    if len(frame):
        order = {level: i for i, level in enumerate(reversed(LEVELS))}
        frame = (frame.assign(_g=frame["group"].map(list(GROUPS).index), _l=frame["level"].map(order))
                 .sort_values(["_g", "_l"], kind="stable").drop(columns=["_g", "_l"]).reset_index(drop=True))
    groups = {g: _worst(frame.loc[frame["group"] == g, "level"]) for g in GROUPS}
    measured = [level for level in groups.values() if level != NOT_MEASURED]
    overall = _worst(pd.Series(measured, dtype=object)) if measured else NOT_MEASURED
    notes = []
    if groups["risk"] == NOT_MEASURED and measured:
        notes.append("Disclosure risk was not measured: the release cannot pass until it is.")
        if overall == "pass":
            overall = "warn"
    return Verdict(overall=overall, groups=groups, rows=frame, notes=tuple(notes))


def _worst(levels: pd.Series) -> str:
    present = set(levels)
    for level in reversed(LEVELS):
        if level in present:
            return level
    return NOT_MEASURED


def _judged_value(
    metric: Metric, scope: str, value: float, lookup: Mapping[tuple[str, str], float]
) -> tuple[tuple[str, float], str] | None:
    """``((level, judged value), why)``, or None when the row cannot be judged (NaN, no ceiling)."""
    if not math.isfinite(value):
        return None
    x, what = value, f"{value:.4g}"
    if metric.relative_to is not None:
        if metric.negligible is not None and value <= metric.negligible:
            return ("pass", value), f"{value:.4g}, at or below the negligible {metric.negligible:g}"
        floor_name, ceiling_name = metric.relative_to
        floor = 0.0 if floor_name is None else lookup.get((floor_name, scope), math.nan)
        ceiling = lookup.get((ceiling_name, scope), math.nan)
        if not (math.isfinite(floor) and math.isfinite(ceiling)) or ceiling <= floor:
            return None
        x = (value - floor) / (ceiling - floor)
        base = ceiling_name if floor_name is None else f"the way from {floor_name} to {ceiling_name}"
        what = f"{value:.4g} = {x:.0%} of {base}"
    assert metric.good is not None and metric.acceptable is not None
    share = metric.relative_to is not None  # judged as a share of the way to its ceiling: bounds in per cent
    if _inside(x, metric.good):
        return ("pass", x), f"{what}, within {_show(metric.good, share)}"
    if _inside(x, metric.acceptable):
        return ("warn", x), f"{what}, outside {_show(metric.good, share)}"
    return ("fail", x), f"{what}, outside {_show(metric.acceptable, share)}"


def _inside(x: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] <= x <= bounds[1]


def _show(bounds: tuple[float, float], share: bool = False) -> str:
    def text(x: float) -> str:
        return f"{x:.0%}" if share else f"{x:g}"

    low, high = bounds
    if low == -math.inf:
        return f"≤ {text(high)}"
    if high == math.inf:
        return f"≥ {text(low)}"
    return f"[{text(low)}, {text(high)}]"
