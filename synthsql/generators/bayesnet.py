"""``bayesnet``: a Bayesian network over the columns' cells, fitted on k-way marginals.

With ``degree=1`` the network is a Chow-Liu tree (Chow & Liu 1968): the maximum spanning tree of pairwise mutual
information, which is the best tree-shaped approximation of the joint distribution in Kullback-Leibler divergence.
With ``degree=k > 1`` each column takes up to ``k`` parents, chosen greedily by mutual information as in PrivBayes
(Zhang et al. 2017), without noise: columns are visited in the tree's order and each one picks, among the
``candidates`` already placed columns it shares most information with, the parent set of size ``k`` with the largest
mutual information whose conditional table stays within ``max_cells`` cells.

Fitted on all 1- and 2-way marginals (plus the (k+1)-way marginals of the candidate parent sets); sampled by
ancestral sampling. A parent configuration never seen in the data falls back to the column's 1-way marginal.

Edit rules become structural zeros where the network can hold them: the cells a rule forbids
(:func:`synthsql.rules.forbidden_cells`) get count 0 in the conditional table of the rule's last column when its other
columns are that column's parents (``wage = 0 WHEN age < 15`` with ``age`` a parent of ``wage``: children keep their
share and draw no wage), so each conditional is renormalised over the allowed cells; rejection at sampling
(:meth:`~synthsql.model.Model.sample`) covers the rest.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from synthsql.aggregates import AggregateStore
from synthsql.generators import (
    CellSampler,
    Fitting,
    bin_quantiles,
    check_int,
    conditional_cdf,
    draw_network,
    register,
    structural_zeros,
    without_forbidden,
)
from synthsql.model import Model, table_from_json, table_to_json
from synthsql.model_format import StateCheck

__all__ = ["BayesNet", "BayesNetModel", "mutual_information", "chow_liu_order"]


def mutual_information(counts: np.ndarray) -> float:
    """Plug-in mutual information (nats) between the first axis and the remaining axes of a count table."""
    counts = np.asarray(counts, dtype=np.float64).reshape(counts.shape[0], -1)
    total = counts.sum()
    if total <= 0:
        return 0.0
    joint = counts / total
    px = joint.sum(axis=1, keepdims=True)
    py = joint.sum(axis=0, keepdims=True)
    mask = joint > 0
    return float(np.sum(joint[mask] * np.log(joint[mask] / (px @ py)[mask])))


def chow_liu_order(mi: np.ndarray) -> tuple[list[int], list[int | None]]:
    """Prim's maximum spanning tree: the visiting order and each node's parent (None for the root).

    The root is the column with the largest total mutual information; ties go to the earlier column, so the tree is
    deterministic.
    """
    d = mi.shape[0]
    if d == 0:
        return [], []
    root = int(np.argmax(mi.sum(axis=1) - np.diag(mi)))
    order, parent = [root], [None] * d
    best = mi[root].copy()
    link = [root] * d
    placed = np.zeros(d, dtype=bool)
    placed[root] = True
    for _ in range(d - 1):
        score = np.where(placed, -np.inf, best)
        nxt = int(np.argmax(score))
        order.append(nxt)
        parent[nxt] = link[nxt]
        placed[nxt] = True
        better = (~placed) & (mi[nxt] > best)
        best = np.where(better, mi[nxt], best)
        link = [nxt if better[i] else link[i] for i in range(d)]
    return order, parent


class BayesNetModel(Model):
    generator = "bayesnet"

    def __init__(
        self,
        *,
        order: Sequence[str],
        parents: Mapping[str, Sequence[str]],
        counts: Mapping[str, np.ndarray],
        **common: Any,
    ) -> None:
        super().__init__(**common)
        self.order = list(order)
        self.parents = {k: list(v) for k, v in parents.items()}
        # counts[x] has shape (cells of each parent ..., cells of x): the joint counts of the parents and x.
        self.counts = {k: np.asarray(v, dtype=np.int64) for k, v in counts.items()}
        self._cdf = {name: CellSampler(conditional_cdf(self.counts[name])) for name in self.order}

    def _draw(self, n: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        shapes = {k: v.shape[:-1] for k, v in self.counts.items()}
        return draw_network(self.order, self.parents, self._cdf, shapes, n, rng), {}

    def _state(self) -> dict[str, Any]:
        return {
            "order": self.order,
            "parents": self.parents,
            "counts": {k: table_to_json(v) for k, v in self.counts.items()},
        }

    @classmethod
    def _from_state(cls, state: Mapping[str, Any], **common: Any) -> Model:
        counts = {k: table_from_json(v, np.int64) for k, v in state["counts"].items()}
        return cls(order=state["order"], parents=state["parents"], counts=counts, **common)

    @classmethod
    def _check_state(cls, state: Any, check: StateCheck) -> None:
        state = check.fields(state, "state", ("order", "parents", "counts"))
        order, parents = check.network(state, "state", check.modelled)
        check.tables(state["counts"], "state.counts", order, parents, kind="count")


@register
class BayesNet:
    """Chow-Liu tree (``degree=1``) or a greedy degree-k Bayesian network over the columns' cells."""

    name = "bayesnet"

    def __init__(self, *, degree: int = 2, candidates: int = 6, max_cells: int = 100_000) -> None:
        self.degree = check_int(self.name, "degree", degree, 1)
        self.candidates = check_int(self.name, "candidates", candidates, 1)
        self.max_cells = check_int(self.name, "max_cells", max_cells, 1)

    def fit(self, store: AggregateStore, fitting: Fitting, /) -> Model:
        spec = store.spec
        names = [c.name for c in spec.modelled]
        cells = {c.name: c.cells for c in spec.modelled}
        d = len(names)
        pairs = list(itertools.combinations(range(d), 2))
        store.check_cells([(names[i], names[j]) for i, j in pairs])  # mutual information of every pair
        mi = np.zeros((d, d))
        for (i, j), table in zip(pairs, store.marginals([(names[i], names[j]) for i, j in pairs]), strict=True):
            mi[i, j] = mi[j, i] = mutual_information(table)
        order_idx, tree_parent = chow_liu_order(mi)
        order = [names[i] for i in order_idx]
        parents = {names[i]: [] if tree_parent[i] is None else [names[tree_parent[i]]] for i in order_idx}
        if self.degree > 1:
            candidates = self._candidate_sets(order_idx, tree_parent, mi, names, cells)
            tables = store.marginals([(x, *subset) for x, subset in candidates])
            best = {names[i]: mi[i, tree_parent[i]] for i in order_idx if tree_parent[i] is not None}
            for (x, subset), table in zip(candidates, tables, strict=True):
                score = mutual_information(table)
                if score > best[x] + 1e-12:
                    best[x], parents[x] = score, list(subset)
        counts = dict(zip(order, store.marginals([(*parents[x], x) for x in order]), strict=True))
        zeros = structural_zeros(fitting.rules, spec)  # cells the edit rules forbid get probability 0
        counts = {x: without_forbidden(table, [*parents[x], x], zeros) for x, table in counts.items()}
        return BayesNetModel(
            order=order,
            parents=parents,
            counts=counts,
            spec=spec,
            params={"degree": self.degree, "candidates": self.candidates, "max_cells": self.max_cells},
            quantiles=bin_quantiles(store),
            **fitting.provenance(),
        )

    def _candidate_sets(
        self,
        order_idx: list[int],
        tree_parent: list[int | None],
        mi: np.ndarray,
        names: list[str],
        cells: Mapping[str, int],
    ) -> list[tuple[str, tuple[str, ...]]]:
        """For each column after the root, the parent sets it may take: k of its best-informed placed columns."""
        out = []
        for position, i in enumerate(order_idx):
            if tree_parent[i] is None:
                continue
            ranked = sorted(order_idx[:position], key=lambda j: (-mi[i, j], j))[: self.candidates]
            for subset in itertools.combinations(sorted(ranked), min(self.degree, len(ranked))):
                if len(subset) > 1 and math.prod(cells[names[j]] for j in subset) * cells[names[i]] <= self.max_cells:
                    out.append((names[i], tuple(names[j] for j in subset)))
        return out
