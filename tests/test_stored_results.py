"""Reports from stored results (issue 17, item 3): what ``build`` measured is read back, not measured again, while
both tables and the request are unchanged; ``evaluate`` never silently replaces stored results."""

from __future__ import annotations

import pandas as pd
import pytest

import synthsql as ss
import synthsql.pipeline as pipeline_module
import synthsql.metrics.utility as utility_module
import synthsql.report as report_module
from synthsql.aggregates import AggregateStore
from synthsql.catalog import load
from synthsql.cli import EXIT_OK, EXIT_USAGE, main
from synthsql.pipeline import build, stored_evaluation
from synthsql.report import render_report
from synthsql.results import table_version

from tests.conftest import table_names

CATALOG = """
version: 1
tables:
  - name: {name}
    source: {source}
    method: independent
    seed: 1
    holdout: 0.2
    columns:
      wage: {{sensitive: true}}
      education: {{key: true}}
      region: {{key: true}}
    rules:
      - {{name: positive_wage, condition: "wage > 0"}}
    formulas:
      - "wage ~ education + experience + region"
"""


SMALL = "cps_tenth"  # a tenth of cps1988 (experience a multiple of 10): every step of a build, in a few seconds


def small_source(db):
    if not db.exists(ss.TableRef.parse(SMALL)):
        db.backend.raw_sql(f"CREATE TABLE {SMALL} AS SELECT * FROM cps1988 WHERE experience % 10 = 0")
        if db.dialect == "postgres":
            db.raw.commit()
    return SMALL


@pytest.fixture(scope="module")
def built(db, tmp_path_factory):
    """One build per engine, shared by the tests below in their order (the last ones change what it stored)."""
    name = f"stored_{db.dialect}"
    path = tmp_path_factory.mktemp("catalog") / "c.yml"
    path.write_text(CATALOG.format(name=name, source=small_source(db)))
    catalog = load(path)
    build(catalog, db)
    (table,) = catalog.tables
    spec = ss.describe(db, table.source, **table.describe_args())
    return name, table, spec


def words(text: str) -> str:
    return " ".join(text.split())  # rich wraps long lines


def no_measuring(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("measured again")

    monkeypatch.setattr(pipeline_module, "measure", refuse)
    monkeypatch.setattr(AggregateStore, "marginals", refuse)
    monkeypatch.setattr(utility_module, "marginal_details", refuse)
    monkeypatch.setattr(report_module, "marginal_tvd", refuse)


def test_the_report_is_drawn_from_what_build_stored_without_measuring(db, built, monkeypatch):
    _, table, spec = built
    fresh = ss.evaluate(db, spec=spec, write=False, **table.evaluate_args())
    expected = render_report(db, real=table.source, synthetic=table.target_name, spec=spec, evaluation=fresh)
    no_measuring(monkeypatch)
    stored, why = stored_evaluation(db, spec=spec, **table.evaluate_args())
    assert stored is not None, why
    for part in ("utility", "risk", "columns", "rules", "glm", "pairs"):
        pd.testing.assert_frame_equal(getattr(stored, part), getattr(fresh, part))
    assert stored.rows == fresh.rows and stored.one_way.keys() == fresh.one_way.keys()
    page = render_report(db, real=table.source, synthetic=table.target_name, spec=spec, evaluation=stored)
    assert page == expected  # the same report, to the byte, from the stored results


def test_stored_results_are_used_only_for_the_same_request_spec_and_tables(db, built):
    name, table, spec = built
    args = table.evaluate_args()
    assert stored_evaluation(db, spec=spec, **args)[0] is not None
    for changed in ({**args, "formulas": ["wage ~ education"]}, {**args, "keys": ["region"]},
                    {**args, "pmse": ["cells"]}, {**args, "rules": []}, {**args, "seed": 2}):
        stored, why = stored_evaluation(db, spec=spec, **changed)
        assert stored is None and "measured with other rules, formulas, keys or settings" in why
    other_spec = ss.describe(db, SMALL)  # no keys declared
    stored, why = stored_evaluation(db, spec=other_spec, **args)
    assert stored is None and "another description of the real table" in why
    never = ss.describe(db, "cps1988")
    stored, why = stored_evaluation(db, real="cps1988", synthetic="cps1988", spec=never)
    assert stored is None and "no stored results" in why
    db.backend.raw_sql(f"UPDATE {name} SET wage = wage + 1 WHERE wage = (SELECT max(wage) FROM {name})")
    if db.dialect == "postgres":
        db.raw.commit()
    stored, why = stored_evaluation(db, spec=spec, **args)
    assert stored is None and f"table '{name}' changed since the results were stored" in why


def test_evaluate_does_not_silently_replace_stored_results(db, built):
    fresh_name, table, spec = built
    before = db.table(f"{fresh_name}__utility").to_pandas()
    names = table_names(db)
    with pytest.raises(ss.TargetError, match=f"'{fresh_name}__utility' already holds results measured earlier.*"
                                             "replace=True"):
        ss.evaluate(db, spec=spec, pmse=["cells"], **table.evaluate_args())
    assert table_names(db) == names
    pd.testing.assert_frame_equal(db.table(f"{fresh_name}__utility").to_pandas(), before)
    again = ss.evaluate(db, spec=spec, pmse=["cells"], replace=True, **table.evaluate_args())
    assert set(again.tables) == {f"{fresh_name}__utility", f"{fresh_name}__risk", f"{fresh_name}__details"}
    assert stored_evaluation(db, spec=spec, pmse=["cells"], **table.evaluate_args())[0] is not None


def test_results_go_with_the_table_they_measured(db, fresh_name):
    source = small_source(db)
    model = ss.fit(db, source, method="independent", seed=1)
    ss.materialize(db, model, fresh_name, seed=1)
    ss.evaluate(db, real=source, synthetic=fresh_name, pmse=["cells"])
    measured = {f"{fresh_name}__utility", f"{fresh_name}__details"}
    assert measured <= table_names(db)
    ss.materialize(db, model, fresh_name, seed=2, replace=True)  # another table: its old metrics are dropped with it
    assert not measured & table_names(db)
    again = ss.evaluate(db, real=source, synthetic=fresh_name, pmse=["cells"])  # nothing stored to refuse over
    assert set(again.tables) == measured


def test_the_table_version_is_the_same_on_every_engine_and_in_any_row_order(duckdb_db, postgres_db, fresh_name):
    versions = []
    for db in (duckdb_db, postgres_db):
        versions.append(table_version(db, "eusilc"))
        db.backend.raw_sql(f"CREATE TABLE {fresh_name} AS SELECT * FROM eusilc ORDER BY age DESC, rb030")
        if db.dialect == "postgres":
            db.raw.commit()
        assert table_version(db, fresh_name) == versions[-1]
        db.backend.raw_sql(f"UPDATE {fresh_name} SET age = age + 1 WHERE rb030 = (SELECT min(rb030) FROM eusilc)")
        if db.dialect == "postgres":
            db.raw.commit()
        assert table_version(db, fresh_name) != versions[-1]
        db.backend.raw_sql(f"DROP TABLE {fresh_name}")
        if db.dialect == "postgres":
            db.raw.commit()
    assert versions[0] == versions[1] and versions[0].startswith(f"{duckdb_db.table('eusilc').count().execute()}:")


def test_the_command_line_reports_from_stored_results_and_evaluates_a_catalog_table(tmp_path, monkeypatch, capsys):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    db = ss.connect(url, create=True)
    ss.datasets.load(db, "cps1988")
    small_source(db)
    db.backend.disconnect()
    path = tmp_path / "c.yml"
    path.write_text(CATALOG.format(name="cli_release", source=SMALL))
    assert main(["build", str(path), "--db", url, "--quiet"]) == EXIT_OK
    report = ["report", str(path), "--db", url, "--select", "cli_release", "-o", str(tmp_path / "r.html")]
    with monkeypatch.context() as patched:
        no_measuring(patched)
        assert main(report) == EXIT_OK
    assert "reporting from the results stored in cli_release__details" in words(capsys.readouterr().out)
    assert "Verdict" in (tmp_path / "r.html").read_text()
    # evaluate with the catalog's rules, formulas, keys and holdout; stored results are replaced only on request
    assert main(["evaluate", "--db", url, "--catalog", str(path), "--select", "cli_release"]) == 1
    assert "already holds results measured earlier" in words(capsys.readouterr().err)
    assert main(["evaluate", "--db", url, "--catalog", str(path), "--select", "cli_release", "--replace"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "positive_wage" in out and "wage ~ education + experience + region" in out
    assert "membership_auc" in out and "verdict:" in out
    with monkeypatch.context() as patched:  # what evaluate stored is what build stored: still no measuring
        no_measuring(patched)
        assert main(report) == EXIT_OK
    capsys.readouterr()
    # the synthetic table changes: the report measures again, and says why
    db = ss.connect(url)
    db.backend.raw_sql("DELETE FROM cli_release WHERE rowid = (SELECT min(rowid) FROM cli_release)")
    db.backend.disconnect()
    assert main(report) == EXIT_OK
    assert ("measuring cli_release again: table 'cli_release' changed since the results were stored"
            in words(capsys.readouterr().out))
    assert main(["evaluate", "--db", url, "--catalog", str(path), "--real", "cps1988"]) == EXIT_USAGE
    assert main(["evaluate", "--db", url, "--real", "cps1988"]) == EXIT_USAGE
