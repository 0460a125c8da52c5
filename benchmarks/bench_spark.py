"""Spark against DuckDB on the same machine at 1M and 10M rows: seconds, statements and peak memory per step.

The table is the shipped cps1988 (7 columns: 4 numeric, 3 categorical) repeated to the row count, written once as
Parquet and read by both engines (DuckDB: a table in a file; Spark: a Parquet table in a local warehouse, ``local[2]``,
driver heap 4 GiB). Each engine runs ``describe``, ``fit`` (bayesnet, seed 1) and ``materialize`` (1M rows whatever
the source size, so that the step measures writing, not the row count). Spark's statements are counted
(``SparkSession.sql`` calls and DataFrame appends); peak memory is the Python process's high-water mark (resident set)
and, for Spark, the JVM's (``VmHWM`` of the driver JVM). The models must be identical.

    python benchmarks/bench_spark.py                 # 1M and 10M rows (about 10 minutes on 2 cores)
    python benchmarks/bench_spark.py --rows 1000000

Prints a markdown table; writes nothing in the repository.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import duckdb

import synthsql as ss
from synthsql.schema import IdentifierColumnWarning

sys.path.insert(0, str(Path(__file__).parent))
from bench_engines import SparkStatements, local_spark, stepper  # noqa: E402

OUT_ROWS = 1_000_000
STEPS = ("describe", "fit", "materialize")


def reset_peak(pid: int | str = "self") -> None:
    """Reset a process's resident high-water mark (Linux: write 5 to /proc/<pid>/clear_refs)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def peak_mib(pid: int | str = "self") -> float:
    """A process's resident high-water mark since the last reset (``VmHWM``), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def source_parquet(folder: Path, rows: int) -> Path:
    """cps1988 repeated to ``rows`` rows, as one Parquet file."""
    path = folder / f"cps_{rows}.parquet"
    con = duckdb.connect()
    shipped = str(ss.datasets.path("cps1988"))
    con.execute(
        f"COPY (SELECT c.* FROM read_parquet('{shipped}') c, range({rows // 28_155 + 1}) r LIMIT {rows}) "
        f"TO '{path}' (FORMAT parquet)"
    )
    con.close()
    return path


def run(engine: str, db: ss.Database, table: str, counter: SparkStatements | None, jvm: int) -> dict[str, Any]:
    row: dict[str, Any] = {"engine": engine}
    reset_peak()
    reset_peak(jvm)
    step = stepper(row, counter)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifierColumnWarning)
        spec = step("describe", lambda: ss.describe(db, table))
    model = step("fit", lambda: ss.fit(db, table, method="bayesnet", spec=spec, seed=1))
    step("materialize", lambda: ss.materialize(db, model, f"{table}_synth", rows=OUT_ROWS, seed=1, replace=True))
    row["model"] = json.dumps(model.to_json(), sort_keys=True)
    row["python MiB"] = peak_mib()
    row["jvm MiB"] = peak_mib(jvm) if counter is not None else None
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", nargs="+", type=int, default=[1_000_000, 10_000_000])
    args = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        session = local_spark(name, {"spark.driver.memory": "4g"})
        counter = SparkStatements(session)
        jvm = session._jvm.java.lang.ProcessHandle.current().pid()
        spark = ss.connect(session)
        duck = ss.connect(f"duckdb:///{folder / 'bench.duckdb'}", create=True)
        for rows in args.rows:
            parquet = source_parquet(folder, rows)
            table = f"cps_{rows}"
            duck.raw.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet('{parquet}')")
            session.sql(f"CREATE TABLE {table} USING parquet AS SELECT * FROM parquet.`{parquet}`").collect()
            for engine, db in (("duckdb", duck), ("spark", spark)):
                row = run(engine, db, table, counter if engine == "spark" else None, jvm)
                row["rows"] = rows
                results.append(row)
                print(f"{engine} {rows:,}: " + ", ".join(f"{s} {row[f'{s} s']:.1f}s" for s in STEPS), flush=True)
        session.stop()
    print()
    print("| rows | engine | " + " | ".join(f"{s} s" for s in STEPS)
          + " | Spark statements (d/f/m) | fit / DuckDB's | peak MiB (Python / JVM) | model = DuckDB's |")
    print("|---:|---|" + "---:|" * len(STEPS) + "---|---:|---|---|")
    duck_rows = {r["rows"]: r for r in results if r["engine"] == "duckdb"}
    for r in results:
        reference = duck_rows[r["rows"]]
        stmts = "/".join(str(r[f"{s} stmts"]) for s in STEPS) if r["fit stmts"] is not None else ""
        ratio = r["fit s"] / reference["fit s"]
        memory = f"{r['python MiB']:.0f}" + (f" / {r['jvm MiB']:.0f}" if r["jvm MiB"] is not None else "")
        same = "yes" if r["model"] == reference["model"] else "NO"
        print(f"| {r['rows']:,} | {r['engine']} | " + " | ".join(f"{r[f'{s} s']:.1f}" for s in STEPS)
              + f" | {stmts} | {ratio:.1f}x | {memory} | {same} |")


if __name__ == "__main__":
    main()
