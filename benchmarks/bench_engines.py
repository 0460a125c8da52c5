"""The same run on DuckDB, PostgreSQL and Spark: seconds per step, and Spark's statements per step.

Each engine gets the shipped datasets (cps1988: 28,155 rows, 7 columns; eusilc: 14,827 rows, 28 columns) and runs
``describe``, ``fit`` (bayesnet), ``materialize`` and ``evaluate`` (the default metrics, no risk keys) on each. Spark
runs on a local session (``local[2]``, its warehouse in a temporary folder): it costs about a second per statement,
so the table also counts the statements each step sends to Spark (``SparkSession.sql`` calls and DataFrame writes).
The models must be identical on the three engines; the last column says whether they are.

    python benchmarks/bench_engines.py                       # all three engines
    python benchmarks/bench_engines.py --engines duckdb spark

Prints a markdown table; writes nothing in the repository. PostgreSQL is the development server
(``SYNTHSQL_PG_URL``, default ``postgresql://postgres@127.0.0.1:5432/test``), in a schema of its own dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import tempfile
import time
import warnings
from collections.abc import Callable
from typing import Any

import synthsql as ss
from synthsql.schema import IdentifierColumnWarning

DATASETS = ("cps1988", "eusilc")
PG_URL = os.environ.get("SYNTHSQL_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


class SparkStatements:
    """Counts the statements sent to a SparkSession (``sql`` calls and DataFrame appends)."""

    def __init__(self, session: Any) -> None:
        from pyspark.sql import DataFrameWriter

        self.count = 0
        original_sql, original_insert = session.sql, DataFrameWriter.insertInto

        def sql(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return original_sql(*args, **kwargs)

        def insert(writer: Any, *args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return original_insert(writer, *args, **kwargs)

        session.sql = sql
        DataFrameWriter.insertInto = insert


def open_engine(name: str, folder: str) -> tuple[ss.Database, SparkStatements | None, Callable[[], None]]:
    if name == "duckdb":
        return ss.connect(f"duckdb:///{folder}/bench.duckdb", create=True), None, lambda: None
    if name == "postgres":
        db = ss.connect(PG_URL)
        schema = f"synthsql_bench_{secrets.token_hex(4)}"
        with db.raw.cursor() as cur:
            cur.execute(f'CREATE SCHEMA "{schema}"')
            cur.execute(f'SET search_path TO "{schema}"')

        def drop() -> None:
            with db.raw.cursor() as cur:
                cur.execute(f'DROP SCHEMA "{schema}" CASCADE')

        return db, None, drop
    session = local_spark(folder, {"spark.sql.shuffle.partitions": "2"})
    counter = SparkStatements(session)
    return ss.connect(session), counter, session.stop


def local_spark(folder: str, settings: dict[str, str]) -> Any:
    """A local Spark session (``local[2]``, no UI, quiet) with its warehouse in ``folder`` and ``settings``."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master("local[2]").config("spark.sql.warehouse.dir", f"{folder}/warehouse")
    for key, value in {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false", **settings}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("OFF")
    return session


def stepper(row: dict[str, Any], counter: SparkStatements | None) -> Callable[[str, Callable[[], Any]], Any]:
    """``step(label, call)``: runs ``call``, recording its seconds (``<label> s``) and, on Spark, its statements
    (``<label> stmts``) in ``row``."""

    def step(label: str, call: Callable[[], Any]) -> Any:
        before = counter.count if counter else 0
        start = time.perf_counter()
        out = call()
        row[f"{label} s"] = time.perf_counter() - start
        row[f"{label} stmts"] = (counter.count - before) if counter else None
        return out

    return step


def run(engine: str, dataset: str, db: ss.Database, counter: SparkStatements | None) -> dict[str, Any]:
    row: dict[str, Any] = {"engine": engine, "dataset": dataset}
    step = stepper(row, counter)

    ss.datasets.load(db, dataset, replace=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifierColumnWarning)
        spec = step("describe", lambda: ss.describe(db, dataset))
    model = step("fit", lambda: ss.fit(db, dataset, method="bayesnet", spec=spec, seed=1))
    target = f"{dataset}_bench"
    step("materialize", lambda: ss.materialize(db, model, target, seed=1, replace=True))
    step("evaluate", lambda: ss.evaluate(db, real=dataset, synthetic=target, spec=spec, risk=False, write=False))
    row["model"] = json.dumps(model.to_json(), sort_keys=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", nargs="+", default=["duckdb", "postgres", "spark"])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for engine in args.engines:
            db, counter, close = open_engine(engine, folder)
            try:
                rows.extend(run(engine, dataset, db, counter) for dataset in DATASETS)
            finally:
                close()
    steps = ("describe", "fit", "materialize", "evaluate")
    print("| engine | dataset | " + " | ".join(f"{s} s" for s in steps) + " | Spark statements (d/f/m/e) | model = DuckDB's |")
    print("|---|---|" + "---:|" * len(steps) + "---|---|")
    reference = {r["dataset"]: r["model"] for r in rows if r["engine"] == args.engines[0]}
    for r in rows:
        stmts = "/".join(str(r[f"{s} stmts"]) for s in steps) if r["fit stmts"] is not None else ""
        same = "yes" if r["model"] == reference[r["dataset"]] else "NO"
        print(f"| {r['engine']} | {r['dataset']} | " + " | ".join(f"{r[f'{s} s']:.1f}" for s in steps)
              + f" | {stmts} | {same} |")


if __name__ == "__main__":
    main()
