"""Model files are input: an edited, truncated or forged model is refused whole, with the field's JSON path.

Every case starts from a real fitted model (DuckDB, the ``mixed`` test table), changes one thing, and checks that
:meth:`synthsql.Model.from_json` raises :class:`synthsql.ModelFormatError` naming the field, never a raw Python
error, and never a model that would publish a false privacy ledger or sample silently from nonsense.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import time
import tracemalloc
import warnings
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import synthsql as ss
from synthsql import model_format
from synthsql.cli import EXIT_FAILED, main
from synthsql.generators import REGISTRY, fully_synthetic
from synthsql.holdout import Holdout
from synthsql.privacy import Budget, cdp_rho
from synthsql.schema import IdentifierColumnWarning
from tests.conftest import mixed_table

PRIVATE = sorted(name for name, cls in REGISTRY.items() if getattr(cls, "private", False))
DELETE = object()


# --------------------------------------------------------------------------------------------------------------
# Fitted models to tamper with
# --------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def con() -> ss.Database:
    database = ss.connect("duckdb://")
    ss.write_table(database, "mixed", mixed_table(300))
    return database


@pytest.fixture(scope="module")
def spec(con) -> ss.TableSpec:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifierColumnWarning)
        return ss.describe(con, "mixed", exclude=["children"])


def declared(spec: ss.TableSpec) -> ss.TableSpec:
    return dataclasses.replace(spec, columns=tuple(c.replace(declared=True) for c in spec.columns))


def as_json(model: ss.Model) -> dict[str, Any]:
    return json.loads(json.dumps(model.to_json(), allow_nan=False))


@pytest.fixture(scope="module")
def saved(con, spec) -> dict[str, dict[str, Any]]:
    """The JSON of a fitted model per generator (mst and aim share privbayes' state format; see ``graphical``)."""
    out = {m: as_json(ss.fit(con, "mixed", method=m, spec=spec, seed=1)) for m in ("independent", "uniform", "copula",
                                                                                    "bayesnet")}
    out["privbayes"] = as_json(ss.fit(con, "mixed", method="privbayes", spec=declared(spec), epsilon=50.0, seed=1))
    out["partial"] = as_json(ss.fit(con, "mixed", synthesize=["income", "employed"], spec=spec, id="person_id"))
    split = Holdout(0.2, seed=3)
    out["holdout"] = as_json(ss.fit(con, "mixed", method="independent", spec=spec, seed=1, holdout=split))
    # the same state under the other graphical generators, with their own parameters: no JAX fit needed
    out["mst"] = {**copy.deepcopy(out["privbayes"]), "generator": "mst", "params": {"iters": 100}}
    out["aim"] = {**copy.deepcopy(out["privbayes"]), "generator": "aim",
                  "params": {"degree": 3, "rounds": 8, "max_model_size": 80.0, "iters": 100, "round_iters": 10}}
    for data in out.values():
        ss.Model.from_json(data)  # every starting point is valid: a refusal below is the change's doing
    return out


def hand_ledger(epsilon: float = 1.0, delta: float = 1e-9, reserved: float = 0.0) -> dict[str, Any]:
    """A consistent privacy block in the lead's format, built by hand (not by a fit)."""
    rho = cdp_rho(epsilon, delta - reserved)
    sigma = Budget.sigma_for(rho / 4)
    select = math.sqrt(8 * rho / 4) * (1 - 1e-12)

    def gaussian(step: str, columns: list[str], mechanism: str = "gaussian", delta_: float | None = None) -> dict:
        return {"step": step, "columns": columns, "mechanism": mechanism, "rho": 1.0 / (2.0 * sigma**2),
                "sigma": sigma, "epsilon": None, "delta": delta_}

    ledger = [
        gaussian("1-way marginal", ["region"]),
        {"step": "select parents", "columns": [], "mechanism": "exponential", "rho": select**2 / 8.0, "sigma": None,
         "epsilon": select, "delta": None},
        gaussian("joint table", ["region", "age"]),
    ]
    if reserved:
        ledger.append(gaussian("domain: categories", ["region"], "gaussian threshold", reserved / 2))
    return {"epsilon": epsilon, "delta": delta, "delta_reserved": reserved, "rho": rho, "noise": "private",
            "differentially_private": True, "ledger": ledger}


def changed(data: dict[str, Any], path: tuple[Any, ...], value: Any = DELETE) -> dict[str, Any]:
    """A deep copy of ``data`` with the value at ``path`` deleted, replaced, or (a callable) computed from the old."""
    out = copy.deepcopy(data)
    *head, last = path
    node = out
    for key in head:
        node = node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value(node[last]) if callable(value) else value
    return out


def refused(data: Any, *fragments: str) -> str:
    with pytest.raises(ss.ModelFormatError) as info:
        ss.Model.from_json(data)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def jpath(path: tuple[Any, ...]) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path).lstrip(".")


def first(values: list[Any], new: Any) -> list[Any]:
    return [new, *values[1:]]


def cell(matrix: list[list[Any]], i: int, j: int, value: Any) -> list[list[Any]]:
    out = [list(row) for row in matrix]
    out[i][j] = value
    return out


def count_cell(data: dict[str, Any], column: str) -> tuple[Any, ...]:
    """The path of the table of ``column`` in a network model's state."""
    return ("state", "tables" if "tables" in data["state"] else "counts", column)


# --------------------------------------------------------------------------------------------------------------
# Round trips: every generator's fitted model still loads, identically
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", fully_synthetic())  # partial synthesis: tests/test_partial.py::test_save_and_load
def test_every_generators_fitted_model_round_trips(con, spec, method, tmp_path):
    small = dataclasses.replace(spec, columns=tuple(
        c if c.name in ("region", "employed", "age") else c.replace(kind="excluded", categories=None, bins=None)
        for c in spec.columns))
    params = {"mst": {"epsilon": 20.0, "iters": 50},
              "aim": {"epsilon": 20.0, "rounds": 4, "round_iters": 10, "iters": 20},
              "privbayes": {"epsilon": 20.0}}.get(method, {})
    model = ss.fit(con, "mixed", method=method, spec=declared(small) if method in PRIVATE else spec, seed=2, **params)
    data = as_json(model)
    assert ("privacy" in data) == (method in PRIVATE)
    loaded = ss.load(model.save(tmp_path / "m.json"))
    assert loaded.to_json() == data
    assert ss.Model.from_json(json.dumps(data)).to_json() == data  # the text itself, as read from a __model row
    assert loaded.to_arrow(200, seed=4).equals(model.to_arrow(200, seed=4))


def test_partial_holdout_and_hand_built_privacy_blocks_load(saved):
    for name in ("partial", "holdout"):
        assert ss.Model.from_json(saved[name]).to_json() == saved[name]
    for reserved in (0.0, 4e-10):
        data = {**saved["privbayes"], "privacy": hand_ledger(reserved=reserved)}
        assert ss.Model.from_json(data).privacy == data["privacy"]


# --------------------------------------------------------------------------------------------------------------
# The privacy block: a false ledger is refused
# --------------------------------------------------------------------------------------------------------------
@pytest.fixture
def dp(saved) -> dict[str, Any]:
    return {**copy.deepcopy(saved["privbayes"]), "privacy": hand_ledger(reserved=4e-10)}


@pytest.mark.parametrize(
    ("path", "value", "fragments"),
    [
        (("privacy", "epsilon"), 0.5, ["privacy.rho:", "was edited"]),  # epsilon edited, rho not
        (("privacy", "epsilon"), 10.0, ["privacy.rho:"]),
        (("privacy", "delta"), 1e-5, ["privacy.rho:"]),
        (("privacy", "delta_reserved"), 0.0, ["privacy.rho:"]),
        (("privacy", "rho"), lambda r: r * 2, ["privacy.rho:"]),
        (("privacy", "ledger", 2, "rho"), lambda r: r / 2, ["privacy.ledger[2].rho:", "1 / (2 sigma^2)"]),
        (("privacy", "ledger", 0, "sigma"), lambda s: s * 3, ["privacy.ledger[0].rho:"]),
        (("privacy", "ledger", 1, "rho"), lambda r: r / 10, ["privacy.ledger[1].rho:", "epsilon^2 / 8"]),
        (("privacy", "ledger", 1, "epsilon"), lambda e: e * 2, ["privacy.ledger[1].rho:"]),
        (("privacy", "ledger", 3, "delta"), 5e-10, ["privacy.ledger:", "delta_reserved"]),
        (("privacy", "ledger", 3, "delta"), None, ["privacy.ledger[3].delta:"]),
        (("privacy", "ledger", 0, "epsilon"), 1.0, ["privacy.ledger[0].epsilon: expected null"]),
        (("privacy", "ledger", 0, "sigma"), -1.0, ["privacy.ledger[0].sigma:"]),
        (("privacy", "ledger", 0, "sigma"), 1e-200, ["privacy.ledger[0].rho:"]),
        (("privacy", "ledger", 0, "sigma"), 1e200, ["privacy.ledger[0].rho:"]),
        (("privacy", "ledger", 0, "mechanism"), "laplace", ["privacy.ledger[0].mechanism:"]),
        (("privacy", "ledger", 0, "columns"), ["regoin"], ["privacy.ledger[0].columns[0]:", "Did you mean 'region'"]),
        (("privacy", "ledger", 0, "step"), 3, ["privacy.ledger[0].step:"]),
        (("privacy", "ledger"), [], ["privacy.ledger:"]),
        (("privacy", "ledger"), {"0": 1}, ["privacy.ledger:"]),
        (("privacy", "noise"), "seeded", ["privacy.noise:"]),
        (("privacy", "differentially_private"), False, ["privacy.differentially_private:"]),
        (("privacy", "differentially_private"), "yes", ["privacy.differentially_private:"]),
        (("privacy", "epsilon"), "1.0", ["privacy.epsilon: expected a finite number"]),  # a string for a number
        (("privacy", "epsilon"), math.inf, ["privacy.epsilon:"]),
        (("privacy", "epsilon"), -1.0, ["privacy.epsilon:"]),
        (("privacy", "delta"), 1.0, ["privacy.delta:"]),
        (("privacy", "delta_reserved"), 1e-9, ["privacy.delta_reserved:"]),
        (("privacy", "seeded"), False, ["privacy.seeded: unknown key"]),  # the old format
    ],
)
def test_a_false_privacy_block_is_refused(dp, path, value, fragments):
    refused(changed(dp, path, value), *fragments)


def test_spending_more_than_the_budget_is_refused(dp):
    # a smaller epsilon with its rho recomputed is a consistent block, but the ledger no longer fits in it
    smaller = {**dp["privacy"], "epsilon": 0.1, "rho": cdp_rho(0.1, 1e-9 - 4e-10)}
    refused({**dp, "privacy": smaller}, "privacy.ledger:", "more than the budget")
    line = dp["privacy"]["ledger"][0]
    refused(changed(dp, ("privacy", "ledger"), lambda ledger: ledger + [line] * 3), "privacy.ledger:")


def test_reproducible_noise_is_recorded_as_not_differentially_private(dp):
    block = {**dp["privacy"], "noise": "reproducible", "differentially_private": False}
    assert ss.Model.from_json({**dp, "privacy": block}).privacy["differentially_private"] is False
    refused({**dp, "privacy": {**block, "differentially_private": True}}, "privacy.differentially_private:")


@pytest.mark.parametrize("method", PRIVATE)
def test_a_dp_model_without_its_privacy_block_or_ledger_is_refused(saved, method):
    refused(changed(saved[method], ("privacy",)), "privacy: missing", f"method {method!r}")
    refused(changed(saved[method], ("privacy",), None), "privacy: missing")
    refused(changed(saved[method], ("privacy", "ledger")), "privacy.ledger: missing")


@pytest.mark.parametrize("method", ["independent", "uniform", "copula", "bayesnet", "partial"])
def test_a_non_dp_model_with_a_privacy_block_is_refused(saved, method):
    refused({**saved[method], "privacy": hand_ledger()}, "privacy: method", "is not differentially private")


# --------------------------------------------------------------------------------------------------------------
# Envelope, spec and parameters
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "value", "fragments"),
    [
        ("independent", ("format",), 3, ["format: model format 3 is not supported; this synthsql reads 2."]),
        ("independent", ("format",), 1, ["format: model format 1 is not supported; this synthsql reads 2 (written "
                                         "by an older synthsql: fit the model again)"]),
        ("independent", ("format",), True, ["format: model format true"]),
        ("independent", ("format",), "1", ["format:"]),
        ("independent", ("generator",), "bayesnett", ["generator: unknown", "Did you mean 'bayesnet'"]),
        ("independent", ("generator",), ["mst"], ["generator: unknown"]),
        ("independent", ("synthsql",), 0.1, ["synthsql: expected a non-empty string"]),
        ("independent", ("seed",), "7", ["seed: expected an integer >= 0, got the string '7'"]),
        ("independent", ("seed",), -1, ["seed:"]),
        ("independent", ("seed",), 1.5, ["seed:"]),
        ("independent", ("params",), [], ["params: expected an object"]),
        ("independent", ("params", "degree"), 2, ["params:", "no parameter 'degree'"]),
        ("bayesnet", ("params", "degre"), 2, ["params:", "Did you mean 'degree'"]),
        ("bayesnet", ("params", "degree"), 0, ["params:", "'degree'", "Got 0"]),
        ("bayesnet", ("params", "degree"), "2", ["params:", "'degree'"]),
        ("privbayes", ("params", "theta"), -1.0, ["params:", "'theta'"]),
        ("partial", ("params", "degree"), 0, ["'degree'"]),
        ("partial", ("params", "depth"), 2, ["params.depth: unknown key"]),
        ("independent", ("spec",), [], ["spec: expected an object"]),
        ("independent", ("spec", "n_rows"), 10**15,
         ["spec.n_rows: 1,000,000,000,000,000 is over the cap of 1,000,000,000,000", "MAX_ROWS"]),
        ("independent", ("spec", "n_rows"), "300", ["spec.n_rows: expected an integer >= 1, got the string '300'"]),
        ("independent", ("spec", "n_rows"), 0, ["spec.n_rows:"]),
        ("independent", ("spec", "n_rows"), 3.5, ["spec.n_rows:"]),
        ("independent", ("spec", "n_rows"), True, ["spec.n_rows:"]),
        ("independent", ("spec", "table"), "", ["spec.table:"]),
        ("independent", ("spec", "columns"), [], ["spec.columns:"]),
        ("independent", ("spec", "columns", 0), "person_id", ["spec.columns[0]: expected an object"]),
        ("independent", ("spec", "columns", 3, "bins", 0), ["x"], ["spec.columns[3].bins[0]:"]),
        ("independent", ("spec", "columns", 3, "bins", 0), [5, 1], ["spec.columns[3].bins[0]:"]),
        ("independent", ("spec", "columns", 3, "bins", 0), [0, math.inf], ["spec.columns[3].bins[0]:"]),
        ("independent", ("spec", "columns", 1, "kind"), "categorial", ["spec.columns[1]:", "'categorical'"]),
        ("independent", ("spec", "columns", 1, "kind"), 7, ["spec.columns[1].kind: expected a non-empty string"]),
        ("independent", ("spec", "columns", 1, "name"), 3, ["spec.columns[1].name: expected a non-empty string"]),
        ("independent", ("spec", "columns", 1, "name"), "employed", ["spec:", "twice"]),
        ("independent", ("spec", "columns", 1, "null_share"), 1.5, ["spec.columns[1]:", "null_share"]),
        ("independent", ("spec", "columns", 1, "null_share"), "0.1", ["spec.columns[1]:"]),
        ("independent", ("spec", "columns", 1, "colour"), "red", ["spec.columns[1]:", "unknown setting 'colour'"]),
        ("independent", ("spec", "columns", 1, "categories"), [["a"]],
         ["spec.columns[1].categories[0]: expected a string, number or boolean, got a list of 1"]),
        ("independent", ("spec", "columns", 1, "categories"), "abc", ["spec.columns[1].categories: expected a list"]),
        ("independent", ("spec", "columns", 1, "categories"), ["a", "a"], ["spec.columns[1]:", "twice"]),
        ("independent", ("spec", "columns", 1, "categories"), ["a", 1, "c", "d", "e"],
         ["spec.columns[1].categories[1]: expected strings like the column's other categories, got 1"]),
        ("independent", ("spec", "columns", 2, "categories"), ["no", "yes"],
         ["spec.columns[2].categories[0]: expected booleans"]),
        ("independent", ("spec", "columns", 1, "dtype"), ["x"], ["spec.columns[1].dtype: expected a type name"]),
        ("independent", ("spec", "columns", 1, "n_distinct"), "5", ["spec.columns[1].n_distinct:"]),
        ("independent", ("spec", "columns", 1, "declared"), "yes", ["spec.columns[1].declared:"]),
        ("independent", ("spec", "table"), "a.b.c", ["spec.table:", "'schema.table'"]),
        ("independent", ("holdout",), "0.2", ["holdout: expected an object"]),
        ("holdout", ("holdout", "share"), 0.9, ["holdout: The holdout share"]),
        ("holdout", ("holdout", "share"), "0.2", ["holdout:"]),
        ("holdout", ("holdout", "seed"), "x", ["holdout: The holdout seed must be an int"]),
        ("holdout", ("holdout", "salt"), "x", ["holdout.salt: unknown key"]),
    ],
)
def test_a_bad_envelope_spec_or_parameter_is_refused(saved, method, path, value, fragments):
    refused(changed(saved[method], path, value), *fragments)


def test_not_a_model_at_all():
    for data in ([], "[]", "null", 3, {"generator": "independent"}, {"format": 1}):
        refused(data, "This is not a synthsql model")
    refused("{not json", "not valid JSON")
    refused(b"\xff\xfe\x00", "not valid JSON")
    refused('{"format": 1, "generator": "independent", "n": ' + "9" * 5000 + "}", "not valid JSON")


# --------------------------------------------------------------------------------------------------------------
# Missing and unknown keys, at every level
# --------------------------------------------------------------------------------------------------------------
MISSING = (
    [("independent", (k,)) for k in ("synthsql", "params", "seed", "spec", "quantiles", "state")]
    + [("independent", ("spec", k)) for k in ("table", "n_rows", "columns")]
    + [("independent", ("spec", "columns", 1, k)) for k in ("name", "kind")]
    + [("independent", ("state", "counts")), ("independent", ("state", "counts", "age"))]
    + [("copula", ("state", k)) for k in ("counts", "correlation")]
    + [("bayesnet", ("state", k)) for k in ("order", "parents", "counts")]
    + [("bayesnet", ("state", "parents", "age")), ("bayesnet", ("state", "counts", "age"))]
    + [("bayesnet", ("state", "counts", "age", k)) for k in ("shape", "values")]
    + [("privbayes", ("state", k)) for k in ("order", "parents", "tables", "groups")]
    + [("privbayes", ("privacy", k)) for k in ("epsilon", "delta", "delta_reserved", "rho", "noise",
                                                "differentially_private", "ledger")]
    + [("privbayes", ("privacy", "ledger", 0, k)) for k in ("step", "columns", "mechanism", "rho", "sigma",
                                                             "epsilon", "delta")]
    + [("partial", ("state", k)) for k in ("source", "synthesize", "id", "order", "parents", "counts")]
    + [("partial", ("params", k)) for k in ("degree", "candidates", "max_cells")]
    + [("holdout", ("holdout", k)) for k in ("share", "seed")]
)


@pytest.mark.parametrize(("method", "path"), MISSING, ids=[f"{m}:{jpath(p)}" for m, p in MISSING])
def test_a_missing_key_is_named(saved, method, path):
    refused(changed(saved[method], path), f"{jpath(path)}: missing")


@pytest.mark.parametrize("key", ["format", "generator"])
def test_a_model_without_format_or_generator_is_not_a_model(saved, key):
    refused(changed(saved["independent"], (key,)), "This is not a synthsql model")


UNKNOWN = [
    ("independent", ("signature",)),
    ("independent", ("spec", "rows")),
    ("independent", ("state", "weights")),
    ("bayesnet", ("state", "counts", "age", "dtype")),
    ("privbayes", ("privacy", "comment")),
    ("privbayes", ("privacy", "ledger", 0, "note")),
    ("holdout", ("holdout", "salt")),
    ("uniform", ("state", "counts")),
]


@pytest.mark.parametrize(("method", "path"), UNKNOWN, ids=[f"{m}:{jpath(p)}" for m, p in UNKNOWN])
def test_an_unknown_key_is_named(saved, method, path):
    refused(changed(saved[method], path, 1), f"{jpath(path)}: unknown key")


# --------------------------------------------------------------------------------------------------------------
# The state against the spec
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "fragments"),
    [
        (lambda v: v[:-1],
         ["state.counts.age: expected", "non-negative integer counts (the cells of column 'age'), got"]),
        (lambda v: v + [1], ["state.counts.age: expected"]),
        (lambda v: first(v, math.nan), ["state.counts.age[0]: expected a non-negative integer count, got nan"]),
        (lambda v: first(v, -1), ["state.counts.age[0]: expected a non-negative integer count, got -1"]),
        (lambda v: first(v, 1.5), ["state.counts.age[0]:"]),
        (lambda v: first(v, "3"), ["state.counts.age[0]:", "got the string '3'"]),
        (lambda v: first(v, True), ["state.counts.age[0]:", "got true"]),
        (lambda v: first(v, None), ["state.counts.age[0]:", "got null"]),
        (lambda v: first(v, 2**60), ["state.counts.age[0]:"]),
        (lambda v: first(v, 10**30), ["state.counts.age[0]:"]),
        (lambda v: first(v, [1]), ["state.counts.age[0]:"]),
        (lambda v: [0] * len(v), ["state.counts.age: every count is zero"]),
        (lambda v: {"values": v}, ["state.counts.age: expected a list"]),
    ],
)
def test_bad_counts_are_refused(saved, value, fragments):
    refused(changed(saved["independent"], ("state", "counts", "age"), value), *fragments)


def test_count_columns_must_be_the_modelled_ones(saved):
    counts = saved["independent"]["state"]["counts"]
    refused(changed(saved["independent"], ("state", "counts", "agee"), counts["age"]),
            "state.counts.agee: unknown column 'agee'. Did you mean 'age'?")
    refused(changed(saved["independent"], ("state", "counts", "person_id"), [1]),
            "state.counts.person_id: column 'person_id' is not one of the modelled columns")


@pytest.mark.parametrize("method", ["bayesnet", "privbayes", "partial"])
def test_bad_tables_are_refused(saved, method):
    data = saved[method]
    name = data["state"]["order"][-1]
    path = count_cell(data, name)
    where = jpath(path)
    table = data["state"]["tables" if method == "privbayes" else "counts"][name]
    refused(changed(data, (*path, "values"), lambda v: v[:-1]), f"{where}.values: expected")
    refused(changed(data, (*path, "values"), lambda v: first(v, math.nan)), f"{where}.values[0]:")
    refused(changed(data, (*path, "values"), lambda v: first(v, math.inf)), f"{where}.values[0]:")
    refused(changed(data, (*path, "values"), lambda v: first(v, -1)), f"{where}.values[0]:")
    refused(changed(data, (*path, "values"), lambda v: first(v, "1")), f"{where}.values[0]:")
    refused(changed(data, (*path, "shape"), lambda s: [*s[:-1], s[-1] + 1]),
            f"{where}.shape: expected {table['shape']}")
    refused(changed(data, (*path, "shape"), lambda s: [float(k) for k in s]), f"{where}.shape:")
    refused(changed(data, (*path, "shape"), [10**8]), f"{where}.shape:")
    if method != "privbayes":  # an exact count table counts its rows; noisy estimates may all be zero
        refused(changed(data, (*path, "values"), lambda v: [0] * len(v)), f"{where}.values: every count is zero")


@pytest.mark.parametrize("method", ["bayesnet", "privbayes", "partial"])
def test_bad_orders_and_parents_are_refused(saved, method):
    data = saved[method]
    order = data["state"]["order"]
    refused(changed(data, ("state", "order", 0), "nope"), "state.order[0]: unknown column 'nope'")
    refused(changed(data, ("state", "order"), [order[0], *order]), "state.order[1]:", "listed twice")
    refused(changed(data, ("state", "order"), order[1:]), f"state.order: column {order[0]!r} is missing")
    refused(changed(data, ("state", "order"), "age"), "state.order: expected a list")
    refused(changed(data, ("state", "parents", order[0]), [order[0]]), f"state.parents.{order[0]}[0]:")
    refused(changed(data, ("state", "parents", order[0]), "x"), f"state.parents.{order[0]}: expected a list")
    refused(changed(data, ("state", "parents", order[0]), ["nope"]), f"state.parents.{order[0]}[0]: unknown column")
    refused(changed(data, ("state", "parents", "nope"), []), "state.parents.nope: unknown column")


@pytest.mark.parametrize("method", ["bayesnet", "privbayes"])
def test_a_parent_after_its_child_is_refused(saved, method):
    data = saved[method]
    first_, last = data["state"]["order"][0], data["state"]["order"][-1]
    refused(changed(data, ("state", "parents", first_), [last]),
            f"state.parents.{first_}[0]: parent {last!r} comes after its child {first_!r} in state.order")
    child, parents = next((k, v) for k, v in data["state"]["parents"].items() if v)
    refused(changed(data, ("state", "parents", child), [parents[0], parents[0]]),
            f"state.parents.{child}[1]: parent {parents[0]!r} is listed twice")


def test_partial_synthesis_names_are_checked(saved):
    data = saved["partial"]
    refused(changed(data, ("state", "synthesize", 0), "nope"), "state.synthesize[0]: unknown column 'nope'")
    refused(changed(data, ("state", "synthesize"), ["income", "income"]), "state.synthesize[1]:", "twice")
    refused(changed(data, ("state", "synthesize"), ["person_id"]), "state.synthesize[0]:", "not one of the modelled")
    refused(changed(data, ("state", "id"), "income"), "state.id: column 'income' is not one of the kept columns")
    refused(changed(data, ("state", "source"), "a.b.c"), "state.source:")
    refused(changed(data, ("state", "source"), 3), "state.source:")
    # with only modelled columns in the spec, synthesizing all of them would keep nothing
    modelled = [c for c in data["spec"]["columns"] if c["kind"] not in ("identifier", "excluded")]
    everything = changed(changed(data, ("spec", "columns"), modelled), ("state", "id"), None)
    refused(changed(everything, ("state", "synthesize"), [c["name"] for c in modelled]),
            "state.synthesize: lists every column, but partial synthesis keeps at least one")


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        (lambda m: cell(m, 0, 1, m[0][1] + 0.1), ["state.correlation[0][1]: the matrix is not symmetric"]),
        (lambda m: cell(m, 2, 2, 0.5), ["state.correlation[2][2]: a diagonal entry must be 1, got 0.5"]),
        (lambda m: cell(cell(m, 0, 1, 1.5), 1, 0, 1.5), ["state.correlation[0][1]: a correlation must be in [-1, 1]"]),
        (lambda m: cell(m, 0, 1, math.nan), ["state.correlation[0][1]: expected a finite number, got nan"]),
        (lambda m: cell(m, 0, 1, "0"), ["state.correlation[0][1]:", "got the string '0'"]),
        (lambda m: m[:-1], ["state.correlation: expected a 6 x 6 matrix"]),
        (lambda m: [row[:-1] for row in m], ["state.correlation[0]: expected 6 correlations, got 5"]),
        (lambda m: np.where(np.eye(6) > 0, 1.0, -0.9).tolist(),
         ["state.correlation: the matrix is not a correlation matrix"]),
    ],
)
def test_a_bad_copula_correlation_is_refused(saved, change, fragments):
    refused(changed(saved["copula"], ("state", "correlation"), change), *fragments)


def test_merged_cells_must_partition_the_column(saved):
    data = saved["privbayes"]
    # merging cells shrinks the column's axis in every table: the tables must agree
    refused(changed(data, ("state", "groups"), {"region": [[0, 1], [2, 3, 4, 5]]}), "state.tables.", ".shape: expected",
            "2 (region)")
    refused(changed(data, ("state", "groups"), {"employed": [[0], [1]]}), "state.groups.employed: cell 2 of column "
            "'employed' is in no group")
    refused(changed(data, ("state", "groups"), {"employed": [[0, 1], [1, 2]]}), "state.groups.employed[1][0]: cell 1 "
            "is in two groups")
    refused(changed(data, ("state", "groups"), {"employed": [[0, 1, 7]]}),
            "state.groups.employed[0][2]: expected a cell")
    refused(changed(data, ("state", "groups"), {"employed": [[], [0, 1, 2]]}), "state.groups.employed[0]:")
    refused(changed(data, ("state", "groups"), {"nope": [[0]]}), "state.groups.nope: unknown column")
    refused(changed(data, ("state", "groups"), [[0]]), "state.groups: expected an object")


def test_bad_quantiles_are_refused(saved):
    data = saved["independent"]
    (name, rows), *_ = data["quantiles"].items()
    i = next(i for i, row in enumerate(rows) if row[1] is not None and row[1] < row[-1])
    refused(changed(data, ("quantiles", name, i), lambda row: [row[-1], *row[1:]]), f"quantiles.{name}[{i}][1]: "
            f"quantiles within a bin must not decrease, got {rows[i][1]!r} after {rows[i][-1]!r}")
    refused(changed(data, ("quantiles", name, i), lambda row: first(row, math.nan)), f"quantiles.{name}[{i}][0]: "
            "expected a finite number or null, got nan")
    refused(changed(data, ("quantiles", name, i), lambda row: row[:-1]), f"quantiles.{name}[{i}]: expected 17")
    refused(changed(data, ("quantiles", name), lambda r: r[:-1]), f"quantiles.{name}: expected {len(rows)} rows")
    refused(changed(data, ("quantiles", "region"), rows), "quantiles.region: column 'region' is not one of the numeric")
    refused(changed(data, ("quantiles",), []), "quantiles: expected an object")
    # nulls (empty bins, the NULL cell) are allowed anywhere and do not break the order
    gaps = changed(data, ("quantiles", name, i), lambda row: [row[0], None, *row[2:]])
    assert np.isnan(ss.Model.from_json(gaps).quantiles[name][i, 1])


# --------------------------------------------------------------------------------------------------------------
# Sizes: nesting, claimed cells, file bytes
# --------------------------------------------------------------------------------------------------------------
def test_deep_nesting_is_refused(saved, tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    refused(deep, "nests JSON arrays or objects too deeply")
    path = tmp_path / "deep.json"
    path.write_text(deep)
    with pytest.raises(ss.ModelFormatError, match="too deeply"):
        ss.load(path)
    nested: Any = 0
    for _ in range(100_000):  # built in Python, passed as an object: checked level by level, not recursively
        nested = [nested]
    refused({**saved["bayesnet"], "params": {"degree": nested}}, "params.degree[0][0][0][0][0][0]",
            "nested deeper than the 8 levels")
    text = json.dumps(changed(saved["bayesnet"], ("spec", "columns", 1, "categories", 0), [[[[[["x"]]]]]]))
    refused(text, "spec.columns[1].categories[0][0][0]", "nested deeper")


def test_a_model_claiming_a_huge_table_is_refused_before_it_is_allocated():
    many = [f"c{i}" for i in range(10_000)]
    columns = [{"name": n, "kind": "categorical", "dtype": "string", "categories": many, "null_share": 0.0}
               for n in ("a", "b")]
    data = {
        "synthsql": "0.1.0", "format": 2, "generator": "bayesnet", "params": {}, "seed": 1, "quantiles": {},
        "spec": {"table": "t", "n_rows": 10, "columns": columns},
        "state": {"order": ["a", "b"], "parents": {"a": [], "b": ["a"]},
                  "counts": {"a": {"shape": [10_001], "values": [1] * 10_001},
                             "b": {"shape": [10_001, 10_001], "values": [1]}}},
    }
    tracemalloc.start()
    start = time.perf_counter()
    try:
        message = refused(data, "state.counts.b:", "100,030,002", "over the cap of 20,000,000", "MAX_CELLS")
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seconds < 5 and peak < 50 * 2**20, (seconds, peak, message)  # 10**8 cells would be 800 MB


def test_the_file_size_cap(saved, tmp_path, monkeypatch):
    path = tmp_path / "m.json"
    path.write_text(json.dumps(saved["uniform"]))
    assert ss.load(path).to_json() == saved["uniform"]
    monkeypatch.setattr(model_format, "MAX_MODEL_BYTES", 100)
    with pytest.raises(ss.ModelFormatError, match=r"over the cap of 100 \(synthsql.model_format.MAX_MODEL_BYTES"):
        ss.load(path)
    with pytest.raises(ss.ModelFormatError, match="over the cap of 100"):
        ss.Model.from_json(path.read_text())


# --------------------------------------------------------------------------------------------------------------
# Any single change to a valid model: refused with ModelFormatError, or a model that works
# --------------------------------------------------------------------------------------------------------------
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)


def containers(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every object and list in ``data``, by path."""
    out = [path]
    items = data.items() if isinstance(data, dict) else enumerate(data)
    for key, value in items:
        if isinstance(value, (dict, list)):
            out.extend(containers(value, (*path, key)))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@pytest.mark.parametrize("method", ["independent", "uniform", "copula", "bayesnet", "privbayes", "partial"])
@given(choice=st.integers(min_value=0), key=st.integers(min_value=0), value=JSON, delete=st.booleans())
def test_any_one_change_is_refused_cleanly_or_gives_a_working_model(saved, method, choice, key, value, delete):
    data = {**saved[method], "privacy": hand_ledger()} if method in PRIVATE else saved[method]
    places = containers(data)
    path = places[choice % len(places)]
    node = data
    for k in path:
        node = node[k]
    keys = list(node) if isinstance(node, dict) else list(range(len(node)))
    if not keys:
        return
    target = (*path, keys[key % len(keys)])
    mutated = changed(data, target) if delete and isinstance(node, dict) else changed(data, target, value)
    try:
        model = ss.Model.from_json(mutated)
    except ss.ModelFormatError:
        return
    json.dumps(model.to_json(), allow_nan=False)
    if method != "partial" and target[0] in ("state", "quantiles", "privacy", "params", "seed"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            next(model.sample(5, seed=0))


# --------------------------------------------------------------------------------------------------------------
# Models stored in the database (`<target>__model`, read back by `synthsql report`)
# --------------------------------------------------------------------------------------------------------------
def test_a_tampered_model_row_is_refused(db, saved, fresh_name):
    def store(data: dict[str, Any]) -> str:
        ss.write_table(db, f"{fresh_name}__model", pa.table({"model": [json.dumps(data, sort_keys=True)]}),
                       replace=True)
        return db.table(f"{fresh_name}__model").to_pandas()["model"].iloc[0]

    assert ss.Model.from_json(store(saved["privbayes"])).to_json() == saved["privbayes"]
    refused(store(changed(saved["privbayes"], ("privacy", "epsilon"), 0.01)), "privacy.rho:")
    refused(store(changed(saved["privbayes"], ("privacy",))), "privacy: missing")
    db.backend.drop_table(f"{fresh_name}__model")


def test_synthsql_report_refuses_a_tampered_model_row(tmp_path, capsys):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    database = ss.connect(url, create=True)
    ss.write_table(database, "people", mixed_table(200))
    database.backend.disconnect()
    catalog = tmp_path / "c.yml"
    catalog.write_text(
        "version: 1\ntables:\n  - name: people_synth\n    source: people\n    method: independent\n    seed: 1\n"
        "    columns:\n      children: {exclude: true}\n      person_id: {exclude: true}\n    metrics: []\n"
    )
    assert main(["build", str(catalog), "--db", url, "--quiet"]) == 0
    database = ss.connect(url)
    text = database.table("people_synth__model").to_pandas()["model"].iloc[0]
    ss.Model.from_json(text)  # as built: valid
    tampered = changed(json.loads(text), ("spec", "n_rows"), 10**15)
    ss.write_table(database, "people_synth__model", pa.table({"model": [json.dumps(tampered)]}), replace=True)
    database.backend.disconnect()
    capsys.readouterr()
    out = tmp_path / "r.html"
    assert main(["report", str(catalog), "--db", url, "--select", "people_synth", "-o", str(out)]) == EXIT_FAILED
    assert "spec.n_rows: 1,000,000,000,000,000 is over the cap" in capsys.readouterr().err
    assert not out.exists()
