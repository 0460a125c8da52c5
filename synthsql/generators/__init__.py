"""Generators: one module per method, one small protocol, one registry.

A generator stores its parameters in ``__init__`` (validated there, with messages that name the parameter) and
``fit(store, fitting)`` returns a complete :class:`~synthsql.model.Model`. It asks the
:class:`~synthsql.aggregates.AggregateStore` for what it needs and never sees a row; :class:`Fitting` carries the
rest of what the run settled before the first read (:mod:`synthsql.pipeline`): the seed of its non-private
randomness, the privacy budget to spend, the holdout split, all recorded in the model it returns.

A generator may also define ``check_table(columns, table)``, called with the source table's column names before
anything is read, to refuse parameters that name columns the table lacks, and ``check_rules(rules, columns,
table)`` to refuse edit rules it cannot enforce; one whose release keeps the source's records (partial synthesis)
sets ``keeps_records = True`` (see :func:`fully_synthetic`).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from synthsql.aggregates import AggregateStore
from synthsql.errors import InvalidParameterError, did_you_mean
from synthsql.model import Model
from synthsql.privacy import Budget
from synthsql.schema import NUMERIC_KINDS, TableSpec

__all__ = ["Fitting", "Generator", "REGISTRY", "fully_synthetic", "register", "get_generator", "check_int", "bin_quantiles",
           "CellSampler", "structural_zeros", "without_forbidden"]


@dataclasses.dataclass(frozen=True)
class Fitting:
    """What a generator's fit gets besides the aggregates, settled by the pipeline before the first read.

    ``seed`` drives the fit's non-private randomness (:attr:`rng`; never DP noise, which the ``budget`` draws);
    ``budget`` is the :class:`~synthsql.privacy.Budget` a DP method spends (None for the others); ``holdout`` is the
    :class:`~synthsql.holdout.Holdout` split whose training rows the store reads (None: all rows); ``rules`` are
    the edit rules (:class:`~synthsql.rules.Rule`) every row the model samples must meet; ``null_blocks`` the
    blocks of columns NULL together that its samples keep (declared, or found from the data for a non-DP model:
    never read for a DP one, see :func:`synthsql.fit`).
    """

    seed: int | None = None
    budget: Budget | None = None
    holdout: Any = None
    rules: tuple[Any, ...] = ()
    null_blocks: tuple[tuple[str, ...], ...] = ()

    @functools.cached_property
    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)

    def provenance(self) -> dict[str, Any]:
        """The fields every model records about its fit (``Model(**fitting.provenance(), ...)``), taken when the
        model is built, after the budget was spent."""
        return {
            "seed": self.seed,
            "privacy": None if self.budget is None else self.budget.to_json(),
            "holdout": self.holdout,
            "rules": self.rules,
            "null_blocks": self.null_blocks,
        }


class Generator(Protocol):
    name: str

    def fit(self, store: AggregateStore, fitting: Fitting, /) -> Model:
        ...


REGISTRY: dict[str, type] = {}


def register(cls: type) -> type:
    REGISTRY[cls.name] = cls
    return cls


def fully_synthetic() -> list[str]:
    """The methods whose models sample whole tables on their own (all but partial synthesis), sorted."""
    return sorted(name for name, cls in REGISTRY.items() if not getattr(cls, "keeps_records", False))


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


def structural_zeros(rules: Sequence[Any], spec: TableSpec) -> list[tuple[tuple[str, ...], np.ndarray]]:
    """The cells each edit rule forbids (:func:`synthsql.rules.forbidden_cells`), for the rules that forbid any."""
    from synthsql.rules import forbidden_cells

    return [found for rule in rules if (found := forbidden_cells(rule, spec)) is not None]


def without_forbidden(
    table: np.ndarray, family: Sequence[str], zeros: Sequence[tuple[tuple[str, ...], np.ndarray]]
) -> np.ndarray:
    """A column's table over ``family`` (its parents, then the column: shape (cells of each ..., cells of it)) with
    the cells the rules forbid set to 0: structural zeros, so that each conditional distribution is renormalised over
    the allowed cells (:func:`conditional_cdf` normalises each row) and the model never draws a forbidden cell.

    A rule applies where its columns all lie in the family and include the family's column (the last axis): the
    table then is a conditional of that column, and a zero in it is a zero of the joint. A rule over columns no
    family holds together is left to rejection at sampling. A parent configuration the table never saw, which
    sampling draws from the column's marginal (:func:`conditional_cdf`), gets that marginal written in, so that the
    rules zero its forbidden cells too (the draws are otherwise the same). A configuration whose every cell a rule
    forbids keeps its counts: rejection deals with it.
    """
    out = np.asarray(table)
    column = family[-1]
    applying = [(c, f) for c, f in zeros if column in c and set(c) <= set(family)]
    if not applying:
        return out
    rows = out.reshape(-1, out.shape[-1])
    unseen = rows.sum(axis=1) == 0
    if unseen.any() and not unseen.all():
        out = np.where(unseen[:, None], np.clip(rows, 0, None).sum(axis=0), rows).astype(out.dtype).reshape(out.shape)
    for columns, forbidden in applying:
        position = [list(family).index(c) for c in columns]
        ordered = np.transpose(forbidden, np.argsort(position))  # the rule's axes in family order
        shape = [out.shape[k] if name in columns else 1 for k, name in enumerate(family)]
        mask = np.broadcast_to(ordered.reshape(shape), out.shape)
        zeroed = np.where(mask, 0, out).astype(out.dtype)
        emptied = (zeroed.sum(axis=-1) == 0) & (out.sum(axis=-1) > 0)
        zeroed[emptied] = out[emptied]
        out = zeroed
    return out


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
from synthsql.generators import aim, bayesnet, cart, copula, independent, mst, partial, privbayes, uniform  # noqa: E402,F401
