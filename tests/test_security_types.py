"""Values at the edges of their types, end to end (describe, fit, materialize, evaluate) on DuckDB and PostgreSQL.

Each case was seen in the field: NaN and infinities crashed the quantile search, BIGINT near the int64 maximum came
back as its minimum, BIGINT above 2**53 lost precision below the source minimum, UBIGINT >= 2**62 failed at write,
DATE 'infinity' turned into NULL silently, an all-numeric table broke the default ``evaluate``. The answer is exact
integers end to end, NaN/inf kept as special values at their share, or a clear error naming the column.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

import synthsql as ss
from tests.conftest import table_names

ROWS = 400
METHODS = ["independent", "bayesnet"]


def create(db: ss.Database, name: str, sql_type: str, values: list[str]) -> None:
    """A one-column table ``x`` of ``sql_type`` holding the literal ``values`` (SQL text the test writes itself)."""
    db.raw.execute(f"CREATE TABLE {name} (x {sql_type})")
    rows = ", ".join(f"({v})" for v in values)
    db.raw.execute(f"INSERT INTO {name} VALUES {rows}")
    if db.dialect == "postgres":
        db.raw.commit()


def synthesize(db: ss.Database, source: str, target: str, method: str, rows: int = ROWS) -> pa.Table:
    """Fit and write ``source``'s column ``x``, modelled whatever its number of distinct values."""
    spec = ss.describe(db, source, columns={"x": {"kind": "integer"}}) if db.table(source).schema()["x"].is_integer() else None
    model = ss.fit(db, source, method=method, spec=spec, seed=7)
    ss.materialize(db, model, target, rows=rows, seed=7)
    return db.table(target).to_pyarrow()


def column_type(db: ss.Database, table: str) -> str:
    return str(db.table(table).schema()["x"])


# --------------------------------------------------------------------------------------------------------------
# NaN and infinities in a DOUBLE column
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_nan_and_infinities_are_kept_at_their_share(db, fresh_name, method):
    nan, inf = ("'NaN'::DOUBLE PRECISION", "'Infinity'::DOUBLE PRECISION")
    values = (
        [f"{i}.5" for i in range(300)] + [nan] * 50 + [inf] * 30 + [f"-{inf}"] * 20
    )
    create(db, fresh_name, "DOUBLE PRECISION", values)
    spec = ss.describe(db, fresh_name)
    assert spec.column("x").specials == ("-inf", "inf", "nan")
    out = synthesize(db, fresh_name, fresh_name + "_s", method, rows=4000)
    x = np.asarray(out.column("x").to_pylist(), dtype=np.float64)
    shares = {"nan": np.isnan(x).mean(), "inf": (x == np.inf).mean(), "-inf": (x == -np.inf).mean()}
    for name, expected in {"nan": 50 / 400, "inf": 30 / 400, "-inf": 20 / 400}.items():
        assert abs(shares[name] - expected) < 0.03, (name, shares)
    finite = x[np.isfinite(x)]
    assert finite.min() >= 0.5 and finite.max() <= 299.5


def test_a_column_of_special_values_only_is_refused_by_name(db, fresh_name):
    create(db, fresh_name, "DOUBLE PRECISION", ["'NaN'::DOUBLE PRECISION", "NULL"])
    with pytest.raises(ss.SynthsqlError, match=r"Column 'x' .*no finite value"):
        ss.describe(db, fresh_name)


# --------------------------------------------------------------------------------------------------------------
# Whole numbers beyond what a double holds exactly
# --------------------------------------------------------------------------------------------------------------
INT64_MAX, INT64_MIN = 2**63 - 1, -(2**63)


@pytest.mark.parametrize("method", METHODS)
def test_bigint_at_the_ends_of_int64_comes_back_exact(db, fresh_name, method):
    source = [INT64_MIN, INT64_MIN + 1, -5, 0, 7, INT64_MAX - 1, INT64_MAX] * 40
    create(db, fresh_name, "BIGINT", [str(v) for v in source])
    out = synthesize(db, fresh_name, fresh_name + "_s", method)
    assert column_type(db, fresh_name + "_s") == column_type(db, fresh_name)
    x = out.column("x").to_pylist()
    assert all(isinstance(v, int) and INT64_MIN <= v <= INT64_MAX for v in x)
    # the extremes are drawn (no wrap from the maximum to the minimum through a double)
    assert INT64_MAX in x or INT64_MAX - 1 in x
    assert INT64_MIN in x or INT64_MIN + 1 in x
    high = [v for v in x if v > 2**62]
    assert high and all(v >= INT64_MAX - 1 for v in high), sorted(set(high))[:5]


@pytest.mark.parametrize("method", METHODS)
def test_bigint_above_two_to_the_53_keeps_its_precision(db, fresh_name, method):
    base = 2**53 + 1  # odd: not a double
    source = [base + 2 * i for i in range(ROWS)]
    create(db, fresh_name, "BIGINT", [str(v) for v in source])
    out = synthesize(db, fresh_name, fresh_name + "_s", method)
    x = out.column("x").to_pylist()
    assert min(x) >= base and max(x) <= source[-1], (min(x), max(x))
    assert len(set(x)) > 50
    # values are drawn from the source's spread, not only from the doubles near it
    assert any(v % 2 == 1 for v in x)


def test_ubigint_above_two_to_the_62_writes(duckdb_db, fresh_name):
    """UBIGINT is a DuckDB type (PostgreSQL has none)."""
    db = duckdb_db
    source = [2**62 + 3 * i for i in range(200)] + [2**64 - 1] * 10
    create(db, fresh_name, "UBIGINT", [str(v) for v in source])
    out = synthesize(db, fresh_name, fresh_name + "_s", "bayesnet")
    assert column_type(db, fresh_name + "_s") == column_type(db, fresh_name)
    x = out.column("x").to_pylist()
    assert min(x) >= 2**62 and max(x) <= 2**64 - 1


# --------------------------------------------------------------------------------------------------------------
# Dates and timestamps at infinity, NUL bytes
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sql_type", ["DATE", "TIMESTAMP"])
def test_infinite_dates_are_refused_naming_the_column(db, fresh_name, sql_type):
    create(db, fresh_name, sql_type, [f"'2020-01-0{d}'::{sql_type}" for d in range(1, 8)] + [f"'infinity'::{sql_type}"])
    before = table_names(db)
    with pytest.raises(ss.UnsupportedTypeError, match=r"Column 'x' .*infinity.*exclude=\['x'\]"):
        ss.describe(db, fresh_name)
    assert table_names(db) == before


def test_a_nul_byte_in_a_category_is_refused_naming_the_column(db, fresh_name):
    if db.dialect == "duckdb":
        create(db, fresh_name, "VARCHAR", ["'a'", "'b'", "'a' || chr(0) || 'b'"] * 10)
        with pytest.raises(ss.SynthsqlError, match=r"Column 'x'.*NUL byte"):
            ss.describe(db, fresh_name)
    # a declared domain is checked too (PostgreSQL text cannot hold NUL, so only declared values can carry one)
    with pytest.raises(ss.InvalidParameterError, match=r"Column 'x'.*NUL byte"):
        ss.ColumnSpec(name="x", kind="categorical", dtype="string", categories=("a", "a\x00b"), declared=True)


# --------------------------------------------------------------------------------------------------------------
# An all-numeric table through the default evaluation
# --------------------------------------------------------------------------------------------------------------
def test_an_all_numeric_table_evaluates_with_the_defaults(db, fresh_name):
    rng = np.random.default_rng(3)
    a = rng.normal(size=300)
    b = a * 2 + rng.normal(size=300)
    values = [f"{x:.6f}, {y:.6f}, {int(abs(y) * 100)}" for x, y in zip(a, b, strict=True)]
    db.raw.execute(f"CREATE TABLE {fresh_name} (a DOUBLE PRECISION, b DOUBLE PRECISION, c BIGINT)")
    db.raw.execute(f"INSERT INTO {fresh_name} VALUES " + ", ".join(f"({v})" for v in values))
    if db.dialect == "postgres":
        db.raw.commit()
    model = ss.fit(db, fresh_name, method="bayesnet", seed=1)
    ss.materialize(db, model, fresh_name + "_s", seed=1)
    result = ss.evaluate(db, real=fresh_name, synthetic=fresh_name + "_s", write=False)
    metrics = dict(zip(result.utility["metric"], result.utility["value"], strict=True))
    assert metrics and all(math.isfinite(v) for v in metrics.values() if v is not None), metrics
