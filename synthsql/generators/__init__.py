"""Generators: one module per method, one small protocol, one registry, one ``fit`` entry point.

A generator stores its parameters in ``__init__`` (validated there, with messages that name the parameter) and
``fit(store, /, *, budget=None, rng=None)`` returns a :class:`~synthsql.model.Model`. It asks the
:class:`~synthsql.aggregates.AggregateStore` for what it needs and never sees a row.
"""

from __future__ import annotations

import dataclasses
import inspect
import secrets
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from synthsql.aggregates import MAX_AGGREGATE_CELLS, AggregateStore, check_max_cells
from synthsql.connection import Database, TableRef, connect
from synthsql.errors import InvalidParameterError, did_you_mean
from synthsql.model import Model
from synthsql.privacy import Budget, check_noise
from synthsql.dp_domains import estimate_domains, undeclared
from synthsql.schema import NUMERIC_KINDS, TableSpec, describe

__all__ = ["Generator", "REGISTRY", "register", "get_generator", "fit", "check_int", "bin_quantiles", "CellSampler"]


class Generator(Protocol):
    name: str

    def fit(self, store: AggregateStore, /, *, budget: Any = None, rng: np.random.Generator | None = None) -> Model:
        ...


REGISTRY: dict[str, type] = {}


def register(cls: type) -> type:
    REGISTRY[cls.name] = cls
    return cls


def get_generator(method: str, **params: Any) -> Generator:
    """The generator registered as ``method``, built with ``params``."""
    if method not in REGISTRY:
        raise InvalidParameterError(
            f"Unknown method {method!r}.{did_you_mean(method, REGISTRY)} Methods: {', '.join(sorted(REGISTRY))}."
        )
    cls = REGISTRY[method]
    accepted = [p for p in inspect.signature(cls).parameters if p != "self"]
    for name in params:
        if name not in accepted:
            raise InvalidParameterError(
                f"Method {method!r} has no parameter {name!r}.{did_you_mean(name, accepted)} "
                f"Its parameters: {', '.join(accepted) or 'none'}."
            )
    return cls(**params)


def fit(
    con: Database | Any,
    table: str,
    /,
    *,
    method: str = "bayesnet",
    spec: TableSpec | None = None,
    seed: int | None = None,
    epsilon: float | None = None,
    delta: float | None = None,
    budget: Budget | None = None,
    holdout: Any = None,
    synthesize: Sequence[str] | None = None,
    domain_share: float | None = None,
    noise: str = "private",
    noise_seed: int | None = None,
    max_aggregate_cells: int = MAX_AGGREGATE_CELLS,
    **params: Any,
) -> Model:
    """Fit a generator on aggregates of ``table`` computed in its database.

    ``spec`` is the table's description (from :func:`synthsql.describe`, inferred when omitted); ``params`` go to
    the method (``degree=2`` for ``bayesnet``, say).

    Differentially private methods (``mst``, ``aim``, ``privbayes``) take ``epsilon`` and ``delta`` (default
    1e-9), or a :class:`~synthsql.privacy.Budget` whose remaining rho they spend, and a ``spec`` whose domains are
    declared (public), never read from the data; the model records its ledger (:meth:`Model.ledger`). Their noise
    always comes from OpenDP's unseeded samplers: ``seed`` drives only the non-private randomness of the fit and
    never the noise. ``noise="reproducible"`` with a ``noise_seed`` makes the noise repeatable for tests and audits,
    and marks the model as NOT differentially private (see :mod:`synthsql.privacy`); the noise seed is never stored.
    ``domain_share`` (in (0, 1)) instead spends that share of the budget on estimating the undeclared domains with
    DP (:mod:`synthsql.dp_domains`; half of delta is then reserved for category discovery).

    ``synthesize`` asks for partial synthesis: only the listed columns are regenerated, conditionally on the kept
    ones, which are copied from the source when the model is materialised (:mod:`synthsql.partial`; method
    ``bayesnet``, with its ``degree``, ``candidates`` and ``max_cells``, and ``id=`` a unique row identifier).

    ``max_aggregate_cells`` caps the cells of all the marginals the fit may hold (default
    :data:`~synthsql.aggregates.MAX_AGGREGATE_CELLS`); a fit that would need more is refused before the query runs.

    ``holdout`` (a :class:`synthsql.holdout.Holdout`) sets a share of the rows aside: the model is fitted on the
    rest only, and records the split so that risk measures can use the held-out rows as a control set.

    >>> import synthsql as ss
    >>> db = ss.connect("duckdb://")
    >>> _ = db.backend.raw_sql("CREATE TABLE t AS SELECT i % 3 AS g, (i * 7) % 10 AS x FROM range(50) r(i)")
    >>> model = ss.fit(db, "t", method="independent", seed=1)
    >>> model.to_arrow(5, seed=2).num_rows
    5
    """
    db = connect(con)
    if synthesize is not None:
        if method != "bayesnet" or epsilon is not None or delta is not None or budget is not None or holdout is not None:
            raise InvalidParameterError(
                "Partial synthesis (synthesize=[...]) uses method='bayesnet', without epsilon, budget or holdout."
            )
        from synthsql.partial import fit_partial

        return fit_partial(db, table, synthesize=synthesize, spec=spec, seed=seed, **params)
    generator = get_generator(method, **params)  # parameters are checked before the database is read
    check_max_cells(max_aggregate_cells)
    private = getattr(generator, "private", False)
    ref = TableRef.parse(table)
    if domain_share is not None and not private:
        raise InvalidParameterError("'domain_share' applies to the differentially private methods only.")
    if not private and (
        epsilon is not None or delta is not None or budget is not None or noise != "private" or noise_seed is not None
    ):
        raise InvalidParameterError(
            f"Method {method!r} is not differentially private, so 'epsilon', 'delta', 'budget', 'noise' and "
            "'noise_seed' do not apply; "
            f"the DP methods are {', '.join(sorted(n for n, c in REGISTRY.items() if getattr(c, 'private', False)))}."
        )
    if private:
        check_noise(noise, noise_seed)  # before the database is read
        if domain_share is not None and (
            isinstance(domain_share, bool) or not isinstance(domain_share, (int, float)) or not 0 < domain_share < 1
        ):
            raise InvalidParameterError(f"'domain_share' must be in (0, 1), got {domain_share!r}.")
        todo = undeclared(db, ref, spec) if domain_share is not None else []  # the column types only
        needs_delta = any(kind == "categorical" for _, kind, _ in todo)
        if budget is None:
            if epsilon is None:
                raise InvalidParameterError(
                    f"Method {method!r} is differentially private: give the privacy parameter 'epsilon' (and 'delta', "
                    "default 1e-9), e.g. fit(..., epsilon=1.0, delta=1e-9)."
                )
            delta = 1e-9 if delta is None else delta
            reserve = delta / 2 if needs_delta and isinstance(delta, (int, float)) and 0 < delta < 1 else 0.0
            budget = Budget(epsilon, delta, noise=noise, noise_seed=noise_seed, delta_reserved=reserve)
        elif epsilon is not None or delta is not None or noise != "private" or noise_seed is not None:
            raise InvalidParameterError(
                "Give either 'budget' or 'epsilon'/'delta' (and 'noise'), not both: a Budget carries its own noise "
                "setting."
            )
    # With a holdout, the training rows are set apart first, as a temporary table in the database (the row hash of
    # the split is then computed once, not in every aggregate query), and everything the model learns, DP domains
    # included, is read from them only: the held-out rows must stay unseen for the risk measures that use them as a
    # control set, and a DP guarantee covers only the rows it was spent on.
    training = None if holdout is None else TableRef(f"_synthsql_training_{secrets.token_hex(6)}")
    if training is not None:
        db.backend.create_table(training.name, holdout.training(db.table(ref)), temp=True)
    try:
        rows = db.table(ref) if training is None else db.backend.table(training.name)  # (a temporary table)
        if private:
            if todo:
                spec = estimate_domains(db, ref, spec, budget, share=float(domain_share), rows=rows)
            spec = public_domains(spec, str(ref), method)
        spec = spec if spec is not None else describe(db, str(ref), rows=rows)
        store = AggregateStore(db, rows, spec, max_cells=max_aggregate_cells)
        if training is not None and not private:
            store.spec = dataclasses.replace(spec, n_rows=store.count_rows())
        model = generator.fit(store, budget=budget, rng=np.random.default_rng(seed))
    finally:
        if training is not None:
            db.backend.drop_table(training.name, force=True)
    if training is not None:
        model.spec = dataclasses.replace(model.spec, table=str(ref))
    model.seed = seed
    if budget is not None:
        model.privacy = budget.to_json()
    model.holdout = holdout
    return model


def public_domains(spec: TableSpec | None, table: str, method: str) -> TableSpec:
    """The spec a DP fit may use: every modelled column's domain declared (booleans: False, True), else an error
    that shows how to declare them."""
    example = (
        "spec = ss.describe(con, {table!r}, columns={{{lines}}})"
    )
    if spec is None:
        raise InvalidParameterError(
            f"Method {method!r} is differentially private and needs public domains for {table!r}: categories and "
            "numeric bin edges declared by you or a catalog, not read from the data. Declare them with\n  "
            + example.format(table=table, lines="'sex': {'categories': ['F', 'M']}, 'age': {'edges': [0, 18, 30, 45, 65, 120]}")
            + "\nand pass spec=spec to fit(), or let fit() estimate them with DP from a share of the budget: "
            "fit(..., domain_share=0.1)."
        )
    columns = []
    undeclared = []
    for col in spec.columns:
        if col.kind == "boolean" and not col.declared:
            col = col.replace(categories=(False, True), declared=True)
        if col.modelled and not col.declared:
            undeclared.append(col)
        columns.append(col)
    if undeclared:
        lines = ", ".join(
            f"{c.name!r}: {{'categories': [...]}}" if c.kind == "categorical" else f"{c.name!r}: {{'edges': [...]}}"
            for c in undeclared[:4]
        )
        raise InvalidParameterError(
            f"Method {method!r} is differentially private, but the domains of {len(undeclared)} column(s) of "
            f"{table!r} were read from the data, which is not private: "
            f"{', '.join(repr(c.name) + ' (' + c.kind + ')' for c in undeclared)}. Declare them (categories for "
            "categorical columns, bin edges for numeric ones), e.g.\n  "
            + example.format(table=table, lines=lines + (", ..." if len(undeclared) > 4 else ""))
            + "\nor exclude them with exclude=[...], or estimate them with DP: fit(..., domain_share=0.1)."
        )
    return dataclasses.replace(spec, columns=tuple(columns))


def check_int(method: str, name: str, value: Any, low: int) -> int:
    """Refuse anything but an integer >= ``low``, naming the parameter (scikit-learn's wording)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise InvalidParameterError(
            f"The {name!r} parameter of {method} must be an int >= {low}. Got {value!r} instead."
        )
    return int(value)


def bin_quantiles(store: AggregateStore) -> dict[str, np.ndarray]:
    """Within-bin quantiles of every numeric column that has an interval bin (point bins need none)."""
    return {
        c.name: store.bin_quantiles(c.name)
        for c in store.spec.modelled
        if c.kind in NUMERIC_KINDS and any(not b.is_point for b in c.bins or ())
    }


def cumulative(counts: np.ndarray) -> np.ndarray:
    """Row-wise cumulative probabilities of a (rows x cells) count table; an all-zero row becomes uniform."""
    counts = np.asarray(counts, dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    probs = np.where(totals > 0, counts / np.where(totals > 0, totals, 1.0), 1.0 / counts.shape[1])
    cdf = np.cumsum(probs, axis=1)
    cdf[:, -1] = 1.0
    return cdf


def conditional_cdf(table: np.ndarray) -> np.ndarray:
    """Row-wise cumulative probabilities of a joint table of shape (cells of each parent ..., cells of x), one row
    per parent configuration; negative estimates count as zero, and a configuration with no mass falls back to the
    column's own marginal (an unseen or unsupported combination of parents)."""
    rows = np.clip(np.asarray(table, dtype=np.float64), 0.0, None).reshape(-1, np.shape(table)[-1])
    empty = rows.sum(axis=1) == 0
    rows = np.where(empty[:, None], rows.sum(axis=0, keepdims=True), rows)
    return cumulative(rows)


class CellSampler:
    """Inverse-CDF draws from a cumulative table (conditioning rows x cells), in O(1) expected steps per draw.

    A guide table (Chen & Asau 1974) stores, for each row and each of ``K`` equal slices of [0, 1) (``K`` a power of
    two >= 2 x cells, so that ``x * K`` is exact), how many cells end before the slice starts; a draw starts there
    and steps right while the cumulative probability is <= u. The result is exactly
    ``searchsorted(cdf[row], u, side="right")``: a cell of probability zero is never drawn.
    """

    def __init__(self, cdf: np.ndarray) -> None:
        self.cdf = np.ascontiguousarray(cdf, dtype=np.float64)
        n_rows, cells = self.cdf.shape
        self._slices = 1 << max(1, int(2 * cells - 1).bit_length())
        # floor(cdf * K) < k  implies  cdf < u  for every u in slice k: those cells always lie before the draw.
        floor = np.minimum(np.floor(self.cdf * self._slices).astype(np.int64), self._slices)
        width = self._slices + 1
        hist = np.bincount((np.arange(n_rows)[:, None] * width + floor).ravel(), minlength=n_rows * width)
        before = np.cumsum(hist.reshape(n_rows, width), axis=1)[:, : self._slices]  # cells with floor <= k - 1
        guide = np.concatenate([np.zeros((n_rows, 1), dtype=np.int64), before[:, :-1]], axis=1)
        self._guide = guide.clip(0, cells - 1).astype(np.int32).ravel()
        self._flat = self.cdf.ravel()

    def draw(self, rows: np.ndarray | None, u: np.ndarray) -> np.ndarray:
        """One cell per uniform ``u``, from the conditioning row ``rows`` (None: the table's only row)."""
        cells = self.cdf.shape[1]
        slot = (u * self._slices).astype(np.int64)  # exact: K is a power of two and u < 1
        row = np.zeros(1, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        j = self._guide[row * self._slices + slot].astype(np.int64)
        start = row * cells  # each row's first cell in the flat table
        active = np.flatnonzero((j < cells - 1) & (self._flat[start + j] <= u))
        while active.size:  # step right, keeping only the draws that still have to move
            j[active] += 1
            step = j[active]
            offset = start if rows is None else start[active]
            active = active[(step < cells - 1) & (self._flat[offset + step] <= u[active])]
        return j


def draw_network(
    order: Sequence[str],
    parents: Mapping[str, Sequence[str]],
    cdf: Mapping[str, CellSampler],
    shapes: Mapping[str, tuple[int, ...]],
    n: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Cell codes of ``n`` rows from a Bayesian network: each column in ``order``, drawn from the row of its
    cumulative table ``cdf`` that its parents' codes select (``shapes``: the parents' cell counts)."""
    codes: dict[str, np.ndarray] = {}
    for name in order:
        u = rng.random(n)
        if parents[name]:
            rows = np.ravel_multi_index(tuple(codes[p] for p in parents[name]), shapes[name])
            codes[name] = cdf[name].draw(rows, u)
        else:
            codes[name] = cdf[name].draw(None, u)
    return codes


# Import the methods so that they register themselves.
from synthsql.generators import aim, bayesnet, copula, independent, mst, privbayes, uniform  # noqa: E402,F401
