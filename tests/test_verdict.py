"""The metric registry and the release verdict (issue 17, items 1 and 2).

Completeness is checked on what ``evaluate`` really emits (every option on: rules, GLMs, the three pMSE models, keys
and targets, a holdout, and the expected match risk of a partial release); the thresholds on hand-worked rows; the
verdict end to end on real tables (a verbatim copy must fail on risk, a GLM the synthetic table cannot fit must fail
the outcome-specific group) and in the report and the catalog.
"""

from __future__ import annotations

import math
import re
import warnings

import pandas as pd
import pytest

import synthsql as ss
from synthsql.catalog import CatalogError, load
from synthsql.cli import main
from synthsql.holdout import Holdout
from synthsql.metrics import GROUPS, METRICS, metric_info
from synthsql.metrics.registry import with_thresholds
from synthsql.report import render_report
from synthsql.schema import IdentifierColumnWarning
from synthsql.verdict import judge


def rows(*items: tuple[str, str, float]) -> pd.DataFrame:
    return pd.DataFrame([{"metric": m, "scope": s, "value": v, "detail": ""} for m, s, v in items])


# ------------------------------------------------------------------------------------------------------------------
# The registry
# ------------------------------------------------------------------------------------------------------------------
def test_every_registered_metric_is_complete_and_its_thresholds_are_ordered():
    for name, metric in METRICS.items():
        assert metric.name == name and metric.group in GROUPS
        assert metric.goal in ("min", "max", "target", "none")
        assert metric.explanation.endswith((".", ")")) and len(metric.explanation) > 30, name
        assert metric.source and metric.unit in ("share", "percent", "count", "ratio", "distance", "score"), name
        assert metric.bounds[0] < metric.bounds[1], name
        if metric.judged:
            assert metric.goal != "none", name
            (g0, g1), (a0, a1) = metric.good, metric.acceptable
            assert a0 <= g0 <= g1 <= a1, name
        if metric.relative_to is not None:
            assert all(m is None or m in METRICS for m in metric.relative_to), name
    assert metric_info("classes_orig") is METRICS["classes"] is metric_info("classes_syn")
    with pytest.raises(KeyError):
        metric_info("tvd_4way_mean")


def test_every_metric_evaluate_emits_is_registered(duckdb_db):
    db = duckdb_db
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifierColumnWarning)  # rb030, the person id
        spec = ss.describe(db, "eusilc", keys=["age", "rb090", "db040"], sensitive=["pl030"])
    split = Holdout(0.2, seed=1)
    model = ss.fit(db, "eusilc", method="independent", spec=spec, seed=1, holdout=split)
    synthetic = str(ss.materialize(db, model, "verdict_eusilc_independent", seed=1, replace=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = ss.evaluate(
            db, real="eusilc", synthetic=synthetic, spec=spec, holdout=split, write=False,
            rules=[{"name": "adult_income", "condition": "py010n IS NULL OR py010n = 0", "when": "age < 16"}],
            formulas=["py010n ~ age + rb090", {"formula": "rb090 ~ age", "family": "binomial"}],
        )
    partial = ss.fit(db, "eusilc", method="partial", synthesize=["py010n", "pl030"], spec=spec, id="rb030")
    released = str(ss.materialize(db, partial, "verdict_eusilc_partial", seed=1, replace=True))
    matched = ss.evaluate(db, real="eusilc", synthetic=released, spec=spec, keys=["age", "rb090", "db040"],
                          match_id="rb030", write=False, pmse=["cells"])
    emitted = set(full.utility["metric"]) | set(full.risk["metric"]) | set(matched.risk["metric"])
    unregistered = sorted(m for m in emitted if _unregistered(m))
    assert not unregistered, f"emitted but not in synthsql.metrics.METRICS: {unregistered}"
    # every group is represented, and the verdict judges real rows of each
    verdict = full.verdict()
    assert set(verdict.rows["group"]) == set(GROUPS)
    assert {"expected_match_risk_pct", "true_match_rate", "classes_orig", "membership_auc",
            "rule_violation_rate", "glm_ci_overlap", "s_pmse_cart"} <= emitted


def _unregistered(name: str) -> bool:
    try:
        metric_info(name)
    except KeyError:
        return True
    return False


# ------------------------------------------------------------------------------------------------------------------
# Thresholds, on hand-worked rows
# ------------------------------------------------------------------------------------------------------------------
def test_levels_follow_the_good_and_acceptable_ranges_at_their_edges():
    utility = rows(
        ("tvd_2way_mean", "table", 0.05),  # good is <= 0.05: pass at the edge
        ("s_pmse_cells", "table", 3.0001),  # good <= 3, acceptable <= 10: warn
        ("s_pmse_logit", "table", 10.5),  # fail
        ("s_pmse_cart", "table", math.nan),  # not judged
        ("sd_ratio", "wage", 1.25),  # good [0.8, 1.25]: pass
        ("sd_ratio", "age", 0.79),  # acceptable [2/3, 1.5]: warn
        ("mean_ratio", "age", 1.3),  # acceptable [0.8, 1.25]: fail
        ("wasserstein1", "age", 1e9),  # descriptive
        ("glm_ci_overlap", "y ~ x: x", -0.01),  # no overlap: fail
        ("glm_ci_overlap", "y ~ x: Intercept", 0.2),  # warn
    )
    v = judge(utility, rows(("membership_auc", "table", 0.55), ("dcr_zero_share", "table", 0.5)))
    levels = {(r.metric, r.scope): r.level for r in v.rows.itertuples()}
    assert levels == {
        ("tvd_2way_mean", "table"): "pass", ("s_pmse_cells", "table"): "warn", ("s_pmse_logit", "table"): "fail",
        ("sd_ratio", "wage"): "pass", ("sd_ratio", "age"): "warn", ("mean_ratio", "age"): "fail",
        ("glm_ci_overlap", "y ~ x: x"): "fail", ("glm_ci_overlap", "y ~ x: Intercept"): "warn",
        ("membership_auc", "table"): "pass", ("dcr_zero_share", "table"): "fail",
    }
    assert v.groups == {"fit_for_purpose": "fail", "global": "fail", "outcome_specific": "fail", "risk": "fail"}
    assert v.overall == "fail"
    assert v.rows.iloc[0]["level"] == "fail"  # worst first
    assert "outside [0.8, 1.25]" in v.rows.set_index(["metric", "scope"]).loc[("mean_ratio", "age"), "why"]


def test_relative_risk_measures_are_judged_against_their_own_ceiling():
    def level(*items: tuple[str, str, float]) -> str:
        v = judge(None, rows(*items))
        return v.rows.set_index("metric")["level"].to_dict().get(items[0][0], "not judged")

    scope = "pl030 | age,rb090"
    assert level(("repU", "age,rb090", 3.0), ("UiO", "age,rb090", 10.0)) == "warn"  # 30 % of UiO
    assert level(("repU", "age,rb090", 6.0), ("UiO", "age,rb090", 10.0)) == "fail"
    assert level(("repU", "age,rb090", 1.0), ("UiO", "age,rb090", 10.0)) == "pass"
    assert level(("repU", "age,rb090", 0.0), ("UiO", "age,rb090", 0.0)) == "pass"  # negligible: nothing to replicate
    assert level(("DiSCO", scope, 0.9), ("Dorig", scope, 1.0)) == "pass"  # below 1 %: negligible
    assert level(("DiSCO", scope, 30.0), ("Dorig", scope, 50.0)) == "fail"  # 60 % of Dorig
    assert level(("DiSCO", scope, 30.0), ("Dorig", "other", 50.0)) == "not judged"  # ceiling of another scope
    # DCAP from baseCAPd (no information) to CAPd (the original): 40 % of the way warns
    assert level(("DCAP", scope, 40.0), ("baseCAPd", scope, 20.0), ("CAPd", scope, 70.0)) == "warn"
    assert level(("DCAP", scope, 25.0), ("baseCAPd", scope, 20.0), ("CAPd", scope, 70.0)) == "pass"


def test_a_release_whose_risk_was_not_measured_cannot_pass():
    v = judge(rows(("tvd_2way_mean", "table", 0.01)))
    assert v.groups["global"] == "pass" and v.groups["risk"] == "not measured"
    assert v.overall == "warn" and "not measured" in v.notes[0]
    assert judge(None).overall == "not measured"


def test_an_office_sets_its_own_thresholds():
    utility = rows(("tvd_2way_mean", "table", 0.04), ("sd_ratio", "wage", 1.2), ("wasserstein1", "age", 3.0))
    risk = rows(("membership_auc", "table", 0.5))
    assert judge(utility, risk).overall == "pass"
    strict = {"tvd_2way_mean": {"good": 0.03, "acceptable": 0.035}, "sd_ratio": {"good": [0.9, 1.1],
                                                                                "acceptable": [0.85, 1.18]},
              "wasserstein1": {"good": 1, "acceptable": 2}}
    v = judge(utility, risk, thresholds=strict)
    assert v.rows.set_index("metric")["level"].to_dict() == {
        "tvd_2way_mean": "fail", "sd_ratio": "fail", "wasserstein1": "fail", "membership_auc": "pass"}
    lenient = judge(utility, rows(("membership_auc", "table", 0.7)),
                    thresholds={"membership_auc": {"judge": False}})
    assert lenient.groups["risk"] == "not measured"


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [
        ({"tvd_2way_men": {"good": 0.1, "acceptable": 0.2}}, "'tvd_2way_men' is not a metric. Did you mean 'tvd_2way_mean'"),
        ({"tvd_2way_mean": {"good": 0.1}}, "give both 'good' and 'acceptable'"),
        ({"tvd_2way_mean": {"good": 0.2, "acceptable": 0.1}}, "must lie inside the 'acceptable' range"),
        ({"sd_ratio": {"good": 1.1, "acceptable": 1.2}}, "sd_ratio aims at a value .*give a range"),
        ({"sd_ratio": {"good": [1.1, 0.9], "acceptable": [0.8, 1.2]}}, "is reversed"),
        ({"ks": {"good": "low", "acceptable": 0.2}}, "expected a number, got 'low'"),
        ({"ks": 0.1}, "give a mapping with 'good' and 'acceptable'"),
    ],
)
def test_bad_thresholds_are_refused_naming_the_metric(thresholds, message):
    with pytest.raises(ss.InvalidParameterError, match=message):
        with_thresholds(thresholds)


def test_a_catalog_with_bad_thresholds_does_not_validate(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text("version: 1\ntables:\n  - name: t\n    source: cps1988\n"
                    "    thresholds: {tvd_2way_men: {good: 0.1, acceptable: 0.2}}\n")
    with pytest.raises(CatalogError, match=r"tables\[0\].*thresholds.*Did you mean 'tvd_2way_mean'"):
        load(path)
    path.write_text("version: 1\ntables:\n  - name: t\n    source: cps1988\n"
                    "    thresholds: {tvd_2way_mean: {good: 0.01, acceptable: 0.02}}\n")
    (table,) = load(path).tables
    assert table.thresholds == {"tvd_2way_mean": {"good": 0.01, "acceptable": 0.02}}


# ------------------------------------------------------------------------------------------------------------------
# End to end: real tables, the report, the command line
# ------------------------------------------------------------------------------------------------------------------
def test_a_verbatim_copy_fails_on_risk_and_passes_on_utility(db):
    spec = ss.describe(db, "cps1988", keys=["education", "ethnicity", "region"], sensitive=["wage"])
    copy = "verdict_cps_copy"
    db.backend.raw_sql(f"DROP TABLE IF EXISTS {copy}")
    db.backend.raw_sql(f"CREATE TABLE {copy} AS SELECT * FROM cps1988")
    result = ss.evaluate(db, real="cps1988", synthetic=copy, spec=spec, write=False, pmse=["cells"],
                         formulas=["wage ~ education + experience"])
    v = result.verdict()
    assert v.groups["fit_for_purpose"] == v.groups["global"] == v.groups["outcome_specific"] == "pass"
    assert v.groups["risk"] == v.overall == "fail"
    failing = set(v.problems("risk")["metric"])
    assert {"exact_match_pct", "unique_exact_match_pct"} <= failing


def test_a_glm_the_synthetic_table_cannot_fit_is_a_failed_row_not_an_error(db, fresh_name):
    spec = ss.describe(db, "cps1988")
    # the synthetic table has one ethnicity only: ethnicity's coefficient cannot be estimated on it
    db.backend.raw_sql(f"CREATE TABLE {fresh_name} AS SELECT * FROM cps1988 WHERE ethnicity = 'cauc'")
    result = ss.evaluate(db, real="cps1988", synthetic=fresh_name, spec=spec, write=False, risk=False,
                         pmse=["cells"], formulas=["wage ~ education + ethnicity", "wage ~ education"])
    failed = result.utility[result.utility["metric"] == "glm_failed"]
    assert failed["scope"].tolist() == ["wage ~ education + ethnicity"] and failed["value"].tolist() == [1.0]
    assert "fits on the real table, not on the synthetic one" in failed["detail"].iloc[0]
    assert set(result.glm["formula"]) == {"wage ~ education"}  # the other GLM is still compared
    v = result.verdict()
    assert v.groups["outcome_specific"] == "fail"
    assert "glm_failed" in set(v.problems("outcome_specific")["metric"])
    page = render_report(db, real="cps1988", synthetic=fresh_name, spec=spec, evaluation=result)
    assert "could not be fitted on the synthetic table" in page
    # a formula that does not fit on the real table either is the request's error, as before
    with pytest.raises(ss.ModelFitError) as error:
        ss.evaluate(db, real=fresh_name, synthetic="cps1988", spec=spec, write=False,
                    risk=False, pmse=["cells"], formulas=["wage ~ education + ethnicity"])
    assert not isinstance(error.value, ss.SyntheticFitError)


def test_the_report_opens_with_the_verdict_and_its_problem_rows(duckdb_db):
    db = duckdb_db
    spec = ss.describe(db, "cps1988", keys=["education", "ethnicity", "region"], sensitive=["wage"])
    model = ss.fit(db, "cps1988", method="independent", spec=spec, seed=1)
    synthetic = str(ss.materialize(db, model, "verdict_cps_independent", seed=1, replace=True))
    result = ss.evaluate(db, real="cps1988", synthetic=synthetic, spec=spec, write=False, pmse=["cells"],
                         formulas=["wage ~ education + experience"])
    page = render_report(db, real="cps1988", synthetic=synthetic, spec=spec, evaluation=result, model=model)
    summary = page[page.index('<section id="summary">'):page.index('<section id="columns">')]
    verdict = result.verdict()
    assert f'<div class="value">{verdict.overall.upper()}</div>' in summary
    assert summary.index("Verdict") < summary.index("Real table")  # the verdict comes first
    for group, label in GROUPS.items():
        assert re.search(rf">{label}</a></th><td><span class=\"badge {verdict.groups[group]}\">", summary)
    # each problem row is listed, linked to its section (the independent model loses the wage regression)
    assert len(verdict.problems()) > 0
    for r in verdict.problems().itertuples():
        assert f">{r.metric}</code></a>" in summary
    assert '<a href="#glm"><code' in summary
    # an office's thresholds change the verdict in the report
    lenient = {m: {"judge": False} for m in ("glm_ci_overlap", "s_pmse_cells", "tvd_2way_mean", "tvd_3way_mean",
                                             "tvd_1way_mean", "tvd", "mean_ratio", "sd_ratio")}
    relaxed = render_report(db, real="cps1988", synthetic=synthetic, spec=spec, evaluation=result, model=model,
                            thresholds=lenient)
    assert judge(result.utility, result.risk, thresholds=lenient).overall in relaxed


def test_the_command_line_prints_the_verdict(tmp_path, capsys):
    path = tmp_path / "w.duckdb"
    db = ss.connect(f"duckdb:///{path}", create=True)
    ss.datasets.load(db, "cps1988")
    model = ss.fit(db, "cps1988", method="independent", seed=1)
    ss.materialize(db, model, "cps_syn", seed=1)
    db.backend.disconnect()
    assert main(["evaluate", "--db", f"duckdb:///{path}", "--real", "cps1988", "--synthetic", "cps_syn",
                 "--no-write"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"verdict: (PASS|WARN|FAIL) \(fit for purpose: \w+, global utility: \w+", out)
    assert "fail: glm" not in out  # no formulas: nothing outcome-specific to judge


def test_the_python_api_logs_one_line_per_step_with_counts_and_seconds(duckdb_db, caplog):
    db = duckdb_db
    with caplog.at_level("INFO", logger="synthsql"):
        model = ss.fit(db, "cps1988", method="independent", seed=1)
        ss.materialize(db, model, "verdict_cps_logged", seed=1, replace=True)
        ss.evaluate(db, real="cps1988", synthetic="verdict_cps_logged", pmse=["cells"], write=False)
    lines = [r.getMessage() for r in caplog.records if r.name == "synthsql"]
    assert re.fullmatch(r"fit cps1988: method independent, columns 7, aggregates \d+ \(\d+\.\d\d s\)", lines[0])
    assert re.fullmatch(r"materialize verdict_cps_logged: method independent, rows 28,155 \(\d+\.\d\d s\)", lines[1])
    assert re.fullmatch(r"evaluate verdict_cps_logged: utility_rows \d+, risk_rows 1, verdict (pass|warn|fail) "
                        r"\(\d+\.\d\d s\)", lines[2])


def test_the_command_line_tells_its_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"synthsql {ss.__version__}"
