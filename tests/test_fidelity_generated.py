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


def block_share(db, table):
    t = db.table(table)
    return float(t.filter([t[c].isnull() for c in JOB_BLOCK]).count().execute() / t.count().execute())


def test_mst_keeps_a_declared_block_at_its_share_without_spending_or_reading_more(gen_db, monkeypatch):
    """A DP model keeps a NULL block only when it is declared (public, like the domains): nothing is read to find
    it, the ledger is the same, and the block comes back NULL together at the noisy share of its first column."""
    from bench_fidelity import generated_domains

    spec = ss.describe(gen_db, "generated", columns=generated_domains())
    real = block_share(gen_db, "generated")
    assert 0.5 <= real <= 0.6  # 55 %
    monkeypatch.setattr(ss.AggregateStore, "null_blocks", lambda *a, **k: pytest.fail("a DP fit read the blocks"))
    plain = ss.fit(gen_db, "generated", method="mst", spec=spec, epsilon=1.0, seed=1)
    model = ss.fit(gen_db, "generated", method="mst", spec=spec, epsilon=1.0, seed=1, null_blocks=[list(JOB_BLOCK)])
    assert plain.null_blocks == () and model.null_blocks == (JOB_BLOCK,)
    assert model.ledger()[["step", "rho"]].equals(plain.ledger()[["step", "rho"]])  # (edges chosen with noise)
    assert ss.Model.from_json(model.to_json()).null_blocks == (JOB_BLOCK,)
    ss.materialize(gen_db, model, "generated_mst_block", seed=1, replace=True)
    ss.materialize(gen_db, plain, "generated_mst", seed=1, replace=True)
    assert abs(block_share(gen_db, "generated_mst_block") - real) <= 0.03
    for table, broken in (("generated_mst_block", 0.0), ("generated_mst", 0.002)):
        nulls = gen_db.table(table).to_pandas()[list(JOB_BLOCK)].isnull()
        partly = (nulls.nunique(axis=1) > 1).mean()  # rows with some of the block NULL, not all of it
        assert partly > broken if broken else partly == 0, table  # undeclared: ~1 % of rows break the pattern


def test_declared_blocks_are_checked_before_reading(gen_db, monkeypatch):
    monkeypatch.setattr(ss.AggregateStore, "marginals", lambda *a, **k: pytest.fail("read before checking"))
    with pytest.raises(ss.ColumnNotFoundError, match="names the column 'ocupation'.*Did you mean 'occupation'"):
        ss.fit(gen_db, "generated", method="independent", null_blocks=[["ocupation", "hours"]])
    with pytest.raises(ss.InvalidParameterError, match="two columns or more"):
        ss.fit(gen_db, "generated", method="independent", null_blocks=[["hours"]])
    with pytest.raises(ss.InvalidParameterError, match="'hours' is in two NULL blocks"):
        ss.fit(gen_db, "generated", method="independent", null_blocks=[["hours", "sector"], ["contract", "hours"]])
    with pytest.raises(ss.InvalidParameterError, match="list of lists"):
        ss.fit(gen_db, "generated", method="independent", null_blocks="hours")


def test_privbayes_keeps_a_declared_block_too(gen_db):
    from bench_fidelity import generated_domains

    spec = ss.describe(gen_db, "generated", columns=generated_domains())
    model = ss.fit(gen_db, "generated", method="privbayes", spec=spec, epsilon=1.0, seed=1,
                   null_blocks=[list(reversed(JOB_BLOCK))])
    assert model.null_blocks == (JOB_BLOCK,)  # in the spec's order: its first column leads
    nulls = model.to_pandas(5000, seed=2)[list(JOB_BLOCK)].isnull()
    assert (nulls.nunique(axis=1) == 1).all() and 0.45 <= nulls.iloc[:, 0].mean() <= 0.65
