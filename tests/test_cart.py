"""CART trees grown in the database are scikit-learn's trees on the same binned data.

A small table with a structure a tree finds (wages by age, sex and hours; employment by age) is fitted with
``method="cart"``; each column's tree is compared node by node with ``DecisionTreeClassifier`` (Gini) or
``DecisionTreeRegressor`` (squared error) fitted on the same cell codes, the regression target valued as the model
values its cells, with ``min_samples_leaf = minbucket``, the same ``max_depth`` and ``min_impurity_decrease = cp x
root impurity``. Categorical predictors with more than two categories, which scikit-learn's trees do not split as
sets, are checked against every partition of their categories instead.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

import synthsql as ss
from synthsql.aggregates import AggregateStore
from synthsql.errors import InvalidParameterError
from synthsql.generators import Fitting, get_generator
from synthsql.generators.cart import CartModel, cell_values
from synthsql.schema import NUMERIC_KINDS
from tests.test_generators import AggregatesOnly

COLUMNS = {
    "age": {"edges": [0, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 80, 91]},
    "sex": {"categories": ["F", "M"]},
    "hours": {"edges": [0, 10, 20, 30, 35, 40, 45, 50, 60, 80]},
    "employed": {"categories": [False, True]},
    "wage": {"edges": [0, 1, 500, 1000, 1500, 2000, 2500, 3000, 4000, 6000, 10000]},
}
MINBUCKET, MAX_DEPTH, CP = 15, 6, 1e-4


def work_table(n: int = 3000, seed: int = 7) -> pa.Table:
    rng = np.random.default_rng(seed)
    age = rng.integers(0, 91, size=n)
    sex = rng.choice(["F", "M"], size=n)
    employed = (age >= 16) & (age < 67) & (rng.random(n) < 0.85)
    hours = np.clip(rng.normal(np.where(sex == "M", 41, 33), 7), 1, 79).round(1)
    wage = np.where(employed, np.exp(6.2 + 0.02 * np.minimum(age, 55) + 0.25 * (sex == "M")) * hours / 8, 0.0)
    return pa.table({
        "age": pa.array(age.astype(np.int32)),
        "sex": pa.array(sex.tolist()),
        "hours": pa.array(hours, mask=~employed | (rng.random(n) < 0.05)),  # and 5 % item non-response
        "employed": pa.array(employed),
        "wage": pa.array(np.clip(wage, 0, 9999).round(2)),
    })


@pytest.fixture(scope="module")
def work(db):
    ss.write_table(db, "cart_work", work_table(), replace=True)
    spec = ss.describe(db, "cart_work", columns=COLUMNS)
    model = ss.fit(db, "cart_work", method="cart", spec=spec, seed=3, minbucket=MINBUCKET, max_depth=MAX_DEPTH, cp=CP)
    return db, spec, model


def codes_of(spec: ss.TableSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """The cell code of every value, computed here from the declared domains (NULL: the NULL cell)."""
    out = {}
    for col in spec.modelled:
        x = frame[col.name]
        if col.kind in NUMERIC_KINDS:
            edges = [b.lo for b in col.bins] + [col.bins[-1].hi]
            code = np.searchsorted(edges, x.to_numpy(dtype=float), side="right") - 1
            code = np.where(x.to_numpy(dtype=float) == edges[-1], len(col.bins) - 1, code)
            out[col.name] = np.where(x.isna(), col.null_code, code)
        else:
            lookup = {v: i for i, v in enumerate(col.categories)}
            out[col.name] = x.map(lambda v: lookup.get(v, col.null_code)).to_numpy()
    return pd.DataFrame(out)


def same_tree(ours, theirs, cells_of, null_codes, node: int = 0, their: int = 0) -> None:
    """Node by node: the same leaves, predictors, cells going left (among those the node has) and row counts."""
    t = theirs.tree_
    assert ours.counts is not None
    leaf = ours.feature[node] < 0
    assert leaf == (t.children_left[their] == -1), f"node {node}: leaf here, split there (or the reverse)"
    if leaf:
        counts = ours.counts[ours.leaf[node]]
        assert counts.sum() == t.n_node_samples[their]
        return
    assert ours.feature[node] == t.feature[their], f"node {node}: split on another predictor"
    present = cells_of(node)  # the predictor cells the node's rows have
    left = {c for c in ours.goes_left[node] if c in present}
    null = null_codes[ours.feature[node]]
    expected = {c for c in present if c != null and c <= t.threshold[their]}
    if null in present and t.missing_go_to_left[their]:
        expected.add(null)
    assert left == expected, f"node {node}: another threshold"
    same_tree(ours, theirs, cells_of, null_codes, ours.left[node], t.children_left[their])
    same_tree(ours, theirs, cells_of, null_codes, ours.right[node], t.children_right[their])


def test_trees_equal_scikit_learns_on_the_same_cells(work):
    db, spec, model = work
    codes = codes_of(spec, db.table("cart_work").to_pandas())
    assert model.order == ["age", "sex", "hours", "employed", "wage"]
    compared = 0
    for i, target in enumerate(model.order[1:], start=1):
        predictors = model.order[:i]
        x, col = codes[predictors].to_numpy(), spec.column(target)
        if (codes[target] == col.null_code).any():
            continue  # a numeric target with NULLs: its criterion adds their Gini (below), which scikit-learn has not
        if col.kind in NUMERIC_KINDS:
            y = cell_values(col, model.quantiles[target])[codes[target]]
            root = y.var()
            sk = DecisionTreeRegressor(min_samples_leaf=MINBUCKET, max_depth=MAX_DEPTH, min_impurity_decrease=CP * root,
                                       random_state=0)
        else:
            y = codes[target].to_numpy()
            share = np.bincount(y) / len(y)
            root = 1 - (share**2).sum()
            sk = DecisionTreeClassifier(min_samples_leaf=MINBUCKET, max_depth=MAX_DEPTH, min_impurity_decrease=CP * root,
                                        random_state=0)
        nulls = [spec.column(p).null_code for p in predictors]
        sk.fit(np.where(x == np.array(nulls), np.nan, x.astype(float)), y)  # NULL: a missing value
        tree = model.trees[target]

        def cells_of(node, tree=tree, x=x):
            return set(np.unique(x[_rows_at(tree, node, x), tree.feature[node]]).tolist())

        same_tree(tree, sk, cells_of, nulls)
        assert tree.leaves == sk.get_n_leaves()
        compared += tree.leaves
    assert compared > 30


def _rows_at(tree, node: int, x: np.ndarray) -> np.ndarray:
    """The rows whose route down our tree passes through ``node``."""
    at = np.zeros(len(x), dtype=np.int64)
    reached = at == node
    for _ in range(64):
        inner = tree.feature[at] >= 0
        if not inner.any():
            break
        go = np.array([c in tree.goes_left[n] for n, c in zip(at, x[np.arange(len(x)), np.maximum(tree.feature[at], 0)])])
        at = np.where(inner, np.where(go, tree.left[at], tree.right[at]), at)
        reached |= at == node
    return reached


def test_categorical_split_is_the_best_partition(duckdb_db):
    """A regression tree's split on a many-category predictor is the best of every binary partition."""
    rng = np.random.default_rng(5)
    n = 4000
    region = rng.choice(list("abcdefg"), size=n)
    effect = dict(zip("abcdefg", [5.0, 1.0, 9.0, 2.0, 7.0, 1.5, 8.0], strict=True))
    y = np.array([effect[r] for r in region]) + rng.normal(0, 1.0, n)
    ss.write_table(duckdb_db, "cart_regions", pa.table({"region": region.tolist(), "y": y}), replace=True)
    spec = ss.describe(duckdb_db, "cart_regions")
    model = ss.fit(duckdb_db, "cart_regions", method="cart", spec=spec, max_depth=1, minbucket=10)
    tree = model.trees["y"]
    col = spec.column("region")
    value = cell_values(spec.column("y"), model.quantiles["y"])
    codes = codes_of(spec, duckdb_db.table("cart_regions").to_pandas())
    v = value[codes["y"]]
    frame = pd.DataFrame({"r": codes["region"], "v": v})

    def sse(cells):
        inside = frame.r.isin(cells)
        return sum(((part.v - part.v.mean()) ** 2).sum() for part in (frame[inside], frame[~inside]) if len(part))

    present = sorted(frame.r.unique())
    best = min(sse(set(c)) for k in range(1, len(present)) for c in itertools.combinations(present, k))
    assert tree.feature[0] == 0 and len(col.categories) == 7
    assert sse(set(tree.goes_left[0]) & set(present)) == pytest.approx(best, rel=1e-12)


def test_models_are_identical_on_duckdb_and_postgres(duckdb_db, postgres_db):
    models = []
    for db in (duckdb_db, postgres_db):
        ss.write_table(db, "cart_work", work_table(), replace=True)
        spec = ss.describe(db, "cart_work", columns=COLUMNS)
        models.append(ss.fit(db, "cart_work", method="cart", spec=spec, seed=3, minbucket=MINBUCKET, max_depth=MAX_DEPTH))
    a, b = (m.to_json() for m in models)
    a.pop("synthsql"), b.pop("synthsql")
    assert a == b


def test_fit_reads_no_rows_and_spends_a_fixed_number_of_statements_per_level(work):
    db, spec, _ = work
    store = AggregateStore(db, "cart_work", spec)
    model = get_generator("cart", minbucket=MINBUCKET, max_depth=MAX_DEPTH, cp=CP).fit(AggregatesOnly(store),
                                                                                       Fitting(seed=0))
    assert isinstance(model, CartModel)
    routes = [cols for kind, cols in store.log if kind == "tree_route"]
    assert 1 <= len(routes) <= MAX_DEPTH - 1  # one routing statement a level (the last level needs none)
    kinds = {kind for kind, _ in store.log}
    assert kinds <= {"marginal", "bin_quantiles", "tree_histogram", "tree_route"}
    assert not [t for t in db.list_tables() if t.startswith("_synthsql_")]  # temporary tables dropped


def test_sample_keeps_the_structure(work):
    db, spec, model = work
    synth = model.to_pandas(20_000, seed=1)
    assert not ((synth.age < 15) & (synth.wage > 0)).any()  # no child with a wage: every leaf says so
    assert synth.hours[~synth.employed].isna().all()  # no hours where not employed
    # hours' tree (on age and sex) counts its NULLs as a class beside the variance: children get no hours
    assert synth.hours[synth.age < 15].isna().all()
    real = db.table("cart_work").to_pandas()
    assert synth.hours.isna().mean() == pytest.approx(real.hours.isna().mean(), abs=0.02)
    for name in ("wage", "hours"):
        assert synth[name].mean() == pytest.approx(real[name].mean(), rel=0.05)
    again = model.to_pandas(20_000, seed=1)
    pd.testing.assert_frame_equal(synth, again)
    loaded = ss.Model.from_json(model.to_json())
    pd.testing.assert_frame_equal(loaded.to_pandas(5000, seed=2), model.to_pandas(5000, seed=2))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"visit": ["wage", "nope"]}, "'visit' parameter of cart names 'nope'"),
        ({"visit": ["wage", "age", "wage"]}, "names 'wage' more than once"),
        ({"minbucket": 0}, "'minbucket' parameter of cart must be an int >= 1"),
        ({"max_depth": 0}, "'max_depth' parameter of cart must be an int >= 1"),
        ({"cp": 1.5}, "'cp' parameter of cart"),
    ],
)
def test_bad_parameters_are_refused_before_anything_is_written(work, params, message, fresh_name):
    db, spec, _ = work
    before = set(db.list_tables())
    with pytest.raises(InvalidParameterError, match=message):
        ss.fit(db, "cart_work", method="cart", spec=spec, **params)
    assert set(db.list_tables()) == before


def test_visit_sequence_is_followed(work):
    db, spec, _ = work
    model = ss.fit(db, "cart_work", method="cart", spec=spec, visit=["wage", "employed"], max_depth=3)
    assert model.order == ["wage", "employed", "age", "sex", "hours"]
    assert model.parents["age"] == ["wage", "employed"]
    assert model.trees["wage"].leaves == 1


def test_rows_reach_the_leaves_the_tree_sends_them_to_with_many_cells(db):
    """Past 63 cells a split's cells take several words: the database routes every row where the tree says."""
    rng = np.random.default_rng(11)
    n = 6000
    k = rng.integers(0, 70, size=n)
    y = (k % 7) * 3.0 + (k > 50) * 10 + rng.normal(0, 0.5, n)
    ss.write_table(db, "cart_many", pa.table({"k": [f"k{v:02d}" for v in k], "y": y}), replace=True)
    spec = ss.describe(db, "cart_many", columns={"k": {"kind": "categorical"}})
    model = ss.fit(db, "cart_many", method="cart", spec=spec, max_depth=4, minbucket=10, max_predictor_categories=100)
    tree = model.trees["y"]
    assert spec.column("k").cells == 71 and tree.leaves > 4
    codes = codes_of(spec, db.table("cart_many").to_pandas())
    x = codes[["k"]].to_numpy()
    reached = np.zeros(len(x), dtype=np.int64)
    for node in np.flatnonzero(tree.feature < 0):
        reached[_rows_at(tree, node, x)] = tree.leaf[node]
    expected = np.zeros_like(tree.counts)
    np.add.at(expected, (reached, codes["y"].to_numpy()), 1)
    np.testing.assert_array_equal(tree.counts, expected)
    fewer = ss.fit(db, "cart_many", method="cart", spec=spec, max_depth=4, minbucket=10)  # k: 70 categories > 60
    assert fewer.parents["y"] == [] and fewer.trees["y"].leaves == 1


def test_proper_fits_on_bootstrap_weights_the_same_on_every_engine(duckdb_db, postgres_db):
    """``proper=True``: the trees are grown on Poisson(1) bootstrap weights hashed from each row and the seed, so
    the model differs from the plain fit, counts about as many rows, and is the same on DuckDB and PostgreSQL."""
    models = []
    for db in (duckdb_db, postgres_db):
        ss.write_table(db, "cart_work", work_table(), replace=True)
        spec = ss.describe(db, "cart_work", columns=COLUMNS)
        models.append(ss.fit(db, "cart_work", method="cart", spec=spec, seed=3, minbucket=MINBUCKET,
                             max_depth=MAX_DEPTH, proper=True))
    a, b = (m.to_json() for m in models)
    a.pop("synthsql"), b.pop("synthsql")
    assert a == b
    plain = ss.fit(duckdb_db, "cart_work", method="cart", spec=spec, seed=3, minbucket=MINBUCKET, max_depth=MAX_DEPTH)
    proper = models[0]
    n = spec.n_rows
    for name in proper.order:
        total = int(proper.trees[name].counts.sum())
        assert total != n and abs(total - n) < 5 * np.sqrt(n)  # Poisson weights: n +- a few sqrt(n)
        assert total == int(proper.trees[proper.order[0]].counts.sum())  # the same weights for every tree
    assert proper.to_json()["state"] != plain.to_json()["state"]
    again = ss.fit(duckdb_db, "cart_work", method="cart", spec=spec, seed=3, minbucket=MINBUCKET, max_depth=MAX_DEPTH,
                   proper=True)
    assert again.to_json()["state"] == proper.to_json()["state"]
