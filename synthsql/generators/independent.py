"""``independent``: each column drawn from its own 1-way marginal (a product of marginals).

The baseline every other method must beat: it keeps each column's distribution exactly and no dependence at all.
Fitted on 1-way marginals only. An edit rule on one column becomes structural zeros: the cells it forbids
(:func:`synthsql.rules.forbidden_cells`) get count 0 and the marginal is renormalised; a rule tying columns together
cannot be held by a product of marginals and is left to rejection at sampling.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from synthsql.aggregates import AggregateStore
from synthsql.generators import (
    CellSampler,
    Fitting,
    bin_quantiles,
    cumulative,
    register,
    structural_zeros,
    without_forbidden,
)
from synthsql.model import Model
from synthsql.model_format import StateCheck

__all__ = ["Independent", "IndependentModel"]


class IndependentModel(Model):
    generator = "independent"

    def __init__(self, *, counts: Mapping[str, np.ndarray], **common: Any) -> None:
        super().__init__(**common)
        self.counts = {k: np.asarray(v, dtype=np.int64) for k, v in counts.items()}
        self._cdf = {k: CellSampler(cumulative(v[None, :])) for k, v in self.counts.items()}

    def _draw(self, n: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        return {c.name: self._cdf[c.name].draw(None, rng.random(n)) for c in self.spec.modelled}, {}

    def _state(self) -> dict[str, Any]:
        return {"counts": {k: v.tolist() for k, v in self.counts.items()}}

    @classmethod
    def _from_state(cls, state: Mapping[str, Any], **common: Any) -> Model:
        return cls(counts=state["counts"], **common)

    @classmethod
    def _check_state(cls, state: Any, check: StateCheck) -> None:
        check.oneway(check.fields(state, "state", ("counts",))["counts"], "state.counts")


@register
class Independent:
    """Product of 1-way marginals."""

    name = "independent"

    def fit(self, store: AggregateStore, fitting: Fitting, /) -> Model:
        names = [c.name for c in store.spec.modelled]
        counts = dict(zip(names, store.marginals([(name,) for name in names]), strict=True))
        zeros = structural_zeros(fitting.rules, store.spec)  # rules on one column: its forbidden cells get 0
        counts = {name: without_forbidden(table, [name], zeros) for name, table in counts.items()}
        return IndependentModel(
            counts=counts, spec=store.spec, params={}, quantiles=bin_quantiles(store), **fitting.provenance()
        )
