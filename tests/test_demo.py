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


def test_the_demo_reports_each_step_as_it_starts(tmp_path):
    steps: list[tuple[str, int, int]] = []
    rows = run_demo(f"duckdb:///{tmp_path / 'demo.duckdb'}", "cps1988", seed=1,
                    progress=lambda step, done, total: steps.append((step, done, total)))
    methods = [m for m in fully_synthetic() if m not in SKIPPED]
    assert steps[0] == ("loading cps1988", 0, len(methods))
    assert [s for s, _, _ in steps[1:4]] == [f"{methods[0]}: fit", f"{methods[0]}: sample and write 28,155 rows",
                                             f"{methods[0]}: 2-way TVD"]
    assert len(steps) == 1 + 3 * len(methods) and steps[-1][1] == len(methods) - 1 == len(rows) - 1


def test_the_demo_command_prints_its_table(tmp_path, capsys):
    from synthsql.cli import main

    assert main(["demo", "--db", f"duckdb:///{tmp_path / 'demo.duckdb'}"]) == 0
    out = capsys.readouterr().out
    assert "synthsql demo: cps1988" in out and "bayesnet" in out and "mean 2-way TVD" in out
