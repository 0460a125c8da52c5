from __future__ import annotations

import warnings

import numpy as np
import pytest

import synthsql as ss
from synthsql.schema import Bin, ColumnSpec, IdentifierColumnWarning, TableSpec
from tests.conftest import mixed_table, table_names
from tests.test_aggregates import inverse_cdf


def describe_quietly(db, table, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifierColumnWarning)
        return ss.describe(db, table, **kwargs)


def test_kinds_null_shares_and_domains_match_pandas(db):
    spec = describe_quietly(db, "mixed")
    frame = mixed_table().to_pandas()
    kinds = {c.name: c.kind for c in spec.columns}
    assert kinds == {
        "person_id": "identifier",
        "region": "categorical",
        "employed": "boolean",
        "age": "integer",
        "children": "integer",
        "income": "numeric",
        "born": "date",
        "seen": "timestamp",
    }
    assert spec.n_rows == len(frame)
    for col in spec.columns:
        assert col.null_share == pytest.approx(frame[col.name].isna().mean(), abs=0)
    region = spec.column("region")
    assert region.categories == tuple(sorted(frame["region"].dropna().unique()))  # "" is a category, not NULL
    assert spec.column("employed").categories == (False, True)
    children = spec.column("children")
    assert [b.lo for b in children.bins] == [0, 1, 2, 3] and all(b.is_point for b in children.bins)


def test_quantile_bins_follow_the_data(db):
    spec = describe_quietly(db, "mixed", max_bins=10)
    income = spec.column("income")
    values = mixed_table().to_pandas()["income"].dropna().to_numpy()
    points = [b.lo for b in income.bins if b.is_point]
    assert points == [0.0]  # a quarter of the incomes are exactly zero: a point bin of their own
    edges = sorted({b.lo for b in income.bins} | {b.hi for b in income.bins})
    expected = sorted(set(inverse_cdf(values, np.linspace(0, 1, 11).round(10)).tolist()) | {0.0})
    assert edges == expected  # discrete quantiles: values of the data, the same bits on every backend
    age = spec.column("age")  # 74 whole-number values: whole-number edges, the top one closed
    assert all(float(b.lo).is_integer() and float(b.hi).is_integer() for b in age.bins)
    assert age.bins[0].lo == values_min(db, "age") and age.bins[-1].hi == values_max(db, "age")


def values_min(db, column):
    return db.table("mixed")[column].min().execute()


def values_max(db, column):
    return db.table("mixed")[column].max().execute()


def test_identifier_columns_warn_and_say_how_to_model_them(db):
    with pytest.warns(IdentifierColumnWarning, match=r"'person_id'.*columns=\{'person_id': \{'kind': 'integer'\}\}"):
        spec = ss.describe(db, "mixed")
    assert spec.column("person_id").kind == "identifier"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spec = ss.describe(db, "mixed", columns={"person_id": {"kind": "integer"}})
    assert spec.column("person_id").kind == "integer"


def test_overrides_roles_and_exclusions(db):
    spec = describe_quietly(
        db,
        "mixed",
        keys=["age", "region"],
        sensitive=["income"],
        exclude=["seen"],
        columns={"region": {"categories": ["north", "south"]}, "age": {"bins": [[16, 40], [40, 65], [65, 89]]}},
    )
    assert spec.keys() == ["region", "age"] and spec.sensitive() == ["income"]
    assert spec.column("seen").kind == "excluded"
    assert spec.column("region").categories == ("north", "south")
    assert spec.column("age").bins == (Bin(16, 40), Bin(40, 65), Bin(65, 89))
    declared = ColumnSpec(name="children", kind="categorical", categories=("0", "1"))
    assert describe_quietly(db, "mixed", columns={"children": declared}).column("children") == declared


def test_spec_json_round_trip(db):
    spec = describe_quietly(db, "eusilc", keys=["age", "rb090"])
    assert TableSpec.from_json(spec.to_json()) == spec


@pytest.mark.filterwarnings("ignore::synthsql.schema.IdentifierColumnWarning")
def test_bad_input_names_what_is_at_fault(db):
    before = table_names(db)
    with pytest.raises(ss.TableNotFoundError, match="'eusilcc'"):
        ss.describe(db, "eusilcc")
    with pytest.raises(ss.ColumnNotFoundError, match=r"'agee' \(in keys\).*Did you mean 'age'"):
        ss.describe(db, "mixed", keys=["agee"])
    with pytest.raises(ss.InvalidParameterError, match="both a key and sensitive"):
        ss.describe(db, "mixed", keys=["age"], sensitive=["age"])
    with pytest.raises(ss.InvalidParameterError, match="unknown kind 'categorial'.*Did you mean 'categorical'"):
        ss.describe(db, "mixed", columns={"region": {"kind": "categorial"}})
    with pytest.raises(ss.InvalidParameterError, match="lists the category 'a' twice"):
        ss.describe(db, "mixed", columns={"region": {"categories": ["a", "b", "a"]}})
    assert table_names(db) == before


ODD_TABLES = {
    "duckdb": [
        "CREATE TABLE odd_empty (x INTEGER, g VARCHAR)",
        "CREATE TABLE odd_one AS SELECT 1 AS x, 'a' AS g",
        "CREATE TABLE odd_nulls AS SELECT i AS x, CAST(NULL AS DOUBLE) AS blank FROM range(10) r(i)",
        "CREATE TABLE odd_blob AS SELECT i AS x, CAST('ab' AS BLOB) AS payload FROM range(10) r(i)",
        "CREATE TABLE odd_list AS SELECT i AS x, [i, i] AS pair FROM range(10) r(i)",
        "CREATE TABLE odd_struct AS SELECT i AS x, {'a': i} AS rec FROM range(10) r(i)",
    ],
    "postgres": [
        "CREATE TABLE odd_empty (x INTEGER, g TEXT)",
        "CREATE TABLE odd_one AS SELECT 1 AS x, 'a' AS g",
        "CREATE TABLE odd_nulls AS SELECT i AS x, NULL::float8 AS blank FROM generate_series(1, 10) i",
        "CREATE TABLE odd_blob AS SELECT i AS x, 'ab'::bytea AS payload FROM generate_series(1, 10) i",
        "CREATE TABLE odd_list AS SELECT i AS x, ARRAY[i, i] AS pair FROM generate_series(1, 10) i",
        "CREATE TABLE odd_struct AS SELECT i AS x, '{}'::jsonb AS rec FROM generate_series(1, 10) i",
    ],
}


@pytest.fixture
def odd_tables(db):
    """Tables that cannot be modelled: empty, one row, an all-NULL column, unsupported types."""
    for statement in ODD_TABLES[db.dialect]:
        db.backend.raw_sql(statement)
    yield
    for name in ("odd_empty", "odd_one", "odd_nulls", "odd_blob", "odd_list", "odd_struct"):
        db.backend.drop_table(name)


def test_tables_that_cannot_be_modelled(db, odd_tables):
    before = table_names(db)
    with pytest.raises(ss.EmptyTableError, match="'odd_empty' is empty"):
        ss.describe(db, "odd_empty")
    with pytest.raises(ss.EmptyTableError, match="'odd_one' has 1 row"):
        ss.describe(db, "odd_one")
    with pytest.raises(ss.EmptyTableError, match=r"Column 'blank' .* is NULL in every row.*exclude=\['blank'\]"):
        ss.describe(db, "odd_nulls")
    for table, column in (("odd_blob", "payload"), ("odd_list", "pair"), ("odd_struct", "rec")):
        with pytest.raises(ss.UnsupportedTypeError, match=f"Column '{column}' of table '{table}'"):
            ss.describe(db, table)
        spec = ss.describe(db, table, exclude=[column])
        assert spec.column(column).kind == "excluded"
    assert table_names(db) == before
