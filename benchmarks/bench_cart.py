"""CART against the other generators: what a statistician's analyses keep, and what the trees cost to grow.

For each shipped dataset (eusilc, ses, cps1988) and method (cart, bayesnet, copula): fit seconds, statements sent
to the database, peak Python memory of the fit, mean 2- and 3-way TVD, and for two GLMs per dataset (a wage or
income equation and a binary outcome) the mean confidence-interval overlap and the median relative coefficient error
|b_synthetic - b_real| / |b_real| (intercept left out). Then cps1988 copied to 1M and 10M rows: cart's fit seconds,
its levels and statements, and the seconds the database itself spent in them (the goal: fit within 3x that).

    python benchmarks/bench_cart.py [--sizes 1000000,10000000] [--out benchmarks/CART_RESULTS.md]

Peers, when the benchmark venv exists (``benchmarks/.venv-sdv``, see ``benchmarks/scale_peers.py``; SDV carries the
Business Source Licence and is never a dependency): py-synthpop's CARTMethod, sequential CART with scikit-learn's
trees drawing observed leaf values (synthpop's ``syn.cart``), and SDV's GaussianCopula, each on the modelled columns
in memory; their peak memory is the process's RSS, the methods' the fit's Python allocations (tracemalloc).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

import synthsql as ss
from synthsql import datasets
from synthsql.metrics.glm import compare_glm
from synthsql.metrics.utility import marginal_summary

METHODS = ["cart", "bayesnet", "copula"]
#: Peers, each in the benchmark venv (benchmarks/.venv-sdv: sdv, python-synthpop; not dependencies of synthsql).
PEERS = ["synthpop_cart", "sklearn_cart", "sdv_copula"]
PEER_PYTHON = Path(__file__).with_name(".venv-sdv") / "bin" / "python"
GLMS = {
    "cps1988": [("wage ~ education + experience + ethnicity + smsa + region", "gaussian"),
                ("parttime ~ education + experience + ethnicity + region", "binomial")],
    "eusilc": [("eqIncome ~ age + rb090 + db040 + hsize + pl030", "gaussian"),
               ("rb090 ~ age + pl030 + py010n + hsize", "binomial")],
    "ses": [("earningsHour ~ sex + age + education + fullPart + contract", "gaussian"),
            ("sex ~ age + education + fullPart + earningsHour", "binomial")],
}


class Timed:
    """Counts the statements a database runs and the seconds spent in them (execute, fetch, stream)."""

    def __init__(self, db: ss.Database) -> None:
        self.count, self.seconds = 0, 0.0
        engine = db.engine
        for name in ("execute", "fetchall"):
            setattr(engine, name, self._wrap(getattr(engine, name)))
        stream = engine.stream

        def timed_stream(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            start = time.perf_counter()
            batches = list(stream(*args, **kwargs))
            self.seconds += time.perf_counter() - start
            return iter(batches)

        engine.stream = timed_stream

    def _wrap(self, call: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            start = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        return timed


def glm_scores(db: ss.Database, real: str, synthetic: str, spec: ss.TableSpec, formula: str, family: str) -> tuple[float, float]:
    """Mean CI overlap and median relative coefficient error of one GLM, intercept left out."""
    rows = compare_glm(db, real, synthetic, formula, family=family, spec=spec)
    rows = rows[rows["term"] != "(Intercept)"]
    errors = (rows["coef_synthetic"] - rows["coef_real"]).abs() / rows["coef_real"].abs()
    return float(rows["ci_overlap"].mean()), float(statistics.median(errors))


def quality(db: ss.Database, dataset: str, method: str) -> dict[str, Any]:
    spec = ss.describe(db, dataset)
    timed = Timed(db)
    tracemalloc.start()
    start = time.perf_counter()
    model = ss.fit(db, dataset, method=method, spec=spec, seed=1)
    fit_s = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    statements = timed.count
    target = f"{dataset}_{method}"
    ss.materialize(db, model, target, seed=1, replace=True)
    row = {"dataset": dataset, "method": method, "fit s": fit_s, "statements": statements, "peak MiB": peak}
    return score(db, dataset, target, spec, row)


def peer(db: ss.Database, dataset: str, name: str, folder: Path) -> dict[str, Any] | None:
    """A peer (benchmarks/scale_peers.py) in its own venv on the modelled columns, scored like the methods."""
    if not PEER_PYTHON.exists():
        return None
    spec = ss.describe(db, dataset)
    columns = [c.name for c in spec.modelled]
    source, output = folder / f"{dataset}.parquet", folder / f"{dataset}_{name}.parquet"
    pq.write_table(db.table(dataset).select(*columns).to_pyarrow(), source)
    done = subprocess.run([str(PEER_PYTHON), str(Path(__file__).with_name("scale_peers.py")), "--peer", name,
                           "--input", str(source), "--output", str(output), "--rows", str(spec.n_rows), "--seed", "1"],
                          capture_output=True, text=True, timeout=3600)
    if done.returncode:
        print(f"{name} on {dataset} failed: {done.stderr[-2000:]}", flush=True)
        return {"dataset": dataset, "method": f"{name} (failed)"}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    target = f"{dataset}_{name}"
    sampled = pq.read_table(output)
    full = {c: sampled[c] if c in columns else pa.nulls(sampled.num_rows, db.table(dataset).schema()[c].to_pyarrow())
            for c in spec.names}
    ss.write_table(db, target, pa.table(full), replace=True)
    row = {"dataset": dataset, "method": name, "fit s": result["fit_s"], "statements": None,
           "peak MiB": result["peak_rss_mb"]}
    return score(db, dataset, target, spec, row)


def score(db: ss.Database, dataset: str, target: str, spec: ss.TableSpec, row: dict[str, Any]) -> dict[str, Any]:
    summary = marginal_summary(db, dataset, target, spec).set_index("metric")["value"]
    row.update(tvd2=summary["tvd_2way_mean"], tvd3=summary["tvd_3way_mean"])
    for k, (formula, family) in enumerate(GLMS[dataset], start=1):
        row[f"glm{k} overlap"], row[f"glm{k} rel err"] = glm_scores(db, dataset, target, spec, formula, family)
    return row


def scale(folder: Path, rows: int) -> dict[str, Any]:
    """cart on cps1988 copied to ``rows`` rows, in a DuckDB file."""
    db = ss.connect(f"duckdb:///{folder / f'cps_{rows}.duckdb'}", create=True)
    datasets.load(db, "cps1988", replace=True)
    copies = -(-rows // 28155)
    db.backend.raw_sql(f"CREATE OR REPLACE TABLE big AS SELECT c.* FROM cps1988 c, range({copies}) LIMIT {rows}")
    spec = ss.describe(db, "big")
    timed = Timed(db)
    start = time.perf_counter()
    model = ss.fit(db, "big", method="cart", spec=spec, seed=1)
    fit_s = time.perf_counter() - start
    leaves = sum(model.trees[t].leaves for t in model.order)
    return {"rows": rows, "fit s": fit_s, "statements": timed.count, "database s": timed.seconds, "leaves": leaves,
            "ratio": fit_s / timed.seconds if timed.seconds else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--out", default=str(Path(__file__).with_name("CART_RESULTS.md")))
    parser.add_argument("--folder", default="/tmp/bench_cart")
    args = parser.parse_args()
    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    db = ss.connect(f"duckdb:///{folder / 'quality.duckdb'}", create=True)
    rows = []
    for dataset in GLMS:
        datasets.load(db, dataset, replace=True)
        for method in METHODS:
            rows.append(quality(db, dataset, method))
            print(rows[-1], flush=True)
        for name in PEERS:
            found = peer(db, dataset, name, folder)
            if found is not None:
                rows.append(found)
                print(rows[-1], flush=True)
    scaled = [scale(folder, int(n)) for n in args.sizes.split(",") if n]
    for r in scaled:
        print(r, flush=True)
    lines = [
        "# CART against the other generators",
        "",
        f"`python benchmarks/bench_cart.py` on {platform.machine()}, {platform.python_version()}, DuckDB; seed 1, "
        "default parameters (cart: minbucket 20, cp 1e-8, max_depth 12, max_predictor_categories 60). GLM: mean CI overlap (higher is better) and "
        "median relative coefficient error (lower is better), intercept left out. Goal for cart: overlap >= 0.5 "
        "and error <= 0.25 on every dataset, better than bayesnet.",
        "",
        "| dataset | method | fit s | statements | peak MiB | tvd2 | tvd3 | GLM 1 overlap | GLM 1 rel err "
        "| GLM 2 overlap | GLM 2 rel err |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "tvd2" not in r:
            lines.append(f"| {r['dataset']} | {r['method']} |" + " |" * 9)
            continue
        lines.append(
            f"| {r['dataset']} | {r['method']} | {r['fit s']:.1f} | {r['statements'] or ''} | {r['peak MiB']:.0f} | "
            f"{r['tvd2']:.3f} | {r['tvd3']:.3f} | {r['glm1 overlap']:.2f} | {r['glm1 rel err']:.2f} | "
            f"{r['glm2 overlap']:.2f} | {r['glm2 rel err']:.2f} |"
        )
    lines += ["", "GLMs:", ""]
    lines += [f"- {d}: `{f}` ({fam})" for d, glms in GLMS.items() for f, fam in glms]
    if scaled:
        lines += [
            "",
            "cps1988 copied to more rows, cart fit (trees of all six columns after the first grown together):",
            "",
            "| rows | fit s | statements | seconds in the database | fit / database | leaves |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        lines += [f"| {r['rows']:,} | {r['fit s']:.1f} | {r['statements']} | {r['database s']:.1f} | "
                  f"{r['ratio']:.2f}x | {r['leaves']} |" for r in scaled]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
