"""The demo: a shipped real dataset into an embedded DuckDB file, synthesized with every method, compared."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from synthsql import datasets
from synthsql.connection import connect
from synthsql.generators import REGISTRY, fully_synthetic
from synthsql.metrics.utility import marginal_tvd
from synthsql.schema import IdentifierColumnWarning, describe
from synthsql.pipeline import fit, materialize

__all__ = ["DemoRow", "run_demo"]


@dataclass(frozen=True, slots=True)
class DemoRow:
    method: str
    rows: int
    fit_seconds: float
    write_seconds: float
    mean_tvd_2way: float


DEMO_EPSILON = 1.0
#: Left out of the demo: AIM takes minutes per fit (benchmarks/bench_dp.py runs it).
SKIPPED = ("aim",)


def run_demo(
    url: str = "duckdb:///demo.duckdb",
    dataset: str = "cps1988",
    *,
    seed: int = 1,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[DemoRow]:
    """Load ``dataset`` into the database at ``url``, synthesize it with each method, and measure 2-way TVD.
    ``progress(step, done, total)`` is called as each step starts (``total``: the methods, ``done``: those
    finished)."""
    methods = [m for m in fully_synthetic() if m not in SKIPPED]

    def step(text: str, done: int) -> None:
        if progress is not None:
            progress(text, done, len(methods))

    step(f"loading {dataset}", 0)
    db = connect(url, create=True)  # the demo makes its own database
    datasets.load(db, dataset, replace=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifierColumnWarning)
        spec = describe(db, dataset)
    from synthsql.datasets.domains import domains

    public = describe(db, dataset, columns=domains(dataset))  # declared domains, for the DP methods
    out: list[DemoRow] = []
    for method in methods:
        private = getattr(REGISTRY[method], "private", False)
        step(f"{method}: fit", len(out))
        start = time.perf_counter()
        if private:
            model = fit(db, dataset, method=method, spec=public, seed=seed, epsilon=DEMO_EPSILON)
        else:
            model = fit(db, dataset, method=method, spec=spec, seed=seed)
        fitted = time.perf_counter()
        step(f"{method}: sample and write {model.spec.n_rows:,} rows", len(out))
        target = materialize(db, model, f"{dataset}_{method}", seed=seed, replace=True)
        written = time.perf_counter()
        step(f"{method}: 2-way TVD", len(out))
        tvd = marginal_tvd(db, dataset, str(target), public if private else spec)["value"].mean()
        label = f"{method} (epsilon {DEMO_EPSILON:g})" if private else method
        out.append(DemoRow(label, model.spec.n_rows, fitted - start, written - fitted, float(tvd)))
    return out


def print_demo(rows: list[DemoRow], *, dataset: str, url: str, console: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"synthsql demo: {dataset} in {url}")
    for header in ("method", "rows", "fit s", "sample+write s", "mean 2-way TVD"):
        table.add_column(header, justify="left" if header == "method" else "right")
    for r in rows:
        table.add_row(r.method, f"{r.rows:,}", f"{r.fit_seconds:.2f}", f"{r.write_seconds:.2f}", f"{r.mean_tvd_2way:.4f}")
    console.print(table)
    console.print("Lower TVD is better; the synthetic tables are next to the source, named <dataset>_<method>.")
    console.print(
        "DP methods use the declared public domains of synthsql.datasets.domains (their TVD is measured on those "
        "cells); aim is left out of the demo (minutes per fit: see benchmarks/bench_dp.py)."
    )
