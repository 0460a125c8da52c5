"""Edit rules as structural zeros: the cells a rule forbids get probability 0 in the model (rules.forbidden_cells).

A cell is forbidden only when every value sampling can draw in it breaks the rule, so a model with structural zeros
loses no allowed row; rejection at sampling still enforces whatever the cells cannot express. The cases are worked
by hand on a small spec, then on the generated survey table of benchmarks/bench_fidelity.py, where a Bayesian
network holding ``age`` and ``wage`` in one family needs no redraw at all and keeps its children.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import synthsql as ss
from synthsql.generators import without_forbidden
from synthsql.metrics.fitness import check_rules
from synthsql.rules import SourceBreaksRuleWarning, forbidden_cells

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_fidelity import NO_CHILD_WAGE, generated_domains, generated_table

SPEC = ss.TableSpec(table="t", n_rows=10, columns=(
    ss.ColumnSpec(name="age", kind="integer", bins=(ss.Bin(0, 15), ss.Bin(15, 65), ss.Bin(65, 100))),
    ss.ColumnSpec(name="wage", kind="numeric", bins=(ss.Bin(0, 0), ss.Bin(0, 100.0), ss.Bin(100.0, 1000.0))),
    ss.ColumnSpec(name="edu", kind="categorical", categories=("Children", "High", "Low")),
    ss.ColumnSpec(name="flag", kind="boolean", categories=(False, True)),
    ss.ColumnSpec(name="id", kind="identifier"),
))
AGE_EDGES = {"age": {"edges": [0, 15, 25, 35, 45, 55, 65, 75, 91]}}


def cells(rule: ss.Rule) -> tuple[tuple[str, ...], list] | None:
    found = forbidden_cells(rule, SPEC)
    return None if found is None else (found[0], found[1].astype(int).tolist())


def test_the_cells_a_rule_forbids_worked_by_hand():
    # age cells: [0, 14], [15, 64], [65, 100], NULL; wage: 0, (0, 100), [100, 1000], NULL
    assert cells(ss.Rule("r", "wage = 0 OR wage IS NULL", when="age < 15")) == (
        ("age", "wage"), [[0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    assert cells(ss.Rule("r", "wage <= 0 OR wage IS NULL", when="age <= 14")) == cells(
        ss.Rule("r", "wage IS NULL OR wage = 0", when="age BETWEEN 0 AND 14"))
    assert cells(ss.Rule("r", "wage > 100")) == (("wage",), [1, 1, 0, 1])  # 100 itself is in the top bin
    assert cells(ss.Rule("r", "wage >= 100")) == (("wage",), [1, 1, 0, 1])
    assert cells(ss.Rule("r", "wage < 1000")) == (("wage",), [0, 0, 0, 1])  # NULL only: the top bin holds 1000
    assert cells(ss.Rule("r", "age < 65 OR age > 70")) == (("age",), [0, 0, 0, 1])  # [65, 100] holds 66 and 71
    assert cells(ss.Rule("r", "edu <> 'Children'", when="age >= 15")) == (
        ("age", "edu"), [[0, 0, 0, 0], [1, 0, 0, 1], [1, 0, 0, 1], [0, 0, 0, 0]])  # NULL <> 'Children' is NULL
    assert cells(ss.Rule("r", "edu IN ('High', 'Low') OR edu IS NULL")) == (("edu",), [1, 0, 0, 0])
    assert cells(ss.Rule("r", "NOT flag")) == (("flag",), [0, 1, 1])
    assert cells(ss.Rule("r", "flag IS NOT TRUE")) == (("flag",), [0, 1, 0])
    # what the cells cannot decide forbids nothing: arithmetic, another column, an identifier, a type mismatch
    for text in ("wage * 2 > 10", "wage > age", "id > 0", "edu IS NULL OR edu = 1", "abs(wage) > 5",
                 "wage IS NULL OR wage > 'a'"):
        assert cells(ss.Rule("r", text)) is None, text
    assert cells(ss.Rule("r", "wage = 0", when="id > 3")) is None


def test_structural_zeros_renormalise_a_family_and_its_unseen_configurations():
    zeros = [forbidden_cells(ss.Rule("r", "wage = 0 OR wage IS NULL", when="age < 15"), SPEC)]
    table = np.array([[5, 2, 1, 0], [0, 0, 0, 0], [3, 4, 4, 1], [1, 1, 1, 1]])  # (age, wage); age [15, 64] unseen
    out = without_forbidden(table, ["age", "wage"], zeros)
    assert out.tolist() == [[5, 0, 0, 0], [9, 7, 6, 2], [3, 4, 4, 1], [1, 1, 1, 1]]  # unseen: the marginal
    assert without_forbidden(table.T, ["wage", "age"], zeros).tolist() == [
        [5, 0, 3, 1], [0, 0, 4, 1], [0, 0, 4, 1], [0, 0, 1, 1]]  # age given wage: no child with a wage
    assert without_forbidden(table, ["age", "edu"], zeros) is table  # the rule is not about this family
    forbid_all = [(("wage",), np.array([True, True, True, True]))]
    assert without_forbidden(table, ["age", "wage"], forbid_all).tolist()[0] == [5, 2, 1, 0]  # kept: rejection's


@pytest.fixture(scope="module")
def gen_db():
    db = ss.connect("duckdb://")
    ss.write_table(db, "generated", generated_table())
    return db


def test_a_network_that_holds_the_rule_in_one_family_needs_no_redraw(gen_db):
    spec = ss.describe(gen_db, "generated", columns=AGE_EDGES)  # an age edge at 15, where the rule cuts
    model = ss.fit(gen_db, "generated", method="bayesnet", spec=spec, seed=1, rules=[NO_CHILD_WAGE])
    family = [*model.parents["age"], "age"] if "wage" in model.parents["age"] else [*model.parents["wage"], "wage"]
    assert {"age", "wage"} <= set(family)
    ss.materialize(gen_db, model, "generated_zeros", seed=1, replace=True)
    counts = check_rules(gen_db, "generated", "generated_zeros", [NO_CHILD_WAGE]).set_index("table")
    assert counts.loc["synthetic", "violations"] == 0
    assert model.rows_drawn == model.rows_kept == 20_000 and model.rejection_rate == 0  # the zeros did it all
    assert abs(counts.loc["synthetic", "applicable"] - counts.loc["real", "applicable"]) < 150  # children kept
    again = ss.Model.from_json(model.to_json())
    assert again.to_arrow(500, seed=3).equals(model.to_arrow(500, seed=3))


def test_independent_zeros_a_one_column_rule(duckdb_db):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = ss.describe(duckdb_db, "eusilc")
    rule = ss.Rule("no_income", "py010n IS NULL OR py010n = 0")
    with pytest.warns(SourceBreaksRuleWarning):
        model = ss.fit(duckdb_db, "eusilc", method="independent", spec=spec, seed=1, rules=[rule])
    assert model.counts["py010n"][1:-1].sum() == 0 and model.counts["py010n"][[0, -1]].sum() > 0
    frame = model.to_pandas(3000, seed=2)
    assert model.rejection_rate == 0 and ((frame["py010n"] == 0) | frame["py010n"].isnull()).all()


@pytest.mark.parametrize("method", ["independent", "mst"])
def test_a_rule_that_rules_out_a_declared_category_everywhere_is_refused(gen_db, method, monkeypatch):
    spec = ss.describe(gen_db, "generated", columns=generated_domains())
    monkeypatch.setattr(ss.AggregateStore, "marginals", lambda *a, **k: pytest.fail("read before checking"))
    kwargs = {"epsilon": 1.0} if method == "mst" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SourceBreaksRuleWarning)
        with pytest.raises(ss.InvalidParameterError,
                           match="'no_temps' makes the category 'temporary' of column 'contract' impossible"):
            ss.fit(gen_db, "generated", method=method, spec=spec, seed=1,
                   rules=[ss.Rule("no_temps", "contract = 'permanent' OR contract IS NULL")], **kwargs)


def test_a_dp_model_takes_the_zeros_without_spending(gen_db):
    """Structural zeros come from the rule and the declared domains only: public, so the ledger is unchanged."""
    spec = ss.describe(gen_db, "generated", columns=generated_domains())
    rule = ss.Rule("full_hours", "hours >= 15 OR hours IS NULL")  # forbids the bin [5, 15) of hours
    model = ss.fit(gen_db, "generated", method="privbayes", spec=spec, epsilon=1.0, seed=1, rules=[rule])
    plain = ss.fit(gen_db, "generated", method="privbayes", spec=spec, epsilon=1.0, seed=1)
    assert model.ledger()["rho"].sum() == pytest.approx(plain.ledger()["rho"].sum())
    assert (model.tables["hours"][..., 0] == 0).all() and (plain.tables["hours"][..., 0] > 0).any()
    frame = model.to_pandas(5000, seed=2)
    assert model.rejection_rate == 0 and not (frame["hours"] < 15).any()
