"""Catalogs and the CLI: validation with YAML paths, dbt-style builds (idempotent, all or nothing), exit codes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import sqlglot

import synthsql as ss
import synthsql.pipeline as pipeline
from synthsql.catalog import CatalogError, load
from synthsql.pipeline import BuildError, build
from synthsql.cli import EXIT_CATALOG, EXIT_DATABASE, EXIT_OK, EXIT_USAGE, main
from tests.conftest import read_sorted, table_names

CATALOGS = Path(__file__).resolve().parents[1] / "catalogs"


def write(tmp_path: Path, text: str, name: str = "c.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def snapshot(db: ss.Database, names) -> dict[str, pd.DataFrame]:
    return {n: read_sorted(db, n) for n in sorted(names)}


def test_the_shipped_catalogs_validate():
    catalog = load(CATALOGS)
    assert {t.source for t in catalog.tables} >= {"cps1988", "eusilc", "ses"}
    assert main(["validate", str(CATALOGS)]) == EXIT_OK


SUBSET = "cps1988_sixth"


@pytest.fixture
def subset(db: ss.Database) -> str:
    """Every sixth row of cps1988 in a fixed order (4,692 rows): the builds below test behaviour, not scale."""
    if not db.exists(SUBSET):
        columns = "wage, education, experience, ethnicity, smsa, region, parttime"
        sql = (f"CREATE TABLE {SUBSET} AS SELECT {columns} FROM (SELECT *, row_number() OVER (ORDER BY {columns}) AS k "
               f"FROM cps1988) AS s WHERE k % 6 = 0")
        with db.transaction():
            db.execute(sqlglot.parse_one(sql))
    return SUBSET


SMALL = """
version: 1
tables:
  - name: {prefix}_dp
    source: {source}
    purpose: public_use
    method: privbayes
    privacy: {{epsilon: 1.0}}
    seed: 3
    columns:
      wage: {{edges: [0, 300, 600, 1000, 20000], sensitive: true}}
      education: {{edges: [0, 12, 16, 20], key: true}}
      experience: {{edges: [-5, 10, 30, 70], key: true}}
      ethnicity: {{categories: [cauc, afam]}}
      smsa: {{categories: ["yes", "no"]}}
      region: {{categories: [northeast, midwest, south, west], key: true}}
      parttime: {{categories: ["no", "yes"]}}
    rules: [{{name: positive, condition: "wage > 0"}}]
    formulas: ["wage ~ education + region"]
    metrics: [utility, risk]
  - name: {prefix}_sci
    source: {source}
    purpose: scientific_use
    seed: 3
    columns: {{wage: {{sensitive: true}}, region: {{key: true}}, education: {{key: true}}}}
    metrics: [utility]
  - name: {prefix}_struct
    source: {source}
    purpose: structural
    metrics: [utility]
"""


def test_build_twice_gives_identical_tables(db, subset, tmp_path, fresh_name):
    catalog = load(write(tmp_path, SMALL.format(prefix=fresh_name, source=subset)))
    first = build(catalog, db)
    made = {t for b in first for t in b.tables}
    assert {f"{fresh_name}_dp", f"{fresh_name}_dp__privacy", f"{fresh_name}_dp__utility", f"{fresh_name}_sci",
            f"{fresh_name}_struct"} <= made
    assert made <= table_names(db)
    before = snapshot(db, made)
    again = build(catalog, db)
    assert {t for b in again for t in b.tables} == made
    after = snapshot(db, made)
    # The DP table's noise comes from OpenDP's unseeded sampler: its model, rows and metrics change from build to
    # build (a fixed seed would let anyone undo the noise), and so do the marginals privbayes selects with the
    # exponential mechanism (the ledger's `columns`); the ledger's steps, mechanisms and spending do not.
    # Everything else is identical.
    noisy = {f"{fresh_name}_dp", f"{fresh_name}_dp__model", f"{fresh_name}_dp__utility", f"{fresh_name}_dp__risk",
             f"{fresh_name}_dp__details"}
    assert not before[f"{fresh_name}_dp__model"].equals(after[f"{fresh_name}_dp__model"])
    ledger = f"{fresh_name}_dp__privacy"
    pd.testing.assert_frame_equal(
        before[ledger].drop(columns="columns"), after[ledger].drop(columns="columns"), obj=ledger
    )
    for name in made - noisy - {ledger}:
        pd.testing.assert_frame_equal(before[name], after[name], obj=name)


@pytest.mark.parametrize("step", ["fit", "write", "evaluate"])
def test_a_failure_at_any_step_leaves_the_database_as_it_was(db, subset, tmp_path, fresh_name, monkeypatch, step):
    catalog = load(write(tmp_path, SMALL.format(prefix=fresh_name, source=subset)))
    build(catalog, db, select=[f"{fresh_name}_struct"])  # an earlier run: its tables must survive a failed rebuild
    names = table_names(db)
    before = snapshot(db, {n for n in names if n.startswith(fresh_name)})
    target = {"fit": "fit", "write": "materialize", "evaluate": "evaluate"}[step]

    def broken(*args, **kwargs):
        raise RuntimeError(f"injected failure in {target}")

    monkeypatch.setattr(pipeline, target, broken)
    with pytest.raises(BuildError, match=f"at step '{step}'.*injected failure"):
        build(catalog, db)  # the first table (dp) fails: nothing of this run may remain
    monkeypatch.undo()
    assert table_names(db) == names
    after = snapshot(db, before)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(frame, after[name], obj=name)


def test_a_failing_metric_in_the_last_table_rolls_back_the_whole_run(db, subset, tmp_path, fresh_name, monkeypatch):
    catalog = load(write(tmp_path, SMALL.format(prefix=fresh_name, source=subset)))
    names = table_names(db)
    real = pipeline._steps

    def steps(database, table):
        out = real(database, table)
        if table.name.endswith("_sci"):
            out.append(("risk", lambda: (_ for _ in ()).throw(ValueError("metric exploded"))))
        return out

    monkeypatch.setattr(pipeline, "_steps", steps)
    with pytest.raises(BuildError, match=f"'{fresh_name}_sci' failed at step 'risk'"):
        build(catalog, db, select=[f"{fresh_name}_struct", f"{fresh_name}_sci"])
    assert table_names(db) == names  # the table built before it in the same run is gone too


@pytest.mark.slow
def test_the_shipped_catalogs_build_twice_identically(db):
    """Every table the shipped catalogs declare, built twice on each backend (about 3 minutes a backend)."""
    catalog = load(CATALOGS)
    first = build(catalog, db)
    made = {t for b in first for t in b.tables}
    expected = {t.target_name for t in catalog.tables}
    assert expected | {f"{t}__utility" for t in expected} | {f"{t}__model" for t in expected} <= made
    before = snapshot(db, made)
    build(catalog, db)
    after = snapshot(db, made)
    # differentially private tables get fresh OpenDP noise on every build, and the marginals the exponential
    # mechanism selects change with it; their ledgers repeat all but those selections (`columns`)
    private = {t for b in first if catalog.select([b.name])[0].privacy is not None for t in b.tables}
    for name in made:
        if name not in private:
            pd.testing.assert_frame_equal(before[name], after[name], obj=name)
        elif name.endswith("__privacy"):
            pd.testing.assert_frame_equal(
                before[name].drop(columns="columns"), after[name].drop(columns="columns"), obj=name
            )


def test_infer_then_build_a_table_the_catalog_has_never_seen(tmp_path, fresh_name):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    database = ss.connect(url, create=True)
    ss.datasets.load(database, "ses")
    database.backend.raw_sql(f"CREATE TABLE {fresh_name} AS SELECT * FROM ses LIMIT 3000")
    database.backend.disconnect()
    starter = tmp_path / "starter.yml"
    assert main(["infer", fresh_name, "--db", url, "-o", str(starter)]) == EXIT_OK
    assert main(["validate", str(starter), "--db", url]) == EXIT_OK
    assert main(["build", str(starter), "--db", url, "--quiet"]) == EXIT_OK
    database = ss.connect(url)
    assert database.table(f"{fresh_name}_synth").count().execute() == 3000
    assert database.exists(ss.TableRef.parse(f"{fresh_name}_synth__utility"))
    database.backend.disconnect()
    report = tmp_path / "report.html"
    assert main(["report", str(starter), "--db", url, "--select", f"{fresh_name}_synth", "-o", str(report)]) == EXIT_OK
    assert "<svg" in report.read_text() and fresh_name in report.read_text()
    assert main(["evaluate", "--db", url, "--real", fresh_name, "--synthetic", f"{fresh_name}_synth", "--no-write"]) == 0


BAD = {
    "invalid YAML": ("version: 1\ntables:\n  - name: [\n", "invalid YAML at line"),
    "unknown key": ("version: 1\ntables:\n  - {name: a, source: cps1988, sorce: x}\n", "tables[0].sorce: unknown key. Did you mean 'source'?"),
    "wrong type": ("version: 1\ntables:\n  - {name: a, source: cps1988, rows: many}\n", "tables[0].rows: Input should be a valid integer"),
    "unknown method": ("version: 1\ntables:\n  - {name: a, source: cps1988, method: bayesnett}\n", "tables[0].method: unknown method 'bayesnett'. Did you mean 'bayesnet'?"),
    "bad rule": ("version: 1\ntables:\n  - {name: a, source: cps1988, rules: [{name: r, condition: 'wage >> AND'}]}\n", "tables[0].rules[0].condition: does not parse as SQL"),
    "purpose vs privacy": ("version: 1\ntables:\n  - {name: a, source: cps1988, purpose: public_use, method: bayesnet}\n", "tables[0].purpose: public_use needs a differentially private method"),
    "DP without budget": ("version: 1\ntables:\n  - {name: a, source: cps1988, method: mst}\n", "tables[0].privacy: method 'mst' is differentially private and needs privacy"),
    "budget without DP": ("version: 1\ntables:\n  - {name: a, source: cps1988, privacy: {epsilon: 1}}\n", "tables[0].privacy: method 'bayesnet' is not differentially private"),
    "bad epsilon": ("version: 1\ntables:\n  - {name: a, source: cps1988, method: mst, privacy: {epsilon: 0}}\n", "tables[0].privacy.epsilon: Input should be greater than 0"),
    "duplicate category": ("version: 1\ntables:\n  - {name: a, source: cps1988, columns: {region: {categories: [a, a]}}}\n", "tables[0].columns.region.categories: Value error, lists the category 'a' twice"),
    "unknown top key": ("version: 1\ntabels: []\n", "tabels: unknown key. Did you mean 'tables'?"),
    "edges out of order": ("version: 1\ntables:\n  - {name: a, source: cps1988, columns: {wage: {edges: [0, 100, 50]}}}\n", "tables[0].columns.wage.edges: edges must increase strictly; 50 follows 100."),
    "reversed bin": ("version: 1\ntables:\n  - {name: a, source: cps1988, columns: {wage: {bins: [[0, 10], [50, 20]]}}}\n", "tables[0].columns.wage.bins[1]: A bin needs finite lo <= hi, got [50.0, 20.0]."),
    "bins out of order": ("version: 1\ntables:\n  - {name: a, source: cps1988, columns: {wage: {bins: [[10, 20], [0, 5]]}}}\n", "tables[0].columns.wage.bins[1]: bins must be in increasing order"),
    "bad formula": ("version: 1\ntables:\n  - {name: a, source: cps1988, formulas: ['wage education']}\n", "tables[0].formulas[0]: "),
    "unknown threshold": ("version: 1\ntables:\n  - {name: a, source: cps1988, thresholds: {tvd_2way: {good: 0.1, acceptable: 0.2}}}\n", "tables[0].thresholds: Value error, thresholds: 'tvd_2way' is not a metric. Did you mean 'tvd_2way_max'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_catalogs_get_one_clear_message_and_exit_3(tmp_path, capsys, case):
    text, message = BAD[case]
    path = write(tmp_path, text)
    with pytest.raises(CatalogError) as err:
        load(path)
    assert message in str(err.value)
    assert len([p for p in err.value.problems if message in p]) == 1
    url = f"duckdb:///{tmp_path / 'untouched.duckdb'}"
    assert main(["build", str(path), "--db", url, "--quiet"]) == EXIT_CATALOG
    assert message in capsys.readouterr().err
    assert not (tmp_path / "untouched.duckdb").exists()  # nothing was created, not even an empty database


def test_unknown_column_and_missing_source_are_found_against_the_database(db, tmp_path):
    path = write(tmp_path, "version: 1\ntables:\n  - {name: a, source: cps1988, columns: {wgae: {key: true}}}\n"
                           "  - {name: b, source: cps1989}\n")
    names = table_names(db)
    with pytest.raises(CatalogError) as err:
        build(load(path), db)
    text = str(err.value)
    assert "tables[0].columns.wgae: no such column in 'cps1988'. Did you mean 'wage'?" in text
    assert "tables[1].source: table 'cps1989' is not in the database." in text
    assert table_names(db) == names


def test_rule_formula_and_private_domain_problems_are_found_in_one_pass_before_any_work(db, tmp_path):
    path = write(tmp_path, "version: 1\ntables:\n"
                           "  - {name: a, source: cps1988, rules: [{name: r, condition: 'wagee > 0'}],"
                           " formulas: ['wage ~ educaton']}\n"
                           "  - {name: b, source: cps1988, purpose: public_use, privacy: {epsilon: 1},"
                           " columns: {wage: {edges: [0, 500, 20000]}, education: {exclude: true}}}\n")
    names = table_names(db)
    with pytest.raises(CatalogError) as err:
        build(load(path), db)
    problems = err.value.problems
    assert len(problems) == 3
    assert "tables[0].rules[0]: rule 'r' names the column 'wagee', which is not in 'cps1988'. Did you mean 'wage'?" \
        in problems[0]
    assert "tables[0].formulas[0]: the column 'educaton' is not in 'cps1988'. Did you mean 'education'?" in problems[1]
    assert ("tables[1].columns: a differentially private release needs public domains, but 'experience', "
            "'ethnicity', 'smsa', 'region', 'parttime' would have theirs read from the data") in problems[2]
    assert table_names(db) == names


def test_a_dp_release_refuses_the_domains_infer_read_from_the_data(tmp_path, fresh_name, capsys):
    """`synthsql infer` marks the domains it read (inferred: true); a public_use table built on them would publish
    values of the data outside the DP guarantee: validation refuses it, naming the columns, until they are replaced."""
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    database = ss.connect(url, create=True)
    ss.datasets.load(database, "cps1988", table=fresh_name)
    database.backend.disconnect()
    starter = tmp_path / "starter.yml"
    assert main(["infer", fresh_name, "--db", url, "-o", str(starter)]) == EXIT_OK
    text = starter.read_text()
    assert text.count("inferred: true") == 7  # every column of cps1988 has a domain read from the data
    public = text.replace("purpose: scientific_use", "purpose: public_use\n  method: mst\n  privacy: {epsilon: 1.0}")
    path = write(tmp_path, public)
    with pytest.raises(CatalogError) as err:
        load(path)
    (problem,) = [p for p in err.value.problems if "inferred" in p]
    assert "'wage', 'education', 'experience', 'ethnicity', 'smsa', 'region', 'parttime' still carry the domains" in problem
    # the columns whose domains were replaced by public ones (mark removed) are no longer named
    codebook = public.replace("inferred: true", "inferred: false", 2)
    with pytest.raises(CatalogError) as err:
        load(write(tmp_path, codebook))
    assert "'ethnicity', 'smsa', 'region', 'parttime' still carry" in str(err.value)
    assert "'wage'" not in [p for p in err.value.problems if "inferred" in p][0].split("still")[0]


def test_validate_reports_the_files_and_the_database_problems_together(tmp_path, capsys):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    database = ss.connect(url, create=True)
    ss.datasets.load(database, "cps1988")
    database.backend.disconnect()
    path = write(tmp_path, "version: 1\ntables:\n  - {name: a, source: cps1988, method: bayesnett}\n"
                           "  - {name: b, source: cps1989}\n")
    assert main(["validate", str(path), "--db", url]) == EXIT_CATALOG
    err = capsys.readouterr().err
    assert "tables[0].method: unknown method 'bayesnett'" in err  # a problem of the file
    assert "source: table 'cps1989' is not in the database." in err  # and one of the database, in the same run


def test_an_unreachable_database_exits_4(tmp_path, capsys):
    shutil.copy(CATALOGS / "cps1988.yml", tmp_path / "c.yml")
    code = main(["build", str(tmp_path / "c.yml"), "--db", "postgresql://nobody@127.0.0.1:1/none", "--quiet"])
    assert code == EXIT_DATABASE
    assert "database error" in capsys.readouterr().err


def test_help_everywhere_and_compile(capsys):
    for command in ([], ["infer"], ["validate"], ["build"], ["evaluate"], ["report"], ["compile"], ["demo"]):
        with pytest.raises(SystemExit) as exit_:
            main([*command, "--help"])
        assert exit_.value.code == 0
        assert "Exit codes" in capsys.readouterr().out
    assert main(["compile"]) == EXIT_OK
    assert "key_matches" in capsys.readouterr().out.split()
    for dialect in ("duckdb", "postgres"):
        assert main(["compile", "key_matches", "--dialect", dialect]) == EXIT_OK
        assert "SELECT" in capsys.readouterr().out
    assert main(["compile", "key_matche"]) == EXIT_USAGE  # a bad argument is a usage error (2), as argparse says
    assert "Did you mean 'key_matches'" in capsys.readouterr().err
