"""synthsql from dbt: real ``dbt build`` / ``dbt test`` runs (dbt-duckdb, dbt-postgres) of a small project.

The project is seed -> staging view -> synthetic models (``materialized='synthetic'``, the package in
integrations/dbt) -> synthsql's generic tests. Every synthsql key of a model's config is set (some in
dbt_project.yml, the rest in ``config()``); that each reached synthsql is shown by building the same declarations
with ``synthsql build`` from a catalog and finding the same rows and the same metric rows.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import yaml
from psycopg import sql

import synthsql as ss
from synthsql.dbt_release import PRIVACY_KEYS, RELEASE_KEYS, DbtConfigError, declaration_of
from tests.conftest import PG_URL, REQUIRE_DBT, real_table

pytestmark = pytest.mark.dbt
if not REQUIRE_DBT:  # under CI a missing dbt fails these tests instead
    pytest.importorskip("dbt.adapters.duckdb", reason="the [dbt] extra is not installed (pip install -e '.[dbt]')")

PACKAGE = Path(__file__).resolve().parents[1] / "integrations" / "dbt"
DBT = Path(sys.executable).with_name("dbt")
ROWS = 2000

#: The scientific-use model: every non-privacy key synthsql reads (seed and k come from dbt_project.yml).
SCIENTIFIC = {
    "purpose": "scientific_use",
    "method": "bayesnet",
    "params": {"degree": 2},
    "rows": 1500,
    "max_rows": 100000,
    "holdout": 0.2,
    "columns": {"wage": {"sensitive": True}, "region": {"key": True}, "education": {"key": True},
                "ethnicity": {"key": True}, "parttime": {"sensitive": True}},
    "rules": [{"name": "positive_wage", "condition": "wage > 0"},
              {"name": "school_before_work", "condition": "experience >= -6", "when": "education IS NOT NULL"}],
    "formulas": ["wage ~ education + experience + region", {"formula": "parttime ~ education", "family": "binomial"}],
    "metrics": ["utility", "risk"],
    "thresholds": {"tvd_2way_mean": {"good": 0.02, "acceptable": 0.2}},
    "exclude_target_levels": {"parttime": ["no"]},
}
PROJECT_LEVEL = {"seed": 11, "k": 3}
#: The public-use model: differentially private with public domains, reproducible (seeded) noise so that the test
#: can compare; its row count is the model's noisy count.
PUBLIC = {
    "purpose": "scientific_use",  # public_use would refuse the reproducible noise the comparison needs
    "method": "mst",
    "epsilon": 1.0,
    "delta": 1e-9,
    "noise": "reproducible",
    "noise_seed": 5,
    "domain_share": 0.1,
    "columns": {"ethnicity": {"categories": ["cauc", "afam"], "key": True},
                "smsa": {"categories": ["yes", "no"]},
                "region": {"categories": ["northeast", "midwest", "south", "west"], "key": True},
                "parttime": {"categories": ["no", "yes"], "sensitive": True},
                "education": {"kind": "integer", "edges": [0, 6, 9, 12, 13, 16, 20], "key": True}},
    "metrics": ["utility", "risk"],
}


def _dbt(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DBT_PROFILES_DIR": str(project), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
           "DO_NOT_TRACK": "1", "DBT_USE_COLORS": "false", "DBT_PARTIAL_PARSE": "false"}
    return subprocess.run([str(DBT), *args, "--project-dir", str(project)], env=env, check=False, capture_output=True, text=True,
                          timeout=900, cwd=project)


def _jinja(value: Any) -> str:
    """A config value as a Jinja literal (JSON, with Jinja's true/false)."""
    return json.dumps(value).replace("true", "True").replace("false", "False")


def _model(config: dict[str, Any], source: str = "stg_persons") -> str:
    args = ",\n          ".join(f"{key}={_jinja(value)}" for key, value in config.items())
    return f"{{{{ config(materialized='synthetic',\n          {args}) }}}}\nselect * from {{{{ ref('{source}') }}}}\n"


def _persons() -> pa.Table:
    """A seeded sample of ROWS rows of cps1988 (the file is sorted by region: its head is all 'northeast')."""
    table = real_table("cps1988")
    return table.take(np.sort(np.random.default_rng(0).choice(table.num_rows, ROWS, replace=False)))


def _write_seed(path: Path) -> pd.DataFrame:
    frame = _persons().to_pandas()
    frame.to_csv(path, index=False)
    return frame


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dbt-duckdb project, built once with `dbt build` (tests then change it and build again)."""
    if not DBT.exists():
        message = f"dbt is not installed beside {sys.executable} (pip install -e '.[dbt]')"
        if REQUIRE_DBT:
            pytest.fail(message)
        pytest.skip(message)
    root = tmp_path_factory.mktemp("dbt-duckdb")
    (root / "models").mkdir()
    (root / "seeds").mkdir()
    (root / "dbt_project.yml").write_text(yaml.safe_dump({
        "name": "release", "version": "1.0", "config-version": 2, "profile": "release",
        "models": {"release": {"+" + key: value for key, value in PROJECT_LEVEL.items()}},
    }))
    (root / "profiles.yml").write_text(yaml.safe_dump({"release": {"target": "dev", "outputs": {
        "dev": {"type": "duckdb", "path": str(root / "warehouse.duckdb"), "threads": 1}}}}))
    (root / "packages.yml").write_text(yaml.safe_dump({"packages": [{"local": str(PACKAGE)}]}))
    _write_seed(root / "seeds" / "persons.csv")
    (root / "models" / "stg_persons.sql").write_text("select * from {{ ref('persons') }}\n")
    (root / "models" / "persons_scientific.sql").write_text(_model(SCIENTIFIC))
    (root / "models" / "persons_public.sql").write_text(_model(PUBLIC))
    (root / "models" / "schema.yml").write_text(yaml.safe_dump({"version": 2, "models": [
        {"name": "persons_scientific", "description": "The scientific-use file of the persons table.",
         "data_tests": [{"synthsql.synthsql_tvd_below": {"arguments": {"max": 0.2}}}, "synthsql.synthsql_rules_hold"]},
        {"name": "persons_public", "description": "The public-use file of the persons table.",
         "data_tests": [{"synthsql.synthsql_tvd_below": {"arguments": {"max": 0.6, "way": 1, "statistic": "max"}}}]},
    ]}, sort_keys=False))
    deps = _dbt(root, "deps")
    assert deps.returncode == 0, deps.stdout + deps.stderr
    built = _dbt(root, "build")
    assert built.returncode == 0, built.stdout + built.stderr
    return root


def _read(project: Path, query: str) -> pd.DataFrame:
    with duckdb.connect(str(project / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(query).df()


def _sorted(project: Path, table: str) -> pd.DataFrame:
    frame = _read(project, f"select * from {table}")
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def test_dbt_build_writes_the_release_with_the_source_types_and_its_tests_pass(project: Path) -> None:
    types = {name: _read(project, f"select column_name, data_type from information_schema.columns "
                                  f"where table_name = '{name}' order by ordinal_position")
             for name in ("persons", "persons_scientific", "persons_public")}
    assert types["persons_scientific"].equals(types["persons"])
    assert types["persons_public"].equals(types["persons"])
    assert "INTEGER" in set(types["persons"]["data_type"])  # what dbt would widen to BIGINT through Arrow
    tables = set(_read(project, "select table_name from information_schema.tables")["table_name"])
    for kind in ("model", "utility", "risk", "details"):
        assert f"persons_scientific__{kind}" in tables and f"persons_public__{kind}" in tables
    assert "persons_public__privacy" in tables and "persons_scientific__privacy" not in tables
    assert "persons_scientific__source" not in tables  # the model's select was a temporary view
    assert len(_read(project, "select * from persons_scientific")) == SCIENTIFIC["rows"]
    assert set(_read(project, "select distinct region from persons_scientific")["region"]) <= {
        "northeast", "midwest", "south", "west"}


def test_dbt_docs_describe_the_release(project: Path) -> None:
    """`dbt docs generate` documents the release as a node, with the source's column types and its description."""
    run = _dbt(project, "docs", "generate")
    assert run.returncode == 0, run.stdout
    catalog = json.loads((project / "target" / "catalog.json").read_text())
    node = catalog["nodes"]["model.release.persons_scientific"]
    assert {c["name"]: c["type"] for c in node["columns"].values()}["education"] == "INTEGER"
    manifest = json.loads((project / "target" / "manifest.json").read_text())
    model = manifest["nodes"]["model.release.persons_scientific"]
    assert model["description"] == "The scientific-use file of the persons table."
    assert model["depends_on"]["nodes"] == ["model.release.stg_persons"]  # lineage from the source


def test_every_config_key_reaches_synthsql(project: Path, tmp_path: Path) -> None:
    """The same declarations built by `synthsql build` from a catalog give the same rows and metric rows."""
    catalog = tmp_path / "release.yml"
    tables = []
    for name, config in (("persons_scientific", SCIENTIFIC), ("persons_public", PUBLIC)):
        config = {**config, **PROJECT_LEVEL}  # dbt_project.yml sets them for every model
        item = {k: v for k, v in config.items() if k not in PRIVACY_KEYS}
        privacy = {k: config[k] for k in PRIVACY_KEYS if k in config}
        if privacy:
            item["privacy"] = privacy
        tables.append({"name": name, "source": "stg_persons", "target": f"twin.{name}", **item})
    catalog.write_text(yaml.safe_dump({"version": 1, "tables": tables}, sort_keys=False))
    copy = tmp_path / "warehouse.duckdb"  # the same file name: dbt's views name their catalog
    shutil.copy(project / "warehouse.duckdb", copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("CREATE SCHEMA twin")
    from synthsql.cli import main

    assert main(["build", str(catalog), "--db", f"duckdb:///{copy}", "--quiet"]) == 0
    with duckdb.connect(str(copy), read_only=True) as con:
        for name in ("persons_scientific", "persons_public"):
            mine, theirs = (con.execute(f"select * from {schema}.{name} order by all").df() for schema in ("main", "twin"))
            pd.testing.assert_frame_equal(mine, theirs)
            for kind in ("utility", "risk") + (("privacy",) if name == "persons_public" else ()):
                columns = "metric, scope, value" if kind != "privacy" else "step, columns, rho, epsilon, delta"
                mine = con.execute(f"select {columns} from main.{name}__{kind}").df()
                theirs = con.execute(f"select {columns} from twin.{name}__{kind}").df()
                pd.testing.assert_frame_equal(mine, theirs, obj=f"{name}__{kind}")


def test_a_dp_release_has_the_models_noisy_row_count(project: Path) -> None:
    model = ss.Model.from_json(_read(project, "select model from persons_public__model")["model"][0])
    rows = len(_read(project, "select * from persons_public"))
    assert rows == model.spec.n_rows != ROWS  # the noisy count (seeded noise here), never the exact one
    total = _read(project, "select * from persons_public__privacy where step = 'total'").iloc[0]
    assert total["epsilon"] == 1.0 and not total["differentially_private"]  # reproducible noise is marked so


def test_a_second_build_gives_the_same_rows_and_a_failed_build_changes_nothing(project: Path) -> None:
    before = _sorted(project, "persons_scientific")
    utility = _read(project, "select * from persons_scientific__utility")
    again = _dbt(project, "run", "-s", "persons_scientific")
    assert again.returncode == 0, again.stdout
    pd.testing.assert_frame_equal(_sorted(project, "persons_scientific"), before)
    model = project / "models" / "persons_scientific.sql"
    kept = model.read_text()
    impossible = {**SCIENTIFIC, "rows": 900, "rules": [{"name": "no_wage_at_all", "condition": "wage < 0"}]}
    model.write_text(_model(impossible))
    try:
        failed = _dbt(project, "run", "-s", "persons_scientific")
    finally:
        model.write_text(kept)
    assert failed.returncode == 1
    assert "no_wage_at_all" in failed.stdout
    pd.testing.assert_frame_equal(_sorted(project, "persons_scientific"), before)
    pd.testing.assert_frame_equal(_read(project, "select * from persons_scientific__utility"), utility)


def test_a_failing_generic_test_fails_dbt_test(project: Path) -> None:
    schema = project / "models" / "schema.yml"
    kept = schema.read_text()
    declared = yaml.safe_load(kept)
    for model in declared["models"]:
        if model["name"] == "persons_scientific":
            model["data_tests"].append({"synthsql.synthsql_tvd_below": {"arguments": {"max": 0.0001}}})
        else:  # reproducible noise: within the budget's numbers, but not differentially private
            model["data_tests"].append({"synthsql.synthsql_budget_within": {"arguments": {"epsilon": 1.0, "delta": 1e-9}}})
    schema.write_text(yaml.safe_dump(declared, sort_keys=False))
    try:
        run = _dbt(project, "test", "-s", "persons_scientific", "persons_public")
    finally:
        schema.write_text(kept)
    assert run.returncode == 1, run.stdout
    assert "FAIL 1 synthsql_synthsql_tvd_below_persons_scientific_0_0001" in run.stdout
    assert "FAIL 1 synthsql_synthsql_budget_within_persons_public_1e_09__1_0" in run.stdout
    assert "PASS synthsql_synthsql_tvd_below_persons_scientific_0_2" in run.stdout
    assert "PASS synthsql_synthsql_rules_hold_persons_scientific_" in run.stdout


def test_a_test_argument_that_is_not_a_number_is_refused(project: Path) -> None:
    bad = project / "models" / "bad_argument.yml"
    bad.write_text(yaml.safe_dump({"version": 2, "sources": [{"name": "release", "schema": "main", "tables": [
        {"name": "persons_public", "data_tests": [
            {"synthsql.synthsql_budget_within": {"arguments": {"epsilon": "1; drop table persons"}}}]}]}]}))
    try:
        run = _dbt(project, "test", "-s", "source:release")
    finally:
        bad.unlink()
    assert run.returncode != 0
    assert "synthsql_budget_within: epsilon must be a number, got '1; drop table persons'" in run.stdout
    assert len(_read(project, "select * from persons")) == ROWS


def test_a_misspelt_config_key_is_a_dbt_error_naming_it(project: Path) -> None:
    model = project / "models" / "persons_misspelt.sql"
    model.write_text(_model({"method": "independent", "sed": 7}))
    try:
        run = _dbt(project, "run", "-s", "persons_misspelt")
    finally:
        model.unlink()
    assert run.returncode == 1
    assert "config 'sed' is neither a dbt setting nor one synthsql reads. Did you mean 'seed'?" in run.stdout
    assert "persons_misspelt" not in set(_read(project, "select table_name from information_schema.tables")["table_name"])


@pytest.mark.parametrize("key", RELEASE_KEYS)
def test_each_synthsql_key_is_read_from_the_config(key: str) -> None:
    """Setting any key synthsql reads changes the declaration the pipeline builds: none is dropped on the way."""
    # a value for each key that is not its default
    values: dict[str, Any] = {**SCIENTIFIC, **PROJECT_LEVEL, **PUBLIC, "purpose": "twin", "method": "independent",
                              "metrics": ["utility"], "delta": 1e-7, "noise_seed": 9,
                              "null_blocks": [["education", "experience"]]}
    base: dict[str, Any] = {"materialized": "synthetic", "tags": ["release"]}
    if key in PRIVACY_KEYS:
        base.update(method="mst", epsilon=0.5, noise="reproducible", noise_seed=1)
    if key == "exclude_target_levels":
        base["columns"] = {"parttime": {"sensitive": True}}
    value = values[key]
    if key == "noise":  # private noise by default; reproducible noise comes with its seed
        base.pop("noise")
        base.pop("noise_seed")
        value = "reproducible"

    def read(config: dict[str, Any]) -> Any:
        table = declaration_of(config, name="m", source="m__source", target="main.m", where="models/m.sql")
        return getattr(table.privacy, key) if key in PRIVACY_KEYS else getattr(table, key)

    if key == "noise":
        assert read({**base, key: value, "noise_seed": 9}) != read(base)
        return
    assert read({**base, key: value}) != read(base)


def test_bad_config_values_are_named_with_the_model() -> None:
    with pytest.raises(DbtConfigError) as err:
        declaration_of({"materialized": "synthetic", "method": "mst", "epsilon": -1, "sed": 1, "rows": "many"},
                       name="m", source="m__source", target="main.m", where="models/m.sql (model m)")
    text = str(err.value)
    assert "models/m.sql (model m): config 'sed' is neither a dbt setting nor one synthsql reads." in text
    assert "models/m.sql (model m): config.epsilon: Input should be greater than 0" in text
    assert "models/m.sql (model m): config.rows: Input should be a valid integer" in text


@pytest.mark.postgres
def test_dbt_postgres_reads_releases_built_by_synthsql_as_sources(tmp_path: Path) -> None:
    """The dbt-postgres flow: `synthsql build`, `synthsql sources`, then `dbt build` of a model that source()s the
    release, with the generic tests synthsql put in sources.yml."""
    if not DBT.exists():
        pytest.fail("dbt is not installed") if REQUIRE_DBT else pytest.skip("dbt is not installed")
    db = ss.connect(PG_URL)
    schema = f"synthsql_dbt_{secrets.token_hex(4)}"
    with db.raw.cursor() as cur:
        cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        ss.write_table(db, f"{schema}.persons", _persons())
        catalog = tmp_path / "catalog.yml"
        catalog.write_text(yaml.safe_dump({"version": 1, "tables": [{
            "name": "persons_public", "source": f"{schema}.persons", "target": f"{schema}.persons_public",
            **{k: v for k, v in PUBLIC.items() if k not in PRIVACY_KEYS},
            "purpose": "public_use", "privacy": {"epsilon": 1.0, "delta": 1e-9, "domain_share": 0.1},
            "rules": [{"name": "positive_wage", "condition": "wage > 0"}],
            # the office's own bound for this small DP file: sources.yml's TVD test takes it
            "thresholds": {"tvd_2way_mean": {"good": 0.1, "acceptable": 0.4}},
        }]}, sort_keys=False))
        cli = [str(Path(sys.executable).with_name("synthsql"))]  # the commands a dbt-postgres user runs
        built = subprocess.run([*cli, "build", str(catalog), "--db", PG_URL, "--quiet"], check=False, capture_output=True, text=True)
        assert built.returncode == 0, built.stderr
        project = tmp_path / "project"
        (project / "models").mkdir(parents=True)
        written = subprocess.run([*cli, "sources", str(catalog), "--db", PG_URL, "-o", str(project / "models" / "sources.yml")],
                                 check=False, capture_output=True, text=True)
        assert written.returncode == 0, written.stderr
        sources = yaml.safe_load((project / "models" / "sources.yml").read_text())
        (release,) = [t for t in sources["sources"][0]["tables"] if t["name"] == "persons_public"]
        assert release["meta"]["synthsql"]["verdict"] in ("pass", "warn", "fail")
        assert "Verdict:" in release["description"]
        (project / "dbt_project.yml").write_text(yaml.safe_dump({
            "name": "downstream", "version": "1.0", "config-version": 2, "profile": "downstream"}))
        (project / "profiles.yml").write_text(yaml.safe_dump({"downstream": {"target": "dev", "outputs": {"dev": {
            "type": "postgres", "host": "127.0.0.1", "port": 5432, "user": "postgres", "password": "",
            "dbname": "test", "schema": schema, "threads": 1}}}}))
        (project / "packages.yml").write_text(yaml.safe_dump({"packages": [{"local": str(PACKAGE)}]}))
        source_name = sources["sources"][0]["name"]
        (project / "models" / "wages_by_region.sql").write_text(
            f"select region, count(*) as persons, avg(wage) as mean_wage\n"
            f"from {{{{ source('{source_name}', 'persons_public') }}}}\ngroup by region\n")
        assert _dbt(project, "deps").returncode == 0
        run = _dbt(project, "build")
        assert run.returncode == 0, run.stdout
        for test in ("synthsql_rules_hold", "synthsql_budget_within", "synthsql_tvd_below_", "synthsql_no_replicated_uniques"):
            assert f"PASS synthsql_source_{test}" in run.stdout
        assert "synthsql_tvd_below_synthsql_" in run.stdout and "persons_public_0_4" in run.stdout
        regions = db.backend.sql(f'select * from "{schema}"."wages_by_region"').to_pandas()
        assert set(regions["region"].dropna()) == {"northeast", "midwest", "south", "west"}  # DP: NULLs may occur
    finally:
        with db.raw.cursor() as cur:
            cur.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        db.raw.close()
