"""PrivBayes (Zhang, Cormode, Procopiuc, Srivastava & Xiao 2017): a differentially private Bayesian network.

The network is built greedily, as in PrivBayes: the first column is drawn at random (independently of the data);
then, ``d - 1`` times, the exponential mechanism picks the next (column, parents) pair among the unplaced columns
and parent sets of up to ``degree`` placed columns (at most ``candidates`` pairs per step, drawn at random). As PrivBayes'
theta-usefulness asks, a joint table may have at most ``noisy total / (theta * sigma)`` cells (and ``max_cells``),
so that its average count is ``theta`` times the noise: a small budget gets fewer parents. Finally each column's joint table with its parents is measured with
Gaussian noise, negative counts are set to zero, and the conditionals are read from those noisy tables.

Budget split (zCDP): ``0.1 rho`` on the 1-way marginals, which give the independence baseline of the score;
``0.2 rho`` on the ``d - 1`` selections; ``0.7 rho`` on the ``d`` noisy joint tables. The score of a pair is the L1
distance between its exact joint counts N(parents, x) and N(parents) times x's noisy 1-way shares, the counts
expected if x were independent of its parents: adding or removing a row changes it by at most 2, a sensitivity
that does not depend on the row count (PrivBayes' own scores, mutual information and F, do). (Scoring against
full independence instead rewards parents that depend on each other, not on x: on eusilc at epsilon 10 it chose
two copies of the same weight as everybody's parents and the sample's 2-way TVD was 0.39.)
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from synthsql.aggregates import AggregateStore
from synthsql.errors import InvalidParameterError
from synthsql.generators import Fitting, check_int, register
from synthsql.generators.graphical import GraphicalModel, noisy_oneway, noisy_total, public_spec, structural
from synthsql.model import Model
from synthsql.privacy import Budget


class PrivBayesModel(GraphicalModel):
    generator = "privbayes"


@register
class PrivBayes:
    """PrivBayes: a degree-k Bayesian network chosen and measured with differential privacy."""

    name = "privbayes"
    private = True

    def __init__(
        self, *, degree: int = 2, candidates: int = 200, max_cells: int = 100_000, theta: float = 4.0
    ) -> None:
        self.degree = check_int(self.name, "degree", degree, 1)
        if isinstance(theta, bool) or not isinstance(theta, (int, float)) or not theta > 0:
            raise InvalidParameterError(f"The 'theta' parameter of privbayes must be a number > 0, got {theta!r}.")
        self.theta = float(theta)
        self.candidates = check_int(self.name, "candidates", candidates, 1)
        self.max_cells = check_int(self.name, "max_cells", max_cells, 1)

    def plan(self, d: int, rho: float) -> list[float]:
        rho *= 1 - 1e-9
        if d == 1:
            return [rho]
        return [0.1 * rho / d] * d + [0.2 * rho / (d - 1)] * (d - 1) + [0.7 * rho / d] * d

    def fit(self, store: AggregateStore, fitting: Fitting, /) -> Model:
        budget, rng = fitting.budget, fitting.rng
        columns = [c.name for c in store.spec.modelled]
        cells = {c.name: c.cells for c in store.spec.modelled}
        d = len(columns)
        plan = self.plan(d, budget.remaining)
        budget.check_plan(plan, self.name)
        if d == 1:
            (oneway,) = noisy_oneway(store, budget, columns, Budget.sigma_for(plan[0]), step="joint table")
            table = np.clip(oneway.values, 0, None)
            return self._model(store, fitting, [columns[0]], {columns[0]: []}, {columns[0]: table}, oneway.values.sum())
        oneway = noisy_oneway(store, budget, columns, Budget.sigma_for(plan[0]))
        total = noisy_total(oneway)
        shares = {m.columns[0]: np.clip(m.values, 0, None) / max(np.clip(m.values, 0, None).sum(), 1.0) for m in oneway}

        sigma = Budget.sigma_for(plan[-1])
        # theta-usefulness: a joint table may have at most total / (theta sigma) cells, so that its average count
        # is theta times the noise; fewer parents when the budget is small
        limit = min(self.max_cells, total / (self.theta * sigma))
        order = [columns[int(rng.integers(d))]]
        parents: dict[str, list[str]] = {order[0]: []}
        epsilon = math.sqrt(8 * plan[d])
        while len(order) < d:
            pairs = self._candidates(order, columns, cells, limit, rng)
            exact = store.marginals([(*p, x) for x, p in pairs])
            scores = []
            for (x, p), counts in zip(pairs, exact, strict=True):
                # x independent of its parents: the parents' own joint counts times x's noisy 1-way shares
                expected = counts.sum(axis=-1, keepdims=True) * shares[x]
                scores.append(float(np.abs(counts - expected).sum()))
            index = budget.exponential(scores, epsilon=epsilon, sensitivity=2.0, step="select parents", columns=())
            x, p = pairs[index]
            order.append(x)
            parents[x] = list(p)

        exact = store.marginals([(*parents[x], x) for x in order])
        tables = {
            x: np.clip(budget.gaussian(counts, sigma=sigma, step="joint table", columns=(*parents[x], x)), 0, None)
            for x, counts in zip(order, exact, strict=True)
        }
        return self._model(store, fitting, order, parents, tables, total)

    def _candidates(
        self, placed: list[str], columns: list[str], cells: dict[str, int], limit: float, rng: np.random.Generator
    ) -> list[tuple[str, tuple[str, ...]]]:
        """(column, parents) pairs for the next step: the most parents (up to ``degree``) whose joint table has at
        most ``limit`` cells (PrivBayes' theta-usefulness), drawn at random when there are more than ``candidates``."""
        for k in range(min(self.degree, len(placed)), -1, -1):
            pairs = [
                (x, p)
                for x in columns
                if x not in placed
                for p in itertools.combinations(placed, k)
                if k == 0 or math.prod(cells[c] for c in (*p, x)) <= limit
            ]
            if pairs:
                break
        if len(pairs) > self.candidates:
            keep = np.sort(rng.choice(len(pairs), size=self.candidates, replace=False))
            pairs = [pairs[i] for i in keep]
        return pairs

    def _model(self, store, fitting, order, parents, tables, total) -> Model:  # type: ignore[no-untyped-def]
        return PrivBayesModel(
            order=order,
            parents=parents,
            tables=structural({k: np.asarray(v, dtype=np.float64) for k, v in tables.items()}, parents, store.spec,
                              fitting.rules),
            spec=public_spec(store.spec, float(total)),
            params={
                "degree": self.degree,
                "candidates": self.candidates,
                "max_cells": self.max_cells,
                "theta": self.theta,
            },
            quantiles={},
            **fitting.provenance(),
        )

