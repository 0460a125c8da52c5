"""MST (McKenna, Miklau & Sheldon 2021, "Winning the NIST Contest"): a differentially private maximum spanning tree.

The budget rho is split in three equal parts, as in the reference implementation:

1. every 1-way marginal, with Gaussian noise (each gets rho / (3 d) for d columns); cells whose noisy count is
   below 3 sigma are merged into one cell per column (domain compression);
2. a spanning tree chosen by d - 1 exponential mechanisms (each rho / (3 (d - 1))), Kruskal style: the score of a
   pair is the L1 distance between its exact 2-way counts and the counts the 1-way model predicts (sensitivity 1);
3. the 2-way marginal of each tree edge, with Gaussian noise (each rho / (3 (d - 1))).

The graphical model is then estimated from all the noisy marginals (Private-PGM) and sampled as a tree-shaped
Bayesian network. The database computes the exact marginals (1-way, then every 2-way pair in one scan); Python sees
counts over the domain only.
"""

from __future__ import annotations

import itertools
import numpy as np

from synthsql.aggregates import AggregateStore
from synthsql.generators import Fitting, check_int, register
from synthsql.generators.graphical import (
    Compression,
    GraphicalModel,
    Noisy,
    Projector,
    estimate,
    network_from,
    noisy_oneway,
    public_spec,
    structural,
)
from synthsql.model import Model
from synthsql.privacy import Budget


class MSTModel(GraphicalModel):
    generator = "mst"


@register
class MST:
    """MST: noisy 1-way marginals, a DP-selected maximum spanning tree of 2-way marginals, Private-PGM estimation."""

    name = "mst"
    private = True

    def __init__(self, *, iters: int = 2000) -> None:
        self.iters = check_int(self.name, "iters", iters, 1)

    def plan(self, d: int, rho: float) -> list[float]:
        """The rho of every step, in order (1-way marginals, selections, 2-way marginals)."""
        rho *= 1 - 1e-9  # so that rounding in the sums never takes the ledger over the budget
        if d == 1:
            return [rho]
        third = rho / 3.0
        return [third / d] * d + [third / (d - 1)] * (d - 1) + [third / (d - 1)] * (d - 1)

    def fit(self, store: AggregateStore, fitting: Fitting, /) -> Model:
        budget = fitting.budget
        columns = [c.name for c in store.spec.modelled]
        d = len(columns)
        rho = budget.remaining
        plan = self.plan(d, rho)
        budget.check_plan(plan, self.name)
        store.check_cells([(c,) for c in columns] + list(itertools.combinations(columns, 2)))  # all pairs are scored
        sizes = {c.name: c.cells for c in store.spec.modelled}
        sigma1 = Budget.sigma_for(plan[0])
        oneway = noisy_oneway(store, budget, columns, sigma1)
        compression = Compression.from_oneway(sizes, oneway)
        measurements = [compression.oneway(m) for m in oneway]
        if d > 1:
            edges = self._select(store, budget, columns, compression, measurements, plan[d])
            sigma2 = Budget.sigma_for(plan[-1])
            exact = store.marginals(edges)
            for edge, counts in zip(edges, exact, strict=True):
                x = compression.counts(edge, counts)
                y = budget.gaussian(np.rint(x).astype(np.int64), sigma=sigma2, step="2-way marginal", columns=edge)
                measurements.append(Noisy(edge, y.ravel().astype(np.float64), sigma2))
        model = estimate(compression.sizes, measurements, iters=self.iters)
        order, parents, tables = network_from(model, columns)
        return MSTModel(
            order=order,
            parents=parents,
            tables=structural(tables, parents, store.spec, fitting.rules, compression.groups),
            groups=compression.groups,
            spec=public_spec(store.spec, float(model.total)),
            params={"iters": self.iters},
            quantiles={},
            **fitting.provenance(),
        )

    def _select(
        self,
        store: AggregateStore,
        budget: Budget,
        columns: list[str],
        compression: Compression,
        oneway: list[Noisy],
        rho_each: float,
    ) -> list[tuple[str, ...]]:
        """Kruskal's algorithm with each edge chosen by the exponential mechanism."""
        # the model of the 1-way measurements alone is a product of its 1-way marginals: a pair's projection is the
        # outer product of the two (no inference needed)
        independent = estimate(compression.sizes, oneway, iters=500)
        total = float(independent.total)
        projector = Projector(independent)
        share = {c: projector((c,)) / total for c in columns}
        pairs = list(itertools.combinations(columns, 2))
        exact = store.marginals(pairs)
        score = {
            pair: float(np.abs(compression.counts(pair, x) - total * np.outer(share[pair[0]], share[pair[1]])).sum())
            for pair, x in zip(pairs, exact, strict=True)
        }
        epsilon = float(np.sqrt(8.0 * rho_each))
        component = {c: c for c in columns}

        def root(c: str) -> str:
            while component[c] != c:
                c = component[c]
            return c

        chosen: list[tuple[str, ...]] = []
        for _ in range(len(columns) - 1):
            candidates = [p for p in pairs if root(p[0]) != root(p[1])]
            index = budget.exponential(
                [score[p] for p in candidates], epsilon=epsilon, sensitivity=1.0, step="select edge", columns=()
            )
            a, b = candidates[index]
            component[root(a)] = root(b)
            chosen.append((a, b))
        return chosen

