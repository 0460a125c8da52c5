"""GLM fits are the same bits on every run and on every engine: their sums are exact in fixed point.

A database adds doubles in an order of its own (DuckDB's parallel aggregation combines its threads' partial sums
in whatever order they finish), so a plain ``SUM`` of doubles changes in its last bits from run to run. Run against
the float sums that :mod:`synthsql.metrics.glm` had before, this file failed on each of three tries: two or three of
the three run-to-run checks below (which family varied), the metric rows once, and every check that DuckDB and
PostgreSQL agree but the gaussian one (the two engines agreed only to about 1e-12, partly because DuckDB read one
coefficient literal in twenty one ulp off).
"""

from __future__ import annotations

import math
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

import synthsql as ss
from synthsql.errors import ModelFitError
from synthsql.metrics import glm
from synthsql.metrics.glm import compare_glm, fit_glm, glm_metrics

MODELS = {
    "gaussian": "w ~ x * g + z + x:z",
    "binomial": "yes ~ x * g + z",
    "poisson": "cnt ~ x * g + z",
}


def create_table(db: ss.Database, name: str, n: int, *, part: int = 0) -> None:
    """``name``: ``n`` rows made in SQL, the same values on DuckDB and PostgreSQL (doubles are integers divided by
    10 or 7, which both engines round alike; no integer is divided, which PostgreSQL truncates and DuckDB does not). ``part`` shifts the rows (another sample of the
    same model)."""
    rows = f"range({n}) r(i)" if db.dialect == "duckdb" else f"generate_series(0::bigint, {n - 1}) r(i)"

    def double(expression: str) -> str:
        return f"CAST({expression} AS DOUBLE PRECISION)"

    i = f"(i + {part * 7_777_777})"
    db.backend.raw_sql(
        f"""CREATE TABLE {name} AS SELECT
          {double(f"({i} * 2654435761) % 1000")} / 10 AS x,
          {double(f"({i} * 40503) % 997 - 498")} / 10 AS z,
          CASE ({i} * 7919) % 1009 % 4 WHEN 0 THEN 'a' WHEN 1 THEN 'b' WHEN 2 THEN 'c' ELSE 'd' END AS g,
          CAST(({i} * 2246822519) % 1000 * 10 < 3000 + 4 * (({i} * 2654435761) % 1000) AS INTEGER) AS yes,
          CAST(({i} * 3266489917) % 1021 % 7 AS INTEGER) AS cnt,
          {double(f"({i} * 2654435761) % 1000")} / 10 * 3 + {double(f"({i} * 668265263) % 1000")} / 7 AS w
        FROM {rows}"""
    )


def fingerprint(fit: glm.GLMResult) -> bytes:
    return np.array([*fit.coef, *fit.se, fit.deviance, fit.scale], dtype=np.float64).tobytes()


@pytest.fixture(scope="module")
def parallel() -> ss.Database:
    """DuckDB at 4 threads on 300,000 rows (three row groups: a parallel aggregation)."""
    db = ss.connect("duckdb://")
    db.backend.raw_sql("SET threads = 4")
    create_table(db, "big", 300_000)
    return db


# --------------------------------------------------------------------------------------------------------------
# The same bits on every run
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("family", list(MODELS))
def test_a_parallel_fit_is_the_same_bits_on_every_run(parallel, family):
    fits = [fit_glm(parallel, "big", MODELS[family], family=family) for _ in range(3)]
    assert fits[0].n == 300_000
    assert len({fingerprint(fit) for fit in fits}) == 1
    assert len({fit.iterations for fit in fits}) == 1


def test_metric_rows_are_the_same_bits_on_every_run(parallel):
    if "big_half" not in parallel.list_tables():
        parallel.backend.raw_sql("CREATE TABLE big_half AS SELECT * FROM big WHERE x < 60")
    tables = [glm_metrics(parallel, "big", "big_half", MODELS["gaussian"]) for _ in range(3)]
    for table in tables[1:]:
        pd.testing.assert_frame_equal(table, tables[0], check_exact=True)
        assert table["value"].to_numpy().tobytes() == tables[0]["value"].to_numpy().tobytes()


def test_the_logistic_pmse_is_the_same_bits_on_every_run(parallel):
    """The pMSE's sum of squared propensities is exact in fixed point too (it was a plain SUM of doubles)."""
    from synthsql.metrics.pmse import pmse_logit

    if "big_other" not in parallel.list_tables():
        create_table(parallel, "big_other", 300_000, part=1)
    spec = ss.describe(parallel, "big", columns={"yes": {"kind": "categorical"}, "cnt": {"kind": "categorical"}})
    values = [pmse_logit(parallel, "big", "big_other", spec, columns=["x", "z", "g"])["pmse"] for _ in range(3)]
    assert len({np.float64(v).tobytes() for v in values}) == 1


def test_column_means_and_sds_are_the_same_bits_on_every_run_and_equal_numpy(parallel):
    """The column summary's mean and sd come from exact fixed-point sums too (AVG and STDDEV of doubles changed
    in 7 cells of this summary from run to run)."""
    from synthsql.metrics.fitness import column_summary

    if "big_other" not in parallel.list_tables():
        create_table(parallel, "big_other", 300_000, part=1)
    spec = ss.describe(parallel, "big")
    summaries = [column_summary(parallel, "big", "big_other", spec) for _ in range(3)]
    for summary in summaries[1:]:
        pd.testing.assert_frame_equal(summary, summaries[0], check_exact=True)
    frame = parallel.table("big").to_pandas()
    summary = summaries[0]

    def by(name: str, statistic: str) -> float:
        return summary[(summary["column"] == name) & (summary["statistic"] == statistic)]["real"].item()

    for name in ("x", "z", "w"):
        assert by(name, "mean") == pytest.approx(math.fsum(frame[name]) / len(frame), rel=1e-15)
        assert by(name, "sd") == pytest.approx(float(np.std(frame[name].to_numpy(), ddof=1)), rel=1e-13)


# --------------------------------------------------------------------------------------------------------------
# The same bits on DuckDB and PostgreSQL
# --------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def both(postgres_db: ss.Database) -> tuple[ss.Database, ss.Database]:
    """The same 20,000 rows (and another 20,000 as a 'synthetic' table) on DuckDB (4 threads) and PostgreSQL."""
    duck = ss.connect("duckdb://")
    duck.backend.raw_sql("SET threads = 4")
    for db in (duck, postgres_db):
        for name, part in (("same_rows", 0), ("same_rows_other", 1)):
            if name not in db.list_tables():
                create_table(db, name, 20_000, part=part)
    return duck, postgres_db


@pytest.mark.postgres
@pytest.mark.parametrize("family", list(MODELS))
def test_duckdb_and_postgres_fit_the_same_bits(both, family):
    duck, postgres = both
    fits = [fit_glm(db, "same_rows", MODELS[family], family=family) for db in (duck, postgres)]
    assert fits[0].terms == fits[1].terms
    assert fits[0].iterations == fits[1].iterations
    assert fingerprint(fits[0]) == fingerprint(fits[1])


@pytest.mark.postgres
def test_duckdb_and_postgres_compare_the_same_bits(both):
    duck, postgres = both
    tables = [
        compare_glm(db, "same_rows", "same_rows_other", MODELS["binomial"], family="binomial")
        for db in (duck, postgres)
    ]
    pd.testing.assert_frame_equal(tables[0], tables[1], check_exact=True)


# --------------------------------------------------------------------------------------------------------------
# Still statsmodels' estimates
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.postgres
@pytest.mark.parametrize("family", list(MODELS))
def test_the_exact_fits_equal_statsmodels(both, family):
    duck, _ = both
    fit = fit_glm(duck, "same_rows", MODELS[family], family=family)
    frame = duck.table("same_rows").to_pandas()
    family_class = {"gaussian": sm.families.Gaussian, "binomial": sm.families.Binomial, "poisson": sm.families.Poisson}
    reference = smf.glm(MODELS[family], frame, family=family_class[family]()).fit(tol=1e-12)
    assert list(fit.terms) == list(reference.params.index)
    np.testing.assert_allclose(fit.coef, reference.params.to_numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fit.se, reference.bse.to_numpy(), rtol=1e-9)
    assert fit.deviance == pytest.approx(reference.deviance, rel=1e-9)


# --------------------------------------------------------------------------------------------------------------
# The fixed-point sums
# --------------------------------------------------------------------------------------------------------------
def design(db: ss.Database, table: str, formula: str) -> tuple[ibis.Table, list[Any], pd.DataFrame]:
    parsed = glm.parse_formula(formula)
    variables = glm._variables(db, table, parsed, "gaussian", None, glm.MAX_PARAMETERS)
    columns = glm._design(parsed, variables.levels)
    rows = glm._complete_rows(db.table(table), parsed, variables, columns)
    return rows, [c.parts for c in columns], rows.to_pandas()


def test_the_sums_are_within_their_error_bound(parallel):
    # Against the exactly rounded sums (math.fsum) of the same per-row doubles: within n·2^-61·2^e_w·max|x_i|·max|x_j|
    # (the bound _sums documents, with 2^e_w < 2·max w here), that is a relative error near 2^-60 on these columns.
    if "small" not in parallel.list_tables():
        parallel.backend.raw_sql("CREATE TABLE small AS SELECT * FROM big WHERE x < 10")
    rows, parts, frame = design(parallel, "small", "w ~ x * g + z + x:z")
    k, n = len(parts), len(frame)
    maxima = glm._column_maxima(parallel, rows, parts)
    weight = rows.y * 0.01 + 0.5
    w = frame.y.to_numpy() * 0.01 + 0.5
    sums = glm._sums(
        parallel,
        rows,
        glm._gram_plan(parts),
        maxima=maxima,
        weight=glm._Summand(weight, float(w.max())),
        target=glm._Summand(rows.y, maxima.y),
        totals={},
        extra={},
    )
    x = frame[[f"x{j}" for j in range(k)]].to_numpy()
    assert maxima.indicator.tolist() == [True] * 4 + [False] * 6
    for i in range(k):
        for j in range(k):
            exact = math.fsum((w * x[:, i]) * x[:, j])
            bound = n * 2.0**-61 * 2 * w.max() * np.abs(x[:, i]).max() * np.abs(x[:, j]).max()
            assert abs(sums.gram[i, j] - exact) <= bound + 2 * math.ulp(exact), (i, j)
        exact = math.fsum(x[:, i] * frame.y.to_numpy())
        assert abs(sums.score[i] - exact) <= n * 2.0**-61 * np.abs(x[:, i]).max() * maxima.y + 2 * math.ulp(exact)
    assert sums.n == n


def test_a_missed_guess_is_summed_again_at_the_exact_scale(parallel, monkeypatch):
    rows, parts, _ = design(parallel, "big", "w ~ x * g")
    maxima = glm._column_maxima(parallel, rows, parts)
    queries = []
    fetch = glm._fixed_point_row

    def counted(*args: Any) -> dict[str, Any]:
        queries.append(args[7])  # the exponents
        return fetch(*args)

    monkeypatch.setattr(glm, "_fixed_point_row", counted)

    def sums(guess: float) -> glm._Sums:
        target = glm._Summand(rows.y, guess)
        return glm._sums(
            parallel, rows, glm._gram_plan(parts), maxima=maxima, weight=None, target=target, totals={}, extra={}
        )

    exact = sums(maxima.y)
    assert len(queries) == 1
    for guess in (maxima.y / 1000, maxima.y * 2.0**20):  # a term would be clipped; or keep too few bits
        queries.clear()
        again = sums(guess)
        assert len(queries) == 2
        assert again.score.tobytes() == exact.score.tobytes()
        assert again.gram.tobytes() == exact.gram.tobytes()
        assert again.largest == exact.largest


def test_a_nearly_exact_fit_sums_its_squared_residuals_exactly(fresh_name, monkeypatch):
    # RSS/yᵀy = 1e-16: the quadratic form cancels, and a second fixed-point query sums the squared residuals.
    db = ss.connect("duckdb://")
    db.backend.raw_sql(
        f"CREATE TABLE {fresh_name} AS SELECT CAST(i AS DOUBLE) / 10 AS x, "
        f"1 + 2 * CAST(i AS DOUBLE) / 10 + 1e-6 * SIN(i) AS y FROM range(1000) r(i)"
    )
    summed = []
    fetch = glm._fixed_point_row
    monkeypatch.setattr(glm, "_fixed_point_row", lambda *args: summed.append(args[6]) or fetch(*args))
    fits = [fit_glm(db, fresh_name, "y ~ x") for _ in range(2)]
    assert any("q_rss" in summands for summands in summed)
    assert fingerprint(fits[0]) == fingerprint(fits[1])
    reference = smf.ols("y ~ x", db.table(fresh_name).to_pandas()).fit()
    np.testing.assert_allclose(fits[0].coef, reference.params.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(fits[0].se, reference.bse.to_numpy(), rtol=1e-6)
    assert fits[0].deviance == pytest.approx(reference.ssr, rel=1e-6)


def test_a_column_with_infinite_values_is_refused(fresh_name):
    db = ss.connect("duckdb://")
    db.backend.raw_sql(
        f"CREATE TABLE {fresh_name} AS SELECT CAST(i AS DOUBLE) AS y, CAST(i AS DOUBLE) AS x FROM range(10) r(i)"
    )
    db.backend.raw_sql(f"UPDATE {fresh_name} SET x = 'inf'::DOUBLE WHERE y = 3")
    with pytest.raises(ModelFitError, match=r"'x' holds infinite or NaN values"):
        fit_glm(db, fresh_name, "y ~ x")
