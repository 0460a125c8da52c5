"""The README's main job: `synthsql demo` on the embedded DuckDB default with a shipped dataset."""

from __future__ import annotations

from synthsql.demo import SKIPPED, run_demo
from synthsql.generators import fully_synthetic


def test_the_demo_runs_every_method_it_promises(tmp_path):
    rows = run_demo(f"duckdb:///{tmp_path / 'demo.duckdb'}", "cps1988", seed=1)
    methods = {r.method.split(" ")[0] for r in rows}
    assert methods == set(fully_synthetic()) - set(SKIPPED)
    tvd = {r.method.split(" ")[0]: r.mean_tvd_2way for r in rows}
    assert tvd["bayesnet"] < tvd["mst"] < tvd["independent"] < tvd["uniform"]
    assert all(r.rows > 28_000 for r in rows)
