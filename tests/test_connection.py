from __future__ import annotations

import ibis
import pytest

import synthsql as ss
from synthsql.connection import TableRef
from synthsql.errors import ConnectionError


def test_duckdb_urls(tmp_path, monkeypatch):
    assert ss.connect("duckdb://").dialect == "duckdb"
    monkeypatch.chdir(tmp_path)
    ss.connect("duckdb:///relative.duckdb", create=True).backend.raw_sql("CREATE TABLE a (x INTEGER)")
    assert (tmp_path / "relative.duckdb").exists()
    absolute = tmp_path / "sub" / "absolute.duckdb"
    absolute.parent.mkdir()
    ss.connect(f"duckdb:///{absolute}", create=True).backend.raw_sql("CREATE TABLE a (x INTEGER)")
    assert absolute.exists()
    assert ss.connect(f"duckdb:///{absolute}").list_tables() == ["a"]  # an existing file needs no create=True


def test_config_options_reach_duckdb():
    db = ss.connect("duckdb://?threads=1", memory_limit="256MB")
    threads, memory = db.raw.execute("SELECT current_setting('threads'), current_setting('memory_limit')").fetchone()
    assert (threads, memory) == (1, "244.1 MiB")  # 256 MB in DuckDB's binary units


def test_an_ibis_backend_or_a_database_is_accepted():
    backend = ibis.duckdb.connect()
    db = ss.connect(backend)
    assert db.backend is backend
    assert ss.connect(db) is db


def test_unknown_scheme_suggests_the_right_one():
    with pytest.raises(ConnectionError, match="Did you mean 'duckdb'"):
        ss.connect("duckbd:///x.duckdb")


def test_unreachable_postgres_names_the_url_without_password():
    with pytest.raises(ConnectionError, match=r"postgresql://postgres:\*\*\*@127.0.0.1:1/test"):
        ss.connect("postgresql://postgres:secret@127.0.0.1:1/test")


def test_table_refs():
    assert TableRef.parse("persons") == TableRef("persons")
    assert TableRef.parse("stats.persons") == TableRef("persons", "stats")
    with pytest.raises(ss.TargetError):
        TableRef.parse("a.b.c")
    for bad in ['x"; DROP TABLE y; --', "a;b", "has space", "quo'te", "x" * 64]:
        with pytest.raises(ss.TargetError, match="not allowed"):
            TableRef.parse(bad).check_safe()


def test_missing_table_suggests_a_close_name(db):
    with pytest.raises(ss.TableNotFoundError, match="Did you mean 'eusilc'"):
        db.table("eusilk")
    with pytest.raises(ss.TableNotFoundError, match="no schema 'nowhere'"):
        db.table("nowhere.eusilc")
