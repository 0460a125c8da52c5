"""Conformance suite: every registered generator, on every backend, obeys the same contract."""

from __future__ import annotations

import dataclasses
import json
import math
import warnings

import pyarrow as pa
import pytest

import synthsql as ss
from synthsql.aggregates import AGGREGATE_METHODS, AggregateStore
from synthsql.generators import REGISTRY, Fitting, fully_synthetic, get_generator
from synthsql.privacy import Budget
from synthsql.model import Model
from synthsql.schema import NUMERIC_KINDS, IdentifierColumnWarning
from tests.conftest import read_sorted

METHODS = fully_synthetic()  # partial synthesis: tests/test_partial.py
PRIVATE = sorted(name for name, cls in REGISTRY.items() if getattr(cls, "private", False))
# DP methods run the same conformance suite, at a large epsilon and with quick settings
DP_PARAMS = {
    "mst": {"epsilon": 50.0, "iters": 300},
    "aim": {"epsilon": 50.0, "rounds": 8, "round_iters": 30, "iters": 200},
    "privbayes": {"epsilon": 50.0},
}


# cart grows 12 levels by default; eusilc's trees on both engines in the suite: 3 (tests/test_cart.py checks deeper ones)
QUICK = {"cart": {"max_depth": 3}}


def declared(spec: ss.TableSpec) -> ss.TableSpec:
    """The spec with every domain marked declared: the stand-in, in tests, for domains written in a catalog."""
    return dataclasses.replace(spec, columns=tuple(c.replace(declared=True) for c in spec.columns))


def fit_any(db, table, method, spec, seed):
    if method in PRIVATE:
        return ss.fit(db, table, method=method, spec=declared(spec), seed=seed, **DP_PARAMS[method])
    return ss.fit(db, table, method=method, spec=spec, seed=seed)


class AggregatesOnly:
    """A store that answers aggregate questions and nothing else: no table, no rows, no database."""

    __slots__ = ("_store",)

    def __init__(self, store: AggregateStore) -> None:
        object.__setattr__(self, "_store", store)

    def __getattr__(self, name: str):
        if name not in AGGREGATE_METHODS:
            raise AttributeError(f"fit asked the store for {name!r}, which is not an aggregate")
        return getattr(object.__getattribute__(self, "_store"), name)


@pytest.fixture(scope="module")
def mixed_spec(db):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifierColumnWarning)
        return ss.describe(db, "mixed", exclude=["children"])


@pytest.fixture(scope="module", params=METHODS)
def fitted(request, db, mixed_spec):
    model = fit_any(db, "mixed", request.param, mixed_spec, 11)
    target = f"mixed_{request.param}"
    ss.materialize(db, model, target, rows=3000, seed=5, replace=True)
    return request.param, model, target


def test_fit_reads_no_rows(db, mixed_spec):
    for method in METHODS:
        store = AggregateStore(db, "mixed", declared(mixed_spec) if method in PRIVATE else mixed_spec)
        params = {k: v for k, v in DP_PARAMS.get(method, {}).items() if k != "epsilon"}
        budget = Budget(50.0, 1e-9, noise="reproducible", noise_seed=0) if method in PRIVATE else None
        model = get_generator(method, **params).fit(AggregatesOnly(store), Fitting(seed=0, budget=budget))
        assert isinstance(model, Model)
        assert {kind for kind, _ in store.log} <= {"marginal", "bin_quantiles", "rank_correlation", "tree_histogram",
                                                  "tree_route"}


def test_names_and_types_are_the_sources(db, fitted):
    _, _, target = fitted
    assert db.table(target).schema() == db.table("mixed").schema()


def test_values_stay_in_domain(db, fitted, mixed_spec):
    method, _, target = fitted
    synth, real = db.table(target).to_pandas(), db.table("mixed").to_pandas()
    for col in mixed_spec.columns:
        values = synth[col.name].dropna()
        if col.kind in ("categorical", "boolean"):
            assert set(values) <= set(col.categories)
        elif col.kind in NUMERIC_KINDS:
            assert values.min() >= real[col.name].min() and values.max() <= real[col.name].max()
        elif col.kind == "identifier":
            assert list(synth[col.name].sort_values()) == list(range(1, len(synth) + 1))
        elif col.kind == "excluded":
            assert synth[col.name].isna().all()
    ages = synth["age"].dropna()  # (a DP model may give the NULL cell a little noisy mass)
    assert (ages == ages.round()).all()  # integers stay integers
    incomes = synth["income"].dropna()
    assert incomes.nunique() > 100  # drawn within bins, not a few spikes
    if method != "uniform":  # uniform keeps the domain, not the distribution
        assert (incomes == 0).mean() == pytest.approx((real["income"].dropna() == 0).mean(), abs=0.05)


def test_null_shares_within_sampling_error(db, fitted, mixed_spec):
    method, _, target = fitted
    synth = db.table(target).to_pandas()
    n = len(synth)
    noise = 0.02 if method in PRIVATE else 0.0  # DP: the NULL cell's count is noisy too (400 source rows)
    for col in mixed_spec.modelled:
        p = col.null_share
        tolerance = 4 * math.sqrt(p * (1 - p) / n) + 1 / n + noise
        assert abs(synth[col.name].isna().mean() - p) <= tolerance, col.name


def test_categories_keep_their_spelling(db, fitted):
    _, _, target = fitted
    regions = set(db.table(target).region.to_pandas().dropna())
    assert "" in regions and {"north", "south"} <= regions  # the empty string stays a category, not NULL


def test_same_seed_same_table(db, fitted):
    method, model, target = fitted
    again = f"{target}_again"
    ss.materialize(db, model, again, rows=3000, seed=5, replace=True)
    first, second = read_sorted(db, target), read_sorted(db, again)
    assert first.equals(second)
    different = model.to_arrow(3000, seed=6)
    assert not different.equals(model.to_arrow(3000, seed=5))


def test_json_round_trip_gives_the_same_sample(fitted, tmp_path):
    method, model, _ = fitted
    path = model.save(tmp_path / "model.json")
    loaded = ss.load(path)
    assert loaded.to_arrow(2000, seed=9).equals(model.to_arrow(2000, seed=9))
    assert json.loads(path.read_text())["generator"] == method
    assert loaded.to_json() == json.loads(json.dumps(model.to_json()))


def test_streaming_batches(fitted):
    _, model, _ = fitted
    batches = list(model.sample(2500, seed=1, batch_rows=1000))
    assert [b.num_rows for b in batches] == [1000, 1000, 500]
    identifiers = pa.concat_arrays([b.column("person_id") for b in batches]).to_pylist()
    assert identifiers == list(range(1, 2501))


@pytest.mark.parametrize("bad", [0, -3, 2.5, "10", True])
def test_bad_row_counts(fitted, bad):
    _, model, _ = fitted
    with pytest.raises(ss.InvalidParameterError, match="positive integer"):
        next(model.sample(bad))


def test_unknown_method_and_bad_parameters():
    with pytest.raises(ss.InvalidParameterError, match="Unknown method 'bayesnett'. Did you mean 'bayesnet'"):
        get_generator("bayesnett")
    with pytest.raises(ss.InvalidParameterError, match="The 'degree' parameter of bayesnet must be an int >= 1. Got 0"):
        get_generator("bayesnet", degree=0)
    with pytest.raises(ss.InvalidParameterError, match="Method 'copula' has no parameter 'degree'. Its parameters: none"):
        get_generator("copula", degree=2)
    with pytest.raises(ss.InvalidParameterError, match="no parameter 'degre'. Did you mean 'degree'"):
        get_generator("bayesnet", degre=2)


@pytest.mark.postgres
@pytest.mark.parametrize("method", sorted(set(METHODS) - set(PRIVATE)))  # DP: tests/test_privacy.py
def test_duckdb_and_postgres_give_the_same_model_and_rows(duckdb_db, postgres_db, method):
    models = []
    for database in (duckdb_db, postgres_db):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", IdentifierColumnWarning)
            spec = ss.describe(database, "eusilc")
        models.append(ss.fit(database, "eusilc", method=method, spec=spec, seed=3, **QUICK.get(method, {})))
    assert models[0].to_json() == models[1].to_json()
    assert models[0].to_arrow(5000, seed=4).equals(models[1].to_arrow(5000, seed=4))
