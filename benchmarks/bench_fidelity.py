"""Fidelity of every generator: declared edit rules, NULL shares, NULL blocks, means and sds, and what rules cost.

For eusilc, ses, cps1988 and a generated person table (:func:`generated_table`: a questionnaire block NULL together,
a zero-inflated lognormal wage), each method is fitted in an in-memory DuckDB with the dataset's declared rules and
materialised at the source's size; the synthetic table is scored with the fit-for-purpose metrics of
:mod:`synthsql.metrics.fitness`:

* declared-rule violations (:func:`~synthsql.metrics.fitness.check_rules`; 0 by construction when enforced), and the
  violations of the same model sampled *without* its rules, to show what enforcement buys;
* the largest NULL-share difference over columns and the largest NULL-block share difference
  (:func:`~synthsql.metrics.fitness.plausibility`, :func:`~synthsql.metrics.fitness.missingness_blocks`), bound 1 point;
* the smallest and largest mean and sd ratio (synthetic / real) over integer and numeric columns, bounds
  [0.9, 1.1] and [0.8, 1.25], and the number of columns flagged by any bound;
* materialise seconds with the rules and without them (the same model, its rules removed), and rows drawn / kept.

``mst`` is differentially private (epsilon 1): its figures are reported, the bounds are not required of it. It is
fitted on declared public domains (:func:`synthsql.datasets.domains.domains`; :func:`generated_domains` for the
generated table). Every method is scored on the columns its own spec models.

    .venv/bin/python benchmarks/bench_fidelity.py      # everything (a few minutes), writes FIDELITY_RESULTS.md
    .venv/bin/python benchmarks/bench_fidelity.py --datasets generated --methods bayesnet mst --out /tmp/f.md
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import synthsql as ss
from synthsql.datasets.domains import domains
from synthsql.generators import REGISTRY
from synthsql.metrics.fitness import (
    MEAN_RATIO_BOUNDS,
    NULL_SHARE_POINTS,
    SD_RATIO_BOUNDS,
    check_rules,
    column_summary,
    missingness_blocks,
    plausibility,
)

DATASETS = ("eusilc", "ses", "cps1988", "generated")
METHODS = ("independent", "bayesnet", "copula", "cart", "mst")
SEED = 1
EPSILON = 1.0
REPEATS = 3  # materialize runs timed per model

#: The job section of the generated table: NULL together when a person is not employed or skipped the section.
JOB_BLOCK = ("occupation", "contract", "hours", "sector")
OCCUPATIONS = ("manager", "professional", "clerical", "service", "craft", "elementary")
NO_CHILD_WAGE = ss.Rule("no_child_wage", "wage = 0 OR wage IS NULL", when="age < 15")

#: Rules that hold in each source (checked at run time: a source violation is printed in the table).
RULES: dict[str, list[ss.Rule]] = {
    "eusilc": [ss.Rule("no_child_income", "py010n IS NULL OR py010n = 0", when="age < 16")],
    "ses": [ss.Rule("full_time_full_hours", "\"shareNormalHours\" = 100", when="\"fullPart\" = 'FT'")],
    "cps1988": [ss.Rule("positive_wage", "wage > 0")],
    "generated": [NO_CHILD_WAGE],
}


# --------------------------------------------------------------------------------------------------------------
# The generated table
# --------------------------------------------------------------------------------------------------------------
def generated_table(n: int = 20_000, seed: int = 0) -> pa.Table:
    """A person table with the structures real surveys have and simple generators lose.

    * ``age`` (integer 0-90, uniform) and ``sex`` (F/M);
    * ``employed`` (yes/no): NULL for children under 15, yes for 80 % of ages 15-64 and 10 % from 65;
    * the job section :data:`JOB_BLOCK` (``occupation``, ``contract``, ``hours``, ``sector``): NULL together for
      everyone not employed, and for 5 % of the employed (item nonresponse of the whole section);
    * ``wage``: 0 for children and for adults not employed (about half the rows: a point mass), lognormal
      (log-mean 7.6 + 0.02 per weekly hour, log-sd 0.6) for the employed, NULL for 2 % of them.

    The rule :data:`NO_CHILD_WAGE` holds in it. The same ``n`` and ``seed`` give the same table.
    """
    rng = np.random.default_rng(seed)
    age = rng.integers(0, 91, size=n)
    sex = rng.choice(["F", "M"], size=n)
    child = age < 15
    works = ~child & (rng.random(n) < np.where(age < 65, 0.8, 0.1))
    employed = np.where(works, "yes", "no")
    answered = works & (rng.random(n) >= 0.05)  # the section's item nonresponse: 5 % of the employed
    hours = np.clip(np.round(rng.normal(np.where(sex == "F", 32, 39), 8, size=n)), 5, 60).astype(np.int32)
    contract = np.where(rng.random(n) < np.where(age < 30, 0.35, 0.1), "temporary", "permanent")
    wage = np.where(works, np.round(rng.lognormal(7.6 + 0.02 * hours, 0.6), 2), 0.0)
    wage_missing = works & (rng.random(n) < 0.02)
    blank = ~answered
    return pa.table({
        "age": pa.array(age.astype(np.int32)),
        "sex": pa.array(sex.tolist()),
        "employed": pa.array(employed.tolist(), mask=child),
        "occupation": pa.array(rng.choice(OCCUPATIONS, size=n).tolist(), mask=blank),
        "contract": pa.array(contract.tolist(), mask=blank),
        "hours": pa.array(hours, mask=blank),
        "sector": pa.array(np.where(rng.random(n) < 0.3, "public", "private").tolist(), mask=blank),
        "wage": pa.array(wage, mask=wage_missing),
    })


def generated_domains() -> dict[str, dict[str, Any]]:
    """Public domains of the generated table, declared from its definition (never read from it), for ``mst``."""
    money = [0.01, 500, 1_000, 1_500, 2_000, 2_500, 3_000, 4_000, 5_000, 7_500, 10_000, 15_000, 25_000, 100_000]
    return {
        "age": {"edges": [0, 15, 25, 35, 45, 55, 65, 75, 91]},
        "sex": {"categories": ["F", "M"]},
        "employed": {"categories": ["yes", "no"]},
        "occupation": {"categories": list(OCCUPATIONS)},
        "contract": {"categories": ["permanent", "temporary"]},
        "hours": {"edges": [5, 15, 25, 35, 40, 45, 61]},
        "sector": {"categories": ["public", "private"]},
        "wage": {"bins": [[0], *([lo, hi] for lo, hi in itertools.pairwise(money))]},
    }


# --------------------------------------------------------------------------------------------------------------
# One (dataset, method) run
# --------------------------------------------------------------------------------------------------------------
def load(db: ss.Database, name: str) -> None:
    """Write a dataset into ``db`` under its name."""
    if name == "generated":
        ss.write_table(db, name, generated_table())
    else:
        ss.datasets.load(db, name)


def describe(db: ss.Database, name: str, private: bool) -> ss.TableSpec:
    """The dataset's spec: inferred for the non-DP methods, declared public domains for a DP one."""
    columns = (generated_domains() if name == "generated" else domains(name)) if private else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # identifier columns are reported by the spec itself
        return ss.describe(db, name, columns=columns)


def without_rules(model: ss.Model) -> ss.Model:
    """The same fitted model with its rules removed (no refit), to time and score sampling without enforcement."""
    return ss.Model.from_json({**model.to_json(), "rules": []})


def timed_materialize(db: ss.Database, model: ss.Model, target: str) -> float:
    """Seconds to sample ``model`` at the source's size and write it to ``target`` (seed :data:`SEED`): the best of
    :data:`REPEATS` runs, since one run of a fraction of a second is mostly noise on a shared machine."""
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        ss.materialize(db, model, target, seed=SEED, replace=True)
        times.append(time.perf_counter() - start)
    return min(times)


def violations(db: ss.Database, name: str, target: str, rules: list[ss.Rule]) -> tuple[int, int]:
    """Declared-rule violations in the source and in ``target``, summed over the rules."""
    counts = check_rules(db, name, target, rules).groupby("table")["violations"].sum()
    return int(counts["real"]), int(counts["synthetic"])


def score(db: ss.Database, name: str, target: str, spec: ss.TableSpec) -> dict[str, Any]:
    """The plausibility figures of ``target`` against ``name`` over the columns ``spec`` models."""
    metrics = plausibility(column_summary(db, name, target, spec)).set_index("metric")
    blocks = missingness_blocks(db, name, target, spec)

    def values(metric: str) -> np.ndarray:
        rows = metrics.loc[[metric]] if metric in metrics.index else metrics.iloc[:0]
        return rows["value"].to_numpy(dtype=float)

    mean, sd, nulls = values("mean_ratio"), values("sd_ratio"), values("null_share_difference")
    flagged = metrics.loc["implausible_columns"]
    return {
        "null_points": _max_abs(nulls) * 100,
        "block_points": _max_abs(blocks["value"].to_numpy(dtype=float)) * 100 if len(blocks) else math.nan,
        "blocks": len(blocks),
        "mean_min": np.nanmin(mean) if len(mean) else math.nan,
        "mean_max": np.nanmax(mean) if len(mean) else math.nan,
        "sd_min": np.nanmin(sd) if len(sd) else math.nan,
        "sd_max": np.nanmax(sd) if len(sd) else math.nan,
        "flagged": int(flagged["value"]),
        "flagged_detail": flagged["detail"],
        "block_detail": "; ".join(f"{r.scope}: {r.detail}" for r in blocks.itertuples()),
    }


def run(db: ss.Database, name: str, method: str) -> dict[str, Any]:
    """Fit ``method`` on ``name`` with its rules, materialise with and without them, and score both."""
    private = bool(getattr(REGISTRY[method], "private", False))
    spec = describe(db, name, private)
    rules = RULES.get(name, [])
    kwargs = {"epsilon": EPSILON} if private else {}
    start = time.perf_counter()
    model = ss.fit(db, name, method=method, spec=spec, seed=SEED, rules=rules, **kwargs)
    fit_s = time.perf_counter() - start
    target = f"{name}_{method}"
    with_s = timed_materialize(db, model, target)
    drawn, kept = model.rows_drawn, model.rows_kept
    row = {"dataset": name, "method": method, "private": private, "fit_s": fit_s, "with_s": with_s,
           "drawn": drawn, "kept": kept, **score(db, name, target, spec)}
    row["source_violations"], row["violations"] = violations(db, name, target, rules) if rules else (0, 0)
    row["without_s"], row["violations_unenforced"], row["flagged_unenforced"] = math.nan, math.nan, math.nan
    row["unenforced_detail"] = ""
    if rules:
        bare = f"{target}_norules"
        row["without_s"] = timed_materialize(db, without_rules(model), bare)
        row["violations_unenforced"] = violations(db, name, bare, rules)[1]
        unenforced = score(db, name, bare, spec)
        row["flagged_unenforced"], row["unenforced_detail"] = unenforced["flagged"], unenforced["flagged_detail"]
    return row


# --------------------------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------------------------
HEADER = ("| dataset | method | rule violations (source / unenforced / enforced) | max NULL-share diff (pt) "
          "| max block diff (pt) | mean ratio min-max | sd ratio min-max | cols flagged (unenforced) | fit s "
          "| materialize s with / without rules | rows drawn / kept |")


def markdown_row(r: dict[str, Any]) -> str:
    """One result as a markdown table row; a figure outside its bound is bold, a DP method's in italics."""
    def mark(text: str, off: bool) -> str:
        return f"*{text}*" if off and r["private"] else f"**{text}**" if off else text

    rules = "-" if math.isnan(r["without_s"]) else (
        f"{r['source_violations']} / {r['violations_unenforced']} / {mark(str(r['violations']), r['violations'] > 0)}")
    null = mark(f"{r['null_points']:.2f}", r["null_points"] > NULL_SHARE_POINTS * 100)
    block = "-" if math.isnan(r["block_points"]) else mark(f"{r['block_points']:.2f}",
                                                            r["block_points"] > NULL_SHARE_POINTS * 100)
    mean = mark(f"{r['mean_min']:.3f}-{r['mean_max']:.3f}", _outside(r["mean_min"], r["mean_max"], MEAN_RATIO_BOUNDS))
    sd = mark(f"{r['sd_min']:.3f}-{r['sd_max']:.3f}", _outside(r["sd_min"], r["sd_max"], SD_RATIO_BOUNDS))
    times = f"{r['with_s']:.2f} / " + ("-" if math.isnan(r["without_s"]) else f"{r['without_s']:.2f}")
    method = f"{r['method']} (DP, eps {EPSILON:g})" if r["private"] else r["method"]
    flagged = f"{r['flagged']}" + ("" if math.isnan(r["flagged_unenforced"]) else f" ({r['flagged_unenforced']})")
    return (f"| {r['dataset']} | {method} | {rules} | {null} | {block} | {mean} | {sd} | {flagged} "
            f"| {r['fit_s']:.1f} | {times} | {r['drawn']:,} / {r['kept']:,} |")


BOUNDS = (
    "Bounds (`synthsql/metrics/fitness.py`): declared-rule violations 0; NULL-share and NULL-block share differences "
    "at most {null:g} point; mean ratio in [{mean[0]}, {mean[1]}] and sd ratio in [{sd[0]}, {sd[1]}] over integer "
    "and numeric columns. A figure outside its bound is **bold**; for the DP method (mst, epsilon {epsilon:g}, bounds "
    "not required) it is *italic*. 'cols flagged' counts the columns outside any bound (mean, sd or NULL share), "
    "and in brackets the same count for the model sampled without its rules. Each method is scored on the columns "
    "its own spec models (mst's declared domains exclude the identifiers). Rule violations: in the source / in the "
    "same model sampled without its rules / with them enforced. Materialize: sample and write the source's row "
    "count, with the rules (rejection and top-up) and with the same model's rules removed; rows drawn / kept is the "
    "rejection cost (mst samples its noisy row count). Materialize times are the best of {repeats} runs."
)


def report(results: list[dict[str, Any]], command: str, seconds: float) -> str:
    """The markdown page: how it was run, the bounds, the table, and what each flagged column was flagged for."""
    lines = [
        "# Fidelity: edit rules, NULL patterns, means and sds, per dataset and method",
        "",
        f"Run: `{command}` (seed {SEED}, {seconds / 60:.1f} minutes) on {_machine()}, in-memory DuckDB.",
        "",
        BOUNDS.format(null=NULL_SHARE_POINTS * 100, mean=MEAN_RATIO_BOUNDS, sd=SD_RATIO_BOUNDS, epsilon=EPSILON,
                      repeats=REPEATS),
        "",
        "Rules: " + "; ".join(f"{d}: `{r.condition}`" + (f" when `{r.when}`" if r.when else "")
                             for d, rs in RULES.items() for r in rs) + ".",
        "",
        HEADER,
        "|" + " --- |" * (HEADER.count("|") - 1),
        *(markdown_row(r) for r in results),
        "",
        "## Flagged columns and NULL blocks",
        "",
        *(_detail(r) for r in results),
        "",
    ]
    return "\n".join(lines)


def _detail(r: dict[str, Any]) -> str:
    """A result's flagged columns (with and without the rules) and NULL blocks, as a markdown list item."""
    text = f"- {r['dataset']} / {r['method']}: {r['flagged_detail']}."
    if r["unenforced_detail"]:
        text += f" Without the rules: {r['unenforced_detail']}."
    return text + f" Blocks: {r['block_detail'] or 'none'}."


def _outside(low: float, high: float, bounds: tuple[float, float]) -> bool:
    return bool(low < bounds[0] or high > bounds[1])


def _max_abs(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.abs(finite).max()) if len(finite) else math.nan


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    info = Path("/proc/cpuinfo")
    if info.exists():
        cpu = next((line.split(":", 1)[1].strip() for line in info.read_text().splitlines()
                    if line.startswith("model name")), cpu)
    return f"{platform.system()} {cpu}, {os.cpu_count()} cores (shared), Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--out", type=Path, default=HERE / "FIDELITY_RESULTS.md")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    results = []
    for name in args.datasets:
        db = ss.connect("duckdb://")
        load(db, name)
        for method in args.methods:
            results.append(run(db, name, method))
            print(markdown_row(results[-1]), flush=True)
    command = "python benchmarks/bench_fidelity.py " + " ".join(sys.argv[1:] if argv is None else argv)
    page = report(results, command.strip(), time.perf_counter() - start)
    print(page)
    args.out.write_text(page)


if __name__ == "__main__":
    main()
