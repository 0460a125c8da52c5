"""Spark as an engine: the same specs, models, rows, splits and metrics as DuckDB, and releases published whole.

One local Spark session serves the whole run (``spark_db`` in conftest). DuckDB is the reference: every non-DP
generator must give a model whose JSON is identical, and the same seed the same synthetic rows. Spark has no
multi-statement transactions, so the tests of atomic publishing inject failures at each step of a release.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import synthsql as ss
from synthsql.catalog import load
from synthsql.datasets.domains import domains
from synthsql.engines import JOURNAL_PREFIX, STAGING_PREFIX, Engine, SparkEngine
from synthsql.generators import REGISTRY, fully_synthetic
from synthsql.holdout import Holdout, _value_text
from synthsql.pipeline import build
from synthsql.schema import IdentifierColumnWarning
from tests.conftest import read_sorted

pytestmark = pytest.mark.spark

NON_DP = [m for m in fully_synthetic() if not getattr(REGISTRY[m], "private", False)]


def describe(db: ss.Database, table: str, **kwargs) -> ss.TableSpec:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifierColumnWarning)
        return ss.describe(db, table, **kwargs)


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Values as Python objects, every missing value None (the drivers mark a NULL double as NaN or None)."""
    return frame.astype(object).where(frame.notna(), None)


def staging_tables(db: ss.Database) -> list[str]:
    return [name for name in db.list_tables() if name.startswith(STAGING_PREFIX)]


@pytest.fixture(scope="module")
def eusilc_specs(spark_db, duckdb_db):
    return describe(spark_db, "eusilc"), describe(duckdb_db, "eusilc")


def test_the_engine_and_its_pinned_settings(spark_db, spark_session):
    assert isinstance(spark_db.engine, SparkEngine) and spark_db.dialect == "spark"
    assert spark_session.conf.get("spark.sql.caseSensitive") == "true"
    assert spark_session.conf.get("spark.sql.ansi.enabled") == "true"
    assert spark_session.conf.get("spark.sql.session.timeZone") == "UTC"


def test_connect_takes_a_url_or_a_session(spark_db, spark_session):
    by_url = ss.connect("spark://local[2]")  # joins the running session
    assert isinstance(by_url.engine, SparkEngine) and by_url.raw is spark_session
    assert "eusilc" in by_url.list_tables()
    for bad in ("spark://", "spark://host/path"):
        with pytest.raises(ss.errors.ConnectionError, match="names a master"):
            ss.connect(bad)


@pytest.mark.parametrize("table", ["cps1988", "mixed"])
def test_describe_gives_duckdbs_spec(spark_db, duckdb_db, eusilc_specs, table):
    assert describe(spark_db, table) == describe(duckdb_db, table)
    assert eusilc_specs[0] == eusilc_specs[1]


@pytest.mark.parametrize("method", NON_DP)
def test_models_and_rows_are_duckdbs(spark_db, duckdb_db, method, fresh_name):
    """On the table with every kind synthsql models (NULLs, dates, timestamps, a point mass); eusilc's 28 columns
    are fitted in the holdout test below."""
    specs = [describe(db, "mixed", exclude=["children"]) for db in (spark_db, duckdb_db)]
    models = [ss.fit(db, "mixed", method=method, spec=spec, seed=3) for db, spec in zip((spark_db, duckdb_db), specs)]
    assert models[0].to_json() == models[1].to_json()
    for db, model in zip((spark_db, duckdb_db), models):
        ss.materialize(db, model, fresh_name, rows=2000, seed=4)
    spark_rows, duckdb_rows = (plain(read_sorted(db, fresh_name)) for db in (spark_db, duckdb_db))
    pd.testing.assert_frame_equal(spark_rows, duckdb_rows, check_dtype=False)
    assert spark_db.table(fresh_name).schema() == spark_db.table("mixed").schema()


def test_a_dp_model_with_reproducible_noise_is_duckdbs(spark_db, duckdb_db):
    spec = [describe(db, "cps1988", columns=domains("cps1988")) for db in (spark_db, duckdb_db)]
    models = [
        ss.fit(db, "cps1988", method="privbayes", spec=s, epsilon=1.0, noise="reproducible", noise_seed=5, seed=2)
        for db, s in zip((spark_db, duckdb_db), spec)
    ]
    assert models[0].to_json() == models[1].to_json()


def test_holdout_split_and_fit_are_duckdbs(spark_db, duckdb_db, eusilc_specs):
    split = Holdout(0.25, seed=7)
    held = [split.holdout(db.table("eusilc")).to_pandas() for db in (spark_db, duckdb_db)]
    key = ["rb030"]
    pd.testing.assert_frame_equal(
        held[0].sort_values(key).reset_index(drop=True), held[1].sort_values(key).reset_index(drop=True),
        check_dtype=False,
    )
    assert 0.2 < len(held[0]) / eusilc_specs[0].n_rows < 0.3
    models = [ss.fit(db, "eusilc", method="bayesnet", spec=spec, seed=1, holdout=split)
              for db, spec in zip((spark_db, duckdb_db), eusilc_specs)]
    assert models[0].to_json() == models[1].to_json()
    assert not any(name.startswith("_synthsql_training_") for name in spark_db.list_tables())


def test_doubles_hash_alike_on_every_engine(spark_db, duckdb_db):
    """The row text behind every seeded split and sample: doubles of every magnitude spell alike."""
    rng = np.random.default_rng(11)
    magnitudes = 10.0 ** rng.integers(-320, 300, size=3000)
    values = np.concatenate([
        rng.random(3000) * magnitudes * np.where(rng.random(3000) < 0.5, -1, 1),
        np.round(rng.lognormal(8, 3, size=1000), 2),  # amounts with cents, past 1e7
        [0.0, -0.0, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.1, 1 / 3, 1e-3, 1e7, 9999999.5],
    ])
    table = pa.table({"i": pa.array(np.arange(len(values))), "x": pa.array(values)})
    texts = []
    for db in (spark_db, duckdb_db):
        ss.write_table(db, "doubles", table, replace=True)
        t = db.table("doubles")
        texts.append(t.select("i", v=_value_text(t.x, "x")).to_pandas().sort_values("i")["v"].tolist())
    assert texts[0] == texts[1]


def test_partial_synthesis_is_duckdbs(spark_db, duckdb_db, eusilc_specs, fresh_name):
    tables = []
    for db, spec in zip((spark_db, duckdb_db), eusilc_specs):
        model = ss.fit(db, "eusilc", synthesize=["py010n", "pl030"], spec=spec, id="rb030")
        ss.materialize(db, model, fresh_name, seed=1, batch_rows=5000)
        tables.append(db.table(fresh_name).to_pandas().sort_values("rb030").reset_index(drop=True))
    pd.testing.assert_frame_equal(tables[0], tables[1], check_dtype=False)


def test_evaluation_is_duckdbs(spark_db, duckdb_db, fresh_name):
    results = []
    for db in (spark_db, duckdb_db):
        spec = describe(db, "cps1988")
        model = ss.fit(db, "cps1988", method="bayesnet", spec=spec, seed=1)
        ss.materialize(db, model, fresh_name, seed=2)
        result = ss.evaluate(db, real="cps1988", synthetic=fresh_name, spec=spec, pmse=["cells", "cart"],
                             keys=["region", "ethnicity", "smsa"], targets=["parttime"])
        results.append(result)
        assert set(result.tables) <= set(db.list_tables()) and not staging_tables(db)
    for part in ("utility", "risk"):
        spark_frame, duckdb_frame = (getattr(r, part).set_index(["metric", *([c for c in ("scope", "columns")
                                     if c in getattr(r, part)])]) for r in results)
        spark_frame, duckdb_frame = spark_frame.sort_index(), duckdb_frame.sort_index()
        assert spark_frame.index.equals(duckdb_frame.index)
        np.testing.assert_allclose(spark_frame["value"], duckdb_frame["value"], rtol=1e-9, atol=1e-12)
    written = read_sorted(spark_db, f"{fresh_name}__utility")
    assert len(written) == len(results[0].utility)


# --------------------------------------------------------------------------------------------------------------
# Publishing without transactions
# --------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def private_model(spark_db):
    spec = describe(spark_db, "cps1988", columns=domains("cps1988"))
    return ss.fit(spark_db, "cps1988", method="privbayes", spec=spec, epsilon=1.0, seed=2)


def test_a_release_is_published_whole(spark_db, private_model, fresh_name):
    ss.materialize(spark_db, private_model, fresh_name, seed=1)
    assert {fresh_name, f"{fresh_name}__privacy"} <= set(spark_db.list_tables()) and not staging_tables(spark_db)
    assert spark_db.table(fresh_name).count().execute() == private_model.spec.n_rows


def test_a_release_that_fails_publishes_nothing(spark_db, private_model, fresh_name, monkeypatch):
    before = set(spark_db.list_tables())

    def broken(model):
        raise RuntimeError("ledger lost")

    monkeypatch.setattr("synthsql.pipeline.privacy_table", broken)
    with pytest.raises(RuntimeError, match="ledger lost"):
        ss.materialize(spark_db, private_model, fresh_name, seed=1)
    assert set(spark_db.list_tables()) == before  # neither table, no staging table


def test_a_failed_replacement_keeps_the_old_table(spark_db, duckdb_db, fresh_name):
    spec = describe(spark_db, "cps1988")
    model = ss.fit(spark_db, "cps1988", method="independent", spec=spec, seed=1)
    ss.materialize(spark_db, model, fresh_name, rows=100, seed=1)
    old = read_sorted(spark_db, fresh_name)
    before = set(spark_db.list_tables())

    def failing():
        yield from model.sample(50, 2, batch_rows=20)
        raise RuntimeError("sampler died")

    with pytest.raises(RuntimeError, match="sampler died"):
        ss.write_table(spark_db, fresh_name, failing(), replace=True)
    assert set(spark_db.list_tables()) == before
    pd.testing.assert_frame_equal(read_sorted(spark_db, fresh_name), old)
    # a later replacement goes through, and the old table is gone with it
    ss.materialize(spark_db, model, fresh_name, rows=30, seed=3, replace=True)
    assert spark_db.table(fresh_name).count().execute() == 30 and set(spark_db.list_tables()) == before


def test_stale_staging_tables_are_dropped_by_a_later_run(spark_db, fresh_name):
    old = f"{STAGING_PREFIX}{int(time.time()) - SparkEngine.STALE_SECONDS - 60}_{fresh_name[2:]}"
    recent = f"{STAGING_PREFIX}{int(time.time())}_{fresh_name[2:]}"
    for name in (old, recent):  # as an interrupted run leaves them
        spark_db.raw.sql(f"CREATE TABLE `{name}` (x INT)").collect()
    ss.write_table(spark_db, fresh_name, pa.table({"x": [1, 2, 3]}))
    names = set(spark_db.list_tables())
    assert old not in names and recent in names  # a recent one may belong to a run still going
    spark_db.raw.sql(f"DROP TABLE `{recent}`").collect()


# --------------------------------------------------------------------------------------------------------------
# Bad input: refused before any work, naming the table and the engine, leaving nothing behind.
def test_a_view_under_the_target_name_is_refused_before_sampling(spark_db, private_model, fresh_name, monkeypatch):
    spark_db.raw.sql(f"CREATE VIEW {fresh_name} AS SELECT 1 AS x").collect()
    monkeypatch.setattr(ss.Model, "release", lambda *a, **k: pytest.fail("sampled before checking the target"))
    before = set(spark_db.list_tables())
    with pytest.raises(ss.TargetError, match=f"Spark cannot replace the table '{fresh_name}': it is a view"):
        ss.materialize(spark_db, private_model, fresh_name, seed=1, replace=True)
    assert set(spark_db.list_tables()) == before


def test_a_table_in_a_format_that_loses_values_is_refused(spark_db, private_model, fresh_name):
    spark_db.raw.sql(f"CREATE TABLE {fresh_name} (x INT) USING csv").collect()
    with pytest.raises(ss.TargetError, match=f"Spark cannot replace the table '{fresh_name}': it is stored as 'csv'"):
        ss.materialize(spark_db, private_model, fresh_name, seed=1, replace=True)
    assert spark_db.raw.sql(f"DESCRIBE TABLE EXTENDED {fresh_name}").filter("col_name = 'Provider'").first()[1] == "csv"


def test_a_session_writing_json_by_default_is_refused(spark_db, private_model, fresh_name):
    conf = spark_db.raw.conf
    conf.set("spark.sql.sources.default", "json")
    try:
        with pytest.raises(ss.TargetError, match=f"table '{fresh_name}' in its default format 'json'"):
            ss.materialize(spark_db, private_model, fresh_name, seed=1)
    finally:
        conf.set("spark.sql.sources.default", "parquet")
    assert not spark_db.exists(fresh_name)


def test_a_database_where_tables_cannot_be_created_is_refused_before_the_fit(spark_db, tmp_path, fresh_name):
    """A database whose storage cannot take a new table (its folder replaced by a file: what a read-only mount or
    a missing permission gives): a catalog build stops before describing anything, naming the table and Spark."""
    location = tmp_path / "readonly_db"
    location.mkdir()
    spark_db.raw.sql(f"CREATE DATABASE {fresh_name} LOCATION '{location}'").collect()
    location.rmdir()
    location.write_text("not a folder")
    path = tmp_path / "catalog.yml"
    path.write_text(f"version: 1\ntables:\n  - {{name: a, source: cps1988, target: {fresh_name}.a, purpose: structural}}\n")
    try:
        with pytest.raises(ss.TargetError, match=f"Spark cannot create the table '{fresh_name}.a'.*failed to create"):
            build(load(path), spark_db)
        assert spark_db.raw.sql(f"SHOW TABLES IN {fresh_name}").count() == 0
    finally:
        spark_db.raw.sql(f"DROP DATABASE {fresh_name} CASCADE").collect()


# --------------------------------------------------------------------------------------------------------------
# A two-table build interrupted at each step: no table of the run appears, the earlier tables stay, and the next
# run succeeds.
TWO_TABLES = """
version: 1
tables:
  - {{name: {p}_a, source: {small}, method: independent, seed: 1, rows: 500, metrics: []}}
  - {{name: {p}_b, source: {small}, method: bayesnet, seed: 2, rows: 300, metrics: [utility]}}
"""


@pytest.fixture(scope="module")
def small(spark_db):
    """Two columns of ``mixed``: a build's every step, at the fewest Spark statements."""
    spark_db.raw.sql("CREATE TABLE small_mixed USING parquet AS SELECT region, children FROM mixed").collect()
    yield "small_mixed"
    spark_db.raw.sql("DROP TABLE small_mixed").collect()


@pytest.mark.parametrize("step", ["describe", "fit", "write", "evaluate", "publish"])
def test_an_interrupted_two_table_build_publishes_nothing(spark_db, small, tmp_path, fresh_name, monkeypatch, step):
    import synthsql.pipeline as pipeline

    path = tmp_path / "two.yml"
    path.write_text(TWO_TABLES.format(p=fresh_name, small=small))
    catalog = load(path)
    build(catalog, spark_db, select=[f"{fresh_name}_a"])  # an earlier run: its tables must survive
    earlier = read_sorted(spark_db, f"{fresh_name}_a")
    before = set(spark_db.list_tables())
    real_steps, real_rename = pipeline._steps, SparkEngine._rename

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    def steps(db, table):
        out = real_steps(db, table)
        return [(name, interrupt if table.name.endswith("_b") and name == step else action) for name, action in out]

    def rename(engine, table, to):  # the second table of the run moved into place, then the interrupt
        if table.name.startswith(STAGING_PREFIX) and to.name == f"{fresh_name}_b":
            real_rename(engine, table, to)
            raise KeyboardInterrupt
        real_rename(engine, table, to)

    if step == "publish":
        monkeypatch.setattr(SparkEngine, "_rename", rename)
    else:
        monkeypatch.setattr(pipeline, "_steps", steps)
    with pytest.raises(KeyboardInterrupt):
        build(catalog, spark_db)
    monkeypatch.undo()
    assert set(spark_db.list_tables()) == before  # nothing of the run, no staging table; table a as it was
    pd.testing.assert_frame_equal(read_sorted(spark_db, f"{fresh_name}_a"), earlier)
    built = build(catalog, spark_db)
    assert [b.rows for b in built] == [500, 300]
    assert {f"{fresh_name}_b", f"{fresh_name}_b__utility"} <= set(spark_db.list_tables())
    assert not staging_tables(spark_db)


def test_a_run_killed_while_publishing_is_completed_by_the_next_run(spark_db, small, tmp_path, fresh_name, monkeypatch):
    """A process killed between two renames of its publishing cannot undo anything: it leaves its journal (the plan
    of the publishes), and the next run completes the publishing, so the release appears whole."""
    path = tmp_path / "two.yml"
    path.write_text(TWO_TABLES.format(p=fresh_name, small=small))
    catalog = load(path)
    build(catalog, spark_db, select=[f"{fresh_name}_a"])  # an earlier run: the killed one replaces its tables
    real_rename, real_drop = SparkEngine._rename, Engine.drop
    killed = []

    class Killed(BaseException):
        """The process is gone: no statement of the undo runs."""

    def rename(engine, table, to):
        if killed:
            raise Killed
        real_rename(engine, table, to)
        if table.name.startswith(STAGING_PREFIX) and to.name == f"{fresh_name}_b":
            killed.append(True)
            raise Killed

    def drop(engine, table):
        if killed:
            raise Killed
        real_drop(engine, table)

    monkeypatch.setattr(SparkEngine, "_rename", rename)
    monkeypatch.setattr(Engine, "drop", drop)
    with pytest.raises(Killed):
        build(catalog, spark_db)
    monkeypatch.undo()
    names = set(spark_db.list_tables())
    assert f"{fresh_name}_b" in names and f"{fresh_name}_b__utility" not in names  # half published
    assert [n for n in names if n.startswith(JOURNAL_PREFIX)]
    ss.write_table(spark_db, f"{fresh_name}_other", pa.table({"x": [1]}))  # a later run, soon: the journal may be live
    assert [n for n in spark_db.list_tables() if n.startswith(JOURNAL_PREFIX)]
    monkeypatch.setattr(SparkEngine, "RECOVER_SECONDS", -1)  # later: the journal is a killed run's
    ss.write_table(spark_db, f"{fresh_name}_other", pa.table({"x": [2]}), replace=True)
    names = set(spark_db.list_tables())
    assert {f"{fresh_name}_a", f"{fresh_name}_a__model", f"{fresh_name}_b", f"{fresh_name}_b__model",
            f"{fresh_name}_b__utility"} <= names
    assert not [n for n in names if n.startswith((JOURNAL_PREFIX, STAGING_PREFIX))]
    assert spark_db.table(f"{fresh_name}_b").count().execute() == 300
