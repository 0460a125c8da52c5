"""Scale: synthsql against the database's own limit and against peers, from the real tables up to 100M rows.

The point of synthesizing inside the database is that a fit costs a few scans and memory does not grow with the
table. This script measures that, and writes the table it prints to ``benchmarks/RESULTS.md``:

1. Tables: the shipped real datasets (cps1988, eusilc, ses) and cps1988 upsampled *inside DuckDB* to 1M, 10M and
   100M rows (each row a real row picked by a hash of its index, wage jittered by up to +-2 %, experience by -1/0/+1
   year), in a temporary DuckDB file, so that no file of that size is stored.
2. For every table and method (independent, bayesnet, copula, mst at epsilon 1 on the public domains of
   ``synthsql.datasets.domains``), a fresh child process with DuckDB in it (``memory_limit``, 2 threads) runs
   describe + fit, materialize (sample-and-write, as many rows as the table has), evaluate (every default metric with
   the cell-based pMSE, no risk) and, up to ``--pg-max-rows``, materialize again into PostgreSQL. It reports the
   seconds of each step, rows per second written, the mean 2-way TVD against the real table (scored on the real
   table's own bins, the same for every method and peer) and its peak resident memory (``VmHWM``).
3. The limit: every SQL statement the fit sent is recorded and replayed alone on the same connection (results
   fetched, nothing else): the database's own time for exactly the aggregates the method needs (the GROUP BYs and
   the quantile searches of its within-bin values). ``fit / DB`` is the fit's wall time over that.
4. Peers, on the same rows in the same run, where installed: SDV GaussianCopula and CTGAN (a few epochs) from
   ``benchmarks/.venv-sdv`` and the reference MST (private-pgm's mechanism on mbi, ``reference_mst.py``), each in a
   child process fed a Parquet export of the table, with a time cap and a memory cap (the parent kills a child over
   it): fit and sample seconds, peak memory, mean 2-way TVD, or why it failed.

    python benchmarks/bench_scale.py                    # real tables, 1M, 10M, 100M rows (about an hour here)
    python benchmarks/bench_scale.py --quick            # real tables and 200k rows, peers included: a few minutes
    python benchmarks/bench_scale.py --sizes 1000000 --methods copula --peers sdv_copula

The targets (checked and printed at the end, never asserted in tests): fit at 10M rows <= 1.5x the database's time
for the same aggregates; peak memory at 100M rows <= 1.5 GB and <= 1.2x the 1M run; sample-and-write >= 2M rows/s
into DuckDB and >= 500k rows/s into PostgreSQL; at 1M rows >= 50x faster than SDV GaussianCopula (fit + sample) with
a better mean 2-way TVD.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
METHODS = ("independent", "bayesnet", "copula", "mst")
PEERS = ("sdv_copula", "sdv_ctgan", "mbi_mst")
REAL = ("cps1988", "eusilc", "ses")
DEFAULT_SIZES = (1_000_000, 10_000_000, 100_000_000)
QUICK_SIZES = (200_000,)
THREADS = 2
EPSILON = 1.0
SDV_PYTHON = HERE / ".venv-sdv" / "bin" / "python"
PG_URL = os.environ.get("SYNTHSQL_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")

# Table and column names are fixed constants; the row count is a bound parameter.
UPSAMPLE_SQL = """
CREATE TABLE {name} AS
WITH src AS (
    -- Number the real rows by their content, so the pick does not depend on the physical row order.
    SELECT row_number() OVER (ORDER BY wage, education, experience, ethnicity, smsa, region, parttime) - 1 AS k, *
    FROM cps1988
),
picks AS (
    SELECT i, hash(i, 'row') % (SELECT count(*) FROM cps1988) AS k FROM range(?) r(i)
)
SELECT
    round(s.wage * (1 + 0.04 * ((hash(p.i, 'wage') % 1000001) / 1000000.0 - 0.5)), 2) AS wage,
    s.education,
    CAST(s.experience + (hash(p.i, 'experience') % 3) - 1 AS INTEGER) AS experience,
    s.ethnicity, s.smsa, s.region, s.parttime
FROM picks p JOIN src s USING (k)
"""


# --- the child: one (table, method) with synthsql ---------------------------------------------------------------
def peak_rss_mb() -> float:
    """This process's peak resident set size (VmHWM), in MiB (PITFALLS: not ru_maxrss)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmHWM not found in /proc/self/status (Linux only).")


class Recorder:
    """The DuckDB connection under Ibis and synthsql, recording every statement sent through it."""

    def __init__(self, con: Any) -> None:
        self._con = con
        self.statements: list[str] = []

    def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self.statements.append(query)
        return self._con.execute(query, *args, **kwargs)

    def sql(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self.statements.append(query)
        return self._con.sql(query, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def replay(con: Any, statements: list[str]) -> float:
    """Seconds the database takes to run the SELECTs among ``statements`` alone, fetching every result."""
    start = time.perf_counter()
    for sql in statements:
        if sql.lstrip().upper().startswith(("SELECT", "WITH")):
            con.execute(sql).fetchall()
    return time.perf_counter() - start


def child(args: argparse.Namespace) -> dict[str, Any]:
    import synthsql as ss
    from synthsql.datasets.domains import domains
    from synthsql.metrics.utility import marginal_tvd

    db = ss.connect(f"duckdb:///{args.child}", create=True, memory_limit=args.duckdb_memory, threads=THREADS)
    recorder = Recorder(db.backend.con)
    db.backend.con = recorder
    table, method, out = args.table, args.method, f"{args.table}__{args.method}"
    base = peak_rss_mb()
    result: dict[str, Any] = {"table": table, "method": method, "base_mb": base}

    start = time.perf_counter()
    columns = domains(args.domains) if method == "mst" else None
    spec = ss.describe(db, table, columns=columns)
    described = time.perf_counter()
    seen = len(recorder.statements)
    extra = {"epsilon": EPSILON, "delta": 1e-9} if method == "mst" else {}
    model = ss.fit(db, table, method=method, spec=spec, seed=1, **extra)
    fitted = time.perf_counter()
    fit_sql = recorder.statements[seen:]
    result |= {"rows": spec.n_rows, "describe_s": described - start, "fit_s": fitted - described}
    result["fit_peak_mb"] = peak_rss_mb()

    start = time.perf_counter()
    ss.materialize(db, model, out, seed=1, replace=True)
    result["write_s"] = time.perf_counter() - start
    result["write_peak_mb"] = peak_rss_mb()  # describe + fit + sample-and-write

    score_spec = ss.describe(db, table)  # the real table's own bins: the same yardstick for every method and peer
    if spec.n_rows <= args.evaluate_max_rows:
        start = time.perf_counter()
        ss.evaluate(db, real=table, synthetic=out, spec=score_spec, pmse=["cells"], risk=False, write=False)
        result["evaluate_s"] = time.perf_counter() - start
    result["tvd2"] = float(marginal_tvd(db, table, out, score_spec, k=2)["value"].mean())
    result["peak_mb"] = peak_rss_mb()

    db.backend.con = recorder._con
    result["db_fit_s"] = replay(db.raw, fit_sql)
    result["db_statements"] = sum(s.lstrip().upper().startswith(("SELECT", "WITH")) for s in fit_sql)
    db.raw.execute(f'DROP TABLE "{out}"')

    if spec.n_rows <= args.pg_max_rows:
        pg = ss.connect(PG_URL)
        target = f"bench_scale_{method}"
        start = time.perf_counter()
        ss.materialize(pg, model, target, seed=1, replace=True)
        result["pg_write_s"] = time.perf_counter() - start
        with pg.raw.cursor() as cur:
            cur.execute(f'DROP TABLE "{target}"')
        pg.raw.commit()
    return result


# --- the parent -------------------------------------------------------------------------------------------------
def run_watched(command: list[str], timeout: float, memory_cap_mb: float | None) -> tuple[int | str, str, str]:
    """Run ``command``; kill it past ``timeout`` seconds or when its resident memory passes ``memory_cap_mb``.

    Returns (exit code or the reason it was killed, stdout, stderr).
    """
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed: list[str] = []

    def watch() -> None:
        start = time.monotonic()
        status = Path(f"/proc/{process.pid}/status")
        while process.poll() is None:
            if time.monotonic() - start > timeout:
                killed.append(f"over the time cap ({timeout:.0f} s)")
            elif memory_cap_mb is not None:
                try:
                    rss = next(int(x.split()[1]) for x in status.read_text().splitlines() if x.startswith("VmRSS:"))
                except (OSError, StopIteration):
                    rss = 0
                if rss / 1024 > memory_cap_mb:
                    killed.append(f"out of memory (over the {memory_cap_mb / 1024:.0f} GB cap)")
            if killed:
                process.kill()
                return
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    stdout, stderr = process.communicate()
    watcher.join()
    return (killed[0] if killed else process.returncode), stdout, stderr


def failure(code: int | str, stderr: str) -> str:
    """Why a child failed: the reason it was killed, else the last error line it printed."""
    if isinstance(code, str):
        return code
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line or "Exception" in line]
    return (errors or lines or [f"exit code {code}"])[-1]


def last_json(stdout: str) -> dict[str, Any]:
    return json.loads(stdout.strip().splitlines()[-1])


def run_method(path: Path, table: str, method: str, domains: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable, __file__, "--child", str(path), "--table", table, "--method", method, "--domains", domains,
        "--duckdb-memory", args.duckdb_memory, "--pg-max-rows", str(args.pg_max_rows),
        "--evaluate-max-rows", str(args.evaluate_max_rows),
    ]
    code, stdout, stderr = run_watched(command, args.time_cap, None)
    if code != 0:
        return {"table": table, "method": method, "error": failure(code, stderr), "stderr": stderr}
    return last_json(stdout)


def run_peer(path: Path, table: str, rows: int, peer: str, domains: str, args: argparse.Namespace) -> dict[str, Any]:
    """One peer on a Parquet export of ``table``; its output is loaded back and scored like synthsql's."""
    import duckdb

    failed = {"table": table, "method": peer, "rows": rows}
    python = SDV_PYTHON if peer.startswith("sdv") else Path(sys.executable)
    if not python.exists():
        return failed | {"error": "not installed"}
    source, output = path.with_suffix(f".{table}.parquet"), path.with_suffix(f".{table}.{peer}.parquet")
    con = duckdb.connect(str(path), config={"memory_limit": args.duckdb_memory, "threads": THREADS})
    try:
        if not source.exists():
            con.execute(f"COPY \"{table}\" TO '{source}' (FORMAT parquet)")
        domain_file = path.with_suffix(f".{domains}.domains.json")
        from synthsql.datasets.domains import domains as public

        domain_file.write_text(json.dumps(public(domains)))
    finally:
        con.close()
    command = [
        str(python), str(HERE / "scale_peers.py"), "--peer", peer, "--input", str(source), "--output", str(output),
        "--rows", str(rows), "--seed", "1", "--epochs", str(args.ctgan_epochs), "--epsilon", str(EPSILON),
        "--domains", str(domain_file),
    ]
    code, stdout, stderr = run_watched(command, args.peer_time_cap, args.peer_memory_gb * 1024)
    if code != 0:
        output.unlink(missing_ok=True)
        return failed | {"error": failure(code, stderr), "stderr": stderr}
    result = failed | last_json(stdout)
    result["tvd2"] = score_peer(path, table, output, args)
    output.unlink(missing_ok=True)
    return result


def score_peer(path: Path, table: str, output: Path, args: argparse.Namespace) -> float:
    """The mean 2-way TVD of a peer's output against ``table``, on the real table's own bins (as for synthsql)."""
    import synthsql as ss
    from synthsql.metrics.utility import marginal_tvd

    db = ss.connect(f"duckdb:///{path}", create=True, memory_limit=args.duckdb_memory, threads=THREADS)
    try:
        peer_table = f"{table}__peer"
        db.raw.execute(f"CREATE OR REPLACE TABLE \"{peer_table}\" AS SELECT * FROM read_parquet('{output}')")
        spec = ss.describe(db, table)
        tvd = float(marginal_tvd(db, table, peer_table, spec, k=2)["value"].mean())
        db.raw.execute(f'DROP TABLE "{peer_table}"')
        return tvd
    finally:
        db.raw.close()


def build(path: Path, sizes: list[int], args: argparse.Namespace) -> dict[str, float]:
    """The real tables and the upsampled ones in one DuckDB file; the seconds each upsampled table took."""
    import synthsql as ss

    db = ss.connect(f"duckdb:///{path}", create=True, memory_limit=args.duckdb_memory, threads=THREADS)
    for name in REAL:
        ss.datasets.load(db, name, table=name, replace=True)
    seconds = {}
    for rows in sizes:
        start = time.perf_counter()
        db.raw.execute(UPSAMPLE_SQL.format(name=f"cps1988_{rows}"), [rows])
        db.raw.execute("CHECKPOINT")
        seconds[f"cps1988_{rows}"] = time.perf_counter() - start
    db.raw.close()
    return seconds


def machine(args: argparse.Namespace) -> str:
    import duckdb

    meminfo = Path("/proc/meminfo").read_text().splitlines()
    mem_gib = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:")) / 1024**2
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor() or "unknown CPU",
    )
    pg = "not reachable"
    try:
        import psycopg

        with psycopg.connect(PG_URL.replace("postgresql://", "postgresql://", 1)) as conn:
            pg = conn.execute("SHOW server_version").fetchone()[0]
    except Exception:  # noqa: BLE001 - only for the description
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem_gib:.1f} GiB RAM, a shared virtual machine; Python "
        f"{sys.version.split()[0]}, DuckDB {duckdb.__version__} (memory_limit {args.duckdb_memory}, {THREADS} "
        f"threads, in the child process), PostgreSQL {pg} on the same machine"
    )


def fmt(value: Any, spec: str = ".2f") -> str:
    return "" if value is None else format(value, spec)


def report(results: list[dict[str, Any]], built: dict[str, float], args: argparse.Namespace, wall: float) -> str:
    lines = [
        "| table | rows | method | describe s | fit s | DB alone s | fit / DB | write s | rows/s DuckDB | "
        "rows/s PostgreSQL | evaluate s | 2-way TVD | fit peak MB | fit + write peak MB | peak MB |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rows = r.get("rows") or r.get("rows_in")
        head = f"| {r['table']} | {fmt(rows, ',')} | {r['method']} |"
        if "error" in r:
            lines.append(f"{head} FAILED: {r['error']} | | | | | | | | | | | |")
        elif r["method"] in PEERS:
            workers = r.get("workers_peak_rss_mb") or 0  # CTGAN's joblib workers, beside the child itself
            peak = f"{r['peak_rss_mb'] + workers:.0f}" + (f" (workers {workers:.0f})" if workers else "")
            lines.append(
                f"{head} | {r['fit_s']:.2f} | | | {r['sample_s']:.2f} (sample, in memory) | | | | "
                f"{r['tvd2']:.4f} | | | {peak} |"
            )
        else:
            pg = f"{r['rows'] / r['pg_write_s']:,.0f}" if "pg_write_s" in r else ""
            evaluated = f"{r['evaluate_s']:.2f}" if "evaluate_s" in r else "not run"
            lines.append(
                f"{head} {r['describe_s']:.2f} | {r['fit_s']:.2f} | {r['db_fit_s']:.2f} | "
                f"{r['fit_s'] / r['db_fit_s']:.2f} | {r['write_s']:.2f} | {r['rows'] / r['write_s']:,.0f} | {pg} | "
                f"{evaluated} | {r['tvd2']:.4f} | {r['fit_peak_mb']:.0f} | {r['write_peak_mb']:.0f} | {r['peak_mb']:.0f} |"
            )
    lines += ["", *verdicts(results)]
    built_text = ", ".join(f"{name}: {s:.0f} s" for name, s in built.items())
    lines += ["", f"Upsampled tables built inside DuckDB ({built_text}); whole run {wall / 60:.1f} min."]
    return "\n".join(lines)


def verdicts(results: list[dict[str, Any]]) -> list[str]:
    """Each target: met, MISSED, or not measured in this run."""
    ok = [r for r in results if "error" not in r]
    ours = {(r["rows"], r["method"]): r for r in ok if r["method"] in METHODS and r["table"].startswith("cps1988_")}
    out = ["Targets:"]

    ten = [r for (rows, _), r in ours.items() if rows == 10_000_000]
    if ten:
        worst = max(ten, key=lambda r: r["fit_s"] / r["db_fit_s"])
        ratio = worst["fit_s"] / worst["db_fit_s"]
        out.append(f"- fit at 10M rows <= 1.5x the database's own time: worst {ratio:.2f} ({worst['method']}): "
                   f"{'met' if ratio <= 1.5 else 'MISSED'}; by method " + ", ".join(
                       f"{r['method']} {r['fit_s'] / r['db_fit_s']:.2f}" for r in ten) + ".")
    else:
        out.append("- fit at 10M rows: not measured in this run.")

    big = [r for (rows, _), r in ours.items() if rows == 100_000_000]
    if big:
        parts, under, flat, unchecked = [], True, True, []
        for r in big:
            small = ours.get((1_000_000, r["method"]))
            under &= r["write_peak_mb"] <= 1.5 * 1024
            if small:
                growth = r["write_peak_mb"] / small["write_peak_mb"]
                flat &= growth <= 1.2
                parts.append(f"{r['method']} {r['write_peak_mb']:.0f} MB ({growth:.2f}x 1M)")
            else:
                unchecked.append(r["method"])
                parts.append(f"{r['method']} {r['write_peak_mb']:.0f} MB")
        verdict = f"1.5 GB {'met' if under else 'MISSED'}"
        if len(unchecked) < len(big):
            verdict += f", 1.2x {'met' if flat else 'MISSED'}"
        if unchecked:  # without a 1M run the growth part cannot be judged
            verdict += f", 1.2x not checked for {', '.join(unchecked)} (no 1M run in this run)"
        out.append(f"- peak memory (describe + fit + sample-and-write) at 100M rows <= 1.5 GB and <= 1.2x the 1M "
                   f"run: {', '.join(parts)}: {verdict}.")
    else:
        out.append("- peak memory at 100M rows: not measured in this run.")

    sized = [r for r in ours.values() if r["rows"] >= 1_000_000]
    if sized:
        duck = min(sized, key=lambda r: r["rows"] / r["write_s"])
        rate = duck["rows"] / duck["write_s"]
        out.append(f"- sample-and-write >= 2M rows/s into DuckDB: slowest {rate:,.0f} rows/s ({duck['method']}, "
                   f"{duck['rows']:,} rows): {'met' if rate >= 2e6 else 'MISSED'}.")
        pg = [r for r in sized if "pg_write_s" in r]
        if pg:
            slow = min(pg, key=lambda r: r["rows"] / r["pg_write_s"])
            rate = slow["rows"] / slow["pg_write_s"]
            out.append(f"- sample-and-write >= 500k rows/s into PostgreSQL: slowest {rate:,.0f} rows/s "
                       f"({slow['method']}, {slow['rows']:,} rows): {'met' if rate >= 5e5 else 'MISSED'}.")

    mine = ours.get((1_000_000, "copula"))
    sdv = next((r for r in results if r["method"] == "sdv_copula" and r["table"] == "cps1988_1000000"), None)
    if mine and sdv and "error" not in sdv:
        ours_s = mine["describe_s"] + mine["fit_s"] + mine["write_s"]
        theirs = sdv["fit_s"] + sdv["sample_s"]
        best = min((r for (rows, _), r in ours.items() if rows == 1_000_000), key=lambda r: r["tvd2"])
        met = theirs / ours_s >= 50 and mine["tvd2"] < sdv["tvd2"]
        out.append(
            f"- at 1M rows >= 50x faster than SDV GaussianCopula with a better 2-way TVD: copula {ours_s:.1f} s "
            f"(describe + fit + sample-and-write) vs {theirs:.1f} s (fit + sample in memory), {theirs / ours_s:.0f}x; "
            f"TVD {mine['tvd2']:.4f} vs {sdv['tvd2']:.4f} (best synthsql method: {best['method']} "
            f"{best['tvd2']:.4f}): {'met' if met else 'MISSED'}."
        )
    elif sdv:
        out.append(f"- at 1M rows against SDV GaussianCopula: SDV {sdv.get('error', 'not run')}.")
    else:
        out.append("- at 1M rows against SDV GaussianCopula: not measured in this run.")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="upsampled row counts")
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES}: a smoke test of the whole run")
    parser.add_argument("--real", default=",".join(REAL), help="real tables to run as they are ('' for none)")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--peers", default=",".join(PEERS), help="peers to run where installed ('' for none)")
    parser.add_argument("--peer-max-rows", type=int, default=100_000_000, help="largest table given to the peers")
    parser.add_argument("--ctgan-max-rows", type=int, default=1_000_000, help="largest table given to CTGAN")
    parser.add_argument("--ctgan-epochs", type=int, default=5)
    parser.add_argument("--pg-max-rows", type=int, default=10_000_000, help="largest table also written to PostgreSQL")
    parser.add_argument("--evaluate-max-rows", type=int, default=10_000_000, help="largest table evaluated")
    parser.add_argument("--duckdb-memory", default="500MB", help="DuckDB memory_limit in every process")
    parser.add_argument("--time-cap", type=float, default=3600.0, help="seconds for one synthsql child")
    parser.add_argument("--peer-time-cap", type=float, default=900.0, help="seconds for one peer")
    parser.add_argument("--peer-memory-gb", type=float, default=16.0, help="a peer past this resident memory is killed")
    parser.add_argument("--output", default=str(HERE / "RESULTS.md"), help="markdown file written ('' for none)")
    parser.add_argument("--workdir", type=Path, help="directory for the temporary DuckDB file (default: /tmp)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--table", help=argparse.SUPPRESS)
    parser.add_argument("--method", help=argparse.SUPPRESS)
    parser.add_argument("--domains", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child is not None:
        print(json.dumps(child(args)))
        return 0

    sizes = list(QUICK_SIZES) if args.quick else [int(s) for s in args.sizes.split(",") if s]
    methods = [m for m in args.methods.split(",") if m]
    peers = [p for p in args.peers.split(",") if p]
    real = [t for t in args.real.split(",") if t]
    bad = sorted(set(methods) - set(METHODS)) + sorted(set(peers) - set(PEERS)) + sorted(set(real) - set(REAL))
    if bad:
        parser.error(f"unknown method, peer or table: {bad}")
    header = machine(args)
    print(f"Machine: {header}.", flush=True)
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="synthsql-scale-", dir=args.workdir) as tmp:
        path = Path(tmp) / "scale.duckdb"
        built = build(path, sizes, args)
        for name, seconds in built.items():
            print(f"Built {name} in {seconds:.1f} s.", flush=True)
        tables = [(t, t) for t in real] + [(f"cps1988_{n}", "cps1988") for n in sizes]
        for table, domains in tables:
            for method in methods:
                result = run_method(path, table, method, domains, args)
                results.append(result)
                print(f"  {table} {method}: " + (f"FAILED {result['error']}\n{result.get('stderr', '')[-3000:]}"
                      if "error" in result else json.dumps({k: round(v, 3) if isinstance(v, float) else v
                                                            for k, v in result.items()})), flush=True)
            rows = next((r["rows"] for r in results if r["table"] == table and "rows" in r), None)
            for peer in peers:
                if rows is None or rows > args.peer_max_rows or (peer == "sdv_ctgan" and rows > args.ctgan_max_rows):
                    continue
                result = run_peer(path, table, rows, peer, domains, args)
                results.append(result)
                print(f"  {table} {peer}: " + (f"FAILED {result['error']}" if "error" in result else
                      json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()})),
                      flush=True)
            for leftover in Path(tmp).glob(f"scale.{table}.parquet"):
                leftover.unlink()
    wall = time.perf_counter() - started
    text = report(results, built, args, wall)
    print()
    print(text)
    if args.output:
        command = "python benchmarks/bench_scale.py " + " ".join(argv if argv is not None else sys.argv[1:])
        Path(args.output).write_text(
            f"# Scale benchmark\n\n`{command.strip()}` on {time.strftime('%Y-%m-%d')}.\n\nMachine: {header}.\n\n"
            f"{text}\n"
        )
    return 1 if any("error" in r and r["method"] in METHODS for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
