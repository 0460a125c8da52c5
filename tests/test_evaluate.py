"""evaluate() and the global utility metrics: against hand computations, exact copies and the two baselines."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import synthsql as ss
from synthsql.pipeline import evaluate
from synthsql.metrics.pmse import pmse_cart, pmse_cells
from synthsql.metrics.utility import marginal_summary, marginal_tvd
from synthsql.schema import IdentifierColumnWarning
from tests.conftest import table_names


@pytest.fixture(scope="module")
def cps(db):
    spec = ss.describe(db, "cps1988")
    for method in ("independent", "bayesnet"):
        model = ss.fit(db, "cps1988", method=method, spec=spec, seed=1)
        ss.materialize(db, model, f"cps_{method}", seed=2, replace=True)
    db.backend.create_table("cps_copy", db.table("cps1988"), overwrite=True)
    return spec


def test_cell_pmse_equals_a_pandas_computation(db, cps):
    got = pmse_cells(db, "cps1988", "cps_independent", cps)
    keys = got["columns"]
    real, syn = db.table("cps1988").to_pandas(), db.table("cps_independent").to_pandas()
    stacked = pd.concat([real[keys].assign(t=0), syn[keys].assign(t=1)])
    cells = stacked.groupby(keys)["t"].agg(["mean", "size"])
    c = len(syn) / len(stacked)
    expected = float(((cells["mean"] - c) ** 2 * cells["size"]).sum() / len(stacked))
    assert got["pmse"] == pytest.approx(expected, rel=1e-12)
    assert got["null"] == pytest.approx((len(cells) - 1) * (1 - c) ** 2 * c / len(stacked), rel=1e-12)
    assert pmse_cells(db, "cps1988", "cps_copy", cps)["pmse"] == 0


def test_cart_pmse_copy_is_below_the_null_and_independent_is_above(db, cps):
    copy = pmse_cart(db, "cps1988", "cps_copy", cps, sample_rows=2000, permutations=5)
    independent = pmse_cart(db, "cps1988", "cps_independent", cps, sample_rows=2000, permutations=5)
    assert copy["s_pmse"] <= 1.0 < independent["s_pmse"]
    again = pmse_cart(db, "cps1988", "cps_independent", cps, sample_rows=2000, permutations=5)
    assert again == independent  # a seeded sample: the same rows, the same trees


def test_marginal_summary(db, cps):
    copy = marginal_summary(db, "cps1988", "cps_copy", cps).set_index("metric")["value"]
    assert (copy.drop("k_marginal_score") == 0).all() and copy["k_marginal_score"] == 1000
    summary = marginal_summary(db, "cps1988", "cps_independent", cps, max_marginals=10, seed=3).set_index("metric")
    pairs = marginal_tvd(db, "cps1988", "cps_independent", cps)["value"]
    assert summary.loc["tvd_2way_mean", "value"] == pytest.approx(pairs.mean())
    assert summary.loc["tvd_2way_max", "value"] == pytest.approx(pairs.max())
    assert summary.loc["k_marginal_score", "value"] == pytest.approx(1000 * (1 - pairs.mean()))
    assert summary.loc["tvd_3way_mean", "detail"] == "10 of 35 3-way marginals, seed 3"


def test_evaluate_writes_the_utility_table(db, cps):
    rules = [{"name": "positive_wage", "condition": "wage > 0"}, ss_rule("no_experience", "experience >= 0")]
    result = evaluate(
        db,
        real="cps1988",
        synthetic="cps_bayesnet",
        spec=cps,
        rules=rules,
        formulas=["wage ~ education + experience + region"],
        replace=True,
    )
    assert result.tables == ("cps_bayesnet__utility", "cps_bayesnet__details")
    written = db.table("cps_bayesnet__utility").to_pandas()
    pd.testing.assert_frame_equal(
        written.sort_values(["metric", "scope"]).reset_index(drop=True),
        result.utility.sort_values(["metric", "scope"]).reset_index(drop=True),
    )
    metrics = set(result.utility["metric"])
    assert {"tvd", "ks", "wasserstein1", "tvd_2way_mean", "k_marginal_score", "rule_violation_rate",
            "glm_ci_overlap", "glm_std_diff", "pmse_cells", "s_pmse_cart", "s_pmse_logit"} <= metrics
    assert result.utility.set_index("metric").loc["s_pmse_logit", "value"] > 0
    violations = result.utility.query("metric == 'rule_violation_rate'").set_index("scope")["value"]
    assert violations["positive_wage"] == 0


def ss_rule(name, condition):
    from synthsql.metrics.fitness import Rule

    return Rule(name, condition)


def test_independent_scores_worse_than_bayesnet(db, cps):
    scores = {}
    for method in ("independent", "bayesnet"):
        result = evaluate(db, real="cps1988", synthetic=f"cps_{method}", spec=cps, pmse=[], write=False,
                          formulas=["wage ~ education + experience + ethnicity + region + parttime"])
        rows = result.utility.set_index(["metric", "scope"])["value"]
        scores[method] = (rows["tvd_2way_mean"].iloc[0], rows["glm_ci_overlap"].mean())
    assert scores["independent"][0] > 1.5 * scores["bayesnet"][0]
    assert scores["independent"][1] < scores["bayesnet"][1]


def test_an_exact_copy_scores_perfectly(db, cps):
    result = evaluate(db, real="cps1988", synthetic="cps_copy", spec=cps, formulas=["wage ~ education + region"],
                      pmse=["cells"], write=False)
    rows = result.utility.set_index("metric")["value"]
    assert (rows[["tvd", "ks", "wasserstein1", "tvd_2way_mean", "glm_std_diff"]] == 0).all()
    assert np.allclose(rows["glm_ci_overlap"], 1.0)
    assert rows["s_pmse_cells"] <= 1.0


def test_a_logit_design_over_its_cap_is_reported_not_hidden(db):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifierColumnWarning)
        spec = ss.describe(db, "eusilc")
    ss.materialize(db, ss.fit(db, "eusilc", method="independent", spec=spec, seed=1), "eusilc_ind", seed=1,
                   replace=True)
    result = evaluate(db, real="eusilc", synthetic="eusilc_ind", spec=spec, pmse=["logit"], write=False)
    row = result.utility.set_index("metric").loc["s_pmse_logit"]
    assert np.isnan(row["value"]) and row["detail"].startswith("not computed:") and "parameters" in row["detail"]


def test_bad_input_writes_nothing(db, cps, fresh_name):
    before = table_names(db)
    with pytest.raises(ss.InvalidParameterError, match="Unknown pMSE model 'carts'. Did you mean 'cart'"):
        evaluate(db, real="cps1988", synthetic="cps_bayesnet", spec=cps, pmse=["carts"])
    with pytest.raises(ss.ColumnNotFoundError, match="'wagee'"):
        evaluate(db, real="cps1988", synthetic="cps_bayesnet", spec=cps, formulas=["wagee ~ education"])
    with pytest.raises(ss.InvalidParameterError):
        evaluate(db, real="cps1988", synthetic="cps_bayesnet", spec=cps, rules=[{"name": "r", "condition": "wage >"}])
    db.backend.create_table(fresh_name, db.table("cps1988").drop("region"))
    with pytest.raises(ss.ColumnNotFoundError, match=f"Column 'region' of 'cps1988' is missing from '{fresh_name}'"):
        evaluate(db, real="cps1988", synthetic=fresh_name, spec=cps)
    db.backend.create_table(fresh_name + "_t", db.table("cps1988").mutate(education=ibis_string("education")))
    with pytest.raises(ss.InvalidParameterError, match="Column 'education' is int32 in 'cps1988' but string"):
        evaluate(db, real="cps1988", synthetic=fresh_name + "_t", spec=cps)
    assert table_names(db) == before | {fresh_name, fresh_name + "_t"}


def ibis_string(column):
    import ibis

    return ibis._[column].cast("string")
