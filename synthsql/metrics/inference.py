"""Attribute-inference risk against a control set, anonymeter-style, computed in the database.

The attack (Giomi et al. 2023, "A unified framework for quantifying privacy risk in synthetic data", anonymeter's
``InferenceEvaluator``): an intruder knows the *key* columns of a record and reads its *target* off the synthetic
record closest to it on the keys (the mixed-type distance of :mod:`synthsql.metrics.distance`; among records at the
same distance, the first in a seeded hash order of the synthetic rows). The attack is run on a seeded sample of
``attack_rows`` training records (those the generator was fitted on) and, as a control, on as many holdout records
(never seen; both counts are cut to the smaller side, so that the two Wilson estimates are comparable): a generator
that learnt the population but not its records guesses both equally well.

* A guess is correct when it equals the record's target (NULL equals NULL), or, for an integer or numeric target,
  when ``|guess - target| <= tolerance * (|guess| + 1e-12)`` (anonymeter's relative tolerance, 0.05 by default; it
  divides by the signed guess, which makes every negative guess correct; synthsql uses the guess's magnitude).
  Date and timestamp targets must match exactly.
* Success rates are Wilson score estimates with their error at ``confidence_level`` (anonymeter's
  ``success_rate``): with ``z`` the normal quantile, ``rate = (k + z^2/2) / (n + z^2)`` and
  ``error = z / (n + z^2) * sqrt(k (n - k) / n + z^2 / 4)``.
* ``inference_risk = (attack - control) / (1 - control)``, its error propagated from both rates, and value and
  interval clipped to [0, 1] (anonymeter's ``residual_success`` and ``bind_value``).

Rows (scope ``target | keys``): ``inference_risk``, ``inference_risk_ci_low``, ``inference_risk_ci_high``,
``inference_attack_rate`` and ``inference_control_rate``. Without a holdout there is no control: the attack rate is
reported and the risk rows are NaN with a detail that says so.

Only the counts of correct guesses reach Python; the guesses themselves stay in the database.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import ibis
import pandas as pd
from sqlglot import exp

from synthsql import templates
from synthsql.connection import Database, connect
from synthsql.errors import InvalidParameterError
from synthsql.holdout import Holdout
from synthsql.metrics.distance import (
    ATTACK_ROWS,
    REFERENCE_ROWS,
    _RANK,
    _SIDE,
    check_holdout,
    check_rows,
    distance_sql,
    first_rows,
    prepared,
    real_sides,
    synthetic_ranked,
)
from synthsql.metrics.risk import _check_keys, _check_targets, _frame, _row
from synthsql.schema import ColumnSpec, TableSpec

__all__ = ["SuccessRate", "inference_risk", "residual_risk", "success_rate"]


@dataclass(frozen=True)
class SuccessRate:
    """A success rate and its symmetric error bound (anonymeter's ``SuccessRate``)."""

    value: float
    error: float


def success_rate(n_total: int, n_success: int, confidence_level: float = 0.95) -> SuccessRate:
    """The Wilson score estimate of a success rate and its error (Wilson 1927; anonymeter ``success_rate``).

    >>> r = success_rate(100, 30)
    >>> round(r.value, 4), round(r.error, 4)
    (0.3074, 0.0884)
    """
    z = NormalDist().inv_cdf(0.5 * (1.0 + confidence_level))
    z2 = z * z
    variance = n_success * (n_total - n_success) / n_total
    denominator = n_total + z2
    return SuccessRate((n_success + 0.5 * z2) / denominator, (z / denominator) * math.sqrt(variance + 0.25 * z2))


def residual_risk(attack: SuccessRate, control: SuccessRate) -> tuple[float, float, float]:
    """(risk, ci_low, ci_high): ``(attack - control) / (1 - control)`` with the propagated error, bound to [0, 1]
    (anonymeter ``residual_success`` then ``bind_value``)."""
    residual = (attack.value - control.value) / (1.0 - control.value)
    d_attack = 1.0 / abs(1.0 - control.value)
    d_control = (attack.value - 1.0) / (1.0 - control.value) ** 2
    error = math.sqrt((attack.error * d_attack) ** 2 + (control.error * d_control) ** 2)

    def bound(x: float) -> float:
        return min(max(x, 0.0), 1.0)

    return bound(residual), bound(residual - error), bound(residual + error)


def _comparable(value: ibis.Value, col: ColumnSpec) -> ibis.Value:
    """A target value as the guess is compared: numbers as doubles, categories as text, others as they are."""
    if col.kind in ("integer", "numeric"):
        return value.cast("float64")
    if col.kind == "categorical":
        return value.cast("string")
    return value


def _correct_sql(col: ColumnSpec, tolerance: float) -> exp.Expression:
    """Whether the guess ``_t`` of the secret ``_s`` is right: numbers within ``tolerance`` relative to the guess
    (anonymeter's rule, with |guess|), anything else equal; NULL equals NULL."""
    guess, secret = exp.column("_t"), exp.column("_s")
    if col.kind in ("integer", "numeric"):
        both_null = exp.and_(exp.Is(this=guess.copy(), expression=exp.Null()), exp.Is(this=secret.copy(), expression=exp.Null()))
        close = exp.LTE(
            this=exp.Abs(this=exp.Sub(this=guess.copy(), expression=secret.copy())),
            expression=exp.Mul(
                this=exp.Literal.number(repr(tolerance)),
                expression=exp.Paren(this=exp.Add(this=exp.Abs(this=guess.copy()), expression=exp.Literal.number("1e-12"))),
            ),
        )
        return exp.or_(both_null, exp.paren(close))  # a NULL against a value makes close NULL: not a success
    return exp.NullSafeEQ(this=guess, expression=secret)


def inference_risk(
    con: Database | Any,
    real: str,
    synthetic: str,
    spec: TableSpec,
    /,
    *,
    keys: Sequence[str],
    targets: Sequence[str],
    holdout: Holdout | None = None,
    attack_rows: int = ATTACK_ROWS,
    reference_rows: int = REFERENCE_ROWS,
    tolerance: float = 0.05,
    confidence_level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Attribute-inference risk of each of ``targets`` from ``keys``, against the ``holdout`` as control.

    Rows of (metric, scope, value, detail); see the module documentation. ``attack_rows`` training and as many
    holdout records are attacked, with at most ``reference_rows`` synthetic records (seeded samples).

    >>> import synthsql as ss
    >>> from synthsql.holdout import Holdout
    >>> db = ss.connect("duckdb://")
    >>> _ = db.backend.raw_sql("CREATE TABLE p AS SELECT i % 50 AS k, i % 2 = 0 AS y FROM range(400) r(i)")
    >>> spec = ss.describe(db, "p")
    >>> r = inference_risk(db, "p", "p", spec, keys=["k"], targets=["y"], holdout=Holdout(0.5, seed=1))
    >>> r = r.set_index("metric")["value"]
    >>> bool(r["inference_attack_rate"] > 0.98 and r["inference_control_rate"] > 0.98), float(r["inference_risk"])
    (True, 0.0)
    """
    db = connect(con)
    holdout = check_holdout(holdout)
    attack_rows = check_rows(attack_rows, "attack_rows")
    reference_rows = check_rows(reference_rows, "reference_rows")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance >= 0:
        raise InvalidParameterError(f"The 'tolerance' parameter must be a number >= 0. Got {tolerance!r} instead.")
    if isinstance(confidence_level, bool) or not isinstance(confidence_level, (int, float)) or not (
        0 < confidence_level < 1
    ):
        raise InvalidParameterError(
            f"The 'confidence_level' parameter must be in (0, 1). Got {confidence_level!r} instead."
        )
    key_cols = _check_keys(db, real, synthetic, spec, keys)
    target_cols = _check_targets(db, real, synthetic, spec, targets, key_cols)
    if not target_cols:
        return _frame([])
    marked, sizes = real_sides(db, real, holdout, seed)
    syn, n_syn = synthetic_ranked(db, synthetic, seed)
    # As many attacked training as holdout records: with unequal counts the Wilson estimates shrink the two rates
    # by different amounts, and two perfect attacks would show a risk (0.25 at 200 against 150 records).
    k_t = min(attack_rows, sizes[False], sizes[True]) if holdout is not None else min(attack_rows, sizes[False])
    k_h = k_t
    n_ref = min(n_syn, reference_rows)

    parts_of = [(False, k_t)] + ([(True, k_h)] if holdout is not None else [])
    by_side: dict[bool, dict[str, int]] = {False: {"_n": 0}, True: {"_n": 0}}
    for j, col in enumerate(target_cols):
        # one query per target (sql/closest_guess.sql): the guess is the target of the nearest synthetic record
        def attacked_columns(t: ibis.Table, col: ColumnSpec = col) -> dict[str, ibis.Value]:
            return {**prepared(t, key_cols, "l"), "_s": _comparable(t[col.name], col)}

        def candidate_columns(t: ibis.Table, col: ColumnSpec = col) -> dict[str, ibis.Value]:
            return {**prepared(t, key_cols, "r"), "_t": _comparable(t[col.name], col)}

        sides = [first_rows(marked, k, side, attacked_columns) for side, k in parts_of]
        attacked = ibis.union(*sides) if len(sides) > 1 else sides[0]
        attacked = attacked.rename({"_side": _SIDE, "_a": _RANK})
        candidates = first_rows(syn, n_ref, None, candidate_columns).drop(_SIDE).rename({"_r": _RANK})
        tree = templates.bind(
            "closest_guess",
            tables={"probe": db.compile(attacked), "reference": db.compile(candidates)},
            distance=distance_sql(key_cols),
            correct=_correct_sql(col, float(tolerance)),
        )
        for side, attacks, correct in db.fetchall(tree):
            by_side[bool(side)]["_n"] = int(attacks)
            by_side[bool(side)][f"k{j}"] = int(correct or 0)

    key_scope = ",".join(c.name for c in key_cols)
    pool = f"{n_ref} synthetic rows" if n_ref == n_syn else f"a seeded sample of {n_ref} of {n_syn} synthetic rows"
    how = f"guess = target of the closest synthetic record on the keys (mixed distance) among {pool}"
    rows = []
    for j, col in enumerate(target_cols):
        scope = f"{col.name} | {key_scope}"
        rule = f"within {tolerance:g} relative" if col.kind in ("integer", "numeric") else "exact, NULL = NULL"
        n_a, k_a = int(by_side[False]["_n"]), int(by_side[False][f"k{j}"])
        attack = success_rate(n_a, k_a, confidence_level)
        attack_detail = f"{k_a} of {n_a} training records guessed ({rule}); Wilson estimate; {how}"
        if holdout is None:
            why = ("not computed: needs a control set, a holdout the model was not fitted on (in a catalog: "
                   "`holdout: 0.2` on the table)")
            rows += [
                _row("inference_risk", scope, math.nan, why),
                _row("inference_risk_ci_low", scope, math.nan, why),
                _row("inference_risk_ci_high", scope, math.nan, why),
                _row("inference_attack_rate", scope, attack.value, attack_detail),
            ]
            continue
        n_c, k_c = int(by_side[True]["_n"]), int(by_side[True][f"k{j}"])
        control = success_rate(n_c, k_c, confidence_level)
        risk, low, high = residual_risk(attack, control)
        level = f"{100 * confidence_level:g}%"
        rows += [
            _row(
                "inference_risk",
                scope,
                risk,
                f"(attack - control) / (1 - control), {level} CI [{low:.4f}, {high:.4f}]; attack {k_a}/{n_a} "
                f"training records, control {k_c}/{n_c} holdout records ({rule}); {how}; {holdout!r}",
            ),
            _row("inference_risk_ci_low", scope, low, f"lower end of the {level} interval"),
            _row("inference_risk_ci_high", scope, high, f"upper end of the {level} interval"),
            _row("inference_attack_rate", scope, attack.value, attack_detail),
            _row(
                "inference_control_rate",
                scope,
                control.value,
                f"{k_c} of {n_c} holdout records guessed ({rule}); Wilson estimate; {how}",
            ),
        ]
    return _frame(rows)
