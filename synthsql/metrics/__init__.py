"""Metrics computed in the database; each returns rows of (metric, scope, value, detail).

What each metric means (group, goal, bounds, unit, explanation, source, thresholds) is declared once, in
:mod:`synthsql.metrics.registry`.
"""

from synthsql.metrics.registry import GROUPS, METRICS, Metric, metric_info

__all__ = ["GROUPS", "METRICS", "Metric", "metric_info"]
