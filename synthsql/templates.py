"""SQL templates from ``sql/*.sql``: loaded by name, bound in the syntax tree, rendered for the connected dialect.

A template is written once in DuckDB's dialect. It reads placeholder tables (``original``, ``synthetic``) and holds
named placeholders (``$original_key``) where an expression built by the caller goes. :func:`bind` parses the
template with sqlglot, puts the caller's sqlglot expressions in place of the placeholders
(:func:`sqlglot.exp.replace_placeholders`) and the real table names in place of the placeholder tables
(:func:`sqlglot.exp.replace_tables`), and quotes every identifier; nothing is ever pasted into SQL text.
:func:`render` writes the bound tree for a dialect (``duckdb`` or ``postgres``).

>>> from sqlglot import exp
>>> tree = bind("key_matches", tables={"original": "persons", "synthetic": "persons_synth"},
...             original_key=exp.column("age", "o"), synthetic_key=exp.column("age", "s"))
>>> '"persons" AS "o"' in tree.sql("postgres")
True
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib.resources import files

import sqlglot
from sqlglot import exp

from synthsql.connection import TableRef
from synthsql.engines import ENGINES
from synthsql.errors import InvalidParameterError, did_you_mean

__all__ = ["names", "load", "placeholders", "bind", "render", "TEMPLATE_DIALECT"]

TEMPLATE_DIALECT = "duckdb"  # the dialect every sql/*.sql file is written in


def names() -> list[str]:
    """The names of the shipped templates (file names without ``.sql``), sorted."""
    return sorted(p.name[: -len(".sql")] for p in files("synthsql.sql").iterdir() if p.name.endswith(".sql"))


@functools.cache
def _parsed(name: str) -> exp.Expression:
    known = names()
    if name not in known:
        raise InvalidParameterError(
            f"Unknown SQL template {name!r}.{did_you_mean(name, known)} Templates are {', '.join(known)}."
        )
    text = files("synthsql.sql").joinpath(f"{name}.sql").read_text(encoding="utf-8")
    return sqlglot.parse_one(text, read=TEMPLATE_DIALECT)


def load(name: str) -> exp.Expression:
    """The parsed template ``name`` (a fresh copy: callers may change it)."""
    return _parsed(name).copy()


def placeholders(name: str) -> set[str]:
    """The named placeholders of a template (``$name`` in the file)."""
    return {p.name for p in _parsed(name).find_all(exp.Placeholder)}


def _table_names(name: str) -> set[str]:
    tree = _parsed(name)
    ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
    return {t.name for t in tree.find_all(exp.Table) if t.name not in ctes}


def bind(
    name: str,
    /,
    *,
    tables: Mapping[str, str | TableRef | exp.Query],
    **values: exp.Expression,
) -> exp.Expression:
    """Template ``name`` with its placeholder tables and placeholders replaced, every identifier quoted.

    ``tables`` maps each placeholder table of the template (``original``, ``synthetic``) to a real table,
    ``table`` or ``schema.table``, or to a query (a sqlglot ``SELECT``, e.g. a compiled Ibis expression), which
    takes the table's place as a subquery; ``values`` maps each placeholder to a sqlglot expression. A missing or
    unknown table or placeholder is an :class:`~synthsql.errors.InvalidParameterError` naming it.
    """
    tree = load(name)
    expected = placeholders(name)
    for label, given, wanted in (("placeholder", set(values), expected), ("table", set(tables), _table_names(name))):
        missing, unknown = sorted(wanted - given), sorted(given - wanted)
        if missing:
            raise InvalidParameterError(f"SQL template {name!r} needs a value for the {label} {missing[0]!r}.")
        if unknown:
            raise InvalidParameterError(
                f"SQL template {name!r} has no {label} {unknown[0]!r}.{did_you_mean(unknown[0], wanted)}"
            )
    for key, value in values.items():
        if not isinstance(value, exp.Expression):
            raise InvalidParameterError(
                f"The value of placeholder {key!r} must be a sqlglot expression, got {type(value).__name__}."
            )
    ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
    mapping: dict[str, str] = {}
    queries = {k: v for k, v in tables.items() if isinstance(v, exp.Query)}
    for placeholder, table in tables.items():
        if placeholder in queries:
            continue
        ref = TableRef.parse(table)
        if ref.schema is None and ref.name in ctes:
            raise InvalidParameterError(
                f"Table {ref.name!r} has the name of a step of SQL template {name!r}; name it with its schema "
                f"('schema.{ref.name}')."
            )
        # The quoted name, written and read back by sqlglot in the template's dialect: quotes survive the trip.
        mapping[placeholder] = ref.sqlglot().sql(dialect=TEMPLATE_DIALECT)
    # Copies, so that the caller's expressions are never re-parented; each placeholder occurs once in a template
    # (checked by the tests), so no node is shared between two places.
    tree = exp.replace_placeholders(tree, **{key: value.copy() for key, value in values.items()})
    tree = exp.replace_tables(tree, mapping, dialect=TEMPLATE_DIALECT)
    for ident in tree.find_all(exp.Identifier):
        ident.set("quoted", True)
    for node in list(tree.find_all(exp.Table)):  # after quoting: the subqueries keep their own quoting
        if node.name in queries and not node.args.get("db") and node.name not in ctes:
            alias = node.alias or node.name
            node.replace(exp.Subquery(this=queries[node.name].copy(), alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True))))
    return tree


def render(name: str, dialect: str, /, *, tables: Mapping[str, str | TableRef], **values: exp.Expression) -> str:
    """The SQL text of template ``name`` bound as in :func:`bind`, written for ``dialect`` (pretty-printed)."""
    known = sorted(e.dialect for e in ENGINES.values())
    if dialect not in known:
        raise InvalidParameterError(
            f"Unknown dialect {dialect!r}.{did_you_mean(dialect, known)} Use one of {', '.join(map(repr, known))}."
        )
    return bind(name, tables=tables, **values).sql(dialect=dialect, pretty=True)
