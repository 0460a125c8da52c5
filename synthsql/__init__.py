"""synthsql: synthetic data for official statistics, generated inside the database that holds the data.

The database computes aggregates, generators are fitted on them, synthetic rows are written back as a table, and
utility is measured with SQL. Raw rows never reach Python on the fit path.

>>> import synthsql as ss
>>> db = ss.connect("duckdb://")
>>> _ = db.backend.raw_sql("CREATE TABLE persons AS SELECT i % 90 AS age, ['f', 'm'][i % 2 + 1] AS sex FROM range(500) r(i)")
>>> spec = ss.describe(db, "persons")
>>> model = ss.fit(db, "persons", method="bayesnet", spec=spec, seed=7)
>>> _ = ss.materialize(db, model, "persons_synth", seed=1)
>>> db.table("persons_synth").count().execute()
500
"""

from __future__ import annotations

__version__ = "0.1.0"

from synthsql import datasets
from synthsql.aggregates import AggregateStore
from synthsql.connection import Database, TableRef, connect
from synthsql.errors import (
    ColumnNotFoundError,
    EmptyTableError,
    InvalidParameterError,
    ModelFitError,
    SyntheticFitError,
    ModelFormatError,
    SamplingError,
    SynthsqlError,
    TableNotFoundError,
    TargetError,
    UnsupportedTypeError,
)
from synthsql.evaluate import Evaluation
from synthsql.generators import REGISTRY as METHODS
from synthsql.metrics.fitness import Rule
from synthsql.metrics.utility import marginal_tvd
from synthsql.model import Model, load
from synthsql.privacy import Budget, BudgetExceededError
from synthsql.schema import Bin, ColumnSpec, TableSpec, describe
from synthsql.pipeline import evaluate, fit, materialize
from synthsql.write import write_table

__all__ = [
    "AggregateStore",
    "Bin",
    "Budget",
    "BudgetExceededError",
    "ColumnNotFoundError",
    "ColumnSpec",
    "Database",
    "EmptyTableError",
    "Evaluation",
    "InvalidParameterError",
    "METHODS",
    "Model",
    "ModelFitError",
    "SyntheticFitError",
    "ModelFormatError",
    "SamplingError",
    "Rule",
    "SynthsqlError",
    "TableNotFoundError",
    "TableRef",
    "TableSpec",
    "TargetError",
    "UnsupportedTypeError",
    "connect",
    "datasets",
    "describe",
    "evaluate",
    "fit",
    "load",
    "marginal_tvd",
    "materialize",
    "write_table",
]
