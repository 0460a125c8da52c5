"""The generated table of benchmarks/bench_fidelity.py has what it claims, and bayesnet keeps it with its rule.

The benchmark's fidelity figures on the generated table mean something only if the table has a questionnaire block
NULL together, a zero-inflated skewed wage and a rule that holds; these tests check that, and that a Bayesian
network fitted with the rule meets it while keeping the block's NULL share and the wage's mean.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import synthsql as ss
from synthsql.metrics.fitness import check_rules, column_summary, missingness_blocks

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_fidelity import JOB_BLOCK, NO_CHILD_WAGE, generated_table


@pytest.fixture(scope="module")
def frame():
    return generated_table().to_pandas()


@pytest.fixture(scope="module")
def gen_db():
    db = ss.connect("duckdb://")
    ss.write_table(db, "generated", generated_table())
    return db


def test_the_job_block_is_null_together_for_the_non_employed_and_5_percent_of_the_employed(frame):
    nulls = frame[list(JOB_BLOCK)].isnull()
    assert (nulls.nunique(axis=1) == 1).all()  # every row has the whole block NULL or none of it
    block = nulls.iloc[:, 0]
    employed = frame["employed"] == "yes"
    assert block[~employed].all()
    assert 0.04 <= block[employed].mean() <= 0.06
    assert frame.loc[frame["age"] < 15, "employed"].isnull().all()
    assert frame.loc[frame["age"] >= 15, "employed"].notnull().all()


def test_the_wage_is_zero_inflated_and_right_skewed(frame):
    wage = frame["wage"].dropna()
    assert 0.4 <= (wage == 0).mean() <= 0.6
    positive = wage[wage > 0]
    assert positive.skew() > 1 and positive.mean() > 1.1 * positive.median()
    assert (frame.loc[frame["age"] < 15, "wage"] == 0).all()


def test_the_rule_holds_in_the_source_and_the_metric_finds_the_block(gen_db):
    counts = check_rules(gen_db, "generated", "generated", [NO_CHILD_WAGE])
    assert counts["applicable"].iloc[0] > 2000 and counts["violations"].sum() == 0
    blocks = missingness_blocks(gen_db, "generated", "generated", ss.describe(gen_db, "generated"))
    assert blocks["scope"].tolist() == [", ".join(JOB_BLOCK)]


def test_bayesnet_with_the_rule_meets_it_and_keeps_the_block_and_the_wage_mean(gen_db):
    spec = ss.describe(gen_db, "generated")
    model = ss.fit(gen_db, "generated", method="bayesnet", spec=spec, seed=1, rules=[NO_CHILD_WAGE])
    ss.materialize(gen_db, model, "generated_bn", seed=1, replace=True)
    counts = check_rules(gen_db, "generated", "generated_bn", [NO_CHILD_WAGE])
    assert counts.loc[counts["table"] == "synthetic", "violations"].item() == 0
    assert model.rows_drawn > model.rows_kept == 20_000  # the rule was enforced, not met by chance
    (block,) = missingness_blocks(gen_db, "generated", "generated_bn", spec)["value"]
    assert abs(block) <= 0.01
    summary = column_summary(gen_db, "generated", "generated_bn", spec, columns=["wage"]).set_index("statistic")
    real, synthetic = summary.loc["mean", ["real", "synthetic"]]
    assert np.isclose(synthetic, real, rtol=0.05)
