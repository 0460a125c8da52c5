"""How long do describe, fit, materialize and the default evaluation take on wide tables, per engine?

Issue 17 asked for the default evaluation of a 42-column, 300k-row table in under a minute on DuckDB, PostgreSQL
within 2x DuckDB, and a row for a 200-column table. Two tables are built from the shipped ``apipop`` (California
schools, 6,194 rows, 30 columns of which ``cname`` is an identifier):

* ``api300k``: apipop repeated to 300,000 rows (30 columns, about 6,200 distinct rows: the real table of a wide
  survey has more distinct rows, so the synthetic table here, whose rows are nearly all distinct, is the harder one);
* ``wide200``: 200 columns and 2,000 rows, seven copies of apipop's columns each shifted by its own row offset.

Each (engine, table) runs bayesnet (the default method) with seed 1, materializes as many rows, and evaluates with
the defaults (every 1-, 2- and 3-way TVD, column summary and distances, the three pMSE models; no keys, so no risk).

    .venv/bin/python benchmarks/bench_wide.py                     # DuckDB and PostgreSQL, both tables
    .venv/bin/python benchmarks/bench_wide.py --engines duckdb --tables wide200
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engines import open_engine  # noqa: E402
from bench_fit_memory import machine  # noqa: E402

import synthsql as ss  # noqa: E402
from synthsql.schema import IdentifierColumnWarning  # noqa: E402

APIPOP = Path(__file__).resolve().parents[2] / "shared" / "data" / "apipop.parquet"
RESULTS = Path(__file__).resolve().parent / "WIDE_RESULTS.md"
STEPS = ("describe", "fit", "materialize", "evaluate")


def build_tables(folder: str) -> dict[str, Any]:
    """The two tables as Arrow tables, built in an in-memory DuckDB from the parquet file."""
    con = duckdb.connect()
    source = f"read_parquet('{APIPOP}')"
    out = {"api300k": con.execute(f"SELECT a.* FROM {source} a, range(49) r(i) LIMIT 300000").arrow().read_all()}
    names = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall() if r[0] != "cname"]
    picks = [(copy, name) for copy in range(7) for name in names][:200]
    shifted = " JOIN ".join(
        f"(SELECT *, (row_number() OVER () + {copy * 977}) % 6194 AS rn FROM {source}) a{copy}"
        + ("" if copy == 0 else f" ON a{copy}.rn = a0.rn")
        for copy in range(7)
    )
    columns = ", ".join(f'a{copy}."{name}" AS "{name}_{copy}"' for copy, name in picks)
    out["wide200"] = con.execute(f"SELECT {columns} FROM {shifted} ORDER BY a0.rn LIMIT 2000").arrow().read_all()
    return out


def run(engine: str, table: str, data: Any, folder: str) -> dict[str, Any]:
    db, _, close = open_engine(engine, folder)
    row: dict[str, Any] = {"engine": engine, "table": table, "rows": data.num_rows, "columns": data.num_columns}
    try:
        db.backend.create_table(table, data, overwrite=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", IdentifierColumnWarning)
            start = time.perf_counter()
            spec = ss.describe(db, table)
            row["describe"] = time.perf_counter() - start
        start = time.perf_counter()
        model = ss.fit(db, table, method="bayesnet", seed=1, spec=spec)
        row["fit"] = time.perf_counter() - start
        start = time.perf_counter()
        ss.materialize(db, model, f"{table}_syn", seed=2, replace=True)
        row["materialize"] = time.perf_counter() - start
        start = time.perf_counter()
        evaluation = ss.evaluate(db, real=table, synthetic=f"{table}_syn", spec=spec, write=False)
        row["evaluate"] = time.perf_counter() - start
        row["tvd_2way_mean"] = float(
            evaluation.utility.set_index("metric").loc["tvd_2way_mean", "value"]
        )
    finally:
        close()
    return row


def table_text(rows: list[dict[str, Any]]) -> str:
    head = "| engine | table | rows | columns | " + " | ".join(f"{s} s" for s in STEPS) + " | 2-way TVD | x DuckDB (fit, evaluate) |"
    lines = [head, "|" + "---|" * (len(STEPS) + 6)]
    duck = {r["table"]: r for r in rows if r["engine"] == "duckdb"}
    for r in rows:
        base = duck.get(r["table"])
        ratio = f"{r['fit'] / base['fit']:.2f}, {r['evaluate'] / base['evaluate']:.2f}" if base else "—"
        steps = " | ".join(f"{r[s]:.1f}" for s in STEPS)
        lines.append(
            f"| {r['engine']} | {r['table']} | {r['rows']:,} | {r['columns']} | {steps} | {r['tvd_2way_mean']:.4f} | {ratio} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default="duckdb,postgres")
    parser.add_argument("--tables", default="api300k,wide200")
    parser.add_argument("--no-write", action="store_true", help=f"print the table only, do not write {RESULTS.name}")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="synthsql-wide-") as folder:
        tables = build_tables(folder)
        for name in args.tables.split(","):
            for engine in args.engines.split(","):
                rows.append(run(engine, name, tables[name], folder))
                print(rows[-1], flush=True)
    text = table_text(rows)
    print(text)
    if not args.no_write:
        RESULTS.write_text(
            f"# Wide tables: describe, fit, materialize, evaluate\n\n{time.strftime('%Y-%m-%d')}, {machine()}; "
            "`python benchmarks/bench_wide.py`. Seconds, one run each, on a shared machine (compare the ratios).\n\n"
            f"{text}\n",
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
