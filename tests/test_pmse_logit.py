"""The logistic pMSE fitted in the database agrees with statsmodels on the same design, on both backends."""

from __future__ import annotations

import re
import warnings

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

import synthsql as ss
from synthsql.errors import ColumnNotFoundError, InvalidParameterError, ModelFitError
from synthsql.metrics.pmse import pmse_logit
from synthsql.schema import IdentifierColumnWarning, TableSpec

CPS_CATEGORICAL = ["ethnicity", "smsa", "region", "parttime"]


def describe(db: ss.Database, table: str) -> TableSpec:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifierColumnWarning)  # mixed.person_id
        return ss.describe(db, table)


@pytest.fixture(scope="module")
def cps(db: ss.Database) -> TableSpec:
    """The spec of cps1988, with an independent and a Bayesian-network synthetic copy beside it."""
    for method in ("independent", "bayesnet"):
        model = ss.fit(db, "cps1988", method=method, seed=1)
        ss.materialize(db, model, f"pmse_logit_cps_{method}", seed=2, replace=True)
    return describe(db, "cps1988")


@pytest.fixture(scope="module")
def independent(db: ss.Database, cps: TableSpec) -> dict:
    """The logistic pMSE (all two-way interactions) of the independent synthetic table."""
    return pmse_logit(db, "cps1988", "pmse_logit_cps_independent", cps)


@pytest.fixture(scope="module")
def mixed(db: ss.Database) -> TableSpec:
    spec = describe(db, "mixed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifierColumnWarning)
        model = ss.fit(db, "mixed", method="bayesnet", seed=1)
    ss.materialize(db, model, "pmse_logit_mixed", seed=2, replace=True)
    return spec


# --------------------------------------------------------------------------------------------------------------
# The reference: statsmodels on the stacked rows, with the design the docstring states
# --------------------------------------------------------------------------------------------------------------
def reference(
    db: ss.Database, real: str, synthetic: str, spec: TableSpec, *, columns=None, interactions=True
) -> tuple[float, float, int]:
    """pMSE, null and k of a statsmodels logit on the stacked tables: categorical columns coded against the spec's
    first category; numeric ones (dates as epoch days, timestamps as epoch microseconds) standardised by the real
    table's mean and sample sd; NULL -> a main-effect indicator and the value 0 (the reference category)."""
    stacked = pd.concat(
        [db.table(real).to_pandas().assign(t=0), db.table(synthetic).to_pandas().assign(t=1)], ignore_index=True
    )
    chosen = [spec.column(name) for name in columns] if columns else spec.modelled
    terms, indicators = [], []
    for c in chosen:
        x = stacked[c.name]
        missing = x.isna()
        if c.kind in ("categorical", "boolean"):
            x = pd.Categorical(x.where(~missing, c.categories[0]).tolist(), categories=list(c.categories))
        else:
            if c.kind == "date":
                x = (pd.to_datetime(x) - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
            elif c.kind == "timestamp":
                x = (pd.to_datetime(x) - pd.Timestamp("1970-01-01")) / pd.Timedelta(microseconds=1)
            x = x.astype(float)
            x = ((x - x[stacked.t == 0].mean()) / x[stacked.t == 0].std()).fillna(0.0)
        stacked[c.name] = x
        terms.append(c.name)
        if missing.any():
            stacked[f"{c.name}_na"] = missing.astype(float)
            indicators.append(f"{c.name}_na")
    formula = f"t ~ ({' + '.join(terms)})" + ("**2" if interactions else "") + "".join(f" + {i}" for i in indicators)
    fit = smf.glm(formula, stacked, family=sm.families.Binomial()).fit(tol=1e-12)
    n, c = len(stacked), stacked["t"].mean()
    k = len(fit.params)
    return float(np.mean((fit.fittedvalues - c) ** 2)), (k - 1) * (1 - c) ** 2 * c / n, k


# --------------------------------------------------------------------------------------------------------------
# Against statsmodels
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["independent", "bayesnet"])
def test_pmse_equals_statsmodels(db, cps, independent, method):
    synthetic = f"pmse_logit_cps_{method}"
    result = independent if method == "independent" else pmse_logit(db, "cps1988", synthetic, cps)
    pmse, null, k = reference(db, "cps1988", synthetic, cps)
    assert result["pmse"] == pytest.approx(pmse, rel=1e-6)
    assert result["parameters"] == k == 43
    assert result["null"] == pytest.approx(null, rel=1e-12)
    assert result["s_pmse"] == pytest.approx(result["pmse"] / result["null"], rel=1e-12)
    assert result["model"].startswith("main effects + 2-way interactions of 7 columns")
    assert set(result) == {"pmse", "s_pmse", "null", "parameters", "model"}


def test_main_effects_only_equal_statsmodels(db, cps):
    result = pmse_logit(db, "cps1988", "pmse_logit_cps_bayesnet", cps, interactions=False)
    pmse, null, k = reference(db, "cps1988", "pmse_logit_cps_bayesnet", cps, interactions=False)
    assert result["pmse"] == pytest.approx(pmse, rel=1e-6)
    assert (result["parameters"], result["null"]) == (k, pytest.approx(null, rel=1e-12))
    assert result["model"] == "main effects of 7 columns"


def test_nulls_booleans_dates_and_timestamps(db, mixed):
    # region and income have NULLs: each gets an indicator; employed is boolean, born a date, seen a timestamp.
    result = pmse_logit(db, "mixed", "pmse_logit_mixed", mixed)
    pmse, null, k = reference(db, "mixed", "pmse_logit_mixed", mixed)
    assert result["pmse"] == pytest.approx(pmse, rel=1e-6)
    assert (result["parameters"], result["null"]) == (k, pytest.approx(null, rel=1e-12))
    assert result["model"] == "main effects + 2-way interactions of 7 columns, NULL indicators for region, income"
    assert np.isfinite(result["s_pmse"]) and result["s_pmse"] > 0


def test_a_wide_design_returns_its_sums_in_arrays(db, fresh_name):
    # Nine numeric columns and their 36 products: 46 parameters whose 1081 distinct sums of XᵀWX exceed what one
    # PostgreSQL select list holds (1664 with the scores); the engine returns them in arrays.
    rng = np.random.default_rng(7)
    names = [f"v{i}" for i in range(9)]
    real = rng.normal(size=(300, 9))
    synthetic = rng.normal(size=(250, 9)) * 1.1 + 0.1
    synthetic[:, 1] += 0.5 * synthetic[:, 0]
    ss.write_table(db, f"{fresh_name}_r", pa.table(dict(zip(names, real.T, strict=True))))
    ss.write_table(db, f"{fresh_name}_s", pa.table(dict(zip(names, synthetic.T, strict=True))))
    spec = describe(db, f"{fresh_name}_r")
    result = pmse_logit(db, f"{fresh_name}_r", f"{fresh_name}_s", spec)
    pmse, null, k = reference(db, f"{fresh_name}_r", f"{fresh_name}_s", spec)
    assert result["parameters"] == k == 46
    assert result["pmse"] == pytest.approx(pmse, rel=1e-6)
    assert result["null"] == pytest.approx(null, rel=1e-12)


# --------------------------------------------------------------------------------------------------------------
# What it measures
# --------------------------------------------------------------------------------------------------------------
def test_an_exact_copy_is_indistinguishable(db, cps):
    result = pmse_logit(db, "cps1988", "cps1988", cps)
    assert result["pmse"] < 1e-12
    assert result["s_pmse"] <= 1
    assert result["parameters"] == 43


def test_main_effects_only_see_the_one_way_marginals(db, cps, independent):
    # PITFALLS: independent columns keep every 1-way marginal, so a main-effects logit barely tells the tables
    # apart (S_pMSE near 1 on the categorical columns, whose marginals the sampler keeps exactly); the two-way
    # interactions see the associations the synthesis lost.
    synthetic = "pmse_logit_cps_independent"
    main = pmse_logit(db, "cps1988", synthetic, cps, columns=CPS_CATEGORICAL, interactions=False)
    both = pmse_logit(db, "cps1988", synthetic, cps, columns=CPS_CATEGORICAL)
    assert main["s_pmse"] < 3
    assert both["s_pmse"] > 20
    # On every column the numeric marginals, binned then resampled, differ a little too; the interactions far more.
    main = pmse_logit(db, "cps1988", synthetic, cps, interactions=False)
    assert independent["s_pmse"] > 5 * main["s_pmse"]
    assert independent["s_pmse"] > 50


def test_only_aggregates_leave_the_database(db, cps, monkeypatch):
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
    pmse_logit(db, "cps1988", "pmse_logit_cps_bayesnet", cps, columns=CPS_CATEGORICAL)
    # One query describing both tables, one per IRLS iteration (at least three), one summing (p - c)^2.
    assert len(returned) >= 5
    assert set(returned) == {1}


# --------------------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------------------
def test_too_many_parameters_is_refused_before_any_query(db, cps, monkeypatch):
    def no_query(*args, **kwargs):
        raise AssertionError("no query should run")

    monkeypatch.setattr(ss.Database, "fetchall", no_query)
    with pytest.raises(InvalidParameterError) as caught:
        pmse_logit(db, "cps1988", "pmse_logit_cps_bayesnet", cps, max_parameters=40)
    message = str(caught.value)
    assert "has 43 parameters, more than max_parameters=40" in message
    assert "'region' (3 parameters)" in message
    assert "columns=[...]" in message
    assert "interactions=False (10 parameters)" in message


def test_separable_tables_name_the_term(db, cps, fresh_name):
    # A synthetic table without the category "west": its dummy occurs in the real table only.
    frame = db.table("cps1988").to_pandas()
    frame["region"] = frame["region"].replace("west", "south")
    ss.write_table(db, fresh_name, pa.Table.from_pandas(frame, preserve_index=False))
    pattern = r"separable on 'region\[T\.west\]', 'region\[T\.west\]:parttime\[T\.yes\]' occur only in the real table"
    with pytest.raises(ModelFitError, match=pattern):
        pmse_logit(db, "cps1988", fresh_name, cps, columns=["region", "parttime"])
    with pytest.raises(ModelFitError, match=re.escape("separable on 'region[T.west]' occurs only in the real")):
        pmse_logit(db, "cps1988", fresh_name, cps, columns=["region", "parttime"], interactions=False)


def test_bad_columns_and_parameters(db, cps, mixed):
    with pytest.raises(ColumnNotFoundError, match="Did you mean 'region'"):
        pmse_logit(db, "cps1988", "pmse_logit_cps_bayesnet", cps, columns=["regoin"])
    with pytest.raises(InvalidParameterError, match="'person_id' is of kind 'identifier'"):
        pmse_logit(db, "mixed", "pmse_logit_mixed", mixed, columns=["person_id", "age"])
    with pytest.raises(InvalidParameterError, match="'interactions' parameter must be True or False"):
        pmse_logit(db, "cps1988", "pmse_logit_cps_bayesnet", cps, interactions="yes")
    with pytest.raises(InvalidParameterError, match="'max_parameters' parameter must be an int >= 1"):
        pmse_logit(db, "cps1988", "pmse_logit_cps_bayesnet", cps, max_parameters=0)
