"""``copula``: a Gaussian copula over the columns, from in-database 1-way marginals and Spearman correlations.

Each column is seen through its cumulative distribution over its cells, in value order with NULL first (categories
in their declared order). Spearman's rho between columns is computed in the database on mid-ranks and turned into
the latent normal correlation with Pearson's relation r = 2 sin(pi rho / 6) (exact for a Gaussian copula); the
matrix is then projected onto the nearest positive definite correlation matrix by clipping eigenvalues.

Sampling draws Z ~ N(0, R), maps U = Phi(Z) through each column's cumulative distribution to a cell, and uses the
position of U inside the cell's probability interval as the position of the value inside its numeric bin, so ranks
are kept down to the within-bin quantiles.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

from synthsql.aggregates import AggregateStore, value_order
from synthsql.generators import Fitting, bin_quantiles, cumulative, register
from synthsql.model import Model
from synthsql.model_format import StateCheck
from synthsql.schema import NUMERIC_KINDS

__all__ = ["GaussianCopula", "CopulaModel", "nearest_correlation"]


def nearest_correlation(matrix: np.ndarray, floor: float = 1e-6) -> np.ndarray:
    """A positive definite correlation matrix close to ``matrix`` (eigenvalues clipped at ``floor``, unit diagonal)."""
    sym = (matrix + matrix.T) / 2.0
    values, vectors = np.linalg.eigh(sym)
    fixed = (vectors * np.clip(values, floor, None)) @ vectors.T
    scale = np.sqrt(np.diag(fixed))
    out = fixed / np.outer(scale, scale)
    np.fill_diagonal(out, 1.0)
    return out


class CopulaModel(Model):
    generator = "copula"

    def __init__(self, *, counts: Mapping[str, np.ndarray], correlation: np.ndarray, **common: Any) -> None:
        super().__init__(**common)
        self.counts = {k: np.asarray(v, dtype=np.int64) for k, v in counts.items()}
        self.correlation = np.asarray(correlation, dtype=np.float64)
        self._names = [c.name for c in self.spec.modelled]
        self._chol = np.linalg.cholesky(nearest_correlation(self.correlation)) if self._names else None
        self._ordinal: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._numeric = {c.name for c in self.spec.modelled if c.kind in NUMERIC_KINDS}
        for col in self.spec.modelled:
            order = value_order(col)  # NULL first, then cells in value order (special values at their places)
            upper = cumulative(self.counts[col.name][order][None, :])[0]
            # Cells are found on the latent normal scale (Z <= Phi^-1(upper)), so only numeric columns need Phi(Z).
            self._ordinal[col.name] = (order, upper, ndtri(upper))

    def _draw(self, n: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        if not self._names:
            return {}, {}
        z = self._chol @ rng.standard_normal((len(self._names), n))  # one contiguous row per column
        codes: dict[str, np.ndarray] = {}
        within: dict[str, np.ndarray] = {}
        for k, name in enumerate(self._names):
            order, upper, latent = self._ordinal[name]
            position = np.searchsorted(latent, z[k], side="right").clip(0, len(order) - 1)
            codes[name] = order[position]
            if name in self._numeric:  # the position of U = Phi(Z) inside its cell places the value in its bin
                u = ndtr(z[k])
                lower = np.where(position > 0, upper[position - 1], 0.0)
                width = upper[position] - lower
                within[name] = np.where(width > 0, (u - lower) / np.where(width > 0, width, 1.0), 0.5)
        return codes, within

    def _state(self) -> dict[str, Any]:
        return {
            "counts": {k: v.tolist() for k, v in self.counts.items()},
            "correlation": self.correlation.tolist(),
        }

    @classmethod
    def _from_state(cls, state: Mapping[str, Any], **common: Any) -> Model:
        return cls(counts=state["counts"], correlation=np.asarray(state["correlation"]), **common)

    @classmethod
    def _check_state(cls, state: Any, check: StateCheck) -> None:
        state = check.fields(state, "state", ("counts", "correlation"))
        check.oneway(state["counts"], "state.counts")
        check.correlation(state["correlation"], "state.correlation", check.modelled)


@register
class GaussianCopula:
    """Gaussian copula with empirical (binned, within-bin quantile) marginals."""

    name = "copula"

    def fit(self, store: AggregateStore, fitting: Fitting, /) -> Model:
        names = [c.name for c in store.spec.modelled]
        counts = dict(zip(names, store.marginals([(name,) for name in names]), strict=True))
        rho = store.rank_correlation(names) if names else np.eye(0)
        correlation = 2.0 * np.sin(np.pi * rho / 6.0)
        np.fill_diagonal(correlation, 1.0)
        return CopulaModel(
            counts=counts,
            correlation=correlation,
            spec=store.spec,
            params={},
            quantiles=bin_quantiles(store),
            **fitting.provenance(),
        )
