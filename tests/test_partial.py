"""Partial synthesis (synthsql.generators.partial) and the expected match risk of a partially synthetic release
(synthsql.metrics.match_risk), on both backends.

Checked against a hand-worked fixture (every c_j, I_j, K_j, F_j in the comments), a pandas implementation of Reiter
and Mitra's (2009) definitions on eusilc, and the properties a partial synthesis must have: the source's records,
kept columns byte-identical, synthesized values in the domain and dependent on the kept columns as in the source,
the same table for the same seed whatever the batch size and on either backend. Golden files pin the rendered SQL:
regenerate them with ``SYNTHSQL_UPDATE_GOLDEN=1 pytest tests/test_partial.py -k golden``.
"""

from __future__ import annotations

import json
import os
import secrets
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from psycopg import sql as psql
from sqlglot import exp

import synthsql as ss
from synthsql import templates
from synthsql.aggregates import AggregateStore
from synthsql.metrics.match_risk import expected_match_risk, template_values
from synthsql.generators.partial import PartialModel
from synthsql.holdout import Holdout
from synthsql.rules import SourceBreaksRuleWarning
from synthsql.schema import IdentifierColumnWarning

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE_GOLDEN = os.environ.get("SYNTHSQL_UPDATE_GOLDEN") == "1"

SYNTHESIZED = ["pl030", "py010n"]  # economic status and employee income: the sensitive columns
KNOWN = ["age", "rb090", "db040", "hsize", "pl030", "py010n"]  # what the intruder knows, synthesized ones included


def values(frame: pd.DataFrame) -> dict[str, float]:
    assert not frame["metric"].duplicated().any()
    return dict(zip(frame["metric"], frame["value"], strict=True))


def name() -> str:
    return f"p_{secrets.token_hex(4)}"


def eusilc_spec(db: ss.Database) -> ss.TableSpec:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifierColumnWarning)  # rb030 (the person id) is an identifier
        return ss.describe(db, "eusilc")


_PARTIAL: dict[int, tuple] = {}


def eusilc_partial(db: ss.Database) -> tuple[ss.TableSpec, PartialModel, str]:
    """eusilc with pl030 and py010n synthesized (seed 1), made once per database: (spec, model, table)."""
    if id(db) not in _PARTIAL:
        spec = eusilc_spec(db)
        model = ss.fit(db, "eusilc", synthesize=SYNTHESIZED, spec=spec, id="rb030")
        table = str(ss.materialize(db, model, f"eusilc_partial_{secrets.token_hex(3)}", seed=1))
        _PARTIAL[id(db)] = (spec, model, table)
    return _PARTIAL[id(db)]


def by_id(db: ss.Database, table: str) -> pd.DataFrame:
    return db.table(table).to_pandas().sort_values("rb030", kind="stable").reset_index(drop=True)


# ----------------------------------------------------------------------------------------------------------------
# Golden SQL
# ----------------------------------------------------------------------------------------------------------------
GOLDEN_SPEC = ss.TableSpec(
    table="persons",
    n_rows=9,
    columns=(
        ss.ColumnSpec(name="sex", kind="categorical", categories=("f", "m")),
        ss.ColumnSpec(name="age", kind="integer", bins=(ss.Bin(0, 30), ss.Bin(30, 100))),
        ss.ColumnSpec(name="income", kind="numeric", bins=(ss.Bin(0, 0), ss.Bin(0, 1000), ss.Bin(1000, 5000))),
    ),
)
GOLDEN_CASES = {"expected_match_risk": None, "expected_match_risk_targets": [3, 7, 11]}


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_golden_sql(case, dialect):
    known = [GOLDEN_SPEC.column(n) for n in ("sex", "age", "income")]
    bound = template_values(known, "pid", dialect, targets=GOLDEN_CASES[case])
    tables = {"original": "persons", "synthetic": "synth.Persons"}
    text = templates.render("expected_match_risk", dialect, tables=tables, **bound) + "\n"
    path = GOLDEN / f"{case}.{dialect}.sql"
    if UPDATE_GOLDEN:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}; run with SYNTHSQL_UPDATE_GOLDEN=1 to write it"
    assert text == path.read_text(encoding="utf-8"), f"{path.name} changed; regenerate with SYNTHSQL_UPDATE_GOLDEN=1"
    assert '"synth"."Persons" AS "s"' in text and '"persons" AS "o"' in text
    assert "$" not in text.split("*/")[-1]
    found = [p.name for p in templates.load("expected_match_risk").find_all(exp.Placeholder)]
    assert sorted(found) == sorted(set(found)) == sorted(bound)  # each placeholder once, all bound


# ----------------------------------------------------------------------------------------------------------------
# Expected match risk: hand-worked
# ----------------------------------------------------------------------------------------------------------------
HAND_SPEC = ss.TableSpec(
    table="hand",
    n_rows=7,
    columns=(
        ss.ColumnSpec(name="pid", kind="identifier", dtype="int64"),
        ss.ColumnSpec(name="sex", kind="categorical", categories=("f", "m")),
        ss.ColumnSpec(name="age", kind="integer", bins=(ss.Bin(0, 30), ss.Bin(30, 100))),
        ss.ColumnSpec(name="job", kind="categorical", categories=("a", "b")),
    ),
)
# The original records and the release (job synthesized; record 7 not released). Known: sex, age (by cell:
# [0,30) = 0, [30,100] = 1), job. Keys in the release: (f,0,a) {1}, (f,0,b) {2}, (m,1,b) {3,4}, (f,1,a) {5},
# (NULL,1,b) {6}.
HAND_ORIGINAL = {
    "pid": [1, 2, 3, 4, 5, 6, 7],
    "sex": ["f", "f", "m", "m", "f", None, "m"],
    "age": [25, 27, 40, 45, 60, 33, 41],
    "job": ["a", "a", "b", "a", "b", "b", "b"],
}
HAND_RELEASED = {
    "pid": [1, 2, 3, 4, 5, 6],
    "sex": ["f", "f", "m", "m", "f", None],
    "age": [25, 27, 40, 45, 60, 33],
    "job": ["a", "b", "b", "b", "a", "b"],
}
# target  key        c  own released key  I  K  F  I/c
#   1     (f,0,a)    1  (f,0,a)           1  1  0  1
#   2     (f,0,a)    1  (f,0,b)           0  0  1  0      the one match is record 1: a false match
#   3     (m,1,b)    2  (m,1,b)           1  0  0  1/2    40 and 45 share the cell [30,100]
#   4     (m,1,a)    0  (m,1,b)           0  0  0  0      no released record matches
#   5     (f,1,b)    0  (f,1,a)           0  0  0  0
#   6     (NULL,1,b) 1  (NULL,1,b)        1  1  0  1      NULL matches NULL
#   7     (m,1,b)    2  none              0  0  0  0      not released: I = 0
# EMR = 1 + 1/2 + 1 = 2.5; N = 7; TMR = 2/7; s = #{c = 1} = 3 (targets 1, 2, 6); FMR = 1/3; no match: 4, 5.
HAND_EXPECTED = {
    "expected_match_risk": 2.5,
    "expected_match_risk_pct": 100 * 2.5 / 7,
    "true_match_rate": 100 * 2 / 7,
    "false_match_rate": 100 / 3,
    "targets": 7,
    "unique_matches": 3,
    "true_matches": 2,
    "false_matches": 1,
    "no_matches": 2,
}


@pytest.fixture(scope="module")
def hand(db):
    original, released = name(), name()
    ss.write_table(db, original, pa.table(HAND_ORIGINAL))
    ss.write_table(db, released, pa.table(HAND_RELEASED))
    return original, released


def test_emr_hand_worked(db, hand):
    original, released = hand
    risk = expected_match_risk(db, original, released, HAND_SPEC, known=["sex", "age", "job"], id="pid")
    assert list(risk.columns) == ["metric", "scope", "value", "detail"]
    assert set(risk["scope"]) == {"sex,age,job"}
    assert values(risk) == pytest.approx(HAND_EXPECTED)
    assert "age (3 cells)" in risk["detail"].iloc[0] and "1 targets have no released record" in risk["detail"].iloc[0]


def test_emr_hand_worked_target_subsets(db, hand):
    original, released = hand
    # Targets 1, 2, 3: EMR = 1 + 0 + 1/2; TMR = 1/3; s = 2 (targets 1 and 2), FMR = 1/2.
    expected = {"expected_match_risk": 1.5, "true_match_rate": 100 / 3, "false_match_rate": 50.0, "targets": 3}
    risk = values(expected_match_risk(db, original, released, HAND_SPEC, known=["sex", "age", "job"], id="pid",
                                      targets=[1, 2, 3]))
    assert {k: risk[k] for k in expected} == pytest.approx(expected)
    listed = name()
    ss.write_table(db, listed, pa.table({"pid": [3, 2, 1]}))
    from_table = values(expected_match_risk(db, original, released, HAND_SPEC, known=["sex", "age", "job"],
                                            id="pid", targets=listed))
    assert from_table == pytest.approx(risk)
    # Known = sex only, targets 4 and 5: no unique match, so the false match rate is undefined (NaN), not 0.
    only = values(expected_match_risk(db, original, released, HAND_SPEC, known=["sex"], id="pid", targets=[4, 5]))
    assert only["unique_matches"] == 0 and np.isnan(only["false_match_rate"])
    # ("m": records 3, 4 -> c = 2, I = 1 each; "f": c = 3, I = 1) EMR = 1/2 + 1/3.
    assert only["expected_match_risk"] == pytest.approx(1 / 2 + 1 / 3)


def test_emr_of_an_unchanged_release_is_maximal(db, hand):
    original, _ = hand
    risk = values(expected_match_risk(db, original, original, HAND_SPEC, known=["sex", "age", "job"], id="pid"))
    # Keys of the seven records: (f,0,a) x2, (m,1,b) x2, (m,1,a), (f,1,b), (NULL,1,b): 5 classes, 3 of them unique.
    assert risk["expected_match_risk"] == 5 and risk["true_match_rate"] == pytest.approx(300 / 7)
    assert risk["false_match_rate"] == 0 and risk["no_matches"] == 0


# ----------------------------------------------------------------------------------------------------------------
# Expected match risk on eusilc, against pandas
# ----------------------------------------------------------------------------------------------------------------
def cells(series: pd.Series, col: ss.ColumnSpec) -> np.ndarray:
    """synthsql's cell code of a numeric column: points first, then [lo, hi) intervals, the top one closed."""
    x = series.astype(float).to_numpy()
    code = np.full(len(x), col.null_code)
    done = np.isnan(x)
    top = max(b.hi for b in col.bins)
    for i, b in sorted(enumerate(col.bins), key=lambda item: not item[1].is_point):
        inside = (x == b.lo) if b.is_point else (x >= b.lo) & ((x < b.hi) | ((x == b.hi) & (b.hi == top)))
        code[inside & ~done] = i
        done |= inside
    return code


def keys(frame: pd.DataFrame, spec: ss.TableSpec, known: list[str]) -> pd.Series:
    parts = []
    for column in known:
        col = spec.column(column)
        if col.kind in ("integer", "numeric", "date", "timestamp"):
            parts.append(pd.Series(cells(frame[column], col), index=frame.index).astype(str))
        else:
            value = frame[column].astype(object)
            parts.append(value.where(value.notna(), "<NULL>").astype(str))
    return pd.Series(list(zip(*parts, strict=True)), index=frame.index)


def reference_emr(original: pd.DataFrame, released: pd.DataFrame, spec, known, id) -> dict[str, float]:
    """Reiter and Mitra (2009), target by target: c_j, I_j, K_j, F_j, then EMR, TMR, FMR."""
    target_key = keys(original, spec, known)
    released_key = keys(released, spec, known)
    c = target_key.map(released_key.value_counts()).fillna(0).to_numpy()
    own = dict(zip(released[id], released_key, strict=True))
    i = np.array([own.get(pid) == k for pid, k in zip(original[id], target_key, strict=True)], dtype=float)
    k_j = (c * i) == 1
    f_j = (c * (1 - i)) == 1
    s = (c == 1).sum()
    return {
        "expected_match_risk": float(np.sum(np.where(c > 0, i / np.where(c > 0, c, 1), 0))),
        "true_match_rate": 100 * k_j.sum() / len(original),
        "false_match_rate": 100 * f_j.sum() / s,
        "unique_matches": float(s),
        "no_matches": float((c == 0).sum()),
    }


def test_emr_matches_pandas_on_eusilc(db):
    spec, _, partial = eusilc_partial(db)
    original, released = by_id(db, "eusilc"), by_id(db, partial)
    expected = reference_emr(original, released, spec, KNOWN, "rb030")
    got = values(expected_match_risk(db, "eusilc", partial, spec, known=KNOWN, id="rb030"))
    assert {k: got[k] for k in expected} == pytest.approx(expected, rel=1e-12)
    # A subset of targets: every third person.
    subset = original["rb030"].iloc[::3].tolist()
    expected = reference_emr(original.iloc[::3], released, spec, KNOWN, "rb030")
    got = values(expected_match_risk(db, "eusilc", partial, spec, known=KNOWN, id="rb030", targets=subset))
    assert {k: got[k] for k in expected} == pytest.approx(expected, rel=1e-12)


def test_emr_falls_after_partial_synthesis(db):
    spec, _, partial = eusilc_partial(db)
    copy = values(expected_match_risk(db, "eusilc", "eusilc", spec, known=KNOWN, id="rb030"))
    after = values(expected_match_risk(db, "eusilc", partial, spec, known=KNOWN, id="rb030"))
    # The unchanged release: every target is among its own matches, so EMR = number of key classes, every unique
    # key is a true match and no match is false.
    original = by_id(db, "eusilc")
    classes = keys(original, spec, KNOWN).value_counts()
    assert copy["expected_match_risk"] == len(classes)
    assert copy["true_match_rate"] == pytest.approx(100 * (classes == 1).sum() / len(original))
    assert copy["false_match_rate"] == 0 and copy["no_matches"] == 0
    assert after["expected_match_risk"] < 0.5 * copy["expected_match_risk"]
    assert after["true_match_rate"] < 0.5 * copy["true_match_rate"] and after["false_match_rate"] > 20
    # Knowing only kept columns, the release is as risky as the original.
    kept_only = ["age", "rb090", "db040", "hsize"]
    a = values(expected_match_risk(db, "eusilc", "eusilc", spec, known=kept_only, id="rb030"))
    b = values(expected_match_risk(db, "eusilc", partial, spec, known=kept_only, id="rb030"))
    assert a == b


# ----------------------------------------------------------------------------------------------------------------
# Partial synthesis
# ----------------------------------------------------------------------------------------------------------------
def test_partial_keeps_records_and_kept_columns(db):
    spec, model, partial = eusilc_partial(db)
    assert model.synthesize == SYNTHESIZED and model.source == "eusilc" and model.id == "rb030"
    assert model.kept == [n for n in spec.names if n not in SYNTHESIZED]
    for column in model.order:  # parents are kept columns or earlier synthesized ones
        assert all(p in model.kept or model.order.index(p) < model.order.index(column) for p in model.parents[column])
    src, out = db.table("eusilc"), db.table(partial)
    assert out.schema() == src.schema()
    assert out.count().execute() == src.count().execute()
    kept = model.kept
    for a, b in ((src, out), (out, src)):  # multiset difference in the database: floats compared exactly
        assert a.select(*kept).difference(b.select(*kept), distinct=False).count().execute() == 0
    before, after = by_id(db, "eusilc"), by_id(db, partial)
    pd.testing.assert_frame_equal(before[kept], after[kept])
    changed = (before["pl030"].fillna("-") != after["pl030"].fillna("-")).mean()
    assert 0.1 < changed < 0.9  # the sensitive column is regenerated, not copied


def test_partial_values_stay_in_the_domain(db):
    spec, _, partial = eusilc_partial(db)
    after = by_id(db, partial)
    status = spec.column("pl030")
    assert set(after["pl030"].dropna()) <= set(status.categories)
    income = spec.column("py010n")
    x = after["py010n"].dropna()
    assert x.min() >= min(b.lo for b in income.bins) and x.max() <= max(b.hi for b in income.bins)
    # pl030 and py010n are NULL for the under-16s: the conditionals reproduce that exactly.
    assert after.loc[after["age"] < 16, "pl030"].isna().all()
    assert after["pl030"].isna().sum() == by_id(db, "eusilc")["pl030"].isna().sum()


def tvd(a: np.ndarray, b: np.ndarray) -> float:
    return 0.5 * float(np.abs(a / a.sum() - b / b.sum()).sum())


def test_partial_preserves_dependence_on_kept_columns(db):
    spec, _, partial = eusilc_partial(db)
    real, released = AggregateStore(db, "eusilc", spec), AggregateStore(db, partial, spec)
    for kept, synthesized in (("age", "pl030"), ("age", "py010n"), ("hsize", "pl030")):
        joint = real.marginal((kept, synthesized)).astype(float)
        independent = np.outer(joint.sum(axis=1), joint.sum(axis=0)) / joint.sum()  # what an independent draw gets
        got = tvd(joint, released.marginal((kept, synthesized)))
        assert got < 0.25 * tvd(joint, independent), (kept, synthesized)
        assert got < 0.08


def test_same_seed_same_table_whatever_the_batches(db):
    spec, model, partial = eusilc_partial(db)
    n = spec.n_rows
    batches = list(model.release(db, None, 1, batch_rows=4000))
    assert len(batches) == -(-n // 4000) and max(b.num_rows for b in batches) <= 4000  # read in bounded batches
    again = str(ss.materialize(db, model, name(), seed=1, batch_rows=997))
    pd.testing.assert_frame_equal(by_id(db, partial), by_id(db, again))
    other = str(ss.materialize(db, model, name(), seed=2))
    assert not by_id(db, partial)["py010n"].equals(by_id(db, other)["py010n"])
    # Replacing an existing target, only when asked.
    with pytest.raises(ss.TargetError, match="already exists; pass replace=True"):
        ss.materialize(db, model, other, seed=3)
    ss.materialize(db, model, other, seed=1, replace=True)
    pd.testing.assert_frame_equal(by_id(db, partial), by_id(db, other))


def test_partial_synthesis_is_the_method_partial(db):
    spec, model, partial = eusilc_partial(db)
    named = ss.fit(db, "eusilc", method="partial", synthesize=SYNTHESIZED, spec=spec, id="rb030")
    assert named.generator == "partial" and named.to_json() == model.to_json()
    table = str(ss.materialize(db, named, name(), seed=1))
    pd.testing.assert_frame_equal(by_id(db, partial), by_id(db, table))
    with pytest.raises(ss.InvalidParameterError, match="leave method unset"):
        ss.fit(db, "eusilc", synthesize=SYNTHESIZED, spec=spec, method="copula")
    with pytest.raises(ss.InvalidParameterError, match="without epsilon, budget or holdout"):
        ss.fit(db, "eusilc", synthesize=SYNTHESIZED, spec=spec, holdout=Holdout(0.2, seed=1))
    with pytest.raises(ss.InvalidParameterError, match="not differentially private"):
        ss.fit(db, "eusilc", synthesize=SYNTHESIZED, spec=spec, epsilon=1.0)


def test_evaluate_adds_the_expected_match_risk_of_a_partial_release(db):
    spec, _, partial = eusilc_partial(db)
    keys = ["age", "rb090", "db040", "pl030"]
    direct = expected_match_risk(db, "eusilc", partial, spec, known=keys, id="rb030")
    result = ss.evaluate(db, real="eusilc", synthetic=partial, spec=spec, keys=keys, match_id="rb030", write=False,
                         pmse=["cells"])
    rows = result.risk.set_index("metric").loc[direct["metric"], "value"]
    assert rows.tolist() == pytest.approx(direct["value"].tolist(), nan_ok=True)
    with pytest.raises(ss.ColumnNotFoundError, match="Did you mean 'rb030'"):
        ss.evaluate(db, real="eusilc", synthetic=partial, spec=spec, keys=keys, match_id="rb03", write=False)


def test_save_and_load(db, tmp_path):
    _, model, partial = eusilc_partial(db)
    path = model.save(tmp_path / "partial.json")
    data = json.loads(path.read_text())
    assert data["generator"] == "partial" and data["state"]["source"] == "eusilc"
    assert data["state"]["synthesize"] == SYNTHESIZED and data["state"]["id"] == "rb030"
    loaded = ss.load(path)
    assert isinstance(loaded, PartialModel) and loaded.to_json() == model.to_json()
    target = str(ss.materialize(db, loaded, name(), seed=1))
    pd.testing.assert_frame_equal(by_id(db, partial), by_id(db, target))


@pytest.mark.postgres
def test_duckdb_and_postgres_give_the_same_table(duckdb_db, postgres_db):
    a, b = (by_id(d, eusilc_partial(d)[2]) for d in (duckdb_db, postgres_db))
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    # Without an id the records are ordered by every kept column, text byte by byte on both backends.
    words = ["b", "B", "a", "_x", "é", "A", "a", None, "ß", "Z"]
    table = pa.table({"word": words * 6, "g": [i % 3 for i in range(60)], "y": [(i * 7) % 5 for i in range(60)]})
    out = []
    for d in (duckdb_db, postgres_db):
        source = name()
        ss.write_table(d, source, table)
        if d.dialect == "postgres":  # a linguistic collation, where 'a' < 'B' < 'b': the read must not follow it
            with d.raw.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu'")
                if cur.fetchone():
                    cur.execute(psql.SQL('ALTER TABLE {} ALTER COLUMN word TYPE TEXT COLLATE "und-x-icu"').format(
                        psql.Identifier(source)))
        model = ss.fit(d, source, synthesize=["y"])
        out.append(d.table(str(ss.materialize(d, model, name(), seed=4))).to_pandas())
    a, b = (f.sort_values(list(f.columns), kind="stable").reset_index(drop=True) for f in out)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


def test_nothing_kept_is_modelled(db):
    # Only an identifier is kept: the first synthesized column is drawn from its 1-way marginal.
    source = name()
    rng = np.random.default_rng(5)
    g = rng.integers(0, 3, 300)
    ss.write_table(db, source, pa.table({"pid": np.arange(300), "g": g, "h": (g + (rng.random(300) < 0.1)) % 3}))
    spec = ss.describe(db, source, exclude=["pid"])
    model = ss.fit(db, source, synthesize=["g", "h"], spec=spec, id="pid")
    assert model.kept == ["pid"] and model.parents[model.order[0]] == []
    out = db.table(str(ss.materialize(db, model, name(), seed=1))).to_pandas().sort_values("pid")
    assert out["pid"].tolist() == list(range(300))
    assert ((out["g"] - out["h"]) % 3 == 0).mean() > 0.8  # g and h stay dependent


# ----------------------------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------------------------
def test_partial_bad_input(db):
    spec = eusilc_spec(db)
    with pytest.raises(ss.ColumnNotFoundError, match="'pl03' .*Did you mean 'pl030'"):
        ss.fit(db, "eusilc", synthesize=["pl03"], spec=spec)
    with pytest.raises(ss.InvalidParameterError, match=r"synthesize=\[\] names no column"):
        ss.fit(db, "eusilc", synthesize=[], spec=spec)
    with pytest.raises(ss.InvalidParameterError, match="list of column names"):
        ss.fit(db, "eusilc", synthesize="pl030", spec=spec)
    with pytest.raises(ss.InvalidParameterError, match="listed twice"):
        ss.fit(db, "eusilc", synthesize=["pl030", "pl030"], spec=spec)
    with pytest.raises(ss.InvalidParameterError, match=r"every column .*use ss.fit"):
        ss.fit(db, "eusilc", synthesize=spec.names, spec=spec)
    with pytest.raises(ss.InvalidParameterError, match="'db030' of table 'eusilc' is not unique: 14827 rows"):
        ss.fit(db, "eusilc", synthesize=["pl030"], spec=spec, id="db030")
    with pytest.raises(ss.InvalidParameterError, match="is the id and is listed in synthesize"):
        ss.fit(db, "eusilc", synthesize=["rb030"], spec=spec, id="rb030")
    with pytest.raises(ss.InvalidParameterError, match="'rb030' .*is not modelled"):
        ss.fit(db, "eusilc", synthesize=["rb030"], spec=spec)
    with pytest.raises(ss.InvalidParameterError, match="'degree' parameter of partial synthesis must be an int >= 1"):
        ss.fit(db, "eusilc", synthesize=["pl030"], spec=spec, degree=0)
    with pytest.raises(ss.TableNotFoundError, match="Did you mean 'eusilc'"):
        ss.fit(db, "eusilk", synthesize=["pl030"], spec=spec)

    _, model, partial = eusilc_partial(db)
    with pytest.raises(ss.TargetError, match="is the source table"):
        ss.materialize(db, model, "eusilc", replace=True)
    with pytest.raises(ss.InvalidParameterError, match="one row per source row"):
        ss.materialize(db, model, name(), rows=10)
    with pytest.raises(ss.InvalidParameterError, match="'seed' parameter must be None or an int >= 0"):
        ss.materialize(db, model, name(), seed=-1)


def test_failed_write_leaves_nothing(db, monkeypatch):
    _, model, _ = eusilc_partial(db)
    before = set(db.list_tables())
    calls = {"n": 0}
    original = PartialModel._draw_batch

    def failing(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PartialModel, "_draw_batch", failing)
    target = name()
    with pytest.raises(RuntimeError, match="disk full"):
        ss.materialize(db, model, target, seed=1, batch_rows=2000)
    assert calls["n"] == 3 and set(db.list_tables()) == before  # no target, no temporary table


def test_emr_bad_input(db, hand):
    original, released = hand
    known = ["sex", "age", "job"]
    with pytest.raises(ss.ColumnNotFoundError, match="Known column 'jobs' is not in table .*Did you mean 'job'"):
        expected_match_risk(db, original, released, HAND_SPEC, known=["sex", "jobs"], id="pid")
    with pytest.raises(ss.ColumnNotFoundError, match="Id column 'pidd' .*Did you mean 'pid'"):
        expected_match_risk(db, original, released, HAND_SPEC, known=known, id="pidd")
    narrow = ss.TableSpec(table="hand", n_rows=7, columns=HAND_SPEC.columns[:3])
    with pytest.raises(ss.ColumnNotFoundError, match="Known column 'job' is not in the spec"):
        expected_match_risk(db, original, released, narrow, known=known, id="pid")
    with pytest.raises(ss.InvalidParameterError, match="at least one known variable"):
        expected_match_risk(db, original, released, HAND_SPEC, known=[], id="pid")
    with pytest.raises(ss.InvalidParameterError, match="listed twice"):
        expected_match_risk(db, original, released, HAND_SPEC, known=["sex", "sex"], id="pid")
    with pytest.raises(ss.InvalidParameterError, match="both the id and a known variable"):
        expected_match_risk(db, original, released, HAND_SPEC, known=["pid", "sex"], id="pid")
    with pytest.raises(ss.InvalidParameterError, match="id column 'sex' of table .* is NULL in 1 of 7 rows"):
        expected_match_risk(db, original, released, HAND_SPEC, known=["job"], id="sex")
    with pytest.raises(ss.InvalidParameterError, match="id column 'job' of table .* is not unique: 7 rows but 2"):
        expected_match_risk(db, original, released, HAND_SPEC, known=["sex"], id="job")
    with pytest.raises(ss.TableNotFoundError):
        expected_match_risk(db, original, "nowhere", HAND_SPEC, known=known, id="pid")
    with pytest.raises(ss.EmptyTableError, match="no target record"):
        expected_match_risk(db, original, released, HAND_SPEC, known=known, id="pid", targets=[99])


# ----------------------------------------------------------------------------------------------------------------
# Edit rules: rows that break one get their synthesized columns drawn again, given the same kept values
# ----------------------------------------------------------------------------------------------------------------
YOUNG_INCOME = ss.Rule("young_income", "py010n IS NULL OR py010n <= 50000", when="age < 20")  # the source meets it
NO_MINOR_INCOME = ss.Rule("no_minor_income", "py010n IS NULL OR py010n = 0", when="age < 18")  # 157 rows break it


def test_edit_rules_are_enforced_on_the_synthesized_columns_at_one_row_per_record(db):
    from synthsql.metrics.fitness import check_rules

    spec, _, unruled = eusilc_partial(db)
    rules = [YOUNG_INCOME, NO_MINOR_INCOME]
    with pytest.warns(SourceBreaksRuleWarning, match="'no_minor_income' is broken by 157 of the"):
        model = ss.fit(db, "eusilc", synthesize=SYNTHESIZED, spec=spec, id="rb030", rules=rules)
    assert model.rules == tuple(rules) and ss.Model.from_json(model.to_json()).rules == tuple(rules)
    target = str(ss.materialize(db, model, name(), seed=1))
    counts = check_rules(db, "eusilc", target, rules).set_index(["rule", "table"])["violations"]
    assert counts[("no_minor_income", "synthetic")] == 0 and counts[("young_income", "synthetic")] == 0
    before = check_rules(db, "eusilc", unruled, rules).set_index(["rule", "table"])["violations"]
    assert before[("no_minor_income", "synthetic")] > 100  # the same model without its rules breaks them
    released, source = by_id(db, target), by_id(db, "eusilc")
    assert len(released) == len(source) == spec.n_rows  # one row per record, every record
    kept = [c for c in source.columns if c not in SYNTHESIZED]
    pd.testing.assert_frame_equal(released[kept], source[kept])  # kept values untouched by the redraws
    assert model.rows_kept == spec.n_rows and model.rows_drawn > model.rows_kept
    record = db.table(f"{target}__model").to_pandas().iloc[0]
    assert (record["rows_drawn"], record["rows_kept"]) == (model.rows_drawn, model.rows_kept)
    assert record["rejection_rate"] == pytest.approx(model.rows_drawn / model.rows_kept - 1)
    # the same seed, the same table, whatever the batches (each redraw round has streams of its own)
    again = str(ss.materialize(db, model, name(), seed=1, batch_rows=997))
    pd.testing.assert_frame_equal(by_id(db, again), released)
    assert model.rows_drawn == record["rows_drawn"]


def test_a_rule_on_kept_columns_only_is_refused_before_reading(duckdb_db, monkeypatch):
    spec = eusilc_spec(duckdb_db)
    monkeypatch.setattr(ss.AggregateStore, "marginals", lambda *a, **k: pytest.fail("read before checking"))
    with pytest.raises(ss.InvalidParameterError, match="'adult' names only kept columns \\(age\\).*no draw can make"):
        ss.fit(duckdb_db, "eusilc", synthesize=SYNTHESIZED, spec=spec, rules=[ss.Rule("adult", "age >= 0")])


def test_records_no_draw_can_fit_to_a_rule_are_an_error_naming_it(duckdb_db):
    rule = ss.Rule("exact", "py010n = 123.456 OR age < 16")  # no continuous draw hits the value: adults fail
    with pytest.warns(SourceBreaksRuleWarning):
        model = ss.fit(duckdb_db, "eusilc", synthesize=SYNTHESIZED, spec=eusilc_spec(duckdb_db), id="rb030",
                       rules=[rule])
    with pytest.raises(ss.SamplingError, match=r"cannot meet its edit rules \('exact'\) for [\d,]+ source record"):
        ss.materialize(duckdb_db, model, name(), seed=1)
