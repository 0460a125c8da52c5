"""Issue 17 (PostgreSQL within 2x DuckDB): describe and the column quantiles read all columns together, in a number of
statements that does not grow with the columns; a report drawn from stored results sends none.

Statements are counted where they arrive: DuckDB's own query log, and every execution through the psycopg driver for
PostgreSQL (as in tests/test_security_rules.py).
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from fractions import Fraction

import duckdb
import numpy as np
import pyarrow as pa
import pytest

import synthsql as ss
from synthsql import quantiles
from synthsql.metrics.fitness import QQ_PROBS, column_quantiles, column_summary, quantile_label
from synthsql.pipeline import stored_evaluation
from synthsql.report import render_report
from synthsql.schema import NUMERIC_KINDS, IdentifierColumnWarning
from tests.test_quantiles import PROBS, awkward


def survey(copies: int, n: int = 20_000, seed: int = 7) -> pa.Table:
    """A table with ``copies`` columns of each numeric shape (continuous, skewed with a point mass at zero, wide
    integers, few values, dates) and two categorical columns: copies differ in their values, not in their shape, so
    that each column's search takes as many passes with 1 copy as with 6 (the values of one type share a pass's
    buckets: a column whose distinct values outnumber its share may take one pass more, a statement for all)."""
    rng = np.random.default_rng(seed)
    columns: dict[str, pa.Array] = {"region": pa.array(rng.choice(["n", "s", "e", "w"], n).tolist()),
                                    "employed": pa.array(rng.random(n) < 0.6)}
    for i in range(copies):
        income = np.where(rng.random(n) < 0.3, 0.0, np.round(rng.lognormal(10 + i / 10, 1, n), 2))
        columns[f"income{i}"] = pa.array(income, mask=rng.random(n) < 0.05)
        columns[f"score{i}"] = pa.array(rng.normal(100 * (i + 1), 15, n))
        columns[f"amount{i}"] = pa.array(rng.integers(0, 3000, n) * 997 // (i + 1))  # wide, not an identifier
        columns[f"children{i}"] = pa.array(rng.integers(0, 4 + i % 2, n))
        columns[f"born{i}"] = pa.array([dt.date(1930, 1, 1) + dt.timedelta(days=int(d))
                                        for d in rng.integers(0, 4000, n)])
    return pa.table(columns)


def test_describe_statements_do_not_grow_with_the_numeric_columns(db, statements, fresh_name):
    counts, specs = [], []
    for copies in (1, 6):
        name = f"{fresh_name}_{copies}"
        ss.write_table(db, name, survey(copies))
        before = statements()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", IdentifierColumnWarning)
            specs.append(ss.describe(db, name))
        counts.append(statements() - before)
    assert len([c for c in specs[1].columns if c.kind in NUMERIC_KINDS]) == 30
    assert counts[0] == counts[1] <= 30, counts  # 5 numeric columns or 30: the same statements
    for column in specs[0].columns:  # each column is described as alone
        assert specs[1].column(column.name) == column


def test_column_quantiles_do_not_grow_with_the_columns(db, statements, fresh_name):
    counts = []
    for copies in (1, 6):
        name = f"{fresh_name}_{copies}"
        data = survey(copies, n=6000)
        ss.write_table(db, name, data)
        spec = ss.describe(db, name)
        before = statements()
        found = column_quantiles(db, name, spec.modelled)
        counts.append(statements() - before)
        for col in spec.modelled:
            if col.kind in ("integer", "numeric"):
                values = data[col.name].to_numpy(zero_copy_only=False).astype(float)
                assert found[col.name] == inverse_cdf(values[~np.isnan(values)], QQ_PROBS), col.name
    assert counts[0] == counts[1], counts


def inverse_cdf(values: np.ndarray, probs) -> list[float]:
    x = np.sort(values)
    return [float(x[max(math.ceil(Fraction(str(p)) * len(x)), 1) - 1]) for p in probs]


@pytest.mark.parametrize("exact_rows", [4096, 2])  # 2 forces every range through the refinement passes
def test_batched_quantiles_equal_each_value_alone(db, monkeypatch, exact_rows, fresh_name):
    monkeypatch.setattr(quantiles, "EXACT_ROWS", exact_rows)
    data = awkward()
    data = data.append_column("whole", pa.array(np.arange(len(data)) % 97 - 40))
    ss.write_table(db, fresh_name, data)
    t = db.table(fresh_name)
    names = ["heavy", "tiny", "ties", "whole"]
    found = quantiles.batch_quantile_counts(db, t, {name: t[name] for name in names}, PROBS)
    for name in names:
        values, counts = found[name]
        assert values == db.quantiles(t, name, PROBS)[None], name
        column = data[name].to_numpy(zero_copy_only=False)
        assert counts == [int(np.sum(column == v)) for v in values], name
    finite = quantiles.batch_quantiles(db, t, {"heavy": t.heavy}, PROBS, specials=False)["heavy"]
    assert finite == db.quantiles(t.filter(t.heavy.notnull()), "heavy", PROBS)[None]  # heavy has no NaN nor inf


def test_float_bounds_are_read_as_the_doubles_they_are(db, monkeypatch, fresh_name):
    """Doubles of 17 digits that DuckDB reads an ulp off when written as decimals (a DECIMAL, then a double): each
    range's bounds must hold their own values, or their rows go missing from the search."""
    monkeypatch.setattr(quantiles, "EXACT_ROWS", 2)
    con = duckdb.connect()
    rng = np.random.default_rng(1)
    candidates = [float(v) for v in rng.random(3000) * 10.0 ** rng.integers(-3, 6, 3000)]
    candidates = [v for v in candidates if "e" not in repr(v) and len(repr(v).replace(".", "").lstrip("0")) >= 17]
    misread = [v for v in candidates if not con.execute(f"SELECT {v!r} = $1::DOUBLE", [v]).fetchone()[0]][:40]
    assert len(misread) >= 20
    values = rng.permutation(np.repeat(np.array(misread), 50))
    ss.write_table(db, fresh_name, pa.table({"x": values}))
    t = db.table(fresh_name)
    probs = [i / 40 for i in range(41)]
    assert quantiles.batch_quantiles(db, t, {"x": t.x}, probs)["x"] == inverse_cdf(values, probs)
    assert db.quantiles(t, "x", probs)[None] == inverse_cdf(values, probs)


def test_the_column_summary_holds_the_qq_quantiles(duckdb_db):
    db = duckdb_db
    spec = ss.describe(db, "cps1988")
    summary = column_summary(db, "cps1988", "cps1988", spec)
    qq = column_quantiles(db, "cps1988", spec.modelled)
    for col in spec.modelled:
        if col.kind in NUMERIC_KINDS:
            rows = summary[summary.column == col.name].set_index("statistic")
            assert [rows.loc[quantile_label(p), "real"] for p in QQ_PROBS] == qq[col.name]


def test_a_report_from_stored_results_sends_no_statement(db, statements, monkeypatch, fresh_name):
    source = "cps1988"
    spec = ss.describe(db, source)
    model = ss.fit(db, source, method="independent", spec=spec, seed=1)
    ss.materialize(db, model, fresh_name, seed=2)
    fresh = ss.evaluate(db, real=source, synthetic=fresh_name, spec=spec, pmse=["cells"])
    stored, why = stored_evaluation(db, real=source, synthetic=fresh_name, spec=spec, pmse=["cells"])
    assert stored is not None, why

    def refuse(*args, **kwargs):
        raise AssertionError("a quantile query")

    for name in ("batch_quantile_counts", "discrete_quantiles", "order_statistics"):
        monkeypatch.setattr(quantiles, name, refuse)
    before = statements()
    page = render_report(db, real=source, synthetic=fresh_name, spec=spec, evaluation=stored)
    assert statements() == before
    assert render_report(db, real=source, synthetic=fresh_name, spec=spec, evaluation=fresh) == page
    assert page.count('class="qq-plot"') == 3  # wage, education, experience
