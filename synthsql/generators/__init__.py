"""Generators: one module per method, one small protocol, one registry, one ``fit`` entry point.

A generator stores its parameters in ``__init__`` (validated there, with messages that name the parameter) and
``fit(store, /, *, budget=None, rng=None)`` returns a :class:`~synthsql.model.Model`. It asks the
:class:`~synthsql.aggregates.AggregateStore` for what it needs and never sees a row.
"""

from __future__ import annotations

import inspect
from typing import Any, Protocol

import numpy as np

from synthsql.aggregates import AggregateStore
from synthsql.connection import Database, TableRef, connect
from synthsql.errors import InvalidParameterError, did_you_mean
from synthsql.model import Model
from synthsql.schema import NUMERIC_KINDS, TableSpec, describe

__all__ = ["Generator", "REGISTRY", "register", "get_generator", "fit", "check_int", "bin_quantiles", "draw_codes"]


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
    **params: Any,
) -> Model:
    """Fit a generator on aggregates of ``table`` computed in its database.

    ``spec`` is the table's description (from :func:`synthsql.describe`, inferred when omitted); ``params`` go to
    the method (``degree=2`` for ``bayesnet``, say).

    >>> import synthsql as ss
    >>> db = ss.connect("duckdb://")
    >>> _ = db.backend.raw_sql("CREATE TABLE t AS SELECT i % 3 AS g, (i * 7) % 10 AS x FROM range(50) r(i)")
    >>> model = ss.fit(db, "t", method="independent", seed=1)
    >>> model.to_arrow(5, seed=2).num_rows
    5
    """
    db = connect(con)
    generator = get_generator(method, **params)  # parameters are checked before the database is read
    ref = TableRef.parse(table)
    spec = spec if spec is not None else describe(db, str(ref))
    store = AggregateStore(db, ref, spec)
    model = generator.fit(store, rng=np.random.default_rng(seed))
    model.seed = seed
    return model


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


def draw_codes(cdf: np.ndarray, rows: np.ndarray | None, u: np.ndarray) -> np.ndarray:
    """Draw one cell per row from the cumulative table ``cdf`` (conditioning rows x cells), memory O(n).

    Row ``r`` of ``cdf`` is shifted by ``r`` so that a single sorted search serves every conditioning row; a cell
    of probability zero is never drawn.
    """
    n_rows, cells = cdf.shape
    if rows is None:
        return np.searchsorted(cdf[0], u, side="right").clip(0, cells - 1)
    flat = (cdf + np.arange(n_rows)[:, None]).ravel()
    position = np.searchsorted(flat, rows + u, side="right") - rows * cells
    return position.clip(0, cells - 1)


# Import the methods so that they register themselves.
from synthsql.generators import bayesnet, copula, independent  # noqa: E402,F401
