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

and the distance of two records is the mean of the column terms, in [0, 1]. It is computed as SQL, by the templates
``sql/nearest_records.sql`` (a probe row set against a sample: a cross join), ``sql/nearest_candidates.sql`` (probe
records against the candidates picked for each of them beyond the sample, below) and ``sql/closest_guess.sql``
(attribute inference): the distance expression (one term per column, built here in sqlglot) and ``row_number()``
over it; the row sets are built with Ibis and bound into the templates as subqueries. Only distances (never values)
reach Python, at most two per probe record, group and query.

Probe records and where their closest record is sought (declared, seeded, the same on every backend). Rows are
ordered by a seeded md5 hash of their content (:func:`synthsql.holdout.hash_number`); identical rows are
interchangeable, so ties in the hash order do not change any result. The probe records are the first
``sample_rows`` synthetic rows (default 1000), whose closest training (and holdout) records are sought, and the
first ``attack_rows`` (default 500) members (training rows) and as many non-members (holdout rows) for the
membership attack, whose closest synthetic records are sought. The candidates of a probe record, on each side
searched (training, holdout; the synthetic table for the attack), are

1. the side's *reference sample*, its first ``reference_rows`` rows (default 10000), which every probe record meets:
   a side no larger than that is searched whole and the closest record found is exact;
2. when the side is larger, among ALL its other rows: the probe record's *exact copies*, the rows equal to it on
   every compared column (found by a join on all of them; the first two in the hash order, as no more can be among
   its two nearest), and its *block*, the first ``block_rows`` (default 200) rows with the same value in every
   categorical and boolean column and the same spec cell in every numeric column.

So a distance of 0 is always found (a record reproduced is flagged whatever the size of the tables: a copy of the
training rows scores a ``dcr_zero_share`` of 1 and a ``membership_auc`` near 1), and so is a near copy within its
cells; any other distance is to the closest candidate, the true closest record or one farther away. ``detail`` says when a
side was larger than its sample.

Caps, checked before any distance is computed: a query of :func:`distance_risk` computes at most
``sample_rows * (2 * reference_rows + 2 * (block_rows + 2))`` distances (DCR) and
``2 * attack_rows * (reference_rows + block_rows + 2)`` (membership), with each count cut to the rows there are, and
one over :data:`MAX_PAIRS` (10**8) is refused with an error naming the parameters to lower. Picking the candidates
beyond the sample costs, per side, the seeded hash of every row (which drawing the sample computes too), a sort by
it, two row numbers partitioned by content and by block, and hash joins of the probe records with the rows kept
(at most ``block_rows + 2`` per probe record and side). With the defaults and a holdout
of 0.2, the whole of :func:`distance_risk` against an independent synthesis of the training rows took, on a 2-core
machine, about 17 s on DuckDB and 49 s on PostgreSQL on eusilc (14,827 rows, 27 columns; 13 s and 49 s without the
search beyond the sample, which sought each closest record among 10,000 of the 11,891 training rows only), and
37 s on PostgreSQL on cps1988 (28,155 rows, 7 columns; the same without).

Measures (scope: the compared columns, comma-separated)

* ``dcr_median``, ``dcr_p05``: median and 5th percentile (numpy's linear interpolation) over the sampled synthetic
  rows of the distance to the closest training record (every real record when there is no holdout) among its
  candidates; ``dcr_zero_share``: the share of sampled synthetic rows with a distance of 0 (a real record
  reproduced on every compared column), exact whatever the table size.
* ``nndr_median``: median of d1 / d2, the distance to the closest and to the second-closest training record (two
  records at the same distance count twice); 0/0 counts 1 (the closest record is not singled out).
* with a holdout: ``dcr_holdout_median`` and ``dcr_holdout_p05``, the same distances to the holdout records;
  ``closer_to_training_share``: the share of sampled synthetic rows closer to the training than to the holdout
  records, ties counting 1/2, measured against equally many training and holdout records (the first
  ``m = min(training, holdout reference rows)`` of each in the hash order, without the search beyond the sample,
  which would favour the larger side), so that 0.5 is what a generator that did not memorise its training records
  scores (Platzer & Reutterer 2021); note that only the synthetic copies of those m training records are sure to
  count, so when the training part is larger than the holdout even a copy of the training rows scores about
  m/n + (1 - m/n)/2 (n training rows, at most ``reference_rows``), not 1; ``membership_auc``: a distance-based
  membership inference attack: score each member and non-member by minus its distance to the closest synthetic
  record (among its candidates, the search being the same for both); the exact area under the ROC curve
  (Mann-Whitney U / (n_members n_non-members), ties counting 1/2); 0.5 is no advantage, 1 a perfect attack.

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
from synthsql.discretize import encode
from synthsql.errors import EmptyTableError, InvalidParameterError
from synthsql.holdout import HOLDOUT_DIGITS, HOLDOUT_SALT, Holdout, hash_number, with_hashes
from synthsql.metrics.risk import _check, _frame, _names, _row
from synthsql.schema import NUMERIC_KINDS, ColumnSpec, TableSpec, numeric_value

__all__ = [
    "distance_risk",
    "membership_auc",
    "distance_sql",
    "nearest",
    "SAMPLE_ROWS",
    "REFERENCE_ROWS",
    "ATTACK_ROWS",
    "BLOCK_ROWS",
    "MAX_PAIRS",
]

SAMPLE_ROWS = 1000
REFERENCE_ROWS = 10000
ATTACK_ROWS = 500
BLOCK_ROWS = 200  # candidates per probe record and side from its block, beyond the sample
MAX_PAIRS = 10**8  # the most distances one query of distance_risk may compute (checked before any is)

_SIDE, _HASH, _RANK = "_synthsql_side", "_synthsql_hash", "_synthsql_rank"


# --------------------------------------------------------------------------------------------------------------
# The distance and the seeded samples (shared with synthsql.metrics.inference)
# --------------------------------------------------------------------------------------------------------------
_NULL_NUMBER = -1e300  # a NULL number: 0 from another NULL, more than 1 (clipped to 1) from any value
_NULL_CODE = -1.0  # a NULL category: hash codes are >= 0
_SIDE_OFFSET = 10**12  # record numbers of the holdout side start here (the training side's at 0)


def prepared(t: ibis.Table, cols: Sequence[ColumnSpec], prefix: str, *, text: bool = False) -> dict[str, ibis.Value]:
    """The compared columns of ``t`` as doubles ``{prefix0: ..., ...}``, so that each distance term is one cheap
    expression per pair of rows (the per-row work is done once per row, not once per pair).

    Numeric kinds: ``(x - min) / (max - min)`` over the spec's domain (dates in epoch days, timestamps in epoch
    microseconds; a one-value domain is not scaled), NULL as -1e300, so ``min(1, |a - b|)`` is the Gower term with
    NULL = NULL at 0 and NULL against a value at 1. Categorical: a 52-bit md5 code of the text (two different
    values share a code with probability 2**-52), booleans 0/1; NULL as -1. With ``text``, categorical columns are
    their text itself, ``'N'`` for NULL and ``length || ':' || text`` for a value (never NULL, no md5 to compute:
    for the candidates beyond the sample, whose codes are compared only with codes built the same way).
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
        elif text:
            words = value.cast("string")
            code = (words.length().cast("string") + ":" + words).fill_null("N")
        else:
            words = value.cast("string")
            code = ibis.ifelse(words.isnull(), _NULL_CODE, hash_number(words, salt="value", seed=0))
        out[f"{prefix}{i}"] = code
    return out


def _cells(t: ibis.Table, cols: Sequence[ColumnSpec], prefix: str) -> dict[str, ibis.Value]:
    """The spec's cell code (:func:`synthsql.discretize.encode`) of each numeric compared column, ``<prefix><i>``."""
    return {f"{prefix}{i}": encode(t[col.name], col) for i, col in enumerate(cols) if col.kind in NUMERIC_KINDS}




def _domain(col: ColumnSpec) -> tuple[float, float]:
    bins = col.bins or ()
    return min(b.lo for b in bins), max(b.hi for b in bins)


def distance_sql(
    cols: Sequence[ColumnSpec], left: str = "p", right: str = "r", prefixes: tuple[str, str] = ("l", "r")
) -> exp.Expression:
    """The mixed-type distance between the :func:`prepared` columns ``left.l<i>`` and ``right.r<i>`` (other column
    prefixes: ``prefixes``), as the sqlglot expression the templates ``sql/nearest_records.sql``,
    ``sql/nearest_candidates.sql`` and ``sql/closest_guess.sql`` take."""
    terms: list[exp.Expression] = []
    for i, col in enumerate(cols):
        a, b = exp.column(f"{prefixes[0]}{i}", left), exp.column(f"{prefixes[1]}{i}", right)
        if col.kind in NUMERIC_KINDS and _domain(col)[1] > _domain(col)[0]:
            terms.append(exp.Least(this=exp.Abs(this=exp.Sub(this=a, expression=b)), expressions=[_number(1.0)]))
        else:
            terms.append(exp.Case(ifs=[exp.If(this=exp.EQ(this=a, expression=b), true=_number(0.0))], default=_number(1.0)))
    total = functools.reduce(lambda x, y: exp.Add(this=x, expression=y), terms)
    return exp.cast(exp.Div(this=exp.Paren(this=total), expression=_number(float(len(cols)))), "double")


def _number(value: float) -> exp.Expression:
    return exp.cast(exp.Literal.number(repr(float(value))), "double")


def nearest(
    db: Database, probe: ibis.Table | exp.Query, reference: ibis.Table, cols: Sequence[ColumnSpec]
) -> pd.DataFrame:
    """The two nearest reference records of each probe record per reference group (``sql/nearest_records.sql``):
    ``probe`` (an Ibis table or its compiled query) has ``_p`` and the prepared ``l<i>``, ``reference`` has ``_g``,
    ``_r`` and the prepared ``r<i>``."""
    tree = templates.bind(
        "nearest_records",
        tables={"probe": _compiled(db, probe), "reference": db.compile(reference)},
        distance=distance_sql(cols),
    )
    return pd.DataFrame(db.fetchall(tree), columns=["_p", "_g", "_r", "_n", "_d"])


def _compiled(db: Database, table: ibis.Table | exp.Query) -> exp.Query:
    return table if isinstance(table, exp.Expression) else db.compile(table)


def probe_columns(t: ibis.Table, cols: Sequence[ColumnSpec], beyond: bool) -> dict[str, ibis.Value]:
    """A probe record's columns: the :func:`prepared` ``l<i>`` and, when rows beyond the samples are searched, the
    text codes ``t<i>`` and the numeric cells ``lc<i>`` that :func:`nearest_beyond` compares."""
    out = prepared(t, cols, "l")
    if beyond:
        out |= prepared(t, cols, "t", text=True) | _cells(t, cols, "lc")
    return out


def _all_equal(pairs: Sequence[tuple[str, str]]) -> exp.Expression:
    return exp.and_(*(exp.EQ(this=exp.column(a, "p"), expression=exp.column(b, "r")) for a, b in pairs))


def nearest_beyond(
    db: Database,
    probe: ibis.Table | exp.Query,
    marked: ibis.Table,
    cut: dict[bool, int],
    cols: Sequence[ColumnSpec],
    block_rows: int,
    label: Callable[[ibis.Value, ibis.Value], tuple[ibis.Value, ibis.Value]],
) -> pd.DataFrame:
    """The two nearest reference records of each probe record per group among the reference rows BEYOND the seeded
    sample (``sql/nearest_candidates.sql``), searched by blocks so that the work stays bounded.

    ``probe`` (an Ibis table or its compiled query) has ``_p`` and the :func:`probe_columns` with ``beyond``;
    ``marked`` holds every reference row with its side (``_synthsql_side``) and seeded hash; ``cut[side]`` rows of
    each side, the first in the hash order, are in the sample already and are left out here. The candidates of a
    probe record are, per side, the rows equal to it on every compared column (the first two in the hash order: no
    more can be among its two nearest) and the first ``block_rows`` rows of its block (the same categorical and
    boolean values, the same numeric cells): at most ``block_rows + 2`` per probe record and side. ``label(side,
    rank)`` gives a row's group and number, as in the sample. Returns the columns of :func:`nearest`.
    """
    n = len(cols)
    block = [f"rc{i}" if col.kind in NUMERIC_KINDS else f"r{i}" for i, col in enumerate(cols)]
    ranked = marked.select(
        **{_SIDE: marked[_SIDE], _RANK: ibis.row_number().over(group_by=marked[_SIDE], order_by=marked[_HASH])},
        **prepared(marked, cols, "r", text=True),
        **_cells(marked, cols, "rc"),
    )
    beyond = ranked.filter(ranked[_RANK] >= ibis.ifelse(ranked[_SIDE], cut[True], cut[False]))
    beyond = beyond.mutate(
        _copy=ibis.row_number().over(group_by=[_SIDE, *(f"r{i}" for i in range(n))], order_by=_RANK),
        _block=ibis.row_number().over(group_by=[_SIDE, *block], order_by=_RANK),
    )
    beyond = beyond.filter((beyond["_copy"] < 2) | (beyond["_block"] < block_rows))
    group, number = label(beyond[_SIDE], beyond[_RANK])
    kept = [f"r{i}" for i in range(n)] + [c for c in block if c.startswith("rc")] + ["_copy", "_block"]
    beyond = beyond.select(_g=group, _r=number, **{c: beyond[c] for c in kept})
    tree = templates.bind(
        "nearest_candidates",
        tables={"probe": _compiled(db, probe), "beyond": db.compile(beyond)},
        same_row=_all_equal([(f"t{i}", f"r{i}") for i in range(n)]),
        same_block=_all_equal([("l" + name[1:] if name.startswith("rc") else "t" + name[1:], name) for name in block]),
        block_rows=exp.Literal.number(block_rows),
        distance=distance_sql(cols, "p", "r", ("t", "r")),
    )
    return pd.DataFrame(db.fetchall(tree), columns=["_p", "_g", "_r", "_n", "_d"])


def _two_nearest(*found: pd.DataFrame) -> pd.DataFrame:
    """The two nearest per (probe record, group) of several :func:`nearest` results over disjoint reference rows
    (ties to the lower record number, as in the templates)."""
    kept = [frame for frame in found if len(frame)] or [found[0]]
    both = pd.concat(kept, ignore_index=True).sort_values(["_p", "_g", "_d", "_r"], kind="stable")
    both = both.groupby(["_p", "_g"], sort=False).head(2).reset_index(drop=True)
    both["_n"] = both.groupby(["_p", "_g"], sort=False).cumcount()
    return both


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
    block_rows: int = BLOCK_ROWS,
    seed: int = 0,
) -> pd.DataFrame:
    """DCR, NNDR and, with a ``holdout``, the closer-to-training share and the membership-inference AUC.

    Rows of (metric, scope, value, detail); the definitions, the distance, the samples and the caps on the work are
    in the module documentation. ``holdout`` is the split the generator was fitted with (its training rows are the
    members, its holdout rows the control); ``columns`` the compared columns (default: every modelled column of
    ``spec``). A query that would compute more than :data:`MAX_PAIRS` distances is refused before it runs.

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
    block_rows = check_rows(block_rows, "block_rows")
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
    beyond = sizes[False] > n_t or sizes[True] > n_h  # real rows outside the sample: searched by blocks
    k = min(attack_rows, sizes[False], sizes[True])
    n_ref = min(n_syn, reference_rows)
    _check_pairs(n_s * (n_t + n_h) + (n_s * 2 * (block_rows + 2) if beyond else 0), "synthetic rows against real")
    if holdout is not None:
        _check_pairs(2 * k * n_ref + (2 * k * (block_rows + 2) if n_syn > n_ref else 0), "members against synthetic")

    # Query 1: each sampled synthetic row against the training (and holdout) reference rows; per synthetic row and
    # group (side, first m or not) the two smallest distances.
    def label(side: ibis.Value, rank: ibis.Value) -> tuple[ibis.Value, ibis.Value]:
        return ibis.ifelse(side, 2, 0) + ibis.ifelse(rank >= m, 1, 0), rank + ibis.ifelse(side, _SIDE_OFFSET, 0)

    probe = first_rows(syn, n_s, None, lambda t: probe_columns(t, cols, beyond))
    probe = db.compile(probe.rename({"_p": _RANK}).drop(_SIDE))  # compiled once, for both queries
    parts = [first_rows(marked, n_t, False, lambda t: prepared(t, cols, "r"))]
    if holdout is not None:
        parts.append(first_rows(marked, n_h, True, lambda t: prepared(t, cols, "r")))
    right = ibis.union(*parts) if len(parts) > 1 else parts[0]
    group, number = label(right[_SIDE], right[_RANK])
    right = right.select(_g=group, _r=number, **{f"r{i}": right[f"r{i}"] for i in range(len(cols))})
    nearest_rows = nearest(db, probe, right, cols)
    if beyond:  # Query 1b: the same synthetic rows against their copies and blocks among all other real rows
        found = nearest_beyond(db, probe, marked, {False: n_t, True: n_h}, cols, block_rows, label)
        nearest_rows = _two_nearest(nearest_rows, found)
    nearest_rows = nearest_rows.rename(columns={"_p": "_s"})

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
        f"{_searched_note(n_t, sizes[False], f'{against} rows', block_rows)}; {len(cols)} columns, mixed distance "
        "in [0, 1]"
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
        why = ("not computed: needs a holdout, the split the model was fitted with (in a catalog: `holdout: 0.2` "
               "on the table; in Python: fit(..., holdout=Holdout(0.2)) and evaluate(..., holdout=the same))")
        for metric in ("dcr_holdout_median", "dcr_holdout_p05", "closer_to_training_share", "membership_auc"):
            rows.append(_row(metric, scope, math.nan, why))
        return _frame(rows)

    holdout_cols = [d[c].to_numpy() for c in d.columns if c[0] in (2, 3) and c[1] == 0]
    dh = np.nanmin(np.column_stack(holdout_cols), axis=1)
    dt_m, dh_m = d[(0, 0)].to_numpy(), d[(2, 0)].to_numpy()  # nearest among the first m of each side
    closer = np.where(dt_m < dh_m, 1.0, np.where(dt_m == dh_m, 0.5, 0.0))
    hold_note = (
        f"{_sample_note(n_s, n_syn, 'synthetic rows')} against "
        f"{_searched_note(n_h, sizes[True], 'holdout rows', block_rows)}; {len(cols)} columns; {holdout!r}"
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
    rows.append(_membership(db, marked, syn, n_syn, cols, scope, k, n_ref, block_rows, holdout))
    return _frame(rows)


def _check_pairs(pairs: int, what: str) -> None:
    """Refuse, before it runs, a query that would compute more than :data:`MAX_PAIRS` distances."""
    if pairs > MAX_PAIRS:
        raise InvalidParameterError(
            f"distance_risk would compute up to {pairs:,} distances ({what} rows), more than the cap of "
            f"{MAX_PAIRS:,}: lower sample_rows, reference_rows, attack_rows or block_rows."
        )


def _searched_note(used: int, total: int, what: str, block_rows: int) -> str:
    if used == total:
        return f"{used} {what}"
    return (
        f"a seeded sample of {used} of {total} {what}, and among the other {total - used} its exact copies and up to "
        f"{block_rows} rows of its block (same categories and numeric cells)"
    )


def _membership(
    db: Database,
    marked: ibis.Table,
    syn: ibis.Table,
    n_syn: int,
    cols: Sequence[ColumnSpec],
    scope: str,
    k: int,
    n_ref: int,
    block_rows: int,
    holdout: Holdout,
) -> dict[str, Any]:
    """Query 2: members and non-members against the synthetic reference rows, nearest distance each (and Query 2b:
    against their blocks and exact copies among the other synthetic rows)."""
    beyond = n_syn > n_ref
    columns = functools.partial(probe_columns, cols=cols, beyond=beyond)
    attacked = ibis.union(first_rows(marked, k, False, columns), first_rows(marked, k, True, columns))
    attacked = attacked.select(
        _p=attacked[_RANK] + ibis.ifelse(attacked[_SIDE], _SIDE_OFFSET, 0),
        **{name: attacked[name] for name in attacked.columns if name not in (_RANK, _SIDE)},
    )
    attacked = db.compile(attacked)  # compiled once, for both queries
    candidates = first_rows(syn, n_ref, None, lambda t: prepared(t, cols, "r"))
    candidates = candidates.select(_g=ibis.literal(0), _r=candidates[_RANK], **{f"r{i}": candidates[f"r{i}"] for i in range(len(cols))})
    found = nearest(db, attacked, candidates, cols)
    if beyond:
        more = nearest_beyond(
            db, attacked, syn, {False: n_ref, True: 0}, cols, block_rows, lambda side, rank: (ibis.literal(0), rank)
        )
        found = _two_nearest(found, more)
    found = found[found["_n"] == 0]
    side = (found["_p"].to_numpy() >= _SIDE_OFFSET)
    dist = found["_d"].to_numpy(dtype=float)
    auc = membership_auc(-dist[~side], -dist[side])
    return _row(
        "membership_auc",
        scope,
        auc,
        f"score = -(distance to the closest synthetic record); {k} members (training) and {k} non-members "
        f"(holdout) against {_searched_note(n_ref, n_syn, 'synthetic rows', block_rows)}; exact AUC, ties 1/2; "
        f"{holdout!r}",
    )
