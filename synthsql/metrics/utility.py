"""Utility metrics computed in the database.

Marginal distance (NIST SDNist style): the total variation distance of a k-way marginal,
TVD = 1/2 * sum_x |p_real(x) - p_syn(x)| over the marginal's cells, with numeric columns binned by the same edges in
both tables (those of the real table's :class:`~synthsql.schema.TableSpec`) and NULL as a cell of its own.
The k-marginal score is 1000 * (1 - mean TVD over all k-way marginals).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from synthsql.aggregates import AggregateStore
from synthsql.connection import Database, connect
from synthsql.errors import InvalidParameterError
from synthsql.schema import TableSpec

__all__ = ["MarginalDetails", "marginal_details", "marginal_tvd", "marginal_summary", "tvd"]


def tvd(real: np.ndarray, synthetic: np.ndarray) -> float:
    """Total variation distance between two count tables of the same shape."""
    p = real / real.sum() if real.sum() else real.astype(float)
    q = synthetic / synthetic.sum() if synthetic.sum() else synthetic.astype(float)
    return float(0.5 * np.abs(p - q).sum())


def marginal_tvd(
    con: Database | Any,
    real: str,
    synthetic: str,
    spec: TableSpec,
    /,
    *,
    k: int = 2,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """TVD of every k-way marginal of ``columns`` (default: all modelled columns) between two tables.

    Returns one row per marginal: ``metric`` (``tvd_{k}way``), ``scope`` (the columns, comma-separated), ``value``
    and ``detail`` (the number of cells).
    """
    db = connect(con)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidParameterError(f"The 'k' parameter of marginal_tvd must be an int >= 1. Got {k!r} instead.")
    names = list(columns) if columns is not None else [c.name for c in spec.modelled]
    stores = AggregateStore(db, real, spec), AggregateStore(db, synthetic, spec)
    return _tvd_rows(stores, k, list(itertools.combinations(names, k)))


def _tvd_rows(stores: tuple[AggregateStore, AggregateStore], k: int, subsets: list[tuple[str, ...]]) -> pd.DataFrame:
    real_store, syn_store = stores
    rows = [
        {"metric": f"tvd_{k}way", "scope": ",".join(subset), "value": tvd(a, b), "detail": f"{a.size} cells"}
        for subset, a, b in zip(subsets, real_store.marginals(subsets), syn_store.marginals(subsets), strict=True)
    ]
    return pd.DataFrame(rows, columns=["metric", "scope", "value", "detail"])


def marginal_summary(
    con: Database | Any,
    real: str,
    synthetic: str,
    spec: TableSpec,
    /,
    *,
    max_marginals: int = 300,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean and max TVD over all 1-, 2- and 3-way marginals, and the k-marginal score 1000 * (1 - mean 2-way TVD).

    When there are more than ``max_marginals`` 3-way marginals, a seeded random subset of that many is used, and
    the rows' ``detail`` says so (``300 of 3276 3-way marginals, seed 0``); 1- and 2-way marginals are always all.
    """
    return marginal_details(con, real, synthetic, spec, max_marginals=max_marginals, seed=seed).summary


@dataclass(frozen=True)
class MarginalDetails:
    """What :func:`marginal_details` measured: the ``summary`` rows of :func:`marginal_summary`, the TVD of each
    2-way marginal (``pairs``, the rows of :func:`marginal_tvd` with ``k=2``), each modelled column's cell counts in
    both tables (``one_way``: column -> (real, synthetic)) and the two tables' row counts."""

    summary: pd.DataFrame
    pairs: pd.DataFrame
    one_way: dict[str, tuple[np.ndarray, np.ndarray]]
    rows: tuple[int, int]


def marginal_details(
    con: Database | Any,
    real: str,
    synthetic: str,
    spec: TableSpec,
    /,
    *,
    max_marginals: int = 300,
    seed: int = 0,
) -> MarginalDetails:
    """:func:`marginal_summary` with the counts and TVDs behind it, read once (what the report draws)."""
    db = connect(con)
    names = [c.name for c in spec.modelled]
    stores = AggregateStore(db, real, spec), AggregateStore(db, synthetic, spec)
    rng = np.random.default_rng(seed)
    measured: list[tuple[int, list[tuple[str, ...]], str]] = []
    for k in (1, 2, 3):
        every = list(itertools.combinations(names, k))
        if not every:
            continue
        chosen = every
        detail = f"all {len(every)} {k}-way marginals"
        if k == 3 and len(every) > max_marginals:
            picked = sorted(rng.choice(len(every), size=max_marginals, replace=False).tolist())
            chosen = [every[i] for i in picked]
            detail = f"{max_marginals} of {len(every)} {k}-way marginals, seed {seed}"
        measured.append((k, chosen, detail))
    for store in stores:  # one request per table: its queries share one count of the cell combinations
        store.marginals([subset for _, chosen, _ in measured for subset in chosen])
    singles = [(name,) for name in names]
    counts = [store.marginals(singles) if singles else [] for store in stores]
    one_way = {name: (a, b) for name, a, b in zip(names, counts[0], counts[1], strict=True)}
    pairs = pd.DataFrame(columns=["metric", "scope", "value", "detail"])
    rows = []
    for k, chosen, detail in measured:
        frame = _tvd_rows(stores, k, chosen)  # from the counts the stores hold
        if k == 2:
            pairs = frame
        values = frame["value"]
        rows.append({"metric": f"tvd_{k}way_mean", "scope": "table", "value": float(values.mean()), "detail": detail})
        rows.append({"metric": f"tvd_{k}way_max", "scope": "table", "value": float(values.max()), "detail": detail})
        if k == 2:
            score = 1000 * (1 - float(values.mean()))
            rows.append({"metric": "k_marginal_score", "scope": "table", "value": score, "detail": detail})
    summary = pd.DataFrame(rows, columns=["metric", "scope", "value", "detail"])
    return MarginalDetails(summary, pairs, one_way, (stores[0].count_rows(), stores[1].count_rows()))
