"""``uniform``: every column drawn uniformly from its domain, reading nothing from the data.

The ``structural`` purpose of the ESSnet work: a file with the source's schema and domains (categories, bins) and
no statistical content beyond the spec itself, for software testing. Fitting it asks the database for nothing; each
column is NULL at the spec's NULL share and otherwise takes any of its categories or bins with equal probability.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from synthsql.aggregates import AggregateStore
from synthsql.generators import Fitting, register
from synthsql.model import Model

__all__ = ["Uniform", "UniformModel"]


class UniformModel(Model):
    generator = "uniform"

    def _draw(self, n: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        codes = {}
        for col in self.spec.modelled:
            values = rng.integers(0, col.cells - 1, size=n)
            values = np.where(rng.random(n) < col.null_share, col.null_code, values)
            codes[col.name] = values
        return codes, {}

    def _state(self) -> dict[str, Any]:
        return {}

    @classmethod
    def _from_state(cls, state: Mapping[str, Any], **common: Any) -> Model:
        return cls(**common)


@register
class Uniform:
    """Uniform over each column's domain: schema and domains only (the structural file)."""

    name = "uniform"

    def fit(self, store: AggregateStore, fitting: Fitting, /) -> Model:
        return UniformModel(spec=store.spec, params={}, quantiles={}, **fitting.provenance())
