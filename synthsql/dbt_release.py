"""The Python side of the dbt package's ``synthetic`` materialization (``integrations/dbt``).

A dbt model ``{{ config(materialized='synthetic', method='mst', epsilon=1, ...) }} select ... from {{ ref('x') }}``
is one table of a catalog: its config keys are a catalog table's keys (:class:`synthsql.catalog.TableDecl`, with
the privacy keys ``epsilon``, ``delta``, ``domain_share``, ``noise`` and ``noise_seed`` written flat, as dbt configs
are). dbt-duckdb runs this on the model's own DuckDB connection, after dbt itself created the model's ``select`` as
the temporary view ``<model>__source`` (dbt runs the project's SQL; synthsql never does). :func:`build_release` then
builds the release through :func:`synthsql.pipeline.build`, in one transaction: the synthetic table with the
source's column types, ``__model``, ``__privacy`` (DP methods), ``__utility``, ``__risk`` and ``__details``. A failed
build leaves the previous release as it was; the same config and seed give the same rows.

Every key of the model's config is either dbt's own (:func:`dbt_keys`) or one synthsql reads: anything else is an
error naming the key, never silently dropped (a misspelt ``sed=7`` would otherwise build with seed 0).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from functools import cache
from typing import Any

from synthsql.catalog import Catalog, CatalogError, TableDecl, declaration
from synthsql.errors import SynthsqlError, did_you_mean

__all__ = ["PRIVACY_KEYS", "RELEASE_KEYS", "build_release", "dbt_keys", "declaration_of"]

#: The privacy settings, flat in a dbt config (``epsilon=1``), nested under ``privacy:`` in a catalog file.
PRIVACY_KEYS = ("epsilon", "delta", "domain_share", "noise", "noise_seed")
#: Every config key synthsql reads from a ``synthetic`` model.
RELEASE_KEYS = (*(k for k in TableDecl.model_fields if k not in ("name", "source", "target", "privacy")), *PRIVACY_KEYS)


class DbtConfigError(SynthsqlError):
    """A ``synthetic`` model's config that synthsql cannot build; the message names the model and the key."""


@cache
def dbt_keys() -> frozenset[str]:
    """The config keys dbt itself (and dbt-duckdb) defines for a model: they are dbt's business, not synthsql's."""
    from dbt.adapters.duckdb.impl import DuckDBAdapter
    from dbt.artifacts.resources import ModelConfig

    keys: set[str] = set()
    for cls in (ModelConfig, DuckDBAdapter.AdapterSpecificConfigs):
        for field in dataclasses.fields(cls):
            keys.add(field.name)
            alias = field.metadata.get("alias")
            if alias:
                keys.add(alias)
    return frozenset(keys)


def declaration_of(config: Mapping[str, Any], *, name: str, source: str, target: str, where: str) -> TableDecl:
    """The catalog declaration of a ``synthetic`` model from its dbt config (every key checked, problems together)."""
    unknown = sorted(k for k in config if k not in RELEASE_KEYS and k not in dbt_keys())
    problems = [
        f"{where}: config {key!r} is neither a dbt setting nor one synthsql reads.{did_you_mean(key, RELEASE_KEYS)} "
        f"synthsql reads: {', '.join(RELEASE_KEYS)}."
        for key in unknown
    ]
    item: dict[str, Any] = {k: config[k] for k in RELEASE_KEYS if k not in PRIVACY_KEYS and config.get(k) is not None}
    privacy = {k: config[k] for k in PRIVACY_KEYS if config.get(k) is not None}
    if privacy:
        item["privacy"] = privacy
    item.update(name=name, source=source, target=target)
    try:
        table = declaration(item, f"{where}: config")
    except CatalogError as err:
        problems += [p.replace("config.privacy.", "config.") for p in err.problems]
        table = None
    if problems:
        raise DbtConfigError("\n".join(problems))
    assert table is not None
    return table


def build_release(con: Any, *, config_json: str, name: str, schema: str, database: str, where: str) -> list[str]:
    """Build the release of the dbt model ``name`` into ``schema`` from its source view ``<name>__source``, on the
    dbt-duckdb connection ``con``; returns the tables written (the synthetic table first)."""
    import duckdb
    import ibis

    from synthsql.connection import Database
    from synthsql.pipeline import build

    raw = getattr(con, "_cursor", con)  # dbt-duckdb hands over its cursor wrapper
    if not isinstance(raw, duckdb.DuckDBPyConnection):
        raise DbtConfigError(f"{where}: the synthetic materialization runs on dbt-duckdb, got {type(con).__name__}.")
    current = raw.execute("SELECT current_database()").fetchone()[0]
    if database != current:
        raise DbtConfigError(
            f"{where}: the model's database {database!r} is not the connection's {current!r}; synthsql writes a "
            "release into the database it reads (set the model's database to the profile's)."
        )
    table = declaration_of(json.loads(config_json), name=name, source=f"{name}__source", target=f"{schema}.{name}",
                           where=where)
    db = Database(ibis.duckdb.from_connection(raw))
    built = build(Catalog((table,)), db)
    return list(built[0].tables)
