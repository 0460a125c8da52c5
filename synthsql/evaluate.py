"""``evaluate``: utility of a synthetic table against its source, computed in the database, written beside it.

The three kinds of utility a statistical office judges a synthetic file by (Drechsler et al. 2024):

* fit for purpose: per-column summaries side by side, TVD / Kolmogorov-Smirnov / Wasserstein-1 per column, edit
  rules with violation rates (:mod:`synthsql.metrics.fitness`);
* global: mean and max TVD of the 1-, 2- and 3-way marginals, the k-marginal score (:mod:`synthsql.metrics.utility`)
  and the propensity-score pMSE with its ratio to the null (:mod:`synthsql.metrics.pmse`, :mod:`synthsql.metrics.glm`);
* outcome-specific: the same GLMs fitted on both tables, compared per coefficient by confidence-interval overlap and
  standardised difference (:mod:`synthsql.metrics.glm`).

All the metric rows (metric, scope, value, detail) are written as the table ``<synthetic>__utility``, atomically,
once every metric has been computed: a failure leaves the database as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa

from synthsql.connection import Database, TableRef, connect
from synthsql.errors import ColumnNotFoundError, InvalidParameterError, did_you_mean
from synthsql.metrics.fitness import Rule, check_rules, column_distances, column_summary
from synthsql.metrics.glm import compare_glm, glm_rows
from synthsql.errors import ModelFitError
from synthsql.metrics.pmse import pmse_cart, pmse_cells, pmse_logit
from synthsql.metrics.utility import marginal_summary
from synthsql.schema import TableSpec, describe, kind_of
from synthsql.write import write_table

__all__ = ["Evaluation", "evaluate", "PMSE_MODELS"]

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


def evaluate(
    con: Database | Any,
    /,
    *,
    real: str,
    synthetic: str,
    spec: TableSpec | None = None,
    rules: Iterable[Rule | Mapping[str, Any]] = (),
    formulas: Iterable[str | Mapping[str, Any] | tuple[str, str]] = (),
    pmse: Sequence[str] = PMSE_MODELS,
    pmse_columns: Sequence[str] | None = None,
    max_marginals: int = 300,
    seed: int = 0,
    write: bool = True,
) -> Evaluation:
    """Measure the utility of ``synthetic`` against ``real`` in the database, and write ``<synthetic>__utility``.

    ``spec`` is the real table's description (inferred when omitted); ``rules`` are edit rules
    (``Rule("age", "age >= 0")`` or ``{"name": ..., "condition": ..., "when": ...}``); ``formulas`` are GLMs
    (``"income ~ age + sex"``, ``("visits ~ age", "poisson")`` or ``{"formula": ..., "family": ...}``); ``pmse``
    picks the propensity models and ``pmse_columns`` the columns of the logistic one (default: all modelled columns;
    a design over its parameter cap, or one that separates the tables perfectly, is reported as a NaN row whose
    detail says why). Everything is checked before anything is written.

    >>> import synthsql as ss
    >>> db = ss.connect("duckdb://")
    >>> _ = ss.datasets.load(db, "cps1988")
    >>> model = ss.fit(db, "cps1988", method="independent", seed=1)
    >>> _ = ss.materialize(db, model, "cps_synth", seed=1)
    >>> result = ss.evaluate(db, real="cps1988", synthetic="cps_synth", pmse=["cells"])
    >>> result.tables
    ('cps_synth__utility',)
    """
    db = connect(con)
    models = list(pmse)
    for name in models:
        if name not in PMSE_MODELS:
            raise InvalidParameterError(
                f"Unknown pMSE model {name!r}.{did_you_mean(name, PMSE_MODELS)} Models: {', '.join(PMSE_MODELS)}."
            )
    check_comparable(db, real, synthetic)
    target = TableRef.parse(synthetic)
    target = TableRef(f"{target.name}__utility", target.schema).check_safe() if write else target
    spec = spec if spec is not None else describe(db, real)
    rule_list = [r if isinstance(r, Rule) else Rule.from_json(r) for r in rules]
    glms = [_formula(f) for f in formulas]

    parts = [column_distances(db, real, synthetic, spec), marginal_summary(db, real, synthetic, spec,
                                                                          max_marginals=max_marginals, seed=seed)]
    rule_table = check_rules(db, real, synthetic, rule_list) if rule_list else pd.DataFrame()
    if rule_list:
        parts.append(_rule_metrics(rule_table))
    comparisons = [compare_glm(db, real, synthetic, formula, family=family, spec=spec).assign(formula=formula,
                                                                                               family=family)
                   for formula, family in glms]
    for (formula, family), table in zip(glms, comparisons, strict=True):
        parts.append(glm_rows(table, formula, family=family))
    for name in models:
        parts.append(_pmse_rows(name, db, real, synthetic, spec, seed, pmse_columns))
    utility = pd.concat([p for p in parts if len(p)], ignore_index=True)[METRIC_COLUMNS]
    utility["value"] = utility["value"].astype("float64")
    utility["detail"] = utility["detail"].astype(str)
    tables: tuple[str, ...] = ()
    if write:
        write_table(db, target, pa.Table.from_pandas(utility, preserve_index=False), replace=True)
        tables = (str(target),)
    return Evaluation(
        utility=utility,
        columns=column_summary(db, real, synthetic, spec),
        rules=rule_table,
        glm=pd.concat(comparisons, ignore_index=True) if comparisons else pd.DataFrame(),
        tables=tables,
    )


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


def _formula(item: str | Mapping[str, Any] | tuple[str, str]) -> tuple[str, str]:
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
