"""Utility metrics computed in the database.

Marginal distance (NIST SDNist style): the total variation distance of a k-way marginal,
TVD = 1/2 * sum_x |p_real(x) - p_syn(x)| over the marginal's cells, with numeric columns binned by the same edges in
both tables (those of the real table's :class:`~synthsql.schema.TableSpec`) and NULL as a cell of its own.
The k-marginal score is 1000 * (1 - mean TVD over all k-way marginals).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from synthsql.aggregates import AggregateStore
from synthsql.connection import Database, connect
from synthsql.errors import InvalidParameterError
from synthsql.schema import TableSpec

__all__ = ["marginal_tvd", "tvd"]


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
    if k < 1:
        raise InvalidParameterError(f"The 'k' parameter of marginal_tvd must be an int >= 1. Got {k!r} instead.")
    names = list(columns) if columns is not None else [c.name for c in spec.modelled]
    real_store = AggregateStore(db, real, spec)
    syn_store = AggregateStore(db, synthetic, spec)
    subsets = list(itertools.combinations(names, k))
    rows = [
        {"metric": f"tvd_{k}way", "scope": ",".join(subset), "value": tvd(a, b), "detail": f"{a.size} cells"}
        for subset, a, b in zip(subsets, real_store.marginals(subsets), syn_store.marginals(subsets), strict=True)
    ]
    return pd.DataFrame(rows, columns=["metric", "scope", "value", "detail"])
