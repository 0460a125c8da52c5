"""Identification risk of a partially synthetic release: expected match risk, true and false match rates.

Reiter and Mitra (2009, "Estimating risks of identification disclosure in partially synthetic data", Journal of
Privacy and Confidentiality 1(1)). Partial synthesis releases the original records, with some values replaced by
draws from a model; an identifier links each released record to its original record (synthsql keeps it verbatim).
An intruder knows the values of some *known* variables (quasi-identifiers; in partial synthesis they may include
synthesized columns) for a set of *target* records, and matches each target to the released records that agree
with it on all of them. For target j (of N targets):

* c_j = the number of released records that agree with target j on every known variable (the intruder's
  candidates, each equally likely to be the target; with exact matching they are the records of highest match
  probability). c_j = 0 when no released record agrees: the intruder declares no match.
* I_j = 1 when target j's own released record is among those c_j records, else 0 (so I_j = 0 when c_j = 0).
* K_j = 1 when c_j · I_j = 1 (a unique match that is the true one), F_j = 1 when c_j · (1 − I_j) = 1 (a unique match
  that is another record); s = #{j : c_j = 1}, the targets with a unique match.

Returned measures (scope: the known variables, comma-separated)

* ``expected_match_risk`` EMR = Σ_j I_j / c_j (terms with c_j = 0 are 0): the expected number of targets an intruder
  who picks one of the c_j candidates at random identifies correctly; ``expected_match_risk_pct`` = 100 · EMR / N.
* ``true_match_rate`` = 100 · Σ_j K_j / N (%), ``false_match_rate`` = 100 · Σ_j F_j / s (%; NaN when s = 0).
* the counts behind them: ``targets`` N, ``unique_matches`` s, ``true_matches`` Σ K_j, ``false_matches`` Σ F_j,
  ``no_matches`` #{j : c_j = 0}.

Releasing the original table unchanged gives I_j = 1 for every target, the most an intruder can get: with every
record a target, EMR is the number of distinct combinations of the known variables, TMR the share of records unique
on them, and FMR = 0. Synthesizing known variables moves records out of their own class, so EMR and TMR fall and FMR rises.

Matching follows :mod:`synthsql.metrics.risk`: NULL is a value of its own (a NULL matches a NULL), numeric known
variables (integer, numeric, date, timestamp) are compared by the cells of the spec (the same bins the generators
use; the NULL cell also holds values outside the spec's domain), categorical and boolean ones by value. The whole
computation is one SQL template (``sql/expected_match_risk.sql``); only the number of targets per (c_j, I_j) reaches
Python, so the sums are exact and the same on every backend.

Targets are every original record (default), the records whose identifiers are listed (``targets=[...]``), or the
records whose identifiers occur in the ``id`` column of a table (``targets="table"``). A target whose identifier is
not in the release has I_j = 0.

Bad input: a table that does not exist (:class:`~synthsql.errors.TableNotFoundError`), a known or id column missing
from either table or a known column missing from the spec (:class:`~synthsql.errors.ColumnNotFoundError`, with the
closest name), no known column, a duplicated one, an id that is also known, an id that is NULL or not unique in either
table (:class:`~synthsql.errors.InvalidParameterError`), no target record (:class:`~synthsql.errors.EmptyTableError`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
from sqlglot import exp

from synthsql import templates
from synthsql.connection import Database, TableRef, connect
from synthsql.errors import ColumnNotFoundError, EmptyTableError, InvalidParameterError, did_you_mean
from synthsql.metrics.risk import COLUMNS, key_expression
from synthsql.schema import NUMERIC_KINDS, ColumnSpec, TableSpec

__all__ = ["check_unique_id", "expected_match_risk", "template_values"]

_TEMPLATE = "expected_match_risk"


def template_values(
    known: Sequence[ColumnSpec], id: str, dialect: str, /, *, targets: Any = None
) -> dict[str, exp.Expression]:
    """The placeholders of ``sql/expected_match_risk.sql``: the known-variable keys, the ids and the target filter.

    ``targets`` is None (every original record), a sequence of identifier values, or a table name whose ``id``
    column lists the targets.
    """
    values: dict[str, exp.Expression] = {}
    for side, alias in (("original", "o"), ("synthetic", "s")):
        values[f"{side}_key"] = key_expression(known, alias, dialect)
        values[f"{side}_id"] = exp.column(id, alias, quoted=True)
    values["target_filter"] = _target_filter(id, targets)
    return values


def _target_filter(id: str, targets: Any) -> exp.Expression:
    if targets is None:
        return exp.true()
    column = exp.column(id, "o", quoted=True)
    if isinstance(targets, (str, TableRef)):
        ref = TableRef.parse(targets)
        listed = exp.select(exp.column(id, quoted=True)).from_(ref.sqlglot())
        return exp.In(this=column, query=exp.Subquery(this=listed))
    return exp.In(this=column, expressions=[exp.convert(v) for v in targets])


def _names(value: Any, label: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidParameterError(f"The {label!r} parameter must be a list of column names. Got {value!r} instead.")
    names = list(value)
    for name in names:
        if not isinstance(name, str):
            raise InvalidParameterError(f"The {label!r} parameter must hold column names. Got {name!r}.")
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise InvalidParameterError(f"Column {twice!r} is listed twice in {label}.")
    return names


def _check_columns(db: Database, tables: Sequence[str], names: Sequence[str], label: str) -> None:
    for table in tables:
        present = db.table(table).schema().names
        for name in names:
            if name not in present:
                raise ColumnNotFoundError(
                    f"{label} column {name!r} is not in table {table!r}.{did_you_mean(name, present)}"
                )


def check_unique_id(db: Database, table: str, id: str) -> None:
    """Refuse an id column that is NULL somewhere or not unique in ``table`` (one aggregate query)."""
    t = db.table(table)
    row = t.aggregate(rows=t.count(), ids=t[id].count(), distinct=t[id].nunique()).to_pyarrow().to_pylist()[0]
    rows, ids, distinct = (int(row[k] or 0) for k in ("rows", "ids", "distinct"))
    if ids < rows:
        raise InvalidParameterError(
            f"The id column {id!r} of table {table!r} is NULL in {rows - ids} of {rows} rows; it must identify every "
            "record (the column partial synthesis keeps to link a released record to its original)."
        )
    if distinct < rows:
        raise InvalidParameterError(
            f"The id column {id!r} of table {table!r} is not unique: {rows} rows but {distinct} distinct values; it "
            "must identify every record (the column partial synthesis keeps to link a released record to its original)."
        )


def expected_match_risk(
    con: Database | Any,
    original: str,
    released: str,
    spec: TableSpec,
    /,
    *,
    known: Sequence[str],
    id: str,
    targets: Any = None,
) -> pd.DataFrame:
    """Expected match risk, true and false match rates of a partially synthetic release (Reiter and Mitra 2009).

    ``known`` are the variables the intruder knows for the targets, ``id`` the identifier that links each released
    record to its original one (kept by partial synthesis), ``targets`` the target records (default: every original
    record; or a list of identifiers; or a table whose ``id`` column lists them). Returns rows of (metric, scope,
    value, detail); see the module documentation for the definitions.

    >>> import synthsql as ss
    >>> db = ss.connect("duckdb://")
    >>> _ = db.backend.raw_sql("CREATE TABLE p AS SELECT i AS pid, i % 6 AS g FROM range(8) r(i)")
    >>> spec = ss.describe(db, "p", exclude=["pid"])
    >>> risk = expected_match_risk(db, "p", "p", spec, known=["g"], id="pid")
    >>> risk.set_index("metric").loc[["expected_match_risk", "true_match_rate", "false_match_rate"], "value"].tolist()
    [6.0, 50.0, 0.0]
    """
    db = connect(con)
    names = _names(known, "known")
    if not names:
        raise InvalidParameterError(
            "Expected match risk needs at least one known variable: name the intruder's quasi-identifiers with "
            "known=[...]."
        )
    if not isinstance(id, str):
        raise InvalidParameterError(f"The 'id' parameter must be a column name. Got {id!r} instead.")
    if id in names:
        raise InvalidParameterError(
            f"Column {id!r} is both the id and a known variable; the id links records for the measure, an intruder "
            "who knows it needs no matching."
        )
    tables = [original, released]
    _check_columns(db, tables, names, "Known")
    _check_columns(db, tables, [id], "Id")
    cols: list[ColumnSpec] = []
    for name in names:
        if name not in spec.names:
            raise ColumnNotFoundError(
                f"Known column {name!r} is not in the spec of table {spec.table!r}.{did_you_mean(name, spec.names)} "
                "Describe the table again or add it."
            )
        cols.append(spec.column(name))
    for table in dict.fromkeys(tables):
        check_unique_id(db, table, id)
    if isinstance(targets, (str, TableRef)):
        _check_columns(db, [str(targets)], [id], "Id")
    elif targets is not None:
        if not isinstance(targets, Iterable):
            raise InvalidParameterError(
                f"The 'targets' parameter must be a list of identifiers or a table name. Got {targets!r} instead."
            )
        targets = list(targets)
    values = template_values(cols, id, db.dialect, targets=targets)
    tree = templates.bind(_TEMPLATE, tables={"original": original, "synthetic": released}, **values)
    groups = [(int(c), int(i), int(linked), int(n)) for c, i, linked, n in db.fetchall(tree)]
    return pd.DataFrame(_rows(groups, cols), columns=COLUMNS)


def _rows(groups: Sequence[tuple[int, int, int, int]], cols: Sequence[ColumnSpec]) -> list[dict[str, Any]]:
    scope = ",".join(c.name for c in cols)
    n = sum(g[3] for g in groups)
    if n == 0:
        raise EmptyTableError("There is no target record: the original table is empty or no listed target is in it.")
    emr = math.fsum(count / c for c, i, _, count in groups if i == 1)
    true = sum(count for c, i, _, count in groups if c == 1 and i == 1)
    false = sum(count for c, i, _, count in groups if c == 1 and i == 0)
    unique = true + false
    none = sum(count for c, _, _, count in groups if c == 0)
    unlinked = sum(count for _, _, linked, count in groups if linked == 0)
    binned = [f"{c.name} ({c.cells} cells)" for c in cols if c.kind in NUMERIC_KINDS]
    note = f"; numeric known variables compared by the spec's cells: {', '.join(binned)}" if binned else ""
    note += f"; {unlinked} targets have no released record" if unlinked else ""

    def row(metric: str, value: float, detail: str) -> dict[str, Any]:
        return {"metric": metric, "scope": scope, "value": float(value), "detail": detail + note}

    return [
        row("expected_match_risk", emr, f"sum over {n} targets of I/c: expected correct identifications"),
        row("expected_match_risk_pct", 100.0 * emr / n, f"100 * EMR / {n} targets"),
        row("true_match_rate", 100.0 * true / n, f"{true} of {n} targets match one released record, their own"),
        row(
            "false_match_rate",
            100.0 * false / unique if unique else math.nan,
            f"{false} of {unique} unique matches are another record" if unique else "no target has a unique match",
        ),
        row("targets", n, "target records (N)"),
        row("unique_matches", unique, f"targets with exactly one matching released record (s), of {n}"),
        row("true_matches", true, f"unique matches that are the target's own record, of {n}"),
        row("false_matches", false, f"unique matches that are another record, of {unique}"),
        row("no_matches", none, f"targets no released record matches, of {n}"),
    ]

