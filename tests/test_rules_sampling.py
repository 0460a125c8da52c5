"""Edit rules enforced while sampling: every generator's rows meet the rules it was fitted with, at the exact count.

eusilc's personal incomes (``py010n``) are NULL or zero for children under 16; a degree-2 Bayesian network breaks that
for about 2 % of its children, the product of marginals for 42 %. Given the rule, every model keeps only the rows
that meet it and tops each batch up from the same random stream, so the same seed still gives the same rows.
"""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

import synthsql as ss
from synthsql.datasets.domains import domains
from synthsql.generators import REGISTRY, fully_synthetic
from synthsql.metrics.fitness import check_rules
from synthsql.model import MAX_REDRAWS
from synthsql.rules import SourceBreaksRuleWarning
from synthsql.schema import IdentifierColumnWarning

NO_CHILD_INCOME = ss.Rule("no_child_income", "py010n IS NULL OR py010n = 0", when="age < 16")
FAST = ["independent", "bayesnet", "cart", "copula", "uniform", "mst", "privbayes"]  # aim: the same sampler, minutes to fit


def spec_of(db: ss.Database, private: bool) -> ss.TableSpec:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifierColumnWarning)
        return ss.describe(db, "eusilc", columns=domains("eusilc") if private else None)


def violations(db: ss.Database, table: str, rules: list[ss.Rule]) -> int:
    counts = check_rules(db, "eusilc", table, rules)
    return int(counts[counts["table"] == "synthetic"]["violations"].sum())


@pytest.mark.parametrize("method", FAST)
def test_every_generator_meets_its_rules_at_the_exact_count(duckdb_db, method, fresh_name):
    assert set(FAST) | {"aim"} == set(fully_synthetic())
    private = getattr(REGISTRY[method], "private", False)
    kwargs = {"epsilon": 1.0} if private else {"max_depth": 6} if method == "cart" else {}  # (quick trees)
    spec = spec_of(duckdb_db, private)
    model = ss.fit(duckdb_db, "eusilc", method=method, spec=spec, seed=3, rules=[NO_CHILD_INCOME], **kwargs)
    ss.materialize(duckdb_db, model, fresh_name, rows=5000, seed=4, batch_rows=1500)
    assert duckdb_db.table(fresh_name).count().execute() == 5000
    assert violations(duckdb_db, fresh_name, [NO_CHILD_INCOME]) == 0
    assert model.rows_kept == 5000 and model.rows_drawn >= 5000
    if not private:  # the surrogate identifier rb030 stays 1..n after redraws (DP specs exclude it)
        assert spec.column("rb030").kind == "identifier"
        ids = duckdb_db.table(fresh_name).rb030.to_pandas()
        assert sorted(ids.tolist()) == list(range(1, 5001))


def test_without_the_rule_the_model_breaks_it(duckdb_db, fresh_name):
    """The test above can fail: the same model without the rule draws children with incomes."""
    model = ss.fit(duckdb_db, "eusilc", method="independent", spec=spec_of(duckdb_db, False), seed=3)
    ss.materialize(duckdb_db, model, fresh_name, rows=5000, seed=4)
    assert violations(duckdb_db, fresh_name, [NO_CHILD_INCOME]) > 100


def test_the_same_seed_gives_the_same_rows_on_every_engine(db, duckdb_db):
    spec = spec_of(db, False)
    model = ss.fit(db, "eusilc", method="bayesnet", spec=spec, seed=5, rules=[NO_CHILD_INCOME])
    reference = ss.fit(duckdb_db, "eusilc", method="bayesnet", spec=spec_of(duckdb_db, False), seed=5,
                       rules=[NO_CHILD_INCOME])
    assert model.to_json() == reference.to_json()
    first, again = model.to_pandas(3000, seed=6), reference.to_pandas(3000, seed=6)
    pd.testing.assert_frame_equal(first, again)
    assert model.rows_drawn > 3000  # some rows were redrawn


def test_the_rules_travel_with_the_model_and_are_checked_on_load(duckdb_db):
    model = ss.fit(duckdb_db, "eusilc", method="independent", spec=spec_of(duckdb_db, False), seed=1,
                   rules=[NO_CHILD_INCOME])
    data = model.to_json()
    assert data["rules"] == [NO_CHILD_INCOME.to_json()]
    again = ss.Model.from_json(data)
    pd.testing.assert_frame_equal(again.to_pandas(500, seed=2), model.to_pandas(500, seed=2))
    forged = {**data, "rules": [{"name": "x", "condition": "pg_sleep(10) IS NULL"}]}
    with pytest.raises(ss.ModelFormatError, match=r"rules\[0\]: .*PG_SLEEP, which is not allowed"):
        ss.Model.from_json(forged)
    unknown = {**data, "rules": [{"name": "x", "condition": "salary > 0"}]}
    with pytest.raises(ss.ModelFormatError, match=r"rules\[0\]: .*'salary'"):
        ss.Model.from_json(unknown)


def test_a_rule_the_source_breaks_is_reported_with_its_count(db):
    rule = ss.Rule("adult_income", "py010n > 0", when="age >= 16")
    counts = check_rules(db, "eusilc", "eusilc", [rule])
    broken = int(counts["violations"].iloc[0])
    with pytest.warns(SourceBreaksRuleWarning, match=f"'adult_income' is broken by {broken:,} of the"):
        ss.fit(db, "eusilc", method="independent", spec=spec_of(db, False), seed=1, rules=[rule])


def test_a_rule_no_source_row_meets_is_refused(db):
    with pytest.raises(ss.InvalidParameterError, match="'never': none of the 14,827 rows of 'eusilc'"):
        ss.fit(db, "eusilc", method="independent", spec=spec_of(db, False), rules=[ss.Rule("never", "age < -100")])


def test_a_rule_naming_an_unknown_column_is_refused_before_reading(duckdb_db, monkeypatch):
    monkeypatch.setattr(ss.AggregateStore, "marginals", lambda *a, **k: pytest.fail("read before checking"))
    with pytest.raises(ss.ColumnNotFoundError, match="names the column 'salary', which is not in table 'eusilc'"):
        ss.fit(duckdb_db, "eusilc", method="independent", spec=spec_of(duckdb_db, False),
               rules=[ss.Rule("r", "salary > 0")])


def test_a_model_that_cannot_meet_its_rules_says_so(duckdb_db):
    """A uniform model draws continuous incomes, so it (nearly) never draws one exact observed value."""
    value = float(duckdb_db.table("eusilc").eqIncome.max().execute())
    rule = ss.Rule("exact", f"\"eqIncome\" = {value!r}")
    with pytest.warns(SourceBreaksRuleWarning):
        model = ss.fit(duckdb_db, "eusilc", method="uniform", spec=spec_of(duckdb_db, False), rules=[rule])
    with pytest.raises(ss.SamplingError, match=f"cannot meet its edit rules \\('exact'\\).*after {MAX_REDRAWS} redraws"):
        model.to_pandas(100, seed=1)


def test_a_catalogs_rules_constrain_its_build_and_their_cost_is_reported(duckdb_db, tmp_path, fresh_name):
    from synthsql.catalog import load
    from synthsql.pipeline import build
    from synthsql.report import render_report

    path = tmp_path / "rules.yml"
    path.write_text(
        "version: 1\ntables:\n"
        f"  - name: {fresh_name}\n    source: eusilc\n    method: independent\n    seed: 1\n    metrics: [utility]\n"
        "    rules: [{name: no_child_income, condition: \"py010n IS NULL OR py010n = 0\", when: \"age < 16\"}]\n"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifierColumnWarning)
        build(load(path), duckdb_db)
    assert violations(duckdb_db, fresh_name, [NO_CHILD_INCOME]) == 0
    utility = duckdb_db.table(f"{fresh_name}__utility").to_pandas().set_index(["metric", "scope"])
    assert utility.loc[("rule_violation_rate", "no_child_income"), "value"] == 0
    record = duckdb_db.table(f"{fresh_name}__model").to_pandas().iloc[0]
    assert record["rows_kept"] == 14_827 and record["rows_drawn"] > 15_000  # about a tenth redrawn
    model = ss.Model.from_json(record["model"])
    model.rows_drawn, model.rows_kept = int(record["rows_drawn"]), int(record["rows_kept"])
    spec = spec_of(duckdb_db, False)
    evaluation = ss.evaluate(duckdb_db, real="eusilc", synthetic=fresh_name, spec=spec, write=False, pmse=[],
                             risk=False, rules=model.rules)
    page = render_report(duckdb_db, real="eusilc", synthetic=fresh_name, spec=spec, model=model, evaluation=evaluation)
    redrawn = record["rows_drawn"] - record["rows_kept"]
    assert f"1 enforced while sampling (no_child_income); {redrawn:,} of {record['rows_drawn']:,} drawn rows" in page


def test_a_plain_materialize_records_what_the_rules_cost_beside_the_table(db, fresh_name):
    """materialize (the Python API, and the catalog build through it) writes ``<target>__model`` with the rows drawn
    and kept and the rejection rate (rows redrawn per row kept), in the same transaction as the table."""
    model = ss.fit(db, "eusilc", method="independent", spec=spec_of(db, False), seed=3, rules=[NO_CHILD_INCOME])
    ss.materialize(db, model, fresh_name, rows=4000, seed=4, batch_rows=1500)
    record = db.table(f"{fresh_name}__model").to_pandas().iloc[0]
    assert record["rows_kept"] == model.rows_kept == 4000
    assert record["rows_drawn"] == model.rows_drawn > 4000
    assert record["rejection_rate"] == pytest.approx((model.rows_drawn - 4000) / 4000) == model.rejection_rate
    assert 0.05 < record["rejection_rate"] < 1  # a product of marginals puts incomes on many children
    assert ss.Model.from_json(record["model"]).rules == (NO_CHILD_INCOME,)
    # without rules: nothing redrawn, and the record says so; an existing __model is replaced only when asked
    plain = ss.fit(db, "eusilc", method="independent", spec=spec_of(db, False), seed=3)
    with pytest.raises(ss.TargetError, match=f"'{fresh_name}' already exists"):
        ss.materialize(db, plain, fresh_name, rows=100, seed=4)
    db.backend.drop_table(fresh_name)
    with pytest.raises(ss.TargetError, match=f"'{fresh_name}__model' already exists; pass replace=True"):
        ss.materialize(db, plain, fresh_name, rows=100, seed=4)
    ss.materialize(db, plain, fresh_name, rows=100, seed=4, replace=True)
    record = db.table(f"{fresh_name}__model").to_pandas().iloc[0]
    assert (record["rows_drawn"], record["rows_kept"], record["rejection_rate"]) == (100, 100, 0.0)
