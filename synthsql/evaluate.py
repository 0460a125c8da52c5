"""``evaluate``: utility of a synthetic table against its source, computed in the database, written beside it.

The three kinds of utility a statistical office judges a synthetic file by (Drechsler et al. 2024):

* fit for purpose: per-column summaries side by side, TVD / Kolmogorov-Smirnov / Wasserstein-1 per column, edit
  rules with violation rates (:mod:`synthsql.metrics.fitness`);
* global: mean and max TVD of the 1-, 2- and 3-way marginals, the k-marginal score (:mod:`synthsql.metrics.utility`)
  and the propensity-score pMSE with its ratio to the null (:mod:`synthsql.metrics.pmse`, :mod:`synthsql.metrics.glm`);
* outcome-specific: the same GLMs fitted on both tables, compared per coefficient by confidence-interval overlap and
  standardised difference (:mod:`synthsql.metrics.glm`).

Disclosure risk (:mod:`synthsql.metrics.risk`, :mod:`synthsql.metrics.distance`, :mod:`synthsql.metrics.inference`):
uniqueness and replicated uniques, exact matches, equivalence classes, attribute disclosure (DiSCO, DCAP, TCAP) on the
``keys`` and ``targets`` (default: the spec's key and sensitive columns); with a ``holdout`` (the split the model was
fitted with) also DCR, NNDR, the closer-to-training share, the membership-inference AUC and the anonymeter-style
attribute-inference risk against the holdout records as control. Without keys (none given, none in the spec) the
key-based measures are skipped with a row that says so; distance-based measures then need a holdout.

:func:`measure` computes the metric rows (metric, scope, value, detail); :func:`synthsql.evaluate`
(:mod:`synthsql.pipeline`) writes them as the tables ``<synthetic>__utility`` and ``<synthetic>__risk`` once every
metric has been computed, swapped in together: a failure leaves the database as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from synthsql.connection import Database
from synthsql.errors import (
    ColumnNotFoundError,
    InvalidParameterError,
    ModelFitError,
    SyntheticFitError,
    did_you_mean,
)
from synthsql.holdout import Holdout
from synthsql.metrics.distance import check_holdout, distance_risk
from synthsql.metrics.fitness import (
    Rule,
    check_rules,
    column_distances,
    column_summary,
    missingness_blocks,
    plausibility,
)
from synthsql.metrics.glm import check_formula_columns, compare_glm, glm_rows
from synthsql.metrics.inference import inference_risk
from synthsql.metrics.match_risk import check_unique_id, expected_match_risk
from synthsql.metrics.pmse import pmse_cart, pmse_cells, pmse_logit
from synthsql.metrics.risk import _check, _check_keys, _check_levels, _check_targets, _names, risk_measures
from synthsql.metrics.utility import marginal_details
from synthsql.schema import TableSpec, describe, kind_of
from synthsql.verdict import Verdict, judge

__all__ = ["Evaluation", "measure", "PMSE_MODELS"]

PMSE_MODELS = ("logit", "cart", "cells")
METRIC_COLUMNS = ["metric", "scope", "value", "detail"]


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate` measured: ``utility`` holds every metric row; the others the details behind them."""

    utility: pd.DataFrame
    columns: pd.DataFrame
    rules: pd.DataFrame
    glm: pd.DataFrame
    tables: tuple[str, ...] = field(default_factory=tuple)
    risk: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=METRIC_COLUMNS))
    #: What the report draws, read with the metrics (:class:`~synthsql.metrics.utility.MarginalDetails`): the TVD of
    #: each 2-way marginal, each modelled column's cell counts in both tables, and the two row counts.
    pairs: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=METRIC_COLUMNS))
    one_way: Mapping[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    rows: tuple[int, int] | None = None
    #: The real table's description the metrics were measured with.
    spec: TableSpec | None = None

    def verdict(self, thresholds: Mapping[str, Any] | None = None) -> Verdict:
        """Pass / warn / fail per group of metrics and for the release (:func:`synthsql.verdict.judge`), with the
        registry's thresholds or an office's own."""
        return judge(self.utility, self.risk, thresholds=thresholds)


def measure(
    db: Database,
    real: str,
    synthetic: str,
    *,
    spec: TableSpec | None,
    rules: Iterable[Rule | Mapping[str, Any]],
    formulas: Iterable[str | Mapping[str, Any] | tuple[str, str]],
    pmse: Sequence[str],
    pmse_columns: Sequence[str] | None,
    max_marginals: int,
    seed: int,
    keys: Sequence[str] | None,
    targets: Sequence[str] | None,
    holdout: Holdout | None,
    risk: bool,
    match_id: str | None,
    checked: Callable[[], None] | None = None,
    exclude_target_levels: Mapping[str, Sequence[Any]] | None = None,
) -> Evaluation:
    """Every metric :func:`synthsql.evaluate` asks for, checked whole before the first is computed (then
    ``checked()`` is called: the caller's own checks, such as a refusal to replace stored results, come after the
    request's); writes nothing (the pipeline writes the metric tables, :func:`synthsql.pipeline.evaluate`)."""
    models = list(pmse)
    for name in models:
        if name not in PMSE_MODELS:
            raise InvalidParameterError(
                f"Unknown pMSE model {name!r}.{did_you_mean(name, PMSE_MODELS)} Models: {', '.join(PMSE_MODELS)}."
            )
    check_comparable(db, real, synthetic)
    spec = spec if spec is not None else describe(db, real)
    rule_list = [r if isinstance(r, Rule) else Rule.from_json(r) for r in rules]
    glms = [formula_and_family(f) for f in formulas]
    for formula, _ in glms:
        check_formula_columns(db, (real, synthetic), formula)
    key_names: list[str] = []
    target_names: list[str] = []
    if risk:
        holdout = check_holdout(holdout)
        key_names = spec.keys() if keys is None else _names(keys, "keys")
        target_names = spec.sensitive() if targets is None else _names(targets, "targets")
        target_cols: list[Any] = []
        if key_names:
            key_cols = _check_keys(db, real, synthetic, spec, key_names)
            target_cols = _check_targets(db, real, synthetic, spec, target_names, key_cols)
        elif target_names:
            target_cols = _check(db, real, synthetic, spec, target_names, "target")
        _check_levels(real, target_cols, exclude_target_levels)
        if match_id is not None:
            if not key_names:
                raise InvalidParameterError("The expected match risk (match_id=...) needs the intruder's keys: keys=[...].")
            for table in (real, synthetic):
                names = list(db.table(table).schema().names)
                if match_id not in names:
                    raise ColumnNotFoundError(
                        f"The match_id column {match_id!r} is not in table {table!r}.{did_you_mean(match_id, names)}"
                    )
                check_unique_id(db, table, match_id)
    if checked is not None:
        checked()

    columns = column_summary(db, real, synthetic, spec)
    marginals = marginal_details(db, real, synthetic, spec, max_marginals=max_marginals, seed=seed)
    parts = [column_distances(db, real, synthetic, spec), plausibility(columns),
             missingness_blocks(db, real, synthetic, spec), marginals.summary]
    rule_table = check_rules(db, real, synthetic, rule_list) if rule_list else pd.DataFrame()
    if rule_list:
        parts.append(_rule_metrics(rule_table))
    comparisons = []
    for formula, family in glms:
        try:
            table = compare_glm(db, real, synthetic, formula, family=family, spec=spec)
        except SyntheticFitError as error:
            parts.append(_glm_failed(formula, family, error))
            continue
        comparisons.append(table.assign(formula=formula, family=family))
        parts.append(glm_rows(table, formula, family=family))
    for name in models:
        parts.append(_pmse_rows(name, db, real, synthetic, spec, seed, pmse_columns))
    utility = _metric_frame(parts)
    risk_table = (
        _risk_rows(db, real, synthetic, spec, key_names, target_names, holdout, seed, match_id, exclude_target_levels)
        if risk
        else pd.DataFrame(columns=METRIC_COLUMNS)
    )
    return Evaluation(
        utility=utility,
        columns=columns,
        rules=rule_table,
        glm=pd.concat(comparisons, ignore_index=True) if comparisons else pd.DataFrame(),
        risk=risk_table,
        pairs=marginals.pairs,
        one_way=marginals.one_way,
        rows=marginals.rows,
        spec=spec,
    )


def _metric_frame(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    kept = [p for p in parts if len(p)]
    frame = pd.concat(kept, ignore_index=True)[METRIC_COLUMNS] if kept else pd.DataFrame(columns=METRIC_COLUMNS)
    frame["value"] = frame["value"].astype("float64")
    frame["detail"] = frame["detail"].astype(str)
    return frame


def _risk_rows(
    db: Database,
    real: str,
    synthetic: str,
    spec: TableSpec,
    keys: list[str],
    targets: list[str],
    holdout: Holdout | None,
    seed: int,
    match_id: str | None = None,
    exclude_target_levels: Mapping[str, Sequence[Any]] | None = None,
) -> pd.DataFrame:
    """Every disclosure-risk measure the inputs allow; a row says what was skipped and why."""
    parts = []
    if keys:
        levels = exclude_target_levels
        parts.append(risk_measures(db, real, synthetic, spec, keys=keys, targets=targets, exclude_target_levels=levels))
    else:
        parts.append(
            pd.DataFrame(
                [
                    {
                        "metric": "risk_skipped",
                        "scope": "table",
                        "value": float("nan"),
                        "detail": "key-based disclosure risk not measured: no key columns (pass keys=[...] or "
                        "describe the table with keys=[...])"
                        + ("" if holdout is not None else "; distance-based risk needs keys or a holdout (in a catalog: "
                           "`holdout: 0.2` on the table)"),
                    }
                ],
                columns=METRIC_COLUMNS,
            )
        )
    if holdout is not None or keys:
        parts.append(distance_risk(db, real, synthetic, spec, holdout=holdout, seed=seed))
    if keys and targets:
        parts.append(inference_risk(db, real, synthetic, spec, keys=keys, targets=targets, holdout=holdout, seed=seed))
    if match_id is not None:
        parts.append(expected_match_risk(db, real, synthetic, spec, known=keys, id=match_id))
    return _metric_frame(parts)


def check_comparable(db: Database, real: str, synthetic: str) -> None:
    """Refuse two tables whose columns or column kinds disagree, naming the column."""
    a, b = db.table(real).schema(), db.table(synthetic).schema()
    for name in a.names:
        if name not in b:
            raise ColumnNotFoundError(
                f"Column {name!r} of {real!r} is missing from {synthetic!r}.{did_you_mean(name, b.names)}"
            )
        if kind_of(a[name]) != kind_of(b[name]):
            raise InvalidParameterError(
                f"Column {name!r} is {a[name]} in {real!r} but {b[name]} in {synthetic!r}; the tables must agree."
            )
    extra = [n for n in b.names if n not in a]
    if extra:
        raise ColumnNotFoundError(f"Column {extra[0]!r} of {synthetic!r} is not in {real!r}.")


def formula_and_family(item: str | Mapping[str, Any] | tuple[str, str]) -> tuple[str, str]:
    if isinstance(item, str):
        return item, "gaussian"
    if isinstance(item, Mapping):
        unknown = set(item) - {"formula", "family"}
        if unknown or "formula" not in item:
            raise InvalidParameterError(f"A GLM is {{'formula': ..., 'family': ...}}, got {dict(item)!r}.")
        return str(item["formula"]), str(item.get("family", "gaussian"))
    formula, family = item
    return str(formula), str(family)


def _rule_metrics(table: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for rule, group in table.groupby("rule", sort=False):
        by = {r["table"]: r for r in group.to_dict("records")}
        real, syn = by["real"], by["synthetic"]
        rows.append(
            {
                "metric": "rule_violation_rate",
                "scope": rule,
                "value": syn["rate"],
                "detail": f"synthetic {syn['violations']}/{syn['applicable']}, "
                f"real {real['violations']}/{real['applicable']} ({real['rate']:.4g})",
            }
        )
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def _glm_failed(formula: str, family: str, error: SyntheticFitError) -> pd.DataFrame:
    """A GLM that fits on the real table but not on the synthetic one: a finding, one ``glm_failed`` row."""
    return pd.DataFrame([{"metric": "glm_failed", "scope": formula.strip(), "value": 1.0,
                          "detail": f"{family}: fits on the real table, not on the synthetic one: {error}"}],
                        columns=METRIC_COLUMNS)


def _pmse_rows(
    name: str, db: Database, real: str, synthetic: str, spec: TableSpec, seed: int, columns: Sequence[str] | None
) -> pd.DataFrame:
    if name == "cells":
        r = pmse_cells(db, real, synthetic, spec)
        detail = f"{r['cells']} cells of {', '.join(r['columns'])}"
    elif name == "cart":
        r = pmse_cart(db, real, synthetic, spec, seed=seed)
        detail = f"CART on a seeded sample of {r['rows']} rows, permutation null"
    else:
        try:
            r = pmse_logit(db, real, synthetic, spec, columns=columns)
        except (InvalidParameterError, ModelFitError) as err:
            reason = f"not computed: {err}"
            return pd.DataFrame(
                [{"metric": m, "scope": "table", "value": float("nan"), "detail": reason}
                 for m in ("pmse_logit", "s_pmse_logit")],
                columns=METRIC_COLUMNS,
            )
        detail = f"logistic, {r['parameters']} parameters ({r['model']}), IRLS in the database"
    return pd.DataFrame(
        [
            {"metric": f"pmse_{name}", "scope": "table", "value": r["pmse"], "detail": detail},
            {"metric": f"s_pmse_{name}", "scope": "table", "value": r["s_pmse"], "detail": f"null {r['null']:.6g}"},
        ],
        columns=METRIC_COLUMNS,
    )
