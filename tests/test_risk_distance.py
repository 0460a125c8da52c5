"""Distance- and inference-based disclosure risk (synthsql.metrics.distance, synthsql.metrics.inference) and their
wiring into evaluate(), on both backends.

Checked against a numpy brute force of the published definitions (Gower distance, DCR, NNDR, closer-to-training
share, Mann-Whitney AUC, nearest-neighbour attribute inference), against anonymeter's own numbers for its
confidence formulas (computed with anonymeter 1.1.0 in benchmarks/.venv-anonymeter), and by the properties an exact
copy of the training rows and an independent synthesis must have.
"""

from __future__ import annotations

import math
import os
import secrets
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import synthsql as ss
from synthsql.pipeline import evaluate
from synthsql.holdout import Holdout
from synthsql.metrics import distance as D
from synthsql.metrics.distance import distance_risk, membership_auc
from synthsql.metrics.inference import inference_risk, residual_risk, success_rate
from synthsql.schema import NUMERIC_KINDS, IdentifierColumnWarning
from tests.conftest import table_names

BIG = 10**6  # samples larger than the tables: every row is used


def values(frame: pd.DataFrame) -> dict[str, float]:
    assert not frame["metric"].duplicated().any()
    return dict(zip(frame["metric"], frame["value"], strict=True))


def quiet_describe(db, name, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifierColumnWarning)
        return ss.describe(db, name, **kw)


# ----------------------------------------------------------------------------------------------------------------
# numpy reference
# ----------------------------------------------------------------------------------------------------------------
def numeric(series: pd.Series, kind: str) -> np.ndarray:
    if kind == "date":
        epoch = pd.Timestamp("1970-01-01")
        return np.array([np.nan if pd.isna(v) else float((pd.Timestamp(v) - epoch).days) for v in series])
    if kind == "timestamp":
        epoch = pd.Timestamp("1970-01-01")
        return np.array([np.nan if pd.isna(v) else float((pd.Timestamp(v) - epoch) // pd.Timedelta("1us"))
                         for v in series])
    return series.astype(float).to_numpy()


def gower(a: pd.DataFrame, b: pd.DataFrame, cols: list[ss.ColumnSpec]) -> np.ndarray:
    """The documented distance, |a| x |b|, from raw values: per column min(1, |x - y| / (max - min)) on the spec's
    domain (values scaled as (x - min) / (max - min) first, as the SQL does, so that ties are ties in both), 0/1 for
    categories, NULL = NULL at 0 and NULL against a value at 1; the mean over the columns."""
    total = np.zeros((len(a), len(b)))
    for col in cols:
        if col.kind in NUMERIC_KINDS:
            lo, hi = min(b_.lo for b_ in col.bins), max(b_.hi for b_ in col.bins)
            x, y = numeric(a[col.name], col.kind)[:, None] - lo, numeric(b[col.name], col.kind)[None, :] - lo
            with np.errstate(invalid="ignore"):
                term = np.minimum(np.abs(x / (hi - lo) - y / (hi - lo)), 1.0) if hi > lo else (x != y).astype(float)
            xn, yn = np.isnan(x), np.isnan(y)
            term = np.where(xn & yn, 0.0, np.where(xn | yn, 1.0, term))
        else:
            x = a[col.name].astype(object).where(a[col.name].notna(), "<NULL>").to_numpy()[:, None]
            y = b[col.name].astype(object).where(b[col.name].notna(), "<NULL>").to_numpy()[None, :]
            term = (x != y).astype(float)
        total = total + term
    return total / len(cols)


def in_order(db, table, names, side=None, holdout=None, *, synthetic=False):
    """Rows of ``table`` (one side of the split) in the module's seeded sample order, raw values (tests only)."""
    if synthetic:
        marked, n = D.synthetic_ranked(db, table, 0)
    else:
        marked, sizes = D.real_sides(db, table, holdout, 0)
        n = sizes[side]
    frame = D.fetch(db, D.first_rows(marked, n, side, lambda t: {c: t[c] for c in names}))
    return frame.sort_values(D._RANK).reset_index(drop=True)


def brute_auc(members, non_members) -> float:
    m, n = np.asarray(members)[:, None], np.asarray(non_members)[None, :]
    return float(np.mean((m > n) + 0.5 * (m == n)))


# ----------------------------------------------------------------------------------------------------------------
# Pure formulas
# ----------------------------------------------------------------------------------------------------------------
# (n, attack successes, control successes) -> anonymeter 1.1.0 EvaluationResults: attack rate and error, control
# rate, risk value and interval (printed by anonymeter in benchmarks/.venv-anonymeter).
ANONYMETER = {
    (500, 300, 200): (0.5992375659538448, 0.04278344325141765, 0.40076243404615525,
                      0.3312127663287665, 0.245320821287774, 0.417104711369759),
    (100, 30, 25): (0.30739869964139716, 0.08844984669206953, 0.25924837455174643,
                    0.06500198370879491, 0.0, 0.2245168308368818),
    (200, 200, 200): (0.9905773368113667, 0.009422663188633287, 0.9905773368113667, 0.0, 0.0, 1.0),
    (50, 10, 20): (0.2214042797400076, 0.10896677958224653, 0.40713475991333586, 0.0, 0.0, 0.03031181465950461),
}


def test_confidence_formulas_equal_anonymeter():
    for (n, k, c), (rate, error, control, risk, low, high) in ANONYMETER.items():
        attack = success_rate(n, k)
        assert (attack.value, attack.error) == pytest.approx((rate, error), rel=1e-12)
        assert success_rate(n, c).value == pytest.approx(control, rel=1e-12)
        assert residual_risk(attack, success_rate(n, c)) == pytest.approx((risk, low, high), rel=1e-12, abs=1e-15)


def test_membership_auc_equals_pairwise_counting():
    rng = np.random.default_rng(1)
    for _ in range(20):
        m, n = rng.integers(0, 6, rng.integers(1, 40)), rng.integers(0, 6, rng.integers(1, 40))  # many ties
        assert membership_auc(m, n) == pytest.approx(brute_auc(m, n), rel=1e-12)
    assert math.isnan(membership_auc([], [1.0]))


# ----------------------------------------------------------------------------------------------------------------
# Against numpy on a small table with every kind of column and NULLs
# ----------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small(db):
    """(spec of mixed, synthetic table name, holdout): an independent synthesis of mixed's training rows."""
    spec = quiet_describe(db, "mixed")
    split = Holdout(0.3, seed=2)
    train = f"mixed_train_{secrets.token_hex(3)}"
    db.backend.create_table(train, split.training(db.table("mixed")))
    model = ss.fit(db, train, method="independent", spec=quiet_describe(db, train), seed=1)
    synthetic = str(ss.materialize(db, model, f"mixed_syn_{secrets.token_hex(3)}", rows=150, seed=2))
    return spec, synthetic, split


def test_distances_equal_a_numpy_brute_force(db, small):
    spec, synthetic, split = small
    cols = spec.modelled
    names = [c.name for c in cols]
    got = values(distance_risk(db, "mixed", synthetic, spec, holdout=split, sample_rows=BIG, reference_rows=BIG,
                               attack_rows=BIG))
    train = in_order(db, "mixed", names, False, split)
    hold = in_order(db, "mixed", names, True, split)
    syn = db.table(synthetic).select(*names).to_pandas()
    d_t, d_h = gower(syn, train, cols), gower(syn, hold, cols)
    ordered = np.sort(d_t, axis=1)
    d1, d2 = ordered[:, 0], ordered[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        nndr = np.where(d2 == 0, 1.0, d1 / d2)
    m = min(len(train), len(hold))
    near_t, near_h = d_t[:, :m].min(axis=1), d_h[:, :m].min(axis=1)
    members = gower(train.iloc[:m], syn, cols).min(axis=1)
    non_members = gower(hold.iloc[:m], syn, cols).min(axis=1)
    expected = {
        "dcr_median": np.median(d1),
        "dcr_p05": np.quantile(d1, 0.05),
        "dcr_zero_share": np.mean(d1 == 0),
        "nndr_median": np.median(nndr),
        "dcr_holdout_median": np.median(d_h.min(axis=1)),
        "dcr_holdout_p05": np.quantile(d_h.min(axis=1), 0.05),
        "closer_to_training_share": np.mean((near_t < near_h) + 0.5 * (near_t == near_h)),
        "membership_auc": brute_auc(-members, -non_members),
    }
    assert set(got) == set(expected)
    for metric, value in expected.items():
        assert got[metric] == pytest.approx(value, rel=1e-9, abs=1e-12), metric
    assert 0 < got["dcr_median"] < 1 and 0 < len(train) - m  # the equal-size subset is a real subset here
    # Without a holdout: DCR against every real row; the holdout measures are NaN rows that say why.
    alone = distance_risk(db, "mixed", synthetic, spec, sample_rows=BIG)
    a = values(alone)
    everyone = gower(syn, pd.concat([train, hold]), cols).min(axis=1)
    assert a["dcr_median"] == pytest.approx(np.median(everyone), rel=1e-9, abs=1e-12)
    assert math.isnan(a["membership_auc"]) and "needs a holdout" in alone.set_index("metric").loc["membership_auc",
                                                                                                "detail"]


def test_inference_equals_a_numpy_brute_force(db, small):
    spec, synthetic, split = small
    keys, targets = ["region", "age", "employed", "born"], ["income", "children", "seen"]
    got = inference_risk(db, "mixed", synthetic, spec, keys=keys, targets=targets, holdout=split, attack_rows=BIG)
    key_cols = [spec.column(k) for k in keys]
    train = in_order(db, "mixed", keys + targets, False, split)
    hold = in_order(db, "mixed", keys + targets, True, split)
    syn = in_order(db, synthetic, keys + targets, synthetic=True)
    k = min(len(train), len(hold))
    for target in targets:
        scope = f"{target} | {','.join(keys)}"
        row = got[got["scope"] == scope].set_index("metric")["value"]
        successes = []
        for attacked in (train.iloc[:k], hold.iloc[:k]):
            nearest = gower(attacked, syn, key_cols).argmin(axis=1)  # first in the seeded order among ties
            guess, secret = syn[target].iloc[nearest].to_numpy(), attacked[target].to_numpy()
            if target == "seen":
                ok = [(pd.isna(g) and pd.isna(s)) or (not pd.isna(g) and not pd.isna(s) and g == s)
                      for g, s in zip(guess, secret, strict=True)]
            else:
                g, s = guess.astype(float), secret.astype(float)
                with np.errstate(invalid="ignore"):
                    ok = (np.isnan(g) & np.isnan(s)) | (np.abs(g - s) <= 0.05 * (np.abs(g) + 1e-12))
            successes.append(int(np.sum(ok)))
        attack, control = success_rate(k, successes[0]), success_rate(k, successes[1])
        risk, low, high = residual_risk(attack, control)
        assert row["inference_attack_rate"] == pytest.approx(attack.value, rel=1e-12), target
        assert row["inference_control_rate"] == pytest.approx(control.value, rel=1e-12), target
        assert (row["inference_risk"], row["inference_risk_ci_low"], row["inference_risk_ci_high"]) == pytest.approx(
            (risk, low, high), rel=1e-12, abs=1e-15
        ), target
        if target == "children":
            assert 0 < successes[0] < k  # a non-trivial attack


# ----------------------------------------------------------------------------------------------------------------
# An exact copy of the training rows against an independent synthesis (eusilc, a seeded subset for speed)
# ----------------------------------------------------------------------------------------------------------------
EU_KEYS, EU_TARGETS = ["age", "rb090", "db040", "hsize"], ["pl030"]


@pytest.fixture(scope="module")
def eu(db):
    from synthsql.holdout import with_hashes

    token = secrets.token_hex(3)
    real, train, copy = f"eu_small_{token}", f"eu_train_{token}", f"eu_copy_{token}"
    hashed = with_hashes(db.table("eusilc"), {"_h": ("subset", 0, 13)})
    db.backend.create_table(real, hashed.order_by("_h").limit(1600).drop("_h"))
    split = Holdout(0.5, seed=1)  # equal parts: the closer-to-training share of a copy is then close to 1
    db.backend.create_table(train, split.training(db.table(real)))
    db.backend.create_table(copy, db.table(train))
    model = ss.fit(db, train, method="independent", spec=quiet_describe(db, train), seed=1)
    n_train = int(db.table(train).count().execute())
    independent = str(ss.materialize(db, model, f"eu_ind_{token}", rows=n_train, seed=2))
    return real, quiet_describe(db, real), split, copy, independent


def test_copy_versus_independent(db, eu):
    real, spec, split, copy, independent = eu
    options = {"holdout": split, "sample_rows": 250, "reference_rows": 2000, "attack_rows": 150}
    same = values(distance_risk(db, real, copy, spec, **options))
    indep = values(distance_risk(db, real, independent, spec, **options))
    # An exact copy of the training rows: every synthetic row sits on a training record, members are found.
    assert same["dcr_median"] == same["dcr_p05"] == 0 and same["dcr_zero_share"] == 1
    # Closer-to-training is measured against equally many training and holdout rows (m): only the copies of those
    # m training rows are sure to be closer; with a split in halves that is nearly all of them.
    assert same["nndr_median"] == 0 and same["closer_to_training_share"] > 0.9
    assert same["membership_auc"] > 0.95 and same["dcr_holdout_median"] > 0
    # Independent columns: far from every record, and no closer to training than to holdout records.
    assert indep["dcr_p05"] > 0 and indep["dcr_zero_share"] == 0
    assert abs(indep["closer_to_training_share"] - 0.5) < 0.1
    assert same["closer_to_training_share"] > indep["closer_to_training_share"] + 0.3
    assert abs(indep["membership_auc"] - 0.5) < 0.1 and indep["membership_auc"] < same["membership_auc"] - 0.35
    inference = {}
    for label, synthetic in (("copy", copy), ("independent", independent)):
        rows = inference_risk(db, real, synthetic, spec, keys=EU_KEYS, targets=EU_TARGETS, holdout=split,
                              attack_rows=300, reference_rows=2000)
        inference[label] = values(rows)
    assert inference["copy"]["inference_attack_rate"] > inference["copy"]["inference_control_rate"]
    assert inference["copy"]["inference_risk"] > inference["independent"]["inference_risk"] + 0.1
    assert inference["independent"]["inference_risk_ci_low"] == 0


# ----------------------------------------------------------------------------------------------------------------
# A copy is found at any size: every sampled row is also compared with all the other rows, by blocks (issue 17/9b)
# ----------------------------------------------------------------------------------------------------------------
WIDE = {"sample_rows": 200, "reference_rows": 1000, "attack_rows": 200}  # each sample far below the table


@pytest.fixture(scope="module")
def cps_big(db):
    """(real, spec, split, train, copy, jittered copy): cps1988 twice (the second time with wages 1% higher), 56,310
    rows; a verbatim copy of its 45,038 training rows; the same rows with every wage 0.01% higher (in the same cell
    but never an exact copy)."""
    token = secrets.token_hex(3)
    real, train, copy, jittered = (f"cps_big{part}_{token}" for part in ("", "_train", "_copy", "_jittered"))
    t = db.table("cps1988")
    db.backend.create_table(real, t.union(t.mutate(wage=t.wage * 1.01)))
    split = Holdout(0.2, seed=1)
    db.backend.create_table(train, split.training(db.table(real)))
    db.backend.create_table(copy, db.table(train))
    rows = db.table(train)
    db.backend.create_table(jittered, rows.mutate(wage=rows.wage * 1.0001))
    return real, quiet_describe(db, real), split, train, copy, jittered


def test_a_copy_is_flagged_beyond_the_sample(db, cps_big):
    real, spec, split, _, copy, _ = cps_big
    found = distance_risk(db, real, copy, spec, holdout=split, **WIDE)
    got = values(found)
    # Before: each sampled synthetic row met 1000 of the 45,038 training rows, and each member 1000 of the 45,038
    # synthetic rows: this copy scored a dcr_zero_share of 0.02 and a membership AUC of 0.51.
    assert got["dcr_zero_share"] >= 0.95 and got["membership_auc"] >= 0.95
    assert got["dcr_median"] == got["nndr_median"] == 0
    detail = found.set_index("metric")["detail"]
    assert "sample of 1000 of 45038 training rows, and among the other 44038 its exact copies and up to 200 rows of " \
           "its block" in detail["dcr_median"]
    assert "sample of 1000 of 45038 synthetic rows, and among the other 44038" in detail["membership_auc"]


def test_an_independent_synthesis_is_not_flagged_beyond_the_sample(db, cps_big):
    real, spec, split, train, _, _ = cps_big
    model = ss.fit(db, train, method="independent", spec=quiet_describe(db, train), seed=1)
    independent = str(ss.materialize(db, model, f"{train}_independent", rows=5000, seed=2))
    got = values(distance_risk(db, real, independent, spec, holdout=split, **WIDE))
    assert got["dcr_zero_share"] < 0.05 and abs(got["membership_auc"] - 0.5) < 0.1
    assert abs(got["closer_to_training_share"] - 0.5) < 0.1


def test_two_nearest_merges_the_sample_with_the_candidates_beyond_it():
    columns = ["_p", "_g", "_r", "_n", "_d"]
    sample = pd.DataFrame([(0, 0, 1, 0, 0.3), (0, 0, 4, 1, 0.5), (1, 0, 2, 0, 0.2)], columns=columns)
    beyond = pd.DataFrame([(0, 0, 9, 0, 0.0), (1, 0, 7, 0, 0.2), (1, 0, 8, 1, 0.9)], columns=columns)
    got = D._two_nearest(sample, beyond)
    assert got.values.tolist() == [[0, 0, 9, 0, 0.0], [0, 0, 1, 1, 0.3], [1, 0, 2, 0, 0.2], [1, 0, 7, 1, 0.2]]
    nothing = pd.DataFrame([], columns=columns)  # no candidate beyond the sample (fetchall's empty result)
    pd.testing.assert_frame_equal(D._two_nearest(sample, nothing), sample)


def test_a_near_copy_is_found_in_its_block_and_the_work_is_capped(db, cps_big):
    real, spec, split, _, _, jittered = cps_big
    got = values(distance_risk(db, real, jittered, spec, holdout=split, **WIDE))
    # Not one exact copy, but each row within 0.01% of a training row's wage, in the same cell: its block has it.
    assert got["dcr_zero_share"] == 0 and 0 < got["dcr_median"] < 1e-5 and got["membership_auc"] >= 0.95
    # The caps are checked before any distance is computed: 45,038 x 56,310 pairs here.
    with pytest.raises(ss.InvalidParameterError, match=r"up to 2,5\d\d,\d{3},\d{3} distances .* cap of 100,000,000"):
        distance_risk(db, real, jittered, spec, holdout=split, sample_rows=BIG, reference_rows=BIG)
    with pytest.raises(ss.InvalidParameterError, match="'block_rows' parameter must be an int >= 1. Got 0"):
        distance_risk(db, real, jittered, spec, block_rows=0)


# ----------------------------------------------------------------------------------------------------------------
# evaluate()
# ----------------------------------------------------------------------------------------------------------------
def test_evaluate_writes_risk_beside_utility(db, small):
    spec, synthetic, split = small
    result = evaluate(db, real="mixed", synthetic=synthetic, spec=spec, pmse=[], keys=["region", "age"],
                      targets=["income"], holdout=split, replace=True)
    assert result.tables == (f"{synthetic}__utility", f"{synthetic}__risk", f"{synthetic}__details")
    written = db.table(f"{synthetic}__risk").to_pandas()
    pd.testing.assert_frame_equal(written, result.risk, check_dtype=False)
    metrics = set(result.risk["metric"])
    assert {"repU", "DiSCO", "DCAP", "exact_matches", "dcr_median", "nndr_median", "closer_to_training_share",
            "membership_auc", "inference_risk", "inference_control_rate"} <= metrics
    assert not result.risk["value"].loc[result.risk["metric"] == "membership_auc"].isna().any()
    # No keys and no holdout: risk is skipped with a row that says so, and no risk table is left behind.
    skipped = evaluate(db, real="mixed", synthetic=synthetic, spec=spec, pmse=[], replace=True)
    assert skipped.risk["metric"].tolist() == ["risk_skipped"] and "no key columns" in skipped.risk["detail"].iloc[0]
    assert skipped.tables == (f"{synthetic}__utility", f"{synthetic}__details")
    assert not db.exists(f"{synthetic}__risk")
    # A holdout without keys: the distance-based measures, no key-based ones.
    holdout_only = evaluate(db, real="mixed", synthetic=synthetic, spec=spec, pmse=[], holdout=split, replace=True)
    got = set(holdout_only.risk["metric"])
    assert {"risk_skipped", "dcr_median", "membership_auc"} <= got and "repU" not in got
    # Keys from the spec.
    keyed = quiet_describe(db, "mixed", keys=["region"], sensitive=["employed"])
    from_spec = evaluate(db, real="mixed", synthetic=synthetic, spec=keyed, pmse=[], write=False)
    assert "employed | region" in set(from_spec.risk["scope"]) and "inference_attack_rate" in set(
        from_spec.risk["metric"])
    assert from_spec.tables == ()


def test_bad_input_writes_nothing(db, small):
    spec, synthetic, split = small
    before = table_names(db)
    run = {"real": "mixed", "synthetic": synthetic, "spec": spec, "pmse": []}
    with pytest.raises(ss.ColumnNotFoundError, match="Key column 'regoin' is not in table .*Did you mean 'region'"):
        evaluate(db, **run, keys=["regoin"], targets=["income"])
    with pytest.raises(ss.ColumnNotFoundError, match="Target column 'incme' .*Did you mean 'income'"):
        evaluate(db, **run, keys=["region"], targets=["incme"])
    with pytest.raises(ss.InvalidParameterError, match="'age' is both a key and a target"):
        evaluate(db, **run, keys=["region", "age"], targets=["age"])
    with pytest.raises(ss.InvalidParameterError, match="'holdout' parameter takes a synthsql.holdout.Holdout"):
        evaluate(db, **run, keys=["region"], holdout=0.2)
    with pytest.raises(ss.InvalidParameterError, match="holdout share .*Got 0.7"):
        evaluate(db, **run, keys=["region"], holdout=Holdout(0.7))
    with pytest.raises(ss.InvalidParameterError, match="'sample_rows' parameter must be an int >= 1. Got 0"):
        distance_risk(db, "mixed", synthetic, spec, sample_rows=0)
    with pytest.raises(ss.ColumnNotFoundError, match="Compared column 'agee' .*Did you mean 'age'"):
        distance_risk(db, "mixed", synthetic, spec, columns=["agee"])
    with pytest.raises(ss.InvalidParameterError, match="'tolerance' parameter must be a number >= 0"):
        inference_risk(db, "mixed", synthetic, spec, keys=["region"], targets=["age"], tolerance=-1)
    assert table_names(db) == before


# --------------------------------------------------------------------------------------------------------------
# The templates: golden rendered SQL per dialect, with the row sets bound as subqueries
# --------------------------------------------------------------------------------------------------------------
GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE_GOLDEN = os.environ.get("SYNTHSQL_UPDATE_GOLDEN") == "1"
GOLDEN_COLUMNS = (
    ss.ColumnSpec(name="age", kind="integer", bins=(ss.Bin(0, 18), ss.Bin(18, 120))),
    ss.ColumnSpec(name="sex", kind="categorical", categories=("F", "M")),
)


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
@pytest.mark.parametrize("name", ["nearest_records", "nearest_candidates", "closest_guess"])
def test_golden_sql(name, dialect):
    from sqlglot import exp

    from synthsql import templates
    from synthsql.metrics.inference import _correct_sql

    values = {"distance": D.distance_sql(GOLDEN_COLUMNS)}
    if name == "closest_guess":
        values["correct"] = _correct_sql(ss.ColumnSpec(name="income", kind="numeric", bins=(ss.Bin(0, 1),)), 0.05)
    probe = exp.select("*").from_("probe_rows")  # a query, bound as a subquery, as distance.py binds Ibis's
    tables = {"probe": probe, "reference": "synth.reference_rows"}
    if name == "nearest_candidates":  # the rows beyond the sample instead of a reference sample
        values = {
            "distance": D.distance_sql(GOLDEN_COLUMNS, "p", "r", ("t", "r")),
            "same_row": D._all_equal([("t0", "r0"), ("t1", "r1")]),
            "same_block": D._all_equal([("lc0", "rc0"), ("t1", "r1")]),
            "block_rows": exp.Literal.number(200),
        }
        tables = {"probe": probe, "beyond": "synth.beyond_rows"}
    text = templates.render(name, dialect, tables=tables, **values) + "\n"
    path = GOLDEN / f"{name}.{dialect}.sql"
    if UPDATE_GOLDEN:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}; run with SYNTHSQL_UPDATE_GOLDEN=1 to write it"
    assert text == path.read_text(encoding="utf-8"), f"{path.name} changed; regenerate with SYNTHSQL_UPDATE_GOLDEN=1"
    if name == "nearest_candidates":
        assert 'FROM "synth"."beyond_rows"' in text and ') AS "probe"' in text and '"p"."lc0" = "r"."rc0"' in text
    else:
        assert '"synth"."reference_rows" AS "r"' in text and ') AS "p"' in text
    assert "$" not in text.split("*/")[-1]
