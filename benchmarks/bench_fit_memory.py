"""Does fitting a generator cost memory in proportion to the number of rows?

synthsql's design promise is that the database computes aggregates and Python only ever holds the domain (cell
counts, bin quantiles, correlations), so the memory of ``describe`` + ``fit`` must not grow with the table. This
script checks that promise on the shipped ``cps1988`` table (28,155 real rows) upsampled inside DuckDB to 1M and
10M rows: every row is a real row picked by a hash of its index, with wage jittered by up to +-2 % and experience by
-1/0/+1 year (integers stay integers): kinds, categories and bins stay those of the real table while the row count
grows (wage gains distinct values, as a larger real table would).

For each size and each method (independent, bayesnet, copula) a fresh child process opens the DuckDB file, runs
``describe`` and ``fit``, and reports its own peak resident memory (``VmHWM`` from ``/proc/self/status``; see
PITFALLS.md on why not ``ru_maxrss``). The child's peak includes DuckDB, which runs in the same process, so DuckDB
gets a ``memory_limit`` and 2 threads, which caps its buffer pool (it spills to disk instead). Not all of DuckDB's
memory is under that cap, so the child also reports its Python heap peak (tracemalloc), which is synthsql's own share.
All files live in a temporary directory that is removed at the end; nothing large is written to the repository.

    python benchmarks/bench_fit_memory.py                 # 1M and 10M rows
    python benchmarks/bench_fit_memory.py --quick         # 100k and 300k rows, a smoke test
    python benchmarks/bench_fit_memory.py --sizes 2000000 --methods copula --duckdb-memory 512MB

Prints a markdown table (describe s, fit s, peak RSS MB, ratio to the smallest size of the same method) and a
verdict line. Exits non-zero only when a run fails (an error, DuckDB out of memory, a timeout), never because memory
grew.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

METHODS = ("independent", "bayesnet", "copula")
DEFAULT_SIZES = (1_000_000, 10_000_000)
QUICK_SIZES = (100_000, 300_000)
THREADS = 2
#: Peak memory at the largest size within this factor of the smallest size's counts as "does not grow".
GROWTH_TOLERANCE = 1.2

# The upsampling query and the peak-memory reading are the scale benchmark's (this directory is on sys.path when a
# script here runs).
from bench_scale import UPSAMPLE_SQL, peak_rss_mb  # noqa: E402


def machine() -> str:
    import duckdb

    meminfo = Path("/proc/meminfo").read_text().splitlines()
    mem_gib = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:")) / 1024**2
    python = sys.version.split()[0]
    return f"{os.cpu_count()} cores, {mem_gib:.1f} GiB RAM, DuckDB {duckdb.__version__}, Python {python}"


def build(path: Path, rows: int, duckdb_memory: str) -> float:
    """Write ``big`` with ``rows`` upsampled cps1988 rows into a new DuckDB file; return the seconds it took."""
    import synthsql as ss

    start = time.perf_counter()
    db = ss.connect(f"duckdb:///{path}", create=True, memory_limit=duckdb_memory, threads=THREADS)
    ss.datasets.load(db, "cps1988", table="cps1988", replace=True)
    db.raw.execute(UPSAMPLE_SQL.format(name="big"), [rows])
    (count,) = db.raw.execute("SELECT count(*) FROM big").fetchone()
    if count != rows:
        raise RuntimeError(f"upsampled table has {count} rows, expected {rows}")
    db.raw.execute("CHECKPOINT")
    db.raw.close()
    return time.perf_counter() - start


def child(path: Path, method: str, duckdb_memory: str) -> dict[str, Any]:
    """Run in a fresh process: describe + fit on ``big``, timed, with this process's peak memory."""
    import synthsql as ss

    db = ss.connect(f"duckdb:///{path}", create=True, memory_limit=duckdb_memory, threads=THREADS)
    base = peak_rss_mb()  # after imports and connect: the floor every run pays
    tracemalloc.start()  # Python objects and numpy arrays; not DuckDB's own (C++) memory
    start = time.perf_counter()
    spec = ss.describe(db, "big")
    described = time.perf_counter()
    ss.fit(db, "big", method=method, spec=spec, seed=1)
    fitted = time.perf_counter()
    return {
        "rows": spec.n_rows,
        "method": method,
        "describe_s": described - start,
        "fit_s": fitted - described,
        "base_rss_mb": base,
        "peak_rss_mb": peak_rss_mb(),
        "python_peak_mb": tracemalloc.get_traced_memory()[1] / 1024**2,
    }


def run_child(path: Path, rows: int, method: str, duckdb_memory: str, timeout: float) -> dict[str, Any]:
    """:func:`child` in a fresh interpreter; a failure or a timeout comes back as ``{"error": ...}``."""
    command = [sys.executable, __file__, "--child", str(path), "--method", method, "--duckdb-memory", duckdb_memory]
    failed = {"rows": rows, "method": method}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return failed | {"error": f"timed out after {timeout:.0f} s"}
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if "Error" in line or "Exception" in line]
        return failed | {"error": (errors or [f"exit code {done.returncode}"])[-1].strip(), "stderr": done.stderr}
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(results: list[dict[str, Any]], limit: str) -> str:
    """The markdown table, the failures, and the verdict on growth (over the runs that succeeded)."""
    ok = [r for r in results if "error" not in r]
    smallest = {r["method"]: r for r in sorted(ok, key=lambda r: -r["rows"])}  # last write wins: the smallest
    largest = {r["method"]: r for r in sorted(ok, key=lambda r: r["rows"])}
    lines = [
        "| rows | method | describe s | fit s | base RSS MB | peak RSS MB | peak / smallest | Python heap MB |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['rows']:,} | {r['method']} | failed | | | | | |")
            continue
        ratio = r["peak_rss_mb"] / smallest[r["method"]]["peak_rss_mb"]
        lines.append(
            f"| {r['rows']:,} | {r['method']} | {r['describe_s']:.2f} | {r['fit_s']:.2f} | "
            f"{r['base_rss_mb']:.0f} | {r['peak_rss_mb']:.0f} | {ratio:.2f} | {r['python_peak_mb']:.1f} |"
        )
    lines.append("")
    lines += [f"FAILED: {r['method']} at {r['rows']:,} rows: {r['error']}" for r in results if "error" in r]
    ratios = {
        m: (
            largest[m]["rows"] / smallest[m]["rows"],
            largest[m]["python_peak_mb"] / smallest[m]["python_peak_mb"],
            largest[m]["peak_rss_mb"] / smallest[m]["peak_rss_mb"],
        )
        for m in largest
        if largest[m]["rows"] > smallest[m]["rows"]
    }
    if not ratios:
        lines.append("No verdict on growth: no method succeeded at two sizes.")
        return "\n".join(lines)
    worst = max(ratios, key=lambda m: ratios[m][1])
    grows = ratios[worst][1] > GROWTH_TOLERANCE
    lines.append(
        f"synthsql's own memory (Python heap peak) {'GROWS' if grows else 'does not grow'} with the row count: over "
        f"{ratios[worst][0]:.0f}x the rows the largest heap ratio is {ratios[worst][1]:.2f} ({worst}); the threshold "
        f"is {GROWTH_TOLERANCE}. It ranged {min(r['python_peak_mb'] for r in ok):.1f}-"
        f"{max(r['python_peak_mb'] for r in ok):.1f} MB."
    )
    above = max(r["peak_rss_mb"] - r["base_rss_mb"] for r in ok)
    rss = max(ratios, key=lambda m: ratios[m][2])
    lines.append(
        f"DuckDB runs in the same process: the peak RSS above base was at most {above:.0f} MB (memory_limit "
        f"{limit}), and the largest RSS ratio {ratios[rss][2]:.2f} ({rss}). Its buffer pool keeps the blocks a scan "
        "reads, up to the limit (a bare SUM over one column of the 10M-row table adds about 40 MB), so RSS grows with "
        "the table until the limit while synthsql's own share stays flat."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="row counts, comma-separated")
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES}: a fast smoke test")
    parser.add_argument("--methods", default=",".join(METHODS), help="methods, comma-separated")
    parser.add_argument("--duckdb-memory", default="1GB", help="DuckDB memory_limit in every process (default 1GB)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds allowed for one describe + fit")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--method", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child is not None:
        print(json.dumps(child(args.child, args.method, args.duckdb_memory)))
        return 0

    sizes = list(QUICK_SIZES) if args.quick else [int(s) for s in args.sizes.split(",")]
    methods = args.methods.split(",")
    unknown = sorted(set(methods) - set(METHODS))
    if unknown or not sizes or min(sizes) < 1:
        parser.error(f"bad --methods {unknown} or --sizes {sizes}")
    print(f"Machine: {machine()}.")
    print(
        f"Each describe + fit runs in a fresh child process; DuckDB runs in that process with "
        f"memory_limit={args.duckdb_memory} and threads={THREADS}, which caps its buffer pool. "
        "Peak RSS is the child's VmHWM; base RSS is its VmHWM after import and connect; Python heap is "
        "the tracemalloc peak during describe + fit (timings include tracemalloc's overhead)."
    )
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="synthsql-bench-") as tmp:
        for rows in sizes:
            path = Path(tmp) / f"cps1988_{rows}.duckdb"
            seconds = build(path, rows, args.duckdb_memory)
            size_mib = path.stat().st_size / 1024**2
            print(f"Built {rows:,} upsampled cps1988 rows in {seconds:.1f} s ({size_mib:.0f} MiB file).", flush=True)
            for method in methods:
                result = run_child(path, rows, method, args.duckdb_memory, args.timeout)
                if "error" in result:
                    print(f"  {method}: FAILED\n{result.get('stderr', result['error'])}", flush=True)
                else:
                    print(f"  {method}: describe {result['describe_s']:.1f} s, fit {result['fit_s']:.1f} s, "
                          f"peak {result['peak_rss_mb']:.0f} MB", flush=True)
                results.append(result)
            path.unlink()
    print()
    print(report(results, args.duckdb_memory))
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
