"""How long does evaluating a synthetic table take, and does its memory grow with the rows?

Builds the upsampled cps1988 table of ``bench_fit_memory.py`` at each size inside DuckDB, writes an independent-method
synthetic table of the same size beside it, then, in a fresh child process, times the utility evaluation the issue
names: every 2-way TVD, one GLM (``wage ~ education + experience + region + parttime``, fitted in the database on
both tables) and the propensity-score pMSE (cell-based, and logistic with all 2-way interactions). The child
reports its peak RSS (VmHWM, DuckDB included, with a memory_limit) and its Python heap peak (tracemalloc).

    python benchmarks/bench_evaluate.py                  # 100k and 1M rows against as many synthetic rows
    python benchmarks/bench_evaluate.py --sizes 1000000,10000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fit_memory import THREADS, build, machine, peak_rss_mb  # noqa: E402

FORMULA = "wage ~ education + experience + region + parttime"


def child(path: Path, duckdb_memory: str) -> dict[str, Any]:
    import synthsql as ss
    from synthsql.metrics import pmse
    from synthsql.metrics.glm import compare_glm
    from synthsql.metrics.utility import marginal_tvd

    db = ss.connect(f"duckdb:///{path}", create=True, memory_limit=duckdb_memory, threads=THREADS)
    spec = ss.describe(db, "big")
    base = peak_rss_mb()
    tracemalloc.start()
    timings = {}
    start = time.perf_counter()
    marginal_tvd(db, "big", "synth", spec)
    timings["tvd_2way_s"] = time.perf_counter() - start
    start = time.perf_counter()
    compare_glm(db, "big", "synth", FORMULA, spec=spec)
    timings["glm_s"] = time.perf_counter() - start
    start = time.perf_counter()
    pmse.pmse_cells(db, "big", "synth", spec)
    pmse.pmse_logit(db, "big", "synth", spec)
    timings["pmse_s"] = time.perf_counter() - start
    return {
        "rows": spec.n_rows,
        **timings,
        "total_s": sum(timings.values()),
        "base_rss_mb": base,
        "peak_rss_mb": peak_rss_mb(),
        "python_peak_mb": tracemalloc.get_traced_memory()[1] / 1024**2,
    }


def prepare(path: Path, rows: int, duckdb_memory: str) -> None:
    import synthsql as ss

    build(path, rows, duckdb_memory)
    db = ss.connect(f"duckdb:///{path}", create=True, memory_limit=duckdb_memory, threads=THREADS)
    model = ss.fit(db, "big", method="independent", seed=1)
    ss.materialize(db, model, "synth", seed=2)
    db.raw.execute("CHECKPOINT")
    db.raw.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="row counts, comma-separated")
    parser.add_argument("--duckdb-memory", default="1GB")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(args.child, args.duckdb_memory)))
        return 0
    print(f"Machine: {machine()}. DuckDB memory_limit={args.duckdb_memory}, threads={THREADS}.")
    results = []
    with tempfile.TemporaryDirectory(prefix="synthsql-eval-") as tmp:
        for rows in [int(s) for s in args.sizes.split(",")]:
            path = Path(tmp) / f"eval_{rows}.duckdb"
            prepare(path, rows, args.duckdb_memory)
            command = [sys.executable, __file__, "--child", str(path), "--duckdb-memory", args.duckdb_memory]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(done.stderr)
                return 1
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            path.unlink()
    print()
    print("| rows (real = synthetic) | all 2-way TVD s | GLM s | pMSE s | total s | peak RSS MB | Python heap MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['rows']:,} | {r['tvd_2way_s']:.2f} | {r['glm_s']:.2f} | {r['pmse_s']:.2f} | {r['total_s']:.2f} "
              f"| {r['peak_rss_mb']:.0f} | {r['python_peak_mb']:.1f} |")
    first, last = results[0], results[-1]
    print()
    print("pMSE: cell-based, and logistic with all 2-way interactions fitted by IRLS in the database.")
    print(f"Over {last['rows'] / first['rows']:.0f}x the rows: Python heap x{last['python_peak_mb'] / first['python_peak_mb']:.2f}, "
          f"peak RSS x{last['peak_rss_mb'] / first['peak_rss_mb']:.2f} (DuckDB's buffer pool keeps the blocks it "
          f"reads, up to memory_limit).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
