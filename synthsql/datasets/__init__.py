"""Real datasets shipped with synthsql, for the demo, the tests and the benchmarks (see README.md here).

>>> import synthsql as ss
>>> from synthsql import datasets
>>> db = ss.connect("duckdb://")
>>> str(datasets.load(db, "cps1988"))
'cps1988'
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from synthsql.connection import Database, TableRef, connect
from synthsql.errors import InvalidParameterError, did_you_mean
from synthsql.write import write_table

__all__ = ["NAMES", "path", "load"]

NAMES = ("cps1988", "eusilc", "ses")


def path(name: str) -> Path:
    """The Parquet file of a shipped dataset."""
    if name not in NAMES:
        raise InvalidParameterError(f"Unknown dataset {name!r}.{did_you_mean(name, NAMES)} Datasets: {', '.join(NAMES)}.")
    return Path(str(resources.files(__package__).joinpath(f"{name}.parquet")))


def load(con: Database | Any, name: str, /, *, table: str | None = None, replace: bool = False) -> TableRef:
    """Write a shipped dataset into the database as ``table`` (default: its name) and return the table."""
    db = connect(con)
    return write_table(db, table or name, pq.read_table(path(name)), replace=replace)
