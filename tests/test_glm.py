"""GLMs fitted in the database agree with statsmodels; Karr et al.'s interval overlap is checked by hand."""

from __future__ import annotations

import dataclasses
import math
import re
import warnings
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

import synthsql as ss
from synthsql.errors import ColumnNotFoundError, InvalidParameterError, ModelFitError
from synthsql.metrics.glm import ci_overlap, compare_glm, fit_glm, glm_metrics, parse_formula
from synthsql.schema import IdentifierColumnWarning

STATSMODELS_FAMILY = {
    "gaussian": sm.families.Gaussian,
    "binomial": sm.families.Binomial,
    "poisson": sm.families.Poisson,
}


def statsmodels_glm(frame: pd.DataFrame, formula: str, family: str) -> Any:
    # statsmodels stops at a deviance change of 1e-8 and takes the standard errors from the weights of the step
    # before: on the poisson case they are 1.2e-6 (relative) from the converged ones. A tighter tol converges it.
    return smf.glm(formula, frame, family=STATSMODELS_FAMILY[family]()).fit(tol=1e-12)


@pytest.fixture(scope="module")
def toy(db: ss.Database) -> tuple[str, str]:
    """A small table (``x2`` = 2 * ``x``, three groups) and a copy without group ``c``."""
    n = 60
    x = np.arange(n, dtype=float) % 10
    g = np.array(["a", "b", "c"])[np.arange(n) % 3]
    y = 1.0 + 0.5 * x + np.where(g == "b", 2.0, 0.0) + np.sin(np.arange(n))
    k = (np.arange(n) % 4 - 1).astype(np.int64)
    yes = (np.random.default_rng(5).random(n) < 1 / (1 + np.exp(-(x - 5) / 3))).astype(np.int64)
    table = pa.table({"x": x, "x2": 2 * x, "g": g.tolist(), "y": y, "k": k, "yes": yes, "high": x > 4})
    ss.write_table(db, "glm_toy", table, replace=True)
    ss.write_table(db, "glm_toy_no_c", table.filter(pa.array(g != "c")), replace=True)
    return "glm_toy", "glm_toy_no_c"


# --------------------------------------------------------------------------------------------------------------
# Against statsmodels
# --------------------------------------------------------------------------------------------------------------
CASES = [
    ("cps1988", "wage ~ education + experience + region + parttime", "gaussian"),
    ("cps1988", "parttime ~ education + experience + region", "binomial"),
    ("mixed", "children ~ age + region + employed", "poisson"),
    ("cps1988", "wage ~ education * ethnicity", "gaussian"),
    ("cps1988", "wage ~ education:experience + region:ethnicity:smsa", "gaussian"),
    ("cps1988", "wage ~ region - 1", "gaussian"),
]


@pytest.mark.parametrize(("table", "formula", "family"), CASES)
def test_coefficients_and_standard_errors_equal_statsmodels(db, table, formula, family):
    fit = fit_glm(db, table, formula, family=family)
    frame = db.table(table).to_pandas()
    if family == "binomial":
        frame["parttime"] = (frame["parttime"] == "yes").astype(int)  # the second category counts as 1
    reference = statsmodels_glm(frame, formula, family)
    assert list(fit.terms) == list(reference.params.index)
    np.testing.assert_allclose(fit.coef, reference.params.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(fit.se, reference.bse.to_numpy(), rtol=1e-6)
    assert fit.n == reference.nobs
    assert fit.deviance == pytest.approx(reference.deviance, rel=1e-6)
    assert fit.converged


@pytest.mark.parametrize(("table", "formula"), [("mixed", "employed ~ age + children"), ("glm_toy", "yes ~ x + g")])
def test_boolean_and_zero_one_responses(db, toy, table, formula):
    fit = fit_glm(db, table, formula, family="binomial")
    frame = db.table(table).to_pandas()
    response = formula.split(" ~ ")[0]
    frame[response] = frame[response].astype(int)
    reference = statsmodels_glm(frame, formula, "binomial")
    assert list(fit.terms) == list(reference.params.index)
    np.testing.assert_allclose(fit.coef, reference.params.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(fit.se, reference.bse.to_numpy(), rtol=1e-6)


def test_the_spec_orders_the_categories(db):
    # With "west" first it becomes the reference level: the same model, reparametrised.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifierColumnWarning)
        spec = ss.describe(db, "cps1988")
    reordered = dataclasses.replace(
        spec,
        columns=tuple(
            c.replace(categories=("west", "northeast", "midwest", "south")) if c.name == "region" else c
            for c in spec.columns
        ),
    )
    default = fit_glm(db, "cps1988", "wage ~ education + region")
    base = fit_glm(db, "cps1988", "wage ~ education + region", spec=spec)
    west = fit_glm(db, "cps1988", "wage ~ education + region", spec=reordered)
    assert base.coef == pytest.approx(default.coef, rel=1e-12)  # describe() sorts categories as fit_glm does
    b, w = dict(zip(base.terms, base.coef, strict=True)), dict(zip(west.terms, west.coef, strict=True))
    assert west.terms == ("Intercept", "region[T.northeast]", "region[T.midwest]", "region[T.south]", "education")
    assert w["Intercept"] == pytest.approx(b["Intercept"] + b["region[T.west]"], rel=1e-9)
    assert w["region[T.south]"] == pytest.approx(b["region[T.south]"] - b["region[T.west]"], rel=1e-9)
    assert w["education"] == pytest.approx(b["education"], rel=1e-9)


def test_rows_with_null_are_dropped(db):
    fit = fit_glm(db, "mixed", "children ~ age + region + employed", family="poisson")
    frame = db.table("mixed").to_pandas()
    assert fit.n == len(frame.dropna(subset=["children", "age", "region", "employed"]))
    assert "region[T.north]" in fit.terms  # "" is a category (the first, so the reference); NULL is not
    assert "employed[T.True]" in fit.terms


def test_only_aggregates_leave_the_database(db, monkeypatch):
    returned = []
    fetchall, to_pyarrow = ss.Database.fetchall, ibis.Table.to_pyarrow

    def spy_fetchall(self, *args, **kwargs):
        rows = fetchall(self, *args, **kwargs)
        returned.append(len(rows))
        return rows

    def spy_to_pyarrow(self, *args, **kwargs):
        table = to_pyarrow(self, *args, **kwargs)
        returned.append(table.num_rows)
        return table

    monkeypatch.setattr(ss.Database, "fetchall", spy_fetchall)
    monkeypatch.setattr(ibis.Table, "to_pyarrow", spy_to_pyarrow)
    fit = fit_glm(db, "cps1988", "parttime ~ education + region", family="binomial")
    assert returned[:2] == [2, 4]  # the categories of parttime and region
    # then one aggregate row with the largest value of each design column (the scales of the exact sums), and one
    # per IRLS iteration
    assert returned[2:] == [1] * (fit.iterations + 1)


# --------------------------------------------------------------------------------------------------------------
# Comparison (Karr et al. 2006)
# --------------------------------------------------------------------------------------------------------------
def test_ci_overlap_by_hand():
    assert ci_overlap((0.0, 2.0), (1.0, 4.0)) == pytest.approx(0.5 * (1 / 2 + 1 / 3))  # U = 2, L = 1
    assert ci_overlap((0.0, 4.0), (1.0, 2.0)) == pytest.approx(0.5 * (1 / 4 + 1 / 1))  # nested
    assert ci_overlap((0.0, 1.0), (2.0, 3.0)) == pytest.approx(-1.0)  # disjoint: U - L = 1 - 2
    assert ci_overlap((1.0, 3.0), (1.0, 3.0)) == 1.0
    assert math.isnan(ci_overlap((1.0, 1.0), (0.0, 2.0)))


def test_an_exact_copy_overlaps_fully(db):
    table = compare_glm(db, "cps1988", "cps1988", "parttime ~ education + region", family="binomial")
    assert list(table.columns) == [
        "term", "coef_real", "se_real", "coef_synthetic", "se_synthetic", "ci_overlap", "std_diff"
    ]  # fmt: skip
    assert len(table) == 5
    np.testing.assert_allclose(table["ci_overlap"], 1.0, rtol=0, atol=1e-9)
    np.testing.assert_allclose(table["std_diff"], 0.0, rtol=0, atol=1e-9)


def test_intercept_only_model_by_hand(db, fresh_name):
    # y ~ 1 estimates the mean with se = s/sqrt(n): 3 and 4, both sqrt(2.5/5); the intervals are 3 ± h and 4 ± h.
    real, synthetic = f"{fresh_name}_r", f"{fresh_name}_s"
    ss.write_table(db, real, pa.table({"y": [1.0, 2.0, 3.0, 4.0, 5.0]}))
    ss.write_table(db, synthetic, pa.table({"y": [2.0, 3.0, 4.0, 5.0, 6.0]}))
    se = math.sqrt(2.5 / 5)
    h = 1.959963984540054 * se
    row = compare_glm(db, real, synthetic, "y ~ 1").iloc[0]
    assert (row["coef_real"], row["coef_synthetic"]) == (pytest.approx(3.0), pytest.approx(4.0))
    assert row["se_real"] == pytest.approx(se)
    assert row["ci_overlap"] == pytest.approx((2 * h - 1) / (2 * h))
    assert row["std_diff"] == pytest.approx(1 / se)


def test_metric_rows(db):
    rows = glm_metrics(db, "cps1988", "cps1988", "wage ~ education * ethnicity")
    assert list(rows.columns) == ["metric", "scope", "value", "detail"]
    assert rows["metric"].tolist() == ["glm_ci_overlap", "glm_std_diff"] * 4
    assert rows["scope"].iloc[-1] == "wage ~ education * ethnicity: education:ethnicity[T.cauc]"
    np.testing.assert_allclose(rows["value"], [1.0, 0.0] * 4, atol=1e-9)


def test_the_real_tables_categories_code_both_fits(db, toy):
    real, no_c = toy
    with pytest.raises(ModelFitError, match=r"'g\[T\.c\]' is zero in every complete row"):
        compare_glm(db, real, no_c, "y ~ x + g")


# --------------------------------------------------------------------------------------------------------------
# Formulas and errors
# --------------------------------------------------------------------------------------------------------------
def test_formula_operators():
    assert parse_formula("y ~ a * b").terms == (("a",), ("b",), ("a", "b"))
    assert parse_formula("y ~ a*b - a:b + b:a:a").terms == (("a",), ("b",), ("b", "a"))
    assert parse_formula("y ~ (a + b):c").terms == (("a", "c"), ("b", "c"))
    assert not parse_formula("y ~ a - 1").intercept
    assert not parse_formula("y ~ 0 + a").intercept
    assert parse_formula("y ~ a + 0 + 1").intercept
    assert parse_formula("y ~ 1").terms == ()


@pytest.mark.parametrize(
    "formula", ["wage ~ education +", "wage education", "wage ~ .", "wage ~ (education", "wage ~ 2 * education"]
)
def test_a_formula_that_does_not_parse(db, formula):
    with pytest.raises(InvalidParameterError, match=re.escape(f"Cannot parse formula {formula!r}")):
        fit_glm(db, "cps1988", formula)


def test_unknown_column_is_named_with_a_suggestion(db):
    with pytest.raises(ColumnNotFoundError, match=r"'educaton' \(in the formula .*Did you mean 'education'\?"):
        fit_glm(db, "cps1988", "wage ~ educaton + region")


def test_collinear_design_names_the_term(db, toy):
    with pytest.raises(
        ModelFitError, match=r"'x2' is a linear combination of the columns before it \('Intercept', 'x'"
    ):
        fit_glm(db, toy[0], "y ~ x + x2")


@pytest.mark.parametrize("max_iter", [1, 2])
def test_non_convergence(db, max_iter):
    with pytest.raises(
        ModelFitError, match=rf"'parttime ~ education' on table 'cps1988' did not converge in {max_iter} "
    ):
        fit_glm(db, "cps1988", "parttime ~ education", family="binomial", max_iter=max_iter)


def test_perfect_separation_is_not_a_fit(db, toy):
    with pytest.raises(ModelFitError, match=r"'high ~ x' .* did not converge: .* separates the response perfectly"):
        fit_glm(db, toy[0], "high ~ x", family="binomial")


def test_bad_family_and_responses(db, toy):
    with pytest.raises(InvalidParameterError, match="Did you mean 'gaussian'"):
        fit_glm(db, "cps1988", "wage ~ education", family="gausian")
    with pytest.raises(InvalidParameterError, match="has 4 categories"):
        fit_glm(db, "cps1988", "region ~ education", family="binomial")
    with pytest.raises(InvalidParameterError, match=r"must be at least 0; 15 row\(s\)"):
        fit_glm(db, toy[0], "k ~ x", family="poisson")
    with pytest.raises(InvalidParameterError, match="must be 0 or 1"):
        fit_glm(db, toy[0], "k ~ x", family="binomial")
