"""Evaluation results stored beside the synthetic table, and whether they still describe it.

``evaluate`` writes ``<synthetic>__utility`` and ``<synthetic>__risk`` (the metric rows, for SQL users) and
``<synthetic>__details``: one row holding the whole :class:`~synthsql.evaluate.Evaluation` (metric rows, the column
statistics, rule counts, GLM coefficients, and the counts and 2-way TVDs the report draws) as JSON, with what it
was measured on:

* the *version* of the real and of the synthetic table (:func:`table_version`): the row count and two 32-bit
  row-hash sums, one query per table; a table that changed (a row added, removed or edited) gets another version,
  short of a deliberate 64-bit collision;
* the real table's description (:class:`~synthsql.schema.TableSpec`) and the request (rules, formulas, pMSE models,
  keys, targets, holdout, seed, ...).

:func:`load_current` gives the stored evaluation back only when all of these are what the caller would measure now
(same versions, same spec, same request): the same inputs give the same metrics to the bit, so the report can be
drawn from the stored results without measuring again, and a stale record is never used.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from synthsql.connection import Database, TableRef
from synthsql.holdout import with_hashes

__all__ = ["DETAILS_FORMAT", "details_table", "load_current", "table_version"]

DETAILS_FORMAT = 1
_VERSION_HASHES = {"_synthsql_va": ("version-a", 0, 8), "_synthsql_vb": ("version-b", 0, 8)}


def table_version(db: Database, table: str | TableRef) -> str:
    """``rows:sum_a:sum_b``: the row count and the sums of two 32-bit row hashes (:func:`synthsql.holdout.with_hashes`
    over every column, the same on every engine). Integer sums, so the same table gives the same version whatever
    the order of its rows or of the database's parallel aggregation (below 2**31 rows they cannot overflow)."""
    t = db.table(table)
    hashed = with_hashes(t, _VERSION_HASHES)
    sums = hashed.aggregate(
        n=hashed.count(),
        a=hashed["_synthsql_va"].cast("int64").sum(),
        b=hashed["_synthsql_vb"].cast("int64").sum(),
    )
    row = db.backend.execute(sums).iloc[0]
    n = int(row["n"])
    a, b = (0 if n == 0 else int(row[k]) for k in ("a", "b"))
    return f"{n}:{a}:{b}"


def request_of(**args: Any) -> dict[str, Any]:
    """The evaluate arguments that decide its results, as plain JSON values (rules and the holdout by their JSON)."""
    out: dict[str, Any] = {}
    for key, value in sorted(args.items()):
        if key == "rules":
            value = [r.to_json() for r in value]
        elif key == "holdout":
            value = value.to_json() if hasattr(value, "to_json") else value  # a bad one is refused by evaluate
        elif key == "formulas":
            value = [list(f) for f in value]
        elif isinstance(value, tuple):
            value = list(value)
        out[key] = value
    return json.loads(json.dumps(out))


def details_table(evaluation: Any, *, spec: Any, request: Mapping[str, Any], versions: tuple[str, str]) -> pa.Table:
    """The one-row ``<synthetic>__details`` table for ``evaluation``."""
    content = {
        "utility": _frame_json(evaluation.utility),
        "risk": _frame_json(evaluation.risk),
        "columns": _frame_json(evaluation.columns),
        "rules": _frame_json(evaluation.rules),
        "glm": _frame_json(evaluation.glm),
        "pairs": _frame_json(evaluation.pairs),
        "one_way": {k: [a.tolist(), b.tolist()] for k, (a, b) in evaluation.one_way.items()},
        "rows": list(evaluation.rows) if evaluation.rows is not None else None,
    }
    return pa.table({
        "format": [DETAILS_FORMAT],
        "real_version": [versions[0]],
        "synthetic_version": [versions[1]],
        "spec": [json.dumps(spec.to_json(), sort_keys=True)],
        "request": [json.dumps(dict(request), sort_keys=True)],
        "content": [json.dumps(content, default=_plain)],
    })


def load_current(
    db: Database, real: str, synthetic: str, *, spec: Any, request: Mapping[str, Any]
) -> tuple[Any | None, str]:
    """``(evaluation, why)``: the evaluation stored beside ``synthetic`` when it is current, else ``(None, why
    not)``. Costs one small read and one version query per table, never a metric query."""
    from synthsql.evaluate import Evaluation

    ref = TableRef.parse(synthetic).companion("__details")
    if not db.exists(ref):
        return None, f"no stored results ({ref} does not exist)"
    record = db.backend.execute(db.table(ref))
    if len(record) != 1 or int(record["format"].iloc[0]) != DETAILS_FORMAT:
        return None, f"{ref} is not in the format this version writes"
    row = record.iloc[0]
    if json.loads(row["spec"]) != json.loads(json.dumps(spec.to_json())):
        return None, "the stored results were measured with another description of the real table"
    if json.loads(row["request"]) != json.loads(json.dumps(dict(request))):
        return None, "the stored results were measured with other rules, formulas, keys or settings"
    for name, stored in ((real, row["real_version"]), (synthetic, row["synthetic_version"])):
        if table_version(db, name) != stored:
            return None, f"table {name!r} changed since the results were stored"
    content = json.loads(row["content"])
    evaluation = Evaluation(
        utility=_frame(content["utility"], metric=True),
        columns=_frame(content["columns"]),
        rules=_frame(content["rules"]),
        glm=_frame(content["glm"]),
        risk=_frame(content["risk"], metric=True),
        pairs=_frame(content["pairs"], metric=True),
        one_way={k: (np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64))
                 for k, (a, b) in content["one_way"].items()},
        rows=tuple(content["rows"]) if content["rows"] is not None else None,
        tables=(str(ref),),
        spec=spec,
    )
    return evaluation, f"results stored in {ref}"


def _frame_json(frame: pd.DataFrame) -> dict[str, Any]:
    return {"columns": [str(c) for c in frame.columns],
            "dtypes": [str(t) for t in frame.dtypes],
            "data": frame.astype(object).where(frame.notna(), None).values.tolist()}


def _frame(data: Mapping[str, Any], *, metric: bool = False) -> pd.DataFrame:
    frame = pd.DataFrame(data["data"], columns=data["columns"])
    for column, dtype in zip(data["columns"], data["dtypes"], strict=True):
        if dtype.startswith(("float", "int", "bool")):
            frame[column] = frame[column].astype("float64" if dtype.startswith("float") else dtype)
    if metric and "value" in frame:
        frame["value"] = frame["value"].astype("float64")
    return frame


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    raise TypeError(f"cannot store {type(value).__name__} in the details record")

