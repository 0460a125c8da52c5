"""What the differentially private methods share: noisy marginals, their estimation, and the fitted model.

The database computes exact marginals; :class:`~synthsql.privacy.Budget` adds noise to them; from then on only the
noisy measurements are used. :func:`estimate` finds the graphical model that best explains the noisy marginals
(Private-PGM, McKenna, Sheldon & Miklau 2019, through the ``mbi`` package: mirror descent over the marginal
polytope of a junction tree), and :func:`network_from` turns it into a Bayesian network that samples in the
junction tree's order (each column conditioned on its earlier neighbours, the conditionals read from the model's
clique marginals). :class:`GraphicalModel` stores those conditional tables as floats: estimated (noisy) counts,
never an exact one.

NULL blocks (columns NULL together, :attr:`~synthsql.model.Model.null_blocks`): a DP fit never looks for them, since
which columns are NULL in exactly the same rows is read from the rows and would be released without noise. Blocks
declared with ``fit(..., null_blocks=[...])`` are public knowledge (the questionnaire's routing), like the domains and
the rules: the model keeps them at sampling, at the noisy NULL share of each block's first column, spending no
budget and reading nothing more. Edit rules are public too: the cells a rule forbids become structural zeros of
the estimated tables (:func:`structural`), and rejection at sampling enforces the rest.

``mbi`` runs on JAX. Importing it switches JAX to 64-bit floats (``mbi`` warns that 32-bit estimation stalls on
large tables) and turns JAX's persistent compilation cache off (``mbi`` compiles many small programs); both are
process-wide JAX settings. JAX costs about 600 MB on disk and half a second to import; it is imported only when
a DP method that needs it is fitted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthsql.aggregates import AggregateStore
from synthsql.errors import InvalidParameterError
from synthsql.extras import require
from synthsql.generators import CellSampler, conditional_cdf, draw_network, structural_zeros, without_forbidden
from synthsql.model import Model, table_from_json, table_to_json
from synthsql.model_format import StateCheck
from synthsql.privacy import Budget
from synthsql.schema import TableSpec

__all__ = ["Noisy", "Compression", "GraphicalModel", "Projector", "estimate", "network_from", "public_spec", "mbi",
           "structural"]


def mbi() -> Any:
    """The ``mbi`` module, with the JAX settings it needs."""
    jax = require("jax", "dp")
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_enable_compilation_cache", False)
    return require("mbi", "dp")


@dataclass(frozen=True)
class Noisy:
    """One noisy measurement: ``values`` (flattened in ``columns`` order) = counts + noise of scale ``sigma``.

    ``weights`` scales the model's marginal before it is compared (a merged cell of a compressed domain is measured
    as its sum over sqrt(cells), as MST does); None means the plain count vector.
    """

    columns: tuple[str, ...]
    values: np.ndarray
    sigma: float
    weights: np.ndarray | None = None


class Compression:
    """MST's domain compression: cells whose noisy 1-way count is below ``3 sigma`` are merged into one cell.

    ``groups[column]`` lists, per compressed cell, the original cells it holds (only for compressed columns).
    """

    def __init__(self, sizes: Mapping[str, int], groups: Mapping[str, Sequence[Sequence[int]]] | None = None) -> None:
        self.original = dict(sizes)
        self.groups = {k: [list(g) for g in v] for k, v in (groups or {}).items()}
        self.maps = {}
        for name, groups_ in self.groups.items():
            mapping = np.zeros(self.original[name], dtype=np.int64)
            for code, members in enumerate(groups_):
                mapping[members] = code
            self.maps[name] = mapping

    @property
    def sizes(self) -> dict[str, int]:
        return {k: len(self.groups[k]) if k in self.groups else v for k, v in self.original.items()}

    @classmethod
    def from_oneway(cls, sizes: Mapping[str, int], oneway: Sequence[Noisy]) -> Compression:
        groups = {}
        for m in oneway:
            (name,) = m.columns
            supported = m.values >= 3 * m.sigma
            if supported.all():
                continue
            kept = [[int(i)] for i in np.flatnonzero(supported)]
            groups[name] = kept + [[int(i) for i in np.flatnonzero(~supported)]]
        return cls(sizes, groups)

    def oneway(self, m: Noisy) -> Noisy:
        """A 1-way measurement re-expressed over the compressed cells (MST's ``compress_domain``)."""
        (name,) = m.columns
        if name not in self.groups:
            return m
        merged = self.groups[name][-1]
        scale = 1.0 / math.sqrt(len(merged))
        values = np.append(m.values[[g[0] for g in self.groups[name][:-1]]], m.values[merged].sum() * scale)
        weights = np.ones(values.size)
        weights[-1] = scale
        return Noisy(m.columns, values, m.sigma, weights)

    def counts(self, columns: Sequence[str], counts: np.ndarray) -> np.ndarray:
        """Exact counts summed into the compressed cells (in Python, over the domain: never rows)."""
        out = np.asarray(counts, dtype=np.float64)
        for axis, name in enumerate(columns):
            if name in self.maps:
                out = np.apply_along_axis(
                    lambda v, m=self.maps[name], k=len(self.groups[name]): np.bincount(m, weights=v, minlength=k),
                    axis,
                    out,
                )
        return out


def estimate(
    sizes: Mapping[str, int], measurements: Sequence[Noisy], *, iters: int, warm_start: Any = None
) -> Any:
    """The graphical model (an ``mbi.MarkovRandomField``) that best fits the noisy measurements (least squares,
    each measurement weighted by 1 / sigma), by mirror descent."""
    m = mbi()
    domain = m.Domain(list(sizes), [int(v) for v in sizes.values()])
    linear = []
    for item in measurements:
        query = m.marginal_loss.WeightedQuery(item.weights) if item.weights is not None else m.marginal_loss.DatavectorQuery()
        linear.append(m.LinearMeasurement(np.asarray(item.values, dtype=np.float64), item.columns, stddev=float(item.sigma), query=query))
    total = noisy_total(measurements)
    return m.estimation.MirrorDescent().estimate(domain, linear, known_total=total, iters=iters, warm_start=warm_start)


def noisy_total(measurements: Sequence[Noisy]) -> float:
    """The minimum-variance estimate of the row count from the noisy 1-way marginals (each sum weighted by the
    inverse of its variance), at least 1."""
    estimates, weights = [], []
    for item in measurements:
        if len(item.columns) != 1:
            continue
        if item.weights is None:
            total, variance = item.values.sum(), item.sigma**2 * item.values.size
        else:  # a compressed marginal: plain cells, then the merged cell scaled by 1 / sqrt(merged cells)
            scale = item.weights[-1]
            total = item.values[:-1].sum() + item.values[-1] / scale
            variance = item.sigma**2 * (item.values.size - 1 + 1 / scale**2)
        estimates.append(total)
        weights.append(1.0 / variance)
    if not estimates:
        raise ValueError("The row count is estimated from 1-way measurements; there are none.")
    return max(1.0, float(np.average(estimates, weights=weights)))


class Projector:
    """The model's (estimated) counts over any set of columns, computed in numpy.

    A set inside a measured clique is summed out of that clique's marginal; any other set is contracted from the
    model's potentials (variable elimination by ``opt_einsum``, which JAX already brings). Unlike ``mbi``'s
    ``project``, nothing is compiled per set of columns, which is what makes scoring thousands of AIM candidates
    affordable.
    """

    def __init__(self, model: Any) -> None:
        import opt_einsum

        self._contract = opt_einsum.contract
        self.total = float(model.total)
        self.index = {a: i for i, a in enumerate(model.domain.attributes)}
        self.marginals = []
        for clique in model.marginals.cliques:
            factor = model.marginals[clique]
            self.marginals.append((tuple(factor.domain.attributes), np.asarray(factor.values, dtype=np.float64)))
        self.factors = []
        for clique in model.potentials.cliques:
            factor = model.potentials[clique]
            values = np.asarray(factor.values, dtype=np.float64)
            log_total = np.logaddexp.reduce(values.ravel())
            self.factors.append((tuple(factor.domain.attributes), np.exp(values - log_total)))

    def __call__(self, columns: Sequence[str]) -> np.ndarray:
        columns = tuple(columns)
        for attrs, values in self.marginals:
            if set(columns) <= set(attrs):
                summed = values.sum(axis=tuple(i for i, a in enumerate(attrs) if a not in columns))
                kept = [a for a in attrs if a in columns]
                out = np.transpose(summed, [kept.index(c) for c in columns])
                return np.clip(out, 0.0, None)
        operands: list[Any] = []
        for attrs, values in self.factors:
            operands += [values, [self.index[a] for a in attrs]]
        out = self._contract(*operands, [self.index[c] for c in columns], optimize="greedy")
        out = np.clip(np.asarray(out, dtype=np.float64), 0.0, None)
        return out * (self.total / out.sum()) if out.sum() > 0 else out


def network_from(model: Any, columns: Sequence[str]) -> tuple[list[str], dict[str, list[str]], dict[str, np.ndarray]]:
    """A Bayesian network equivalent to the model: the junction tree's reverse elimination order, each column's
    parents its earlier neighbours in a maximal clique, and the joint table of (parents..., column)."""
    m = mbi()
    position = {c: i for i, c in enumerate(columns)}
    jtree, elimination = m.junction_tree.make_junction_tree(model.domain, [tuple(c) for c in model.cliques])
    cliques = [set(c) for c in jtree.nodes]
    order = [c for c in elimination[::-1]]
    order += [c for c in columns if c not in order]
    placed: set[str] = set()
    projector = Projector(model)
    parents: dict[str, list[str]] = {}
    tables: dict[str, np.ndarray] = {}
    for name in order:
        near = set().union(*[c for c in cliques if name in c]) if any(name in c for c in cliques) else set()
        parents[name] = sorted(placed & near, key=position.__getitem__)
        tables[name] = projector([*parents[name], name])
        placed.add(name)
    return order, parents, tables


def structural(
    tables: Mapping[str, np.ndarray],
    parents: Mapping[str, Sequence[str]],
    spec: TableSpec,
    rules: Sequence[Any],
    groups: Mapping[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """The estimated tables with the cells the edit rules forbid set to 0 (structural zeros, as
    :func:`~synthsql.generators.without_forbidden` does for ``bayesnet``). The rules and the declared domains are
    public, so this spends no budget and reads nothing. A rule naming a column whose cells MST merged (``groups``)
    is left to rejection: a merged cell is drawn as any of its cells, allowed or not."""
    zeros = [z for z in structural_zeros(rules, spec) if not set(z[0]) & set(groups or {})]
    return {x: without_forbidden(t, [*parents[x], x], zeros) for x, t in tables.items()}


def public_spec(spec: TableSpec, n_rows: float) -> TableSpec:
    """The spec a DP model keeps: kinds and declared domains only, the row count replaced by a noisy estimate."""
    columns = tuple(c.replace(null_share=0.0, n_distinct=None) for c in spec.columns)
    return TableSpec(table=spec.table, n_rows=max(1, int(round(float(n_rows)))), columns=columns)


def noisy_oneway(
    store: AggregateStore, budget: Budget, columns: Sequence[str], sigma: float, step: str = "1-way marginal"
) -> list[Noisy]:
    """Every 1-way marginal of ``columns`` (one database scan), each with Gaussian noise of scale ``sigma``."""
    exact = store.marginals([(c,) for c in columns])
    return [
        Noisy((c,), budget.gaussian(x, sigma=sigma, step=step, columns=(c,)).astype(np.float64), sigma)
        for c, x in zip(columns, exact, strict=True)
    ]


class GraphicalModel(Model):
    """A DP model: conditional tables estimated from noisy marginals, over (possibly compressed) cells.

    ``tables[x]`` has shape (cells of each parent ..., cells of x) in compressed cells; ``groups[x]`` maps a
    compressed cell back to the original cells it merged (a value is drawn uniformly among them, as MST does).
    """

    def __init__(
        self,
        *,
        order: Sequence[str],
        parents: Mapping[str, Sequence[str]],
        tables: Mapping[str, np.ndarray],
        groups: Mapping[str, Sequence[Sequence[int]]] | None = None,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        self.order = list(order)
        self.parents = {k: list(v) for k, v in parents.items()}
        self.tables = {k: np.asarray(v, dtype=np.float64) for k, v in tables.items()}
        self.groups = {k: [list(g) for g in v] for k, v in (groups or {}).items()}
        self._cdf = {name: CellSampler(conditional_cdf(self.tables[name])) for name in self.order}
        self._expand = {}
        for name, groups_ in self.groups.items():
            lengths = np.array([len(g) for g in groups_], dtype=np.int64)
            self._expand[name] = (np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths, np.concatenate(groups_))

    def _draw(self, n: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        shapes = {k: v.shape[:-1] for k, v in self.tables.items()}
        codes = draw_network(self.order, self.parents, self._cdf, shapes, n, rng)
        out = {}
        for name, code in codes.items():
            if name in self._expand:
                starts, lengths, flat = self._expand[name]
                pick = np.minimum((rng.random(n) * lengths[code]).astype(np.int64), lengths[code] - 1)
                out[name] = flat[starts[code] + pick]
            else:
                out[name] = code
        return out, {}

    def _state(self) -> dict[str, Any]:
        return {
            "order": self.order,
            "parents": self.parents,
            "tables": {k: table_to_json(v) for k, v in self.tables.items()},
            "groups": self.groups,
        }

    @classmethod
    def _from_state(cls, state: Mapping[str, Any], **common: Any) -> Model:
        tables = {k: table_from_json(v, np.float64) for k, v in state["tables"].items()}
        return cls(order=state["order"], parents=state["parents"], tables=tables, groups=state.get("groups"), **common)

    @classmethod
    def _check_state(cls, state: Any, check: StateCheck) -> None:
        state = check.fields(state, "state", ("order", "parents", "tables", "groups"))
        order, parents = check.network(state, "state", check.modelled)
        sizes = {**check.cells, **check.groups(state["groups"], "state.groups")}  # merged cells shrink a column
        check.tables(state["tables"], "state.tables", order, parents, kind="estimate", sizes=sizes)


def check_sizes(method: str, sizes: Mapping[str, int], max_cells: int) -> None:
    """Refuse a domain whose 1-way marginals alone exceed ``max_cells`` (before anything is measured)."""
    for name, size in sizes.items():
        if size > max_cells:
            raise InvalidParameterError(
                f"Column {name!r} has {size:,} cells, more than max_cells={max_cells:,} of {method}: declare fewer "
                "categories or bins for it."
            )
