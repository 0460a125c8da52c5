"""Distance-based disclosure risk, computed in the database: DCR, NNDR, closer-to-training share, membership AUC.

A synthetic record that sits on top of a real one can disclose it, and a generator that memorised its training
records puts synthetic records closer to them than to records of the same population it never saw. Each measure
below compares distances between records (Platzer & Reutterer 2021, "Holdout-based fidelity and privacy assessment
of mixed-type synthetic data"; Yale et al. 2020; synthcity and SDMetrics use the same definitions).

The distance (Gower 1971, as anonymeter uses it, but averaged): over the compared columns (default: every modelled
column of the spec),

* numeric, integer, date and timestamp columns: ``min(1, |a - b| / (max - min))``, with ``min`` and ``max`` the
  spec's domain (its lowest and highest bin edge; dates in epoch days, timestamps in epoch microseconds), so a
  value outside the declared domain is at most 1 away; a column whose domain is a single value gives 0 or 1;
* categorical and boolean columns: 0 when equal, 1 when not;
* NULL against NULL is 0, NULL against a value is 1;

and the distance of two records is the mean of the column terms, in [0, 1]. It is computed as SQL, by the template
``sql/nearest_records.sql`` (``sql/closest_guess.sql`` for attribute inference): a cross join of the two row sets
with the distance expression (one term per column, built here in sqlglot) and ``row_number()`` over it; the row
sets are the seeded samples below, built with Ibis and bound into the template as subqueries. Only distances (never
values) reach Python, at most two per sampled record and group.

Samples (declared, seeded, the same on every backend): rows are ordered by a seeded md5 hash of their content
(:func:`synthsql.holdout.hash_number`) and the first ones taken: ``sample_rows`` synthetic rows (default 1000)
whose closest real records are sought; at most ``reference_rows`` (default 10000) training rows and as many holdout
rows they are compared with; ``attack_rows`` (default 500) members (training rows) and as many non-members
(holdout rows) for the membership attack, compared with at most ``reference_rows`` synthetic rows. Identical rows
are interchangeable, so ties in the hash order do not change any result. ``detail`` says when a sample was used.
The cost is one distance per pair of rows: with the defaults on eusilc (14,827 rows, 27 columns, holdout 0.2) the
whole of :func:`distance_risk` took 10 s on DuckDB and 28 s on PostgreSQL on a 2-core machine.

Measures (scope: the compared columns, comma-separated)

* ``dcr_median``, ``dcr_p05``: median and 5th percentile (numpy's linear interpolation) over the sampled synthetic
  rows of the distance to the closest training record (every real record when there is no holdout);
  ``dcr_zero_share``: the share of sampled synthetic rows with a distance of 0 (a real record reproduced on every
  compared column).
* ``nndr_median``: median of d1 / d2, the distance to the closest and to the second-closest training record (two
  records at the same distance count twice); 0/0 counts 1 (the closest record is not singled out).
* with a holdout: ``dcr_holdout_median`` and ``dcr_holdout_p05``, the same distances to the holdout records;
  ``closer_to_training_share``: the share of sampled synthetic rows closer to the training than to the holdout
  records, ties counting 1/2, measured against equally many training and holdout records (the first
  ``m = min(training, holdout reference rows)`` of each in the hash order), so that 0.5 is what a generator that
  did not memorise its training records scores (Platzer & Reutterer 2021); note that only the synthetic copies of
  those m training records are sure to count, so when the training part is larger than the holdout even a copy of
  the training rows scores about m/n + (1 - m/n)/2 (n training reference rows), not 1; ``membership_auc``: a
  distance-based
  membership inference attack: score each member and non-member by minus its distance to the closest synthetic
  record; the exact area under the ROC curve (Mann-Whitney U / (n_members n_non-members), ties counting 1/2); 0.5
  is no advantage, 1 a perfect attack.

Without a holdout only DCR and NNDR are measured (against every real record) and the holdout measures are rows with
value NaN whose detail says why.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import ibis
import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sqlglot import exp

from synthsql import templates
from synthsql.connection import Database, connect
from synthsql.errors import EmptyTableError, InvalidParameterError
from synthsql.holdout import HOLDOUT_DIGITS, HOLDOUT_SALT, Holdout, hash_number, with_hashes
from synthsql.metrics.risk import _check, _frame, _names, _row
from synthsql.schema import NUMERIC_KINDS, ColumnSpec, TableSpec, numeric_value

__all__ = ["distance_risk", "membership_auc", "distance_sql", "nearest", "SAMPLE_ROWS", "REFERENCE_ROWS", "ATTACK_ROWS"]

SAMPLE_ROWS = 1000
REFERENCE_ROWS = 10000
ATTACK_ROWS = 500

_SIDE, _HASH, _RANK = "_synthsql_side", "_synthsql_hash", "_synthsql_rank"


# --------------------------------------------------------------------------------------------------------------
# The distance and the seeded samples (shared with synthsql.metrics.inference)
# --------------------------------------------------------------------------------------------------------------
_NULL_NUMBER = -1e300  # a NULL number: 0 from another NULL, more than 1 (clipped to 1) from any value
_NULL_CODE = -1.0  # a NULL category: hash codes are >= 0
_SIDE_OFFSET = 10**12  # record numbers of the holdout side start here (the training side's at 0)


def prepared(t: ibis.Table, cols: Sequence[ColumnSpec], prefix: str) -> dict[str, ibis.Value]:
    """The compared columns of ``t`` as doubles ``{prefix0: ..., ...}``, so that each distance term is one cheap
    expression per pair of rows (the per-row work is done once per row, not once per pair).

    Numeric kinds: ``(x - min) / (max - min)`` over the spec's domain (dates in epoch days, timestamps in epoch
    microseconds; a one-value domain is not scaled), NULL as -1e300, so ``min(1, |a - b|)`` is the Gower term with
    NULL = NULL at 0 and NULL against a value at 1. Categorical: a 52-bit md5 code of the text (two different
    values share a code with probability 2**-52), booleans 0/1; NULL as -1.
    """
    out: dict[str, ibis.Value] = {}
    for i, col in enumerate(cols):
        value = t[col.name]
        if col.kind in NUMERIC_KINDS:
            lo, hi = _domain(col)
            x = numeric_value(value, col.kind).cast("float64") - lo
            code = (x / (hi - lo) if hi > lo else x).fill_null(_NULL_NUMBER)
        elif col.kind == "boolean":
            code = ibis.ifelse(value, 1.0, 0.0).fill_null(_NULL_CODE)
        else:
            text = value.cast("string")
            code = ibis.ifelse(text.isnull(), _NULL_CODE, hash_number(text, salt="value", seed=0))
        out[f"{prefix}{i}"] = code
    return out


def _domain(col: ColumnSpec) -> tuple[float, float]:
    bins = col.bins or ()
    return min(b.lo for b in bins), max(b.hi for b in bins)


def distance_sql(cols: Sequence[ColumnSpec], left: str = "p", right: str = "r") -> exp.Expression:
    """The mixed-type distance between the :func:`prepared` columns ``left.l<i>`` and ``right.r<i>``, as the
    sqlglot expression the templates ``sql/nearest_records.sql`` and ``sql/closest_guess.sql`` take."""
    terms: list[exp.Expression] = []
    for i, col in enumerate(cols):
        a, b = exp.column(f"l{i}", left), exp.column(f"r{i}", right)
        if col.kind in NUMERIC_KINDS and _domain(col)[1] > _domain(col)[0]:
            terms.append(exp.Least(this=exp.Abs(this=exp.Sub(this=a, expression=b)), expressions=[_number(1.0)]))
        else:
            terms.append(exp.Case(ifs=[exp.If(this=exp.EQ(this=a, expression=b), true=_number(0.0))], default=_number(1.0)))
    total = functools.reduce(lambda x, y: exp.Add(this=x, expression=y), terms)
    return exp.cast(exp.Div(this=exp.Paren(this=total), expression=_number(float(len(cols)))), "double")


def _number(value: float) -> exp.Expression:
    return exp.cast(exp.Literal.number(repr(float(value))), "double")


def nearest(db: Database, probe: ibis.Table, reference: ibis.Table, cols: Sequence[ColumnSpec]) -> pd.DataFrame:
    """The two nearest reference records of each probe record per reference group (``sql/nearest_records.sql``):
    ``probe`` has ``_p`` and the prepared ``l<i>``, ``reference`` has ``_g``, ``_r`` and the prepared ``r<i>``."""
    tree = templates.bind(
        "nearest_records",
        tables={"probe": db.compile(probe), "reference": db.compile(reference)},
        distance=distance_sql(cols),
    )
    return pd.DataFrame(db.fetchall(tree), columns=["_p", "_g", "_r", "_n", "_d"])


def real_sides(db: Database, real: str, holdout: Holdout | None, seed: int) -> tuple[ibis.Table, dict[bool, int]]:
    """The real table with a side flag (True: holdout) and a seeded hash to order rows by; the row count per side."""
    t = db.table(real)
    hashes = {_HASH: ("reference", seed, 13)}
    if holdout is not None:
        hashes[_SIDE] = (HOLDOUT_SALT, holdout.seed, HOLDOUT_DIGITS)
    marked = with_hashes(t, hashes)
    side = marked[_SIDE] < holdout.threshold if holdout is not None else ibis.literal(False)
    marked = marked.mutate(**{_SIDE: side})
    counts = fetch(db, marked.group_by(_SIDE).agg(n=marked.count()))
    sizes = {bool(s): int(n) for s, n in zip(counts[_SIDE], counts["n"], strict=True)}
    sizes = {False: sizes.get(False, 0), True: sizes.get(True, 0)}
    if sizes[False] + sizes[True] == 0:
        raise EmptyTableError(f"Table {real!r} is empty: there is no record whose disclosure risk to measure.")
    if holdout is not None:
        for flag, label in ((True, "holdout"), (False, "training")):
            if sizes[flag] == 0:
                raise EmptyTableError(
                    f"The {label} part of table {real!r} is empty under {holdout!r}: a distance-based risk needs "
                    "training and holdout records."
                )
    return marked, sizes


def first_rows(
    marked: ibis.Table, n: int, side: bool | None, columns: Callable[[ibis.Table], dict[str, ibis.Value]]
) -> ibis.Table:
    """The first ``n`` rows (of one side) in the seeded hash order: ``_synthsql_rank`` (from 0), the side and the
    ``columns`` built from them.

    The columns are computed in the same SELECT as the ``row_number()``, which no planner flattens into the query
    above it: PostgreSQL would otherwise substitute the per-row expressions into the cross join and evaluate them
    once per pair of rows.
    """
    t = marked if side is None else marked.filter(marked[_SIDE] == side)
    t = t.order_by(_HASH).limit(n)
    return t.select(**{_RANK: ibis.row_number().over(order_by=t[_HASH]), _SIDE: t[_SIDE]}, **columns(t))


def synthetic_ranked(db: Database, synthetic: str, seed: int) -> tuple[ibis.Table, int]:
    """The synthetic table with its seeded hash, and its row count."""
    t = db.table(synthetic)
    n = int(fetch(db, t.aggregate(n=t.count()))["n"].iloc[0])
    if n == 0:
        raise EmptyTableError(f"Synthetic table {synthetic!r} is empty: its disclosure risk is not defined.")
    hashed = with_hashes(t, {_HASH: ("synthetic", seed, 13)})
    return hashed.mutate(**{_SIDE: ibis.literal(False)}), n


def check_rows(value: Any, label: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidParameterError(f"The {label!r} parameter must be an int >= 1. Got {value!r} instead.")
    return value


def check_holdout(holdout: Any) -> Holdout | None:
    if holdout is not None and not isinstance(holdout, Holdout):
        raise InvalidParameterError(
            f"The 'holdout' parameter takes a synthsql.holdout.Holdout (or None), got {type(holdout).__name__}."
        )
    return holdout


def fetch(db: Database, expr: ibis.Table) -> pd.DataFrame:
    """Run an Ibis expression on ``db`` (derived numbers only, bounded by the declared samples).

    The per-row hash and distance expressions are long; on PostgreSQL, JIT compilation of them took 148 s where
    running them took 4 s (eusilc, 100 x 1000 rows), which is why :class:`~synthsql.connection.Database` turns JIT
    off for its session.
    """
    return db.backend.execute(expr)


def _sample_note(used: int, total: int, what: str) -> str:
    return f"{used} {what}" if used == total else f"a seeded sample of {used} of {total} {what}"


# --------------------------------------------------------------------------------------------------------------
# Measures
# --------------------------------------------------------------------------------------------------------------
def membership_auc(members: Sequence[float] | np.ndarray, non_members: Sequence[float] | np.ndarray) -> float:
    """The exact AUC of scores: P(member score > non-member score) + P(equal) / 2 (Mann-Whitney, average ranks).

    >>> membership_auc([3, 2, 2], [2, 1])
    0.8333333333333334
    """
    m, n = np.asarray(members, dtype=float), np.asarray(non_members, dtype=float)
    if len(m) == 0 or len(n) == 0:
        return math.nan
    ranks = rankdata(np.concatenate([m, n]))  # average ranks: ties count 1/2
    u = ranks[: len(m)].sum() - len(m) * (len(m) + 1) / 2
    return float(u / (len(m) * len(n)))


def distance_risk(
    con: Database | Any,
    real: str,
    synthetic: str,
    spec: TableSpec,
    /,
    *,
    holdout: Holdout | None = None,
    columns: Sequence[str] | None = None,
    sample_rows: int = SAMPLE_ROWS,
    reference_rows: int = REFERENCE_ROWS,
    attack_rows: int = ATTACK_ROWS,
    seed: int = 0,
) -> pd.DataFrame:
    """DCR, NNDR and, with a ``holdout``, the closer-to-training share and the membership-inference AUC.

    Rows of (metric, scope, value, detail); the definitions, the distance and the samples are in the module
    documentation. ``holdout`` is the split the generator was fitted with (its training rows are the members, its
    holdout rows the control); ``columns`` the compared columns (default: every modelled column of ``spec``).

    >>> import synthsql as ss
    >>> db = ss.connect("duckdb://")
    >>> _ = db.backend.raw_sql("CREATE TABLE p AS SELECT i % 10 AS g, (i * 7) % 13 AS x FROM range(200) r(i)")
    >>> spec = ss.describe(db, "p")
    >>> risk = distance_risk(db, "p", "p", spec)
    >>> risk.set_index("metric").loc[["dcr_median", "dcr_zero_share"], "value"].tolist()
    [0.0, 1.0]
    """
    db = connect(con)
    holdout = check_holdout(holdout)
    sample_rows = check_rows(sample_rows, "sample_rows")
    reference_rows = check_rows(reference_rows, "reference_rows")
    attack_rows = check_rows(attack_rows, "attack_rows")
    names = [c.name for c in spec.modelled] if columns is None else _names(columns, "columns")
    if not names:
        raise InvalidParameterError(f"The spec of table {spec.table!r} has no modelled column to compare.")
    cols = _check(db, real, synthetic, spec, names, "compared")
    scope = ",".join(c.name for c in cols)

    marked, sizes = real_sides(db, real, holdout, seed)
    syn, n_syn = synthetic_ranked(db, synthetic, seed)
    n_t, n_h = min(sizes[False], reference_rows), min(sizes[True], reference_rows)
    n_s = min(n_syn, sample_rows)
    m = min(n_t, n_h)

    # Query 1: each sampled synthetic row against the training (and holdout) reference rows; per synthetic row and
    # group (side, first m or not) the two smallest distances.
    probe = first_rows(syn, n_s, None, lambda t: prepared(t, cols, "l"))
    probe = probe.rename({"_p": _RANK}).drop(_SIDE)
    parts = [first_rows(marked, n_t, False, lambda t: prepared(t, cols, "r"))]
    if holdout is not None:
        parts.append(first_rows(marked, n_h, True, lambda t: prepared(t, cols, "r")))
    right = ibis.union(*parts) if len(parts) > 1 else parts[0]
    group = ibis.ifelse(right[_SIDE], 2, 0) + ibis.ifelse(right[_RANK] >= m, 1, 0)
    number = right[_RANK] + ibis.ifelse(right[_SIDE], _SIDE_OFFSET, 0)
    right = right.select(_g=group, _r=number, **{f"r{i}": right[f"r{i}"] for i in range(len(cols))})
    nearest_rows = nearest(db, probe, right, cols).rename(columns={"_p": "_s"})

    d = nearest_rows.pivot_table(index="_s", columns=["_g", "_n"], values="_d", aggfunc="first")
    training_pairs = [d[c].to_numpy() for c in d.columns if c[0] in (0, 1)]
    stacked = np.sort(np.column_stack(training_pairs), axis=1)  # NaN (a group with one row) sorts last
    d1, d2 = stacked[:, 0], stacked[:, 1]
    if n_t < 2:
        d2 = np.full_like(d1, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        nndr = np.where(d2 == 0, 1.0, d1 / d2)

    against = "training" if holdout is not None else "real"
    note = (
        f"{_sample_note(n_s, n_syn, 'synthetic rows')} against "
        f"{_sample_note(n_t, sizes[False], f'{against} rows')}; {len(cols)} columns, mixed distance in [0, 1]"
    )
    rows = [
        _row("dcr_median", scope, float(np.median(d1)), f"distance to the closest {against} record, median; {note}"),
        _row("dcr_p05", scope, float(np.quantile(d1, 0.05)), f"5th percentile; {note}"),
        _row("dcr_zero_share", scope, float(np.mean(d1 == 0)), f"share of synthetic rows at distance 0; {note}"),
        _row(
            "nndr_median",
            scope,
            float(np.median(nndr)) if n_t >= 2 else math.nan,
            f"closest / second-closest {against} record, median (0/0 counts 1); {note}",
        ),
    ]
    if holdout is None:
        why = "not computed: needs a holdout (evaluate(..., holdout=Holdout(...)), the split the model was fitted with)"
        for metric in ("dcr_holdout_median", "dcr_holdout_p05", "closer_to_training_share", "membership_auc"):
            rows.append(_row(metric, scope, math.nan, why))
        return _frame(rows)

    holdout_cols = [d[c].to_numpy() for c in d.columns if c[0] in (2, 3) and c[1] == 0]
    dh = np.nanmin(np.column_stack(holdout_cols), axis=1)
    dt_m, dh_m = d[(0, 0)].to_numpy(), d[(2, 0)].to_numpy()  # nearest among the first m of each side
    closer = np.where(dt_m < dh_m, 1.0, np.where(dt_m == dh_m, 0.5, 0.0))
    hold_note = (
        f"{_sample_note(n_s, n_syn, 'synthetic rows')} against "
        f"{_sample_note(n_h, sizes[True], 'holdout rows')}; {len(cols)} columns; {holdout!r}"
    )
    rows += [
        _row("dcr_holdout_median", scope, float(np.median(dh)), f"distance to the closest holdout record; {hold_note}"),
        _row("dcr_holdout_p05", scope, float(np.quantile(dh, 0.05)), f"5th percentile; {hold_note}"),
        _row(
            "closer_to_training_share",
            scope,
            float(np.mean(closer)),
            f"share closer to training than to holdout (ties 1/2; 0.5 is ideal), against {m} training and {m} "
            f"holdout rows; {_sample_note(n_s, n_syn, 'synthetic rows')}",
        ),
    ]
    rows.append(_membership(db, marked, sizes, syn, n_syn, cols, scope, attack_rows, reference_rows, holdout))
    return _frame(rows)


def _membership(
    db: Database,
    marked: ibis.Table,
    sizes: dict[bool, int],
    syn: ibis.Table,
    n_syn: int,
    cols: Sequence[ColumnSpec],
    scope: str,
    attack_rows: int,
    reference_rows: int,
    holdout: Holdout,
) -> dict[str, Any]:
    """Query 2: members and non-members against the synthetic reference rows, nearest distance each."""
    k = min(attack_rows, sizes[False], sizes[True])
    n_ref = min(n_syn, reference_rows)
    attacked = ibis.union(
        first_rows(marked, k, False, lambda t: prepared(t, cols, "l")),
        first_rows(marked, k, True, lambda t: prepared(t, cols, "l")),
    )
    attacked = attacked.select(
        _p=attacked[_RANK] + ibis.ifelse(attacked[_SIDE], _SIDE_OFFSET, 0),
        **{f"l{i}": attacked[f"l{i}"] for i in range(len(cols))},
    )
    candidates = first_rows(syn, n_ref, None, lambda t: prepared(t, cols, "r"))
    candidates = candidates.select(_g=ibis.literal(0), _r=candidates[_RANK], **{f"r{i}": candidates[f"r{i}"] for i in range(len(cols))})
    found = nearest(db, attacked, candidates, cols)
    found = found[found["_n"] == 0]
    side = (found["_p"].to_numpy() >= _SIDE_OFFSET)
    dist = found["_d"].to_numpy(dtype=float)
    auc = membership_auc(-dist[~side], -dist[side])
    return _row(
        "membership_auc",
        scope,
        auc,
        f"score = -(distance to the closest synthetic record); {k} members (training) and {k} non-members "
        f"(holdout) against {_sample_note(n_ref, n_syn, 'synthetic rows')}; exact AUC, ties 1/2; {holdout!r}",
    )
