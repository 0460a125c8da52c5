"""Optional parts (issue 17, item 8): DP, PostgreSQL and Spark are extras; using one that is not installed is an
error naming the extra, before any work; the package's metadata declares each extra with what its code imports."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

import synthsql as ss
from synthsql.datasets.domains import domains
from synthsql.extras import EXTRAS, MissingExtraError, require

from tests.conftest import table_names

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def hide(monkeypatch, *modules: str) -> None:
    """Make ``import module`` fail as it does when the package is not installed."""
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


def test_a_dp_fit_without_the_dp_extra_names_it_before_reading_anything(duckdb_db, monkeypatch):
    spec = ss.describe(duckdb_db, "cps1988", columns=domains("cps1988"))
    hide(monkeypatch, "opendp", "opendp.prelude")
    monkeypatch.setattr(type(duckdb_db), "fetchall", lambda *a, **k: pytest.fail("a marginal was queried"))
    for method in ("mst", "aim", "privbayes"):
        with pytest.raises(MissingExtraError, match=r"needs the extra synthsql\[dp\].*pip install 'synthsql\[dp\]'"):
            ss.fit(duckdb_db, "cps1988", method=method, spec=spec, epsilon=1.0)


def test_the_pgm_estimation_without_mbi_names_the_dp_extra(monkeypatch):
    from synthsql.generators.graphical import mbi

    hide(monkeypatch, "mbi")
    with pytest.raises(MissingExtraError, match=r"synthsql\[dp\].*the module 'mbi' is not installed"):
        mbi()


def test_a_postgres_url_without_the_postgres_extra_names_it(monkeypatch):
    hide(monkeypatch, "psycopg")
    with pytest.raises(MissingExtraError, match=r"synthsql\[postgres\], for PostgreSQL databases"):
        ss.connect("postgresql://postgres@127.0.0.1:5432/test")


def test_a_spark_url_without_the_spark_extra_names_it(monkeypatch):
    hide(monkeypatch, "pyspark", "pyspark.sql")
    with pytest.raises(MissingExtraError, match=r"synthsql\[spark\].*Java 17"):
        ss.connect("spark://local[1]")


def test_require_imports_what_is_installed():
    assert require("numpy", "dp").__name__ == "numpy"
    assert set(EXTRAS) == {"dp", "postgres", "spark"}


def test_the_metadata_keeps_dp_postgres_and_spark_out_of_the_core():
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    core = " ".join(project["dependencies"])
    extras = {name: " ".join(deps) for name, deps in project["optional-dependencies"].items()}
    for package in ("opendp", "mbi", "psycopg", "pyspark", "postgres"):
        assert package not in core, package
    assert "opendp" in extras["dp"] and "mbi" in extras["dp"]
    assert "psycopg" in extras["postgres"] and "ibis-framework[postgres]" in extras["postgres"]
    assert "pyspark" in extras["spark"]


def test_nothing_is_written_when_an_extra_is_missing(duckdb_db, monkeypatch):
    spec = ss.describe(duckdb_db, "cps1988", columns=domains("cps1988"))
    before = table_names(duckdb_db)
    hide(monkeypatch, "opendp", "opendp.prelude")
    with pytest.raises(MissingExtraError):
        ss.fit(duckdb_db, "cps1988", method="mst", spec=spec, epsilon=1.0, domain_share=None)
    assert table_names(duckdb_db) == before
