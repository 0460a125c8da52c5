"""Global utility: can a propensity model tell the real rows from the synthetic ones? (Woo et al. 2009)

Stack the real (n1 rows) and synthetic (n2 rows) tables, label synthetic rows t = 1, fit a propensity model, and
measure how far the fitted probabilities stray from the share c = n2 / N they would all have if the tables were
indistinguishable: pMSE = (1/N) * sum_i (p_i - c)^2. S_pMSE divides by the pMSE expected when the synthetic data come
from the same distribution (Snoke et al. 2018), so about 1 is ideal and large values flag a poor synthesis.

* :func:`pmse_cells`: the propensity is the synthetic share of each cell of a set of categorical columns, from one
  GROUP BY per table (a saturated logistic model on the cells); null expectation (g - 1)(1 - c)^2 c / N with g
  non-empty cells.
* :func:`pmse_cart`: a classification tree (scikit-learn) fitted on a *declared, bounded, seeded sample* of rows
  from each table (this metric truly needs rows, so it says so and caps them); the null is the mean pMSE of the
  same tree fitted after permuting the labels (Snoke et al. 2018, section 3.2).
* The logistic pMSE with all two-way interactions, fitted in the database by IRLS, is in :mod:`synthsql.metrics.glm`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ibis
import numpy as np

from synthsql.aggregates import AggregateStore
from synthsql.connection import Database, connect
from synthsql.discretize import encode
from synthsql.errors import InvalidParameterError
from synthsql.schema import TableSpec

__all__ = ["pmse_cells", "pmse_cart", "propensity_mse"]


def propensity_mse(p: np.ndarray, weights: np.ndarray, c: float) -> float:
    """(1/N) * sum_i w_i (p_i - c)^2 for propensities ``p`` shared by ``weights`` rows each."""
    return float(np.sum(weights * (p - c) ** 2) / np.sum(weights))


def pmse_cells(
    con: Database | Any, real: str, synthetic: str, spec: TableSpec, /, *, columns: Sequence[str] | None = None
) -> dict[str, Any]:
    """Cell-based pMSE over ``columns`` (default: the key columns of ``spec``, else every categorical column).

    Returns ``{"pmse", "s_pmse", "null", "cells", "columns"}``.
    """
    db = connect(con)
    if columns is None:
        columns = spec.keys() or [c.name for c in spec.modelled if c.kind in ("categorical", "boolean")]
    columns = list(columns)
    if not columns:
        raise InvalidParameterError("Cell-based pMSE needs at least one column; name them with columns=[...].")
    a = AggregateStore(db, real, spec).marginal(columns).ravel().astype(np.float64)
    b = AggregateStore(db, synthetic, spec).marginal(columns).ravel().astype(np.float64)
    n = a + b
    occupied = n > 0
    total = n.sum()
    c = b.sum() / total
    pmse = propensity_mse(b[occupied] / n[occupied], n[occupied], c)
    cells = int(occupied.sum())
    null = (cells - 1) * (1 - c) ** 2 * c / total
    return {"pmse": pmse, "s_pmse": float(pmse / null) if null > 0 else float("nan"), "null": float(null), "cells": cells,
            "columns": columns}


def pmse_cart(
    con: Database | Any,
    real: str,
    synthetic: str,
    spec: TableSpec,
    /,
    *,
    sample_rows: int = 5000,
    permutations: int = 20,
    max_depth: int | None = None,
    min_samples_leaf: int = 5,
    seed: int = 0,
) -> dict[str, Any]:
    """pMSE of a CART propensity model on a bounded sample, with the permutation null.

    At most ``sample_rows`` rows are drawn from each table, in the database, as cell codes of the modelled columns
    (``sample_rows`` is what crosses into Python; the sample is seeded and repeatable, but DuckDB and PostgreSQL hash
    differently and so draw different rows). Returns ``{"pmse", "s_pmse", "null", "rows"}``.
    """
    from sklearn.tree import DecisionTreeClassifier

    db = connect(con)
    if sample_rows < 10:
        raise InvalidParameterError(f"The 'sample_rows' parameter of pmse_cart must be >= 10. Got {sample_rows}.")
    frames = [_coded_sample(db, name, spec, sample_rows, seed) for name in (real, synthetic)]
    x = np.vstack(frames)
    t = np.r_[np.zeros(len(frames[0])), np.ones(len(frames[1]))]
    c = t.mean()
    rng = np.random.default_rng(seed)

    def fitted_pmse(labels: np.ndarray) -> float:
        tree = DecisionTreeClassifier(max_depth=max_depth, min_samples_leaf=min_samples_leaf, random_state=seed)
        tree.fit(x, labels)
        return propensity_mse(tree.predict_proba(x)[:, 1], np.ones(len(labels)), c)

    observed = fitted_pmse(t)
    null = float(np.mean([fitted_pmse(rng.permutation(t)) for _ in range(permutations)]))
    return {"pmse": observed, "s_pmse": observed / null if null > 0 else float("nan"), "null": null, "rows": len(t)}


def _coded_sample(db: Database, name: str, spec: TableSpec, rows: int, seed: int) -> np.ndarray:
    """At most ``rows`` rows of cell codes, the ones with the smallest seeded hash: a top-N, so bounded memory, and
    the same rows every time on one backend (identical rows hash alike, so ties cannot change the sample)."""
    t = db.table(name)
    codes = t.select(**{f"c{i}": encode(t[c.name], c) for i, c in enumerate(spec.modelled)})
    key = ibis.literal(str(seed)).concat(*[ibis.literal("|").concat(codes[k].cast("string")) for k in codes.columns])
    sample = codes.mutate(h_=key.hash()).order_by(["h_", *codes.columns]).limit(rows).drop("h_")
    return sample.to_pandas().to_numpy(dtype=np.float64)
