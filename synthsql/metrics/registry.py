"""Every metric ``evaluate`` emits, declared once: its group, goal, bounds, unit, meaning, source and thresholds.

``evaluate`` writes rows of (metric, scope, value, detail); what a metric *means* lives here, and the report, the
verdict (:mod:`synthsql.verdict`) and the catalog (per-table ``thresholds:``) read it from here. The groups are the
three kinds of utility a statistical office judges a synthetic file by (Drechsler et al. 2024: fit for purpose,
global, outcome-specific) and disclosure risk.

Thresholds are *defaults*, chosen and stated here so that a release gets a verdict out of the box; an office sets
its own per table in the catalog. A metric is judged by two ranges of the judged value: inside ``good`` it passes,
inside ``acceptable`` it warns, outside both it fails. A metric with ``relative_to`` is judged by where its value lies
between two other metrics of the same scope (``(value - floor) / (ceiling - floor)``: repU as a share of UiO, DiSCO of
Dorig, DCAP from baseCAPd to CAPd), and values at or below ``negligible`` always pass. A metric without thresholds is
descriptive: reported, never judged (counts, the details behind a judged metric, measures whose scale depends on the
data such as Wasserstein-1).

Where the defaults come from: the 2-way TVD and pMSE-ratio bands are the report's earlier readings (a ratio about
1 is ideal, Snoke et al. 2018); the mean/sd/NULL-share bounds are the plausibility bounds of
:mod:`synthsql.metrics.fitness`; the CI-overlap bands follow Karr et al. (2006) (0 means the intervals only touch:
the synthetic data would lead to another conclusion); the risk bands are those the report used since risk was
first measured (repU, DiSCO and DCAP relative to their own ceilings, as synthpop's ``disclosure()`` reads them).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from synthsql.errors import InvalidParameterError, did_you_mean

__all__ = ["GROUPS", "METRICS", "Metric", "base_name", "metric_info", "with_thresholds"]

Group = Literal["fit_for_purpose", "global", "outcome_specific", "risk"]
GROUPS: dict[str, str] = {
    "fit_for_purpose": "Fit for purpose",
    "global": "Global utility",
    "outcome_specific": "Outcome-specific utility",
    "risk": "Disclosure risk",
}
Range = tuple[float, float]
INF = math.inf


@dataclass(frozen=True)
class Metric:
    """What one metric is. ``goal``: ``min`` (smaller is better), ``max``, ``target`` (a value, e.g. a ratio of 1)
    or ``none`` (descriptive). ``bounds``: the values it can take. ``unit``: ``share`` (0-1), ``percent`` (0-100),
    ``count``, ``ratio``, ``distance`` or ``score``."""

    name: str
    group: Group
    goal: Literal["min", "max", "target", "none"]
    bounds: Range
    unit: str
    explanation: str
    source: str
    good: Range | None = None
    acceptable: Range | None = None
    relative_to: tuple[str | None, str] | None = None
    negligible: float | None = None

    @property
    def judged(self) -> bool:
        return self.good is not None


def _m(name: str, group: Group, goal: str, bounds: Range, unit: str, explanation: str, source: str,
       good: Range | None = None, acceptable: Range | None = None, **extra: Any) -> Metric:
    return Metric(name, group, goal, bounds, unit, explanation, source, good, acceptable, **extra)  # type: ignore[arg-type]


def _below(good: float, acceptable: float) -> tuple[Range, Range]:
    return (-INF, good), (-INF, acceptable)


def _above(good: float, acceptable: float) -> tuple[Range, Range]:
    return (good, INF), (acceptable, INF)


_SYNTHPOP = "synthpop disclosure() (Raab et al. 2024; Taub et al. 2018)"
_DISTANCE = "synthsql.metrics.distance (DCR/NNDR as in SDV and synthcity; Yale et al. 2020)"
_ANONYMETER = "Giomi et al. 2023, anonymeter InferenceEvaluator"
_REITER = "Reiter & Mitra 2009"
_UNIT = {"share": (0.0, 1.0), "percent": (0.0, 100.0), "count": (0.0, INF)}

_ENTRIES: list[Metric] = [
    # --- fit for purpose: each column and each edit rule -------------------------------------------------------
    _m("tvd", "fit_for_purpose", "min", (0, 1), "share",
       "Total variation distance of one column's distribution (its spec cells, NULL a cell of its own): the share "
       "of synthetic rows that would have to move to another cell to match the real column.",
       "NIST SDNist; synthsql.metrics.fitness", *_below(0.05, 0.1)),
    _m("ks", "fit_for_purpose", "min", (0, 1), "share",
       "Kolmogorov-Smirnov statistic of a numeric column: the largest gap between the two empirical CDFs.",
       "sdmetrics KSComplement (as 1 - KS)"),
    _m("wasserstein1", "fit_for_purpose", "min", (0, INF), "distance",
       "Wasserstein-1 (earth mover's) distance of a numeric column, in the column's own unit: how far values must "
       "move on average. Descriptive: its scale is the column's.", "Villani 2008; synthsql.metrics.fitness"),
    _m("mean_ratio", "fit_for_purpose", "target", (-INF, INF), "ratio",
       "Synthetic mean over real mean of a numeric column; 1 is ideal. Outside [0.9, 1.1] the analyses of levels "
       "(means, totals) would change.", "synthsql.metrics.fitness plausibility bounds (issue 15)",
       (0.9, 1.1), (0.8, 1.25)),
    _m("sd_ratio", "fit_for_purpose", "target", (0, INF), "ratio",
       "Synthetic standard deviation over real; 1 is ideal. Heavy tails drawn too long or too short move it.",
       "synthsql.metrics.fitness plausibility bounds (issue 15)", (0.8, 1.25), (2 / 3, 1.5)),
    _m("null_share_difference", "fit_for_purpose", "target", (-1, 1), "share",
       "Synthetic minus real share of NULLs in a column; 0 is ideal, more than 1 point apart is flagged.",
       "synthsql.metrics.fitness plausibility bounds (issue 15)", (-0.01, 0.01), (-0.05, 0.05)),
    _m("null_block_share_difference", "fit_for_purpose", "target", (-1, 1), "share",
       "Synthetic minus real share of rows in which a block of columns (NULL in exactly the same rows of the real "
       "table, e.g. a questionnaire section skipped together) is NULL together; 0 is ideal.",
       "synthsql.metrics.fitness missingness_blocks", (-0.01, 0.01), (-0.05, 0.05)),
    _m("implausible_columns", "fit_for_purpose", "min", (0, INF), "count",
       "Columns flagged by a mean ratio, sd ratio or NULL share outside its bounds (the rows above say which).",
       "synthsql.metrics.fitness plausibility"),
    _m("rule_violation_rate", "fit_for_purpose", "min", (0, 1), "share",
       "Share of the synthetic rows a declared edit rule applies to that break it: records a statistician would "
       "call impossible (a child with a wage). The detail gives the real table's own rate.",
       "de Waal, Pannekoek & Scholtus 2011 (edit rules)", *_below(0.0, 0.001)),
    # --- global utility -----------------------------------------------------------------------------------------
    *[
        _m(f"tvd_{k}way_{stat}", "global", "min", (0, 1), "share",
           f"{'Mean' if stat == 'mean' else 'Largest'} total variation distance over the {k}-way marginals (spec "
           f"cells): the share of rows that would have to move to another cell for a {k}-way table to match.",
           "NIST SDNist k-marginal; synthsql.metrics.utility",
           *(_below(*{1: (0.02, 0.05), 2: (0.05, 0.15), 3: (0.1, 0.25)}[k]) if stat == "mean" else (None, None)))
        for k in (1, 2, 3) for stat in ("mean", "max")
    ],
    _m("k_marginal_score", "global", "max", (0, 1000), "score",
       "1000 × (1 − mean TVD over the k-way marginals): 1000 when every k-way table matches exactly.",
       "NIST CRC / SDNist k-marginal score"),
    *[
        _m(f"pmse_{model}", "global", "min", (0, 0.25), "share",
           f"Propensity mean squared error of a {label} telling real from synthetic rows: 0 when it cannot tell "
           "them apart. Its scale depends on the model: read the ratio below.", "Woo et al. 2009")
        for model, label in (("logit", "logistic regression"), ("cart", "classification tree"),
                             ("cells", "saturated model on the cells"))
    ],
    *[
        _m(f"s_pmse_{model}", "global", "min", (0, INF), "ratio",
           f"pMSE of the {label} over its value under the null of both tables drawn from the same distribution: "
           "about 1 is ideal, above 3 a classifier starts to tell the tables apart, above 10 easily.",
           "Snoke et al. 2018", *_below(3.0, 10.0))
        for model, label in (("logit", "logistic regression"), ("cart", "classification tree"),
                             ("cells", "saturated model on the cells"))
    ],
    # --- outcome-specific utility -------------------------------------------------------------------------------
    _m("glm_ci_overlap", "outcome_specific", "max", (-INF, 1), "share",
       "Overlap of one coefficient's confidence intervals fitted on the real and on the synthetic table: 1 for "
       "identical intervals, 0 when they only touch, negative when they do not overlap (the synthetic data would "
       "lead to another conclusion about this coefficient).", "Karr et al. 2006", *_above(0.5, 0.0)),
    _m("glm_std_diff", "outcome_specific", "min", (0, INF), "ratio",
       "|synthetic coefficient − real coefficient| / real standard error: how many standard errors the estimate "
       "moved. Descriptive beside the CI overlap that judges it.", "Snoke et al. 2018 (standardised difference)"),
    _m("glm_failed", "outcome_specific", "min", (0, 1), "count",
       "1 when a GLM that fits on the real table cannot be fitted on the synthetic one (a category or a "
       "combination the model needs is missing: a singular design); the detail says why.",
       "synthsql.metrics.glm", *_below(0.0, 0.0)),
    # --- disclosure risk -------------------------------------------------------------------------------------------
    _m("risk_skipped", "risk", "none", (-INF, INF), "count",
       "Risk measures that were not computed, and why (no keys, no holdout).", "synthsql.evaluate"),
    _m("UiO", "risk", "none", _UNIT["percent"], "percent",
       "Share of original records that are unique on the key variables: the records an intruder could single out "
       "if the original data were released.", _SYNTHPOP),
    _m("UiS", "risk", "none", _UNIT["percent"], "percent",
       "Share of synthetic records that are unique on the key variables.", _SYNTHPOP),
    _m("repU", "risk", "min", _UNIT["percent"], "percent",
       "Replicated uniques: share of original records unique on the keys whose key combination is also unique in "
       "the synthetic data. Judged as a share of UiO: the closer to UiO, the more of the original's unique records "
       "the synthetic data reproduce.", _SYNTHPOP, *_below(0.2, 0.5), relative_to=(None, "UiO"), negligible=0.0),
    _m("key_match", "risk", "none", _UNIT["percent"], "percent",
       "Share of original records whose key combination occurs somewhere in the synthetic data.", _SYNTHPOP),
    _m("exact_matches", "risk", "none", _UNIT["count"], "count",
       "Synthetic rows identical to an original row on every modelled column (raw values).", "NIST SDNist"),
    _m("exact_match_pct", "risk", "min", _UNIT["percent"], "percent",
       "Share of synthetic rows that are exact copies of an original row.", "NIST SDNist", *_below(5.0, 20.0)),
    _m("unique_exact_matches", "risk", "none", _UNIT["count"], "count",
       "Synthetic rows identical to an original row that is unique in the original data: a copied unique record "
       "is the clearest disclosure.", "NIST SDNist"),
    _m("unique_exact_match_pct", "risk", "min", _UNIT["percent"], "percent",
       "Share of the unique original rows that appear unchanged in the synthetic data.", "NIST SDNist",
       *_below(1.0, 5.0)),
    _m("classes", "risk", "none", _UNIT["count"], "count",
       "Number of equivalence classes (distinct key combinations).", "Samarati & Sweeney 1998"),
    _m("class_size_min", "risk", "none", _UNIT["count"], "count",
       "Size of the smallest equivalence class on the keys.", "Samarati & Sweeney 1998"),
    _m("class_size_median", "risk", "none", _UNIT["count"], "count",
       "Median size of the equivalence classes on the keys.", "Samarati & Sweeney 1998"),
    _m("class_size_max", "risk", "none", _UNIT["count"], "count",
       "Size of the largest equivalence class on the keys.", "Samarati & Sweeney 1998"),
    _m("k_anonymity_classes", "risk", "none", _UNIT["count"], "count",
       "Equivalence classes smaller than k (k-anonymity violations).", "Sweeney 2002"),
    _m("k_anonymity_rows", "risk", "none", _UNIT["count"], "count",
       "Rows that sit in equivalence classes smaller than k.", "Sweeney 2002"),
    _m("l_diversity_min", "risk", "none", _UNIT["count"], "count",
       "Fewest distinct target values within one key class (1 means some class reveals the target).",
       "Machanavajjhala et al. 2007"),
    _m("l_diversity_below2_pct", "risk", "none", _UNIT["percent"], "percent",
       "Share of key classes in which every record has the same target value.", "Machanavajjhala et al. 2007"),
    _m("Dorig", "risk", "none", _UNIT["percent"], "percent",
       "Share of original records whose key combination determines the target in the original data itself (the "
       "ceiling for attribute disclosure).", _SYNTHPOP),
    _m("DiSCO", "risk", "min", _UNIT["percent"], "percent",
       "Disclosive in synthetic, correct in original: share of original records whose keys, looked up in the "
       "synthetic data, point to a single target value that is the record's true value. Judged as a share of "
       "Dorig; below 1 % it is negligible.", _SYNTHPOP, *_below(0.25, 0.5), relative_to=(None, "Dorig"),
       negligible=1.0),
    _m("DiSDiO", "risk", "none", _UNIT["percent"], "percent",
       "Disclosive in synthetic and in original: share of records for which the key determines the target in "
       "both tables.", _SYNTHPOP),
    _m("baseCAPd", "risk", "none", _UNIT["percent"], "percent",
       "Baseline: how often one would guess the target right knowing only its overall distribution.", _SYNTHPOP),
    _m("CAPd", "risk", "none", _UNIT["percent"], "percent",
       "Correct attribution probability of the original data attacking itself (the ceiling for DCAP).", _SYNTHPOP),
    _m("DCAP", "risk", "min", _UNIT["percent"], "percent",
       "Differential correct attribution probability: mean share of synthetic records with a record's keys that "
       "carry its true target (no key match counts 0). Judged by how far it goes from baseCAPd (no information) "
       "to CAPd (the original).", "Taub et al. 2018", *_below(0.25, 0.5), relative_to=("baseCAPd", "CAPd")),
    _m("TCAP", "risk", "none", _UNIT["percent"], "percent",
       "Targeted CAP: among original records whose key determines the target in the synthetic data, the share "
       "for which that target is right.", "Taub et al. 2018"),
    _m("TCAP_records", "risk", "none", _UNIT["count"], "count",
       "Number of original records on which TCAP is defined.", "Taub et al. 2018"),
    _m("dcr_median", "risk", "none", (0, 1), "distance",
       "Median distance from a synthetic record to its closest real (training) record, on a mixed-type distance "
       "in [0, 1]; 0 means a copy.", _DISTANCE),
    _m("dcr_p05", "risk", "none", (0, 1), "distance",
       "5th percentile of the distance to the closest real record: small values flag near-copies.", _DISTANCE),
    _m("dcr_zero_share", "risk", "min", (0, 1), "share",
       "Share of synthetic records at distance 0 from a real record, that is, copies on the compared columns.",
       _DISTANCE, *_below(0.02, 0.1)),
    _m("nndr_median", "risk", "none", (0, 1), "ratio",
       "Median ratio of the distances to the closest and second-closest real record; values near 0 mean synthetic "
       "records sit right on top of one real record.", _DISTANCE),
    _m("dcr_holdout_median", "risk", "none", (0, 1), "distance",
       "Median distance from a synthetic record to its closest holdout record (rows the model never saw): the "
       "yardstick for dcr_median.", _DISTANCE),
    _m("dcr_holdout_p05", "risk", "none", (0, 1), "distance",
       "5th percentile of the distance to the closest holdout record.", _DISTANCE),
    _m("closer_to_training_share", "risk", "min", (0, 1), "share",
       "Share of synthetic records closer to the training data than to the holdout. About 0.5 is ideal; well above "
       "means the model memorised its training rows.", _DISTANCE, *_below(0.55, 0.6)),
    _m("membership_auc", "risk", "min", (0, 1), "share",
       "How well an attacker who measures distances to the synthetic data tells training records from holdout "
       "records (area under the ROC curve): 0.5 is guessing, 1 is certain.", _DISTANCE, *_below(0.55, 0.6)),
    _m("inference_risk", "risk", "min", (0, 1), "share",
       "Attribute inference risk: how much better an attacker guesses a secret column of training records from "
       "the synthetic data than of records the model never saw, (attack - control) / (1 - control); 0 means no "
       "gain.", _ANONYMETER, *_below(0.1, 0.3)),
    _m("inference_risk_ci_low", "risk", "none", (0, 1), "share",
       "Lower end of the confidence interval of the inference risk.", _ANONYMETER),
    _m("inference_risk_ci_high", "risk", "none", (0, 1), "share",
       "Upper end of the confidence interval of the inference risk.", _ANONYMETER),
    _m("inference_attack_rate", "risk", "none", (0, 1), "share",
       "Share of training records whose secret value the attacker guessed.", _ANONYMETER),
    _m("inference_control_rate", "risk", "none", (0, 1), "share",
       "Share of holdout (control) records whose secret value the attacker guessed: what the synthetic data "
       "reveal about anybody, not just the people in the data.", _ANONYMETER),
    _m("expected_match_risk", "risk", "none", _UNIT["count"], "count",
       "Expected number of correct re-identifications by an intruder who matches on the known variables (sum over "
       "targets of I/c).", _REITER),
    _m("expected_match_risk_pct", "risk", "min", _UNIT["percent"], "percent",
       "Expected correct re-identifications as a share of the target records.", _REITER, *_below(1.0, 5.0)),
    _m("true_match_rate", "risk", "min", _UNIT["percent"], "percent",
       "Share of targets that match exactly one released record, and it is their own.", _REITER,
       *_below(1.0, 5.0)),
    _m("false_match_rate", "risk", "none", _UNIT["percent"], "percent",
       "Share of unique matches that point to another person's record.", _REITER),
    _m("targets", "risk", "none", _UNIT["count"], "count",
       "Number of target records the intruder tries to re-identify.", _REITER),
    _m("unique_matches", "risk", "none", _UNIT["count"], "count",
       "Targets that match exactly one released record.", _REITER),
    _m("true_matches", "risk", "none", _UNIT["count"], "count",
       "Unique matches that are the target's own record.", _REITER),
    _m("false_matches", "risk", "none", _UNIT["count"], "count", "Unique matches that are another record.", _REITER),
    _m("no_matches", "risk", "none", _UNIT["count"], "count", "Targets that no released record matches.", _REITER),
]

METRICS: dict[str, Metric] = {m.name: m for m in _ENTRIES}
assert len(METRICS) == len(_ENTRIES), "a metric is registered twice"

#: Risk measures computed for both tables carry the table in a suffix (``classes_orig``, ``classes_syn``).
_TABLE_SUFFIX = re.compile(r"_(orig|syn)$")


def base_name(name: str) -> str:
    """The registered name of an emitted metric: ``classes_orig`` and ``classes_syn`` are ``classes``."""
    return _TABLE_SUFFIX.sub("", name)


def metric_info(name: str) -> Metric:
    """The registered :class:`Metric` of an emitted metric name (``classes_orig`` is ``classes``); raises
    :class:`KeyError` for a name nobody registered."""
    found = METRICS.get(name) or METRICS.get(base_name(name))
    if found is None:
        raise KeyError(name)
    return found


def with_thresholds(overrides: Mapping[str, Any] | None, *, where: str = "thresholds") -> dict[str, Metric]:
    """The registry with an office's own thresholds (a catalog table's ``thresholds:``) in place of the defaults.

    Each entry names a registered metric and gives ``good`` and ``acceptable``: a number is a one-sided limit in the
    direction of the metric's goal (``tvd_2way_mean: {good: 0.03, acceptable: 0.1}``), a pair ``[low, high]`` a
    range (``sd_ratio: {good: [0.9, 1.1], acceptable: [0.8, 1.25]}``). ``judge: false`` makes a metric descriptive.
    """
    metrics = dict(METRICS)
    for name, spec in (overrides or {}).items():
        if name not in METRICS:
            raise InvalidParameterError(
                f"{where}: {name!r} is not a metric.{did_you_mean(str(name), METRICS)} Metrics are listed in "
                "synthsql.metrics.METRICS."
            )
        metric = METRICS[name]
        if not isinstance(spec, Mapping) or not set(spec) <= {"good", "acceptable", "judge"}:
            raise InvalidParameterError(
                f"{where}.{name}: give a mapping with 'good' and 'acceptable' (or 'judge: false'), got {spec!r}."
            )
        if spec.get("judge") is False:
            metrics[name] = replace(metric, good=None, acceptable=None)
            continue
        if "good" not in spec or "acceptable" not in spec:
            raise InvalidParameterError(f"{where}.{name}: give both 'good' and 'acceptable'.")
        good = _range(metric, spec["good"], f"{where}.{name}.good")
        acceptable = _range(metric, spec["acceptable"], f"{where}.{name}.acceptable")
        if not (acceptable[0] <= good[0] and good[1] <= acceptable[1]):
            raise InvalidParameterError(
                f"{where}.{name}: the 'good' range {list(good)} must lie inside the 'acceptable' range "
                f"{list(acceptable)}."
            )
        metrics[name] = replace(metric, good=good, acceptable=acceptable)
    return metrics


def _range(metric: Metric, value: Any, where: str) -> Range:
    def number(x: Any) -> float:
        if isinstance(x, bool) or not isinstance(x, (int, float)) or math.isnan(x):
            raise InvalidParameterError(f"{where}: expected a number, got {x!r}.")
        return float(x)

    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise InvalidParameterError(f"{where}: a range is [low, high], got {value!r}.")
        low, high = number(value[0]), number(value[1])
        if low > high:
            raise InvalidParameterError(f"{where}: the range [{low:g}, {high:g}] is reversed.")
        return low, high
    limit = number(value)
    if metric.goal == "min":
        return -INF, limit
    if metric.goal == "max":
        return limit, INF
    raise InvalidParameterError(
        f"{where}: {metric.name} aims at a value (goal {metric.goal!r}); give a range [low, high], got {value!r}."
    )
