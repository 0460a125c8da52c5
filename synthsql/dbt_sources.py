"""``synthsql sources``: a dbt ``sources.yml`` for the releases a catalog built, so that dbt models downstream can
``source()`` them (the recommended flow for dbt-postgres, which runs no Python models: ``synthsql build``, then
``synthsql sources``, then ``dbt build``).

Each built release becomes a source table with a description (source, method, privacy, rows) and, in ``meta``, the
release's verdict from its stored metric rows (:func:`synthsql.verdict.judge`, with the catalog's thresholds);
its ``__utility``, ``__risk`` and ``__privacy`` tables are listed beside it. The release carries the synthsql dbt
package's generic tests (``integrations/dbt``): its declared rules hold, no record unique in the source is copied,
the mean 2-way TVD stays inside the registry's acceptable bound, and a DP release's ledger is within its budget.
Nothing is measured here: what is read is what ``build`` stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

from synthsql.catalog import Catalog, TableDecl
from synthsql.connection import Database, TableRef
from synthsql.errors import TableNotFoundError

__all__ = ["sources_yaml"]

#: What each table beside a release holds, for its description.
COMPANION_DESCRIPTIONS = {
    "utility": "synthsql utility metrics of {target} against {source}: one row per metric and scope (metric, scope, "
               "value, detail).",
    "risk": "synthsql disclosure-risk metrics of {target} against {source}: one row per metric and scope.",
    "privacy": "The differential-privacy ledger of {target}: one row per noisy measurement, then the 'total' row "
               "with the (epsilon, delta) spent.",
}


def sources_yaml(catalog: Catalog, db: Database, *, select: Iterable[str] | None = None, name: str = "synthsql") -> str:
    """The text of a dbt ``sources.yml`` for the selected catalog tables, which must all be built in ``db``.

    Releases are grouped by schema, one dbt source per schema: ``name`` for the database's default schema,
    ``<name>_<schema>`` for any other.
    """
    by_schema: dict[str, list[dict[str, Any]]] = {}
    for table in catalog.select(select):
        ref = TableRef.parse(table.target_name)
        if not db.exists(ref):
            raise TableNotFoundError(
                f"Table {table.target_name!r} is not built yet: run `synthsql build --select {table.name}` first."
            )
        by_schema.setdefault(ref.schema or "", []).extend(_tables(db, table, ref))
    default = db.backend.current_database
    sources = []
    for schema, tables in by_schema.items():
        source: dict[str, Any] = {"name": name if schema in ("", default) else f"{name}_{schema}",
                                  "schema": schema or default,
                                  "description": "Synthetic releases built by synthsql (do not edit: rebuild them).",
                                  "tables": tables}
        sources.append(source)
    header = "# Written by `synthsql sources`; rebuild the releases and run it again rather than editing it.\n"
    return header + yaml.safe_dump({"version": 2, "sources": sources}, sort_keys=False, allow_unicode=True, width=110)


def _tables(db: Database, table: TableDecl, ref: TableRef) -> list[dict[str, Any]]:
    """The source entries of one release: the release itself (described, judged, tested), then its metric tables."""
    from synthsql.metrics.registry import with_thresholds
    from synthsql.verdict import judge

    stored = {kind: ref.companion(f"__{kind}") for kind in COMPANION_DESCRIPTIONS}
    present = {kind: r for kind, r in stored.items() if db.exists(r)}
    frames = {kind: db.table(present[kind]).to_pandas() for kind in ("utility", "risk") if kind in present}
    verdict = judge(frames.get("utility"), frames.get("risk"), thresholds=table.thresholds)
    method = table.method_name
    privacy = table.privacy
    privacy_text = (f"differentially private (epsilon {privacy.epsilon:g}, delta {privacy.delta:g})"
                    if privacy is not None else "not differentially private")
    description = (
        f"Synthetic release of {table.source} ({table.purpose}, method {method}, {privacy_text}), built by synthsql "
        f"from the catalog table {table.name!r}. Verdict: {verdict.overall.upper()} "
        f"({', '.join(f'{group}: {level}' for group, level in verdict.groups.items())})."
    )
    tests: list[Any] = []
    if table.rules:
        tests.append("synthsql.synthsql_rules_hold")
    if "risk" in present:
        tests.append("synthsql.synthsql_no_replicated_uniques")
    if "utility" in present:
        limit = with_thresholds(table.thresholds)["tvd_2way_mean"].acceptable
        tests.append({"synthsql.synthsql_tvd_below": {"arguments": {"max": float(_upper(limit))}}})
    if privacy is not None and "privacy" in present:
        tests.append({"synthsql.synthsql_budget_within": {"arguments": {"epsilon": privacy.epsilon,
                                                                         "delta": privacy.delta}}})
    release: dict[str, Any] = {
        "name": ref.name,
        "description": description,
        "meta": {"synthsql": {"source": table.source, "catalog_table": table.name, "purpose": table.purpose,
                              "method": method, "verdict": verdict.overall, "groups": dict(verdict.groups)}},
    }
    if tests:
        release["data_tests"] = tests
    out = [release]
    for kind, companion in present.items():
        out.append({"name": companion.name,
                    "description": COMPANION_DESCRIPTIONS[kind].format(target=ref.name, source=table.source),
                    "meta": {"synthsql": {"release": ref.name, "kind": kind}}})
    return out


def _upper(limit: Any) -> float:
    """The upper end of a threshold: a one-sided limit is itself, a range ``(low, high)`` its high end."""
    return float(limit[1]) if isinstance(limit, (tuple, list)) else float(limit)
