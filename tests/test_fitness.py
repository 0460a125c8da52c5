"""Fit-for-purpose metrics against independent computations (scipy, pandas, hand-worked fixtures) on both backends."""

from __future__ import annotations

import math
import secrets
import warnings
from fractions import Fraction

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import scipy.stats

import synthsql as ss
from synthsql.metrics import fitness
from synthsql.metrics.fitness import DECILES, Rule, check_rules, column_distances, column_summary
from synthsql.schema import IdentifierColumnWarning

NUMERIC_KINDS = ("integer", "numeric", "date", "timestamp")


@pytest.fixture(scope="module", params=["mixed", "cps1988"])
def pair(request, db):
    """(real name, synthetic name, real spec, real frame, synthetic frame) for an independent synthetic table."""
    name = request.param
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifierColumnWarning)
        spec = ss.describe(db, name)
    model = ss.fit(db, name, method="independent", spec=spec, seed=1)
    target = str(ss.materialize(db, model, f"fitness_{name}_{secrets.token_hex(3)}", seed=1))
    return name, target, spec, db.table(name).to_pandas(), db.table(target).to_pandas()


def numbers(frame: pd.DataFrame, column: str, kind: str) -> np.ndarray:
    """The non-NULL values of a column as synthsql measures them (epoch days, epoch microseconds)."""
    values = frame[column].dropna()
    if kind == "date":
        return pd.to_datetime(values).to_numpy().astype("datetime64[D]").astype(np.int64).astype(np.float64)
    if kind == "timestamp":
        return pd.to_datetime(values).to_numpy().astype("datetime64[us]").astype(np.int64).astype(np.float64)
    return values.astype(np.float64).to_numpy()


def inverse_cdf(values: np.ndarray, p: float) -> float:
    """The smallest value whose cumulative count reaches p * n, by hand."""
    ordered = np.sort(values)
    rank = math.ceil(Fraction(str(p)) * len(ordered))
    return float(ordered[max(rank, 1) - 1])


def metric(frame: pd.DataFrame, name: str, scope: str) -> float:
    (value,) = frame.loc[(frame.metric == name) & (frame.scope == scope), "value"]
    return float(value)


# --------------------------------------------------------------------------------------------------------------
# Distances
# --------------------------------------------------------------------------------------------------------------
def test_ks_and_wasserstein_equal_scipy(db, pair):
    real, synthetic, spec, a, b = pair
    out = column_distances(db, real, synthetic, spec)
    assert list(out.columns) == ["metric", "scope", "value", "detail"]
    numeric = [c for c in spec.modelled if c.kind in NUMERIC_KINDS]
    assert numeric
    for col in numeric:
        x, y = numbers(a, col.name, col.kind), numbers(b, col.name, col.kind)
        assert metric(out, "ks", col.name) == pytest.approx(scipy.stats.ks_2samp(x, y).statistic, rel=1e-9, abs=1e-12)
        assert metric(out, "wasserstein1", col.name) == pytest.approx(
            scipy.stats.wasserstein_distance(x, y), rel=1e-9, abs=1e-12
        )


def test_ks_and_wasserstein_in_value_ranges_equal_scipy(db, pair, monkeypatch):
    """Large tables are counted and sorted one value range at a time: the same results, whatever the cut."""
    real, synthetic, spec, a, b = pair
    monkeypatch.setattr(fitness, "_ECDF_CHUNK_ROWS", 37)
    out = column_distances(db, real, synthetic, spec)
    for col in (c for c in spec.modelled if c.kind in NUMERIC_KINDS):
        x, y = numbers(a, col.name, col.kind), numbers(b, col.name, col.kind)
        assert metric(out, "ks", col.name) == pytest.approx(scipy.stats.ks_2samp(x, y).statistic, rel=1e-9, abs=1e-12)
        assert metric(out, "wasserstein1", col.name) == pytest.approx(
            scipy.stats.wasserstein_distance(x, y), rel=1e-9, abs=1e-12
        )


def test_tvd_equals_pandas_value_counts(db, pair):
    real, synthetic, spec, a, b = pair
    out = column_distances(db, real, synthetic, spec)
    categorical = [c for c in spec.modelled if c.kind in ("categorical", "boolean")]
    assert categorical
    for col in categorical:
        p = a[col.name].astype(object).value_counts(dropna=False, normalize=True)
        q = b[col.name].astype(object).value_counts(dropna=False, normalize=True)
        p, q = p.align(q, fill_value=0.0)
        assert metric(out, "tvd", col.name) == pytest.approx(0.5 * (p - q).abs().sum(), rel=1e-9, abs=1e-12)


def test_a_table_is_at_distance_zero_from_itself(db, pair):
    real, _, spec, _, _ = pair
    out = column_distances(db, real, real, spec)
    assert set(out.metric) == {"tvd", "ks", "wasserstein1"}
    assert (out.value == 0).all(), out


# --------------------------------------------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------------------------------------------
def test_column_summary_equals_pandas(db, pair):
    real, synthetic, spec, a, b = pair
    out = column_summary(db, real, synthetic, spec)
    assert list(out.columns) == ["column", "kind", "statistic", "category", "real", "synthetic"]
    for col in spec.modelled:
        rows = out[out.column == col.name]
        for side, frame in (("real", a), ("synthetic", b)):
            got = {(s, c): v for s, c, v in zip(rows.statistic, rows.category, rows[side], strict=True)}
            assert got[("null_share", None)] == pytest.approx(frame[col.name].isna().mean(), rel=1e-12)
            if col.kind in NUMERIC_KINDS:
                x = pd.Series(numbers(frame, col.name, col.kind))
                expected = {"min": x.min(), "max": x.max(), "mean": x.mean(), "sd": x.std()}
                for p in DECILES:
                    expected[f"p{round(p * 100)}"] = inverse_cdf(x.to_numpy(), p)
                for stat, value in expected.items():
                    assert got[(stat, None)] == pytest.approx(value, rel=1e-9), (col.name, side, stat)
            else:
                shares = frame[col.name].astype(object).value_counts(dropna=True) / len(frame)
                for category in col.categories:
                    assert got[("share", category)] == pytest.approx(shares.get(category, 0.0), rel=1e-12)
                total = sum(v for (s, _), v in got.items() if s in ("share", "null_share", "share_other"))
                assert total == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------------------------
# Edit rules
# --------------------------------------------------------------------------------------------------------------
RULES = [
    Rule("age_nonnegative", "age >= 0"),
    Rule("income_ok", "income IS NULL OR income >= 0"),
    Rule("child_without_income", "py010n IS NULL", when="age < 16"),
    Rule("income_positive", "income > 0"),
    Rule("eq_positive", "eqincome > 0"),  # unquoted: matched to eqIncome as DuckDB would
    Rule("none_applicable", "age > 0", when="age > 200"),
]
#                         applicable, violations, unknown
EXPECTED = {
    "age_nonnegative": (6, 1, 1),  # the NULL age is a violation, and unknown
    "income_ok": (6, 1, 0),  # -5
    "child_without_income": (2, 1, 0),  # ages 10 and 15 (a NULL age does not meet `when`); 15 has py010n
    "income_positive": (6, 4, 2),  # 0, -5 and two NULLs
    "eq_positive": (6, 1, 0),
    "none_applicable": (0, 0, 0),
}


@pytest.fixture(scope="module")
def rules_table(db):
    name = f"rules_{secrets.token_hex(4)}"
    ss.write_table(
        db,
        name,
        pa.table(
            {
                "age": pa.array([10, 15, 30, None, 45, 70], pa.int32()),
                "income": pa.array([0.0, None, 100.0, 50.0, -5.0, None]),
                "py010n": pa.array([None, 5.0, 10.0, None, None, 1.0]),
                "eqIncome": pa.array([1.0, 2.0, 3.0, 4.0, 5.0, -1.0]),
            }
        ),
    )
    return name


def test_rule_violations_by_hand(db, rules_table):
    out = check_rules(db, rules_table, rules_table, RULES)
    assert list(out.columns) == ["rule", "table", "rows", "applicable", "violations", "unknown", "rate"]
    assert list(out.rule) == [r.name for r in RULES for _ in range(2)]
    assert list(out.table) == ["real", "synthetic"] * len(RULES)
    assert (out.rows == 6).all()
    for row in out.itertuples():
        assert (row.applicable, row.violations, row.unknown) == EXPECTED[row.rule], row
        if row.applicable:
            assert row.rate == pytest.approx(row.violations / row.applicable)
        else:
            assert math.isnan(row.rate)


def test_rules_from_mappings_and_one_quoted_query_per_table(db, rules_table, monkeypatch):
    statements = []
    fetchall = db.fetchall

    def spy(statement):
        statements.append(db.render(statement))
        return fetchall(statement)

    monkeypatch.setattr(db, "fetchall", spy)
    rules = [
        {"name": "kids", "condition": "py010n IS NULL", "when": "age < 16"},
        {"name": "eq", "condition": "eqIncome > 0"},
    ]
    out = check_rules(db, rules_table, rules_table, rules)
    assert len(statements) == 2
    assert '"py010n"' in statements[0] and '"eqIncome"' in statements[0] and '"age"' in statements[0]
    assert out.set_index(["rule", "table"]).loc[("kids", "real"), "violations"] == 1


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (lambda: Rule("broken", "age >="), r"Edit rule 'broken': the condition does not parse as SQL"),
        (lambda: Rule("broken_when", "age > 0", when="age <"), r"Edit rule 'broken_when': the when does not parse as SQL"),
        (lambda: Rule("two", "1; DROP TABLE x"), r"Edit rule 'two'.*not a boolean condition"),
        (lambda: Rule("sub", "age IN (SELECT 1)"), r"Edit rule 'sub'.*subqueries are not allowed"),
        (lambda: Rule("agg", "sum(age) > 0"), r"Edit rule 'agg'.*aggregate and window functions"),
        (lambda: Rule("qualified", "t.age > 0"), r"Edit rule 'qualified'.*without a table"),
        (lambda: Rule("", "age > 0"), r"non-empty name"),
        (lambda: Rule.from_json({"name": "x", "condtion": "age > 0"}), r"unknown setting 'condtion'.*'condition'"),
    ],
)
def test_bad_rules_are_refused(rule, message):
    with pytest.raises(ss.InvalidParameterError, match=message):
        rule()


def test_unknown_columns_in_rules(db, rules_table):
    with pytest.raises(ss.ColumnNotFoundError, match=r"Edit rule 'typo' names the column 'agee'.*Did you mean 'age'"):
        check_rules(db, rules_table, rules_table, [Rule("typo", "agee >= 0")])
    with pytest.raises(ss.ColumnNotFoundError, match=r"Edit rule 'w' names the column 'ag'"):
        check_rules(db, rules_table, rules_table, [Rule("w", "age >= 0", when="ag < 16")])
    # A quoted name is matched exactly, as SQL does.
    with pytest.raises(ss.ColumnNotFoundError, match=r"column 'EQINCOME'.*Did you mean 'eqIncome'"):
        check_rules(db, rules_table, rules_table, [Rule("q", '"EQINCOME" > 0')])
    with pytest.raises(ss.InvalidParameterError, match=r"Two edit rules are named 'a'"):
        check_rules(db, rules_table, rules_table, [Rule("a", "age > 0"), Rule("a", "age < 0")])


def test_summary_and_distances_name_a_missing_column(db, rules_table):
    spec = ss.describe(db, rules_table)
    with pytest.raises(ss.ColumnNotFoundError, match=r"Column 'agee' is not in table .*Did you mean 'age'"):
        column_distances(db, rules_table, rules_table, spec, columns=["agee"])
    with pytest.raises(ss.ColumnNotFoundError, match=r"Column 'py010n' is not in table 'mixed'"):
        column_summary(db, rules_table, "mixed", spec)


def test_plausibility_flags_a_spread_out_amount_and_missing_values(db, fresh_name):
    """A synthetic cps1988 whose wage is stretched above its median and whose experience lost a tenth of its values:
    the flags and ratios equal pandas' on the same rows; the unchanged columns are plausible."""
    import ibis

    real = db.table("cps1988")
    median = float(real.wage.median().execute())
    changed = real.mutate(
        wage=ibis.ifelse(real.wage > median, real.wage * 3, real.wage),
        experience=ibis.ifelse(real.experience % 10 == 3, ibis.null("int64"), real.experience),
    )
    db.backend.create_table(fresh_name, changed)
    spec = ss.describe(db, "cps1988")
    rows = fitness.plausibility(column_summary(db, "cps1988", fresh_name, spec)).set_index(["metric", "scope"])
    a, b = real.to_pandas(), db.table(fresh_name).to_pandas()
    assert rows.loc[("mean_ratio", "wage"), "value"] == pytest.approx(b.wage.mean() / a.wage.mean(), rel=1e-12)
    assert rows.loc[("sd_ratio", "wage"), "value"] == pytest.approx(b.wage.std() / a.wage.std(), rel=1e-12)
    assert rows.loc[("null_share_difference", "experience"), "value"] == pytest.approx(b.experience.isna().mean())
    assert "mean ratio" in rows.loc[("mean_ratio", "wage"), "detail"]
    assert "NULL share" in rows.loc[("null_share_difference", "experience"), "detail"]
    assert rows.loc[("mean_ratio", "education"), "detail"] == "plausible"
    summary = rows.loc[("implausible_columns", "table")]
    assert summary["value"] == 2 and summary["detail"].startswith("wage: mean ratio")


def test_missingness_blocks_equal_pandas_and_flag_a_lost_pattern(db, fresh_name):
    """eusilc's ten personal-income and activity columns are NULL together (children): an independent model that
    is not told about the block keeps each column's NULL share but never the block; the blocks and shares equal
    pandas' on the same rows."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifierColumnWarning)
        spec = ss.describe(db, "eusilc")
    model = ss.fit(db, "eusilc", method="independent", spec=spec, seed=1)
    model.null_blocks = ()  # as models were before they kept the blocks they found
    ss.materialize(db, model, fresh_name, seed=1)
    rows = fitness.missingness_blocks(db, "eusilc", fresh_name, spec)
    real, synthetic = db.table("eusilc").to_pandas(), db.table(fresh_name).to_pandas()
    nullable = [c.name for c in spec.modelled if real[c.name].isna().any()]
    pattern = real[nullable].isna()
    expected = [[b for b in nullable if (pattern[a] == pattern[b]).all()] for a in nullable]
    blocks = sorted({tuple(b) for b in expected if len(b) > 1})
    assert [tuple(s.split(", ")) for s in rows["scope"]] == blocks and len(blocks) == 1
    block = list(blocks[0])
    share = synthetic[block].isna().all(axis=1).mean() - real[block].isna().all(axis=1).mean()
    assert rows["value"].iloc[0] == pytest.approx(share, abs=1e-12) and share < -0.15
    assert rows["detail"].iloc[0].endswith("(more than 1% apart)")
