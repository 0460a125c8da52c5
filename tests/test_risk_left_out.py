"""Target levels left out of the attribute-disclosure measures (``exclude_target_levels``; synthpop's
``not.targetlev``), on both backends: a hand-worked fixture, a pandas reference on cps1988, DuckDB against
PostgreSQL, the validation errors, the suggestion for a dominant level, evaluate and the catalog key.

Rule under test (synthsql.metrics.risk, "Levels left out"): a record whose target value is left out counts 0 in
every numerator; which keys determine a target, the class sizes and every denominator stay on all records.
"""

from __future__ import annotations

import json
import os
import secrets
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import synthsql as ss
from synthsql import templates
from synthsql.catalog import CatalogError, load
from synthsql.metrics.risk import _check_levels, attribute_disclosure, key_expression, left_out_flag, risk_measures
from synthsql.pipeline import stored_evaluation

GOLDEN = Path(__file__).resolve().parent / "golden"
ATTRIBUTE = ["Dorig", "DiSCO", "DiSDiO", "baseCAPd", "CAPd", "DCAP", "TCAP", "TCAP_records"]


def values(frame: pd.DataFrame, scope: str | None = None) -> dict[str, float]:
    if scope is not None:
        frame = frame[frame["scope"] == scope]
    assert not frame["metric"].duplicated().any()
    return dict(zip(frame["metric"], frame["value"], strict=True))


def details(frame: pd.DataFrame) -> dict[str, str]:
    return dict(zip(frame["metric"], frame["detail"], strict=True))


# ----------------------------------------------------------------------------------------------------------------
# The hand-worked fixture of tests/test_risk.py, with levels left out
# ----------------------------------------------------------------------------------------------------------------
# Keys: sex (text, with NULL) and age (integer; cells Y = [0, 30) and O = [30, 100]); target: job.
#
#  row sex   age job   orig class (sex, age) n_K  n_KT  synthetic class: s_K, s_KT of own job    determines?
#   1  f     25  a     C1 (f, Y)  {a, a}     2    2     (f, Y) {a, a}:      2, 2                 orig yes, syn yes
#   2  f     28  a     C1                    2    2     same                2, 2                 yes, yes
#   3  f     40  b     C2 (f, O)  {b}        1    1     (f, O) {b, NULL}:   2, 1                 yes, no
#   4  m     20  a     C3 (m, Y)  {a, b, b}  3    1     (m, Y) {b, b}:      2, 0                 no, yes (b)
#   5  m     22  b     C3                    3    2     same                2, 2                 no, yes
#   6  m     22  b     C3                    3    2     same                2, 2                 no, yes
#   7  NULL  29  c     C4 (NULL, Y) {c}      1    1     (NULL, Y) {c}:      1, 1                 yes, yes
#   8  NULL  50  a     C5 (NULL, O) {a}      1    1     (NULL, O) {a}:      1, 1                 yes, yes
#   9  m     80  NULL  C6 (m, O)  {NULL}     1    1     absent:             -, 0                 yes, -
#
# Without levels left out (tests/test_risk.py): Dorig 6/9 (rows 1, 2, 3, 7, 8, 9), DiSCO 6/9 (1, 2, 5, 6, 7, 8),
# DiSDiO 4/9 (1, 2, 7, 8), TCAP 6/7, DCAP 6.5/9, CAPd (7 + 2/3)/9, baseCAPd (4^2 + 3^2 + 1 + 1)/81 = 27/81.
ORIGINAL = {
    "sex": ["f", "f", "f", "m", "m", "m", None, None, "m"],
    "age": [25, 28, 40, 20, 22, 22, 29, 50, 80],
    "job": ["a", "a", "b", "a", "b", "b", "c", "a", None],
}
SYNTHETIC = {
    "sex": ["f", "f", "f", "m", "m", None, None, "f"],
    "age": [25, 45, 41, 22, 21, 10, 50, 5],
    "job": ["a", "b", None, "b", "b", "c", "a", "a"],
}
HAND_COLUMNS = (
    ss.ColumnSpec(name="sex", kind="categorical", categories=("f", "m")),
    ss.ColumnSpec(name="age", kind="integer", bins=(ss.Bin(0, 30), ss.Bin(30, 100))),
    ss.ColumnSpec(name="job", kind="categorical", categories=("a", "b", "c")),
)
LEFT_OUT_A = {
    # Job 'a' left out: rows 1, 2, 4 and 8 count 0 in every numerator; N stays 9.
    # Dorig: rows 3, 7, 9 (of 1, 2, 3, 7, 8, 9) = 3/9. DiSCO: rows 5, 6, 7 (of 1, 2, 5, 6, 7, 8) = 3/9.
    # DiSDiO: row 7 = 1/9.
    "Dorig": Fraction(3, 9),
    "DiSCO": Fraction(3, 9),
    "DiSDiO": Fraction(1, 9),
    # baseCAPd: the levels kept, b 3, c 1, NULL 1: (9 + 1 + 1) / 81.
    "baseCAPd": Fraction(11, 81),
    # CAPd: n_KT / n_K of rows 3, 5, 6, 7, 9 = 1 + 2/3 + 2/3 + 1 + 1 = 13/3, over 9.
    "CAPd": Fraction(13, 27),
    # DCAP: s_KT / s_K of rows 3, 5, 6, 7, 9 = 1/2 + 1 + 1 + 1 + 0 = 3.5, over 9.
    "DCAP": Fraction(7, 18),
    # TCAP: the DiSCO records (5, 6, 7) over the 7 records whose synthetic key determines the target (unchanged).
    "TCAP": Fraction(3, 7),
    "TCAP_records": 7,
}
LEFT_OUT_A_C = {
    # Jobs 'a' and 'c' left out (rows 1, 2, 4, 7, 8): Dorig rows 3, 9; DiSCO rows 5, 6; DiSDiO none.
    "Dorig": Fraction(2, 9),
    "DiSCO": Fraction(2, 9),
    "DiSDiO": Fraction(0),
    "baseCAPd": Fraction(10, 81),  # b 3, NULL 1
    "CAPd": Fraction(10, 27),  # rows 3, 5, 6, 9: 1 + 2/3 + 2/3 + 1 = 10/3, over 9
    "DCAP": Fraction(5, 18),  # rows 3, 5, 6, 9: 1/2 + 1 + 1 + 0 = 2.5, over 9
    "TCAP": Fraction(2, 7),
    "TCAP_records": 7,
}
# Target age (cells Y, O) from the key sex alone. Original classes: f {Y, Y, O}, m {Y, Y, Y, O}, NULL {Y, O}: no key
# determines the cell (Dorig 0). Synthetic: f {Y, O, O, Y}, m {Y, Y} (determines Y), NULL {Y, O}; rows 4, 5, 6 (m, Y)
# are disclosed: DiSCO 3/9; TCAP is defined on the m rows 4, 5, 6, 9.
#   DCAP per row: f rows 1, 2 (Y) 2/4, row 3 (O) 2/4; m rows 4, 5, 6 (Y) 1, row 9 (O) 0; NULL rows 7 (Y), 8 (O) 1/2.
#   CAPd per row: rows 1, 2: 2/3, row 3: 1/3; rows 4, 5, 6: 3/4, row 9: 1/4; rows 7, 8: 1/2.
AGE_NOTHING_LEFT_OUT = {
    "Dorig": Fraction(0),
    "DiSCO": Fraction(3, 9),
    "DCAP": Fraction(11, 18),  # 1/2 * 3 + 3 + 1/2 * 2 = 5.5, over 9
    "CAPd": Fraction(31, 54),  # 4/3 + 1/3 + 9/4 + 1/4 + 1 = 31/6, over 9
    "baseCAPd": Fraction(45, 81),  # Y 6, O 3
    "TCAP": Fraction(3, 4),
}
AGE_OLD_LEFT_OUT = {  # 80 lies in the cell O = [30, 100]: rows 3, 8 and 9 count 0
    "Dorig": Fraction(0),
    "DiSCO": Fraction(3, 9),
    "DCAP": Fraction(9, 18),  # 5.5 - 1/2 (row 3) - 1/2 (row 8) - 0 (row 9) = 4.5
    "CAPd": Fraction(49, 108),  # 31/6 - 1/3 - 1/4 - 1/2 = 49/12, over 9
    "baseCAPd": Fraction(36, 81),
    "TCAP": Fraction(3, 4),
}
AGE_YOUNG_LEFT_OUT = {  # 25 lies in the cell Y = [0, 30): rows 1, 2, 4, 5, 6, 7 count 0
    "Dorig": Fraction(0),
    "DiSCO": Fraction(0),
    "DCAP": Fraction(1, 9),  # rows 3 (1/2), 8 (1/2), 9 (0)
    "CAPd": Fraction(13, 108),  # rows 3 (1/3), 8 (1/2), 9 (1/4) = 13/12, over 9
    "baseCAPd": Fraction(9, 81),
    "TCAP": Fraction(0),
}


@pytest.fixture(scope="module")
def hand(db):
    """(original name, synthetic name, spec) of the hand-worked fixture."""
    token = secrets.token_hex(3)
    real, synthetic = f"left_out_{token}", f"left_out_syn_{token}"
    types = {"sex": pa.string(), "age": pa.int32(), "job": pa.string()}
    ss.write_table(db, real, pa.table({c: pa.array(v, type=types[c]) for c, v in ORIGINAL.items()}))
    ss.write_table(db, synthetic, pa.table({c: pa.array(v, type=types[c]) for c, v in SYNTHETIC.items()}))
    return real, synthetic, ss.TableSpec(table=real, n_rows=9, columns=HAND_COLUMNS)


def check(got: dict[str, float], expected: dict[str, Fraction | int]) -> None:
    for metric, value in expected.items():
        want = float(value) if metric == "TCAP_records" else float(100 * value)
        assert got[metric] == want, metric  # exact: the counts are integers and divided once


@pytest.mark.parametrize(
    ("levels", "expected", "left"), [(["a"], LEFT_OUT_A, 4), (["a", "c"], LEFT_OUT_A_C, 5)], ids=["a", "a+c"]
)
def test_left_out_levels_by_hand(db, hand, levels, expected, left):
    real, synthetic, spec = hand
    before = values(attribute_disclosure(db, real, synthetic, spec, keys=["sex", "age"], targets=["job"]))
    assert (before["Dorig"], before["DiSCO"]) == (100 * 6 / 9, 100 * 6 / 9)
    risk = risk_measures(
        db, real, synthetic, spec, keys=["sex", "age"], targets=["job"], k=2, exclude_target_levels={"job": levels}
    )
    check(values(risk), expected)
    # Nothing but the attribute measures moves.
    full = risk_measures(db, real, synthetic, spec, keys=["sex", "age"], targets=["job"], k=2)
    others = ~risk["metric"].isin(ATTRIBUTE)
    pd.testing.assert_frame_equal(risk[others], full[others])
    text = details(risk)
    labels = ", ".join(repr(level) for level in levels)
    for metric in ATTRIBUTE[:-1]:
        assert f"left out: {labels}: {left} of 9 original records, counted 0" in text[metric], metric
        assert "not.targetlev" in text[metric]
    assert "left out" not in text["TCAP_records"] and "left out" not in details(full)["DiSCO"]
    # The same rows from attribute_disclosure alone.
    alone = attribute_disclosure(
        db, real, synthetic, spec, keys=["sex", "age"], targets=["job"], exclude_target_levels={"job": levels}
    )
    pd.testing.assert_frame_equal(alone, risk[risk["metric"].isin(ATTRIBUTE)].reset_index(drop=True))


def test_the_template_counts_by_hand(db, hand):
    # Job 'a' left out. Part 0: (records 9, dorig 3, disco 3, disdio 1, tcap_records 7, key_matched 8), base_cap
    # 11, left_out 4; the most frequent job is 'a' (4 records), encoded '1:a'.
    # Part 1 (n_K): sum of m_KT * n_KT per original class size: n_K = 1: C2 b 1 + C4 c 1 + C5 a 0 + C6 NULL 1 = 3;
    # n_K = 2: C1 a 0; n_K = 3: C3 a 0 + b 2 * 2 = 4 (CAPd * 9 = 3/1 + 0/2 + 4/3 = 13/3).
    # Part 2 (s_K): sum of m_KT * s_KT: no synthetic key (C6) 0; s_K = 1: C4 1 + C5 0 = 1; s_K = 2: C1 0 + C2 1 * 1
    # + C3 (a 0, b 2 * 2) = 5 (DCAP * 9 = 1/1 + 5/2 = 3.5).
    real, synthetic, spec = hand
    job = spec.column("job")
    left = _check_levels(real, [job], {"job": ["a"]})["job"]
    bound = {
        **{f"{side}_key": key_expression(list(HAND_COLUMNS[:2]), alias, db.dialect) for side, alias in SIDES},
        **{f"{side}_target": key_expression([job], alias, db.dialect) for side, alias in SIDES},
        "original_left_out": left_out_flag(job, left, db.dialect, db.table(real).schema()["job"]),
    }
    tree = templates.bind("attribute_disclosure", tables={"original": real, "synthetic": synthetic}, **bound)
    names = [s.alias_or_name for s in tree.selects]
    rows = [dict(zip(names, r, strict=True)) for r in db.fetchall(tree)]
    (zero,) = [r for r in rows if r["part"] == 0]
    counts = ("records", "dorig", "disco", "disdio", "tcap_records", "key_matched", "base_cap", "left_out")
    assert tuple(zero[c] for c in counts) == (9, 3, 3, 1, 7, 8, 11, 4)
    assert (zero["top_target"], zero["top_records"]) == ("1:a", 4)
    assert [(r["size"], r["cap_sum"]) for r in rows if r["part"] == 1] == [(1, 3), (2, 0), (3, 4)]
    assert [(r["size"], r["dcap_sum"]) for r in rows if r["part"] == 2] == [(None, 0), (1, 1), (2, 5)]


SIDES = (("original", "o"), ("synthetic", "s"))


@pytest.mark.parametrize(
    ("levels", "expected", "left", "label"),
    [
        (None, AGE_NOTHING_LEFT_OUT, 0, None),
        ([80], AGE_OLD_LEFT_OUT, 3, "80 (cell [30, 100])"),
        ([100], AGE_OLD_LEFT_OUT, 3, "100 (cell [30, 100])"),  # the top interval is closed
        ([30, 99], AGE_OLD_LEFT_OUT, 3, "30 (cell [30, 100])"),  # one cell, left out once
        ([25], AGE_YOUNG_LEFT_OUT, 6, "25 (cell [0, 30))"),
        ([0.0], AGE_YOUNG_LEFT_OUT, 6, "0.0 (cell [0, 30))"),
    ],
)
def test_a_numeric_target_leaves_out_the_cell_of_the_value(db, hand, levels, expected, left, label):
    real, synthetic, spec = hand
    levels_arg = None if levels is None else {"age": levels}
    risk = attribute_disclosure(
        db, real, synthetic, spec, keys=["sex"], targets=["age"], exclude_target_levels=levels_arg
    )
    got = values(risk)
    check(got, expected)
    assert got["TCAP_records"] == 4
    if label is not None:
        assert f"left out: {label}: {left} of 9 original records" in details(risk)["DiSCO"]


@pytest.mark.postgres
def test_the_same_on_duckdb_and_postgres(duckdb_db, postgres_db):
    # cps1988 against a copy whose parttime is shuffled on a third of the rows: the same tables and the same spec
    # on both backends give identical frames, to the bit, with and without levels left out.
    table = duckdb_db.table("cps1988").to_pyarrow()
    rng = np.random.default_rng(7)
    parttime = np.array(table["parttime"].to_pylist(), dtype=object)
    picked = rng.random(len(parttime)) < 1 / 3
    parttime[picked] = rng.permutation(parttime[picked])
    synthetic = table.set_column(table.schema.get_field_index("parttime"), "parttime", pa.array(parttime.tolist()))
    name = f"cps_shuffled_{secrets.token_hex(3)}"
    spec = ss.describe(duckdb_db, "cps1988")
    keys = ["region", "ethnicity", "smsa", "education"]
    frames = {}
    for db in (duckdb_db, postgres_db):
        ss.write_table(db, name, synthetic)
        for levels in (None, {"parttime": ["no"]}, {"parttime": ["yes"], "ethnicity": ["cauc"]}):
            targets = ["parttime", "ethnicity"] if levels and "ethnicity" in levels else ["parttime"]
            keys_here = [k for k in keys if k not in targets]
            frames.setdefault(json.dumps(levels), []).append(
                risk_measures(db, "cps1988", name, spec, keys=keys_here, targets=targets, exclude_target_levels=levels)
            )
    for label, (duck, pg) in frames.items():
        pd.testing.assert_frame_equal(duck, pg, check_exact=True, obj=label)
    # Against a pandas implementation of the rule, record by record.
    real_frame, syn_frame = table.to_pandas(), synthetic.to_pandas()
    for frame in (real_frame, syn_frame):
        frame["education"] = cells(frame["education"], spec.column("education"))
    got = values(frames[json.dumps({"parttime": ["no"]})][0], "parttime | " + ",".join(keys))
    expected = reference(real_frame, syn_frame, keys, "parttime", {"no"})
    for metric, value in expected.items():
        assert got[metric] == pytest.approx(value, rel=1e-12), metric
    assert 0 < got["DiSCO"] < values(frames["null"][0], "parttime | " + ",".join(keys))["DiSCO"]


def cells(series: pd.Series, col: ss.ColumnSpec) -> pd.Series:
    """The spec's cell of an integer column (points first, then [lo, hi), the top one closed)."""
    top = max(b.hi for b in col.bins)

    def code(x):
        for i, b in enumerate(col.bins):
            if b.is_point and x == b.lo:
                return i
        for i, b in enumerate(col.bins):
            if not b.is_point and b.lo <= x and (x < b.hi or x == b.hi == top):
                return i
        return col.null_code

    return series.map(code)


def reference(real: pd.DataFrame, synthetic: pd.DataFrame, keys: list[str], target: str, left: set) -> dict:
    """Dorig, DiSCO, DiSDiO, baseCAPd, CAPd and DCAP with the levels ``left`` counting 0, from their definitions."""
    o = real[[*keys, target]].copy()
    o["n_k"] = o.groupby(keys)[target].transform("size")
    o["n_kt"] = o.groupby([*keys, target])[target].transform("size")
    o["n_t"] = o.groupby(target)[target].transform("size")
    sk = synthetic.groupby(keys).size().rename("s_k").reset_index()
    skt = synthetic.groupby([*keys, target]).size().rename("s_kt").reset_index()
    o = o.merge(sk, on=keys, how="left").merge(skt, on=[*keys, target], how="left")
    s_k, s_kt = o["s_k"].fillna(0), o["s_kt"].fillna(0)
    counted = ~o[target].isin(left)
    disco = (s_k > 0) & (s_kt == s_k) & counted
    return {
        "Dorig": 100 * ((o["n_kt"] == o["n_k"]) & counted).mean(),
        "DiSCO": 100 * disco.mean(),
        "DiSDiO": 100 * (disco & (o["n_kt"] == o["n_k"])).mean(),
        "baseCAPd": 100 * np.where(counted, o["n_t"] / len(o), 0).mean(),
        "CAPd": 100 * np.where(counted, o["n_kt"] / o["n_k"], 0).mean(),
        "DCAP": 100 * np.where(counted & (s_k > 0), s_kt / s_k.where(s_k > 0, 1), 0).mean(),
    }


# ----------------------------------------------------------------------------------------------------------------
# A dominant level: suggested when no level is given
# ----------------------------------------------------------------------------------------------------------------
def test_a_dominant_level_is_suggested(db):
    # parttime is 'no' for 25,631 of 28,155 records (91.0 %).
    keys = ["region", "ethnicity", "smsa"]
    spec = ss.describe(db, "cps1988")
    suggestion = (
        "is 91.0 % of the original records: if it tells nothing about a person, leave it out with "
        'exclude_target_levels: {parttime: ["no"]}'
    )
    plain = details(attribute_disclosure(db, "cps1988", "cps1988", spec, keys=keys, targets=["parttime"]))
    assert f"'no' {suggestion}" in plain["DiSCO"] and suggestion in plain["Dorig"]
    # Levels given: no suggestion; an empty list says "none, on purpose".
    for levels in ({"parttime": ["no"]}, {"parttime": []}):
        text = details(
            attribute_disclosure(
                db, "cps1988", "cps1988", spec, keys=keys, targets=["parttime"], exclude_target_levels=levels
            )
        )
        assert "exclude_target_levels:" not in text["DiSCO"]
    # smsa 'yes' is 74 %: below 90 %, nothing to suggest.
    text = details(attribute_disclosure(db, "cps1988", "cps1988", spec, keys=["region"], targets=["smsa"]))
    assert "exclude_target_levels" not in text["DiSCO"]


def test_a_dominant_numeric_value_is_suggested_and_the_suggestion_works(db):
    # y: 0 on 19 of 20 rows, 7 on one; the spec gives each value a point cell.
    name = f"left_out_dominant_{secrets.token_hex(3)}"
    ss.write_table(
        db,
        name,
        pa.table(
            {
                "g": pa.array([i % 2 for i in range(20)], pa.int64()),
                "y": pa.array([7 if i == 3 else 0 for i in range(20)], pa.int64()),
            }
        ),
    )
    spec = ss.describe(db, name, columns={"g": {"kind": "categorical"}})
    text = details(attribute_disclosure(db, name, name, spec, keys=["g"], targets=["y"]))
    assert "0 is 95.0 % of the original records" in text["DiSCO"] and "exclude_target_levels: {y: [0]}" in text["DiSCO"]
    got = values(
        attribute_disclosure(db, name, name, spec, keys=["g"], targets=["y"], exclude_target_levels={"y": [0]})
    )
    # g = 0 holds ten 0s: determined, but left out; g = 1 holds nine 0s and the 7: not determined. Nothing left.
    assert got["Dorig"] == got["DiSCO"] == 0
    assert got["baseCAPd"] == 100 * 1 / 400  # only the 7 counts: (1/20)^2


# ----------------------------------------------------------------------------------------------------------------
# Other kinds of targets and hostile levels
# ----------------------------------------------------------------------------------------------------------------
def test_boolean_target_and_a_level_with_quotes(db):
    name = f"left_out_kinds_{secrets.token_hex(3)}"
    victim = f"left_out_victim_{secrets.token_hex(3)}"
    hostile = f"it's'); DROP TABLE {victim}; --"
    ss.write_table(db, victim, pa.table({"x": [1]}))
    ss.write_table(
        db,
        name,
        pa.table(
            {
                "g": ["a", "a", "b", "b", "c"],
                "flag": [True, True, False, True, False],
                "label": [hostile, hostile, "plain", "plain", hostile],
            }
        ),
    )
    spec = ss.describe(db, name, columns={"g": {"kind": "categorical"}, "label": {"kind": "categorical"}})
    # Keys g; targets flag and label. Every class of g determines flag except b; label is determined everywhere.
    risk = risk_measures(
        db,
        name,
        name,
        spec,
        keys=["g"],
        targets=["flag", "label"],
        exclude_target_levels={"flag": [True], "label": [hostile]},
    )
    flag = values(risk, "flag | g")
    label = values(risk, "label | g")
    assert flag["Dorig"] == flag["DiSCO"] == 100 * 1 / 5  # row 5 (c, False); rows 1, 2 (a, True) left out
    assert label["Dorig"] == label["DiSCO"] == 100 * 2 / 5  # rows 3, 4 (b, plain)
    assert f"left out: {hostile!r}: 3 of 5" in details(risk[risk["scope"] == "label | g"])["DiSCO"]
    assert db.exists(victim)


# ----------------------------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------------------------
def test_bad_levels_are_refused(db, hand):
    real, synthetic, spec = hand

    def run(levels, keys=("sex", "age"), targets=("job",)):
        return risk_measures(
            db, real, synthetic, spec, keys=list(keys), targets=list(targets), exclude_target_levels=levels
        )

    cases = [
        ({"jb": ["a"]}, rf"names the column 'jb' of table '{real}', which is not a target .*Did you mean 'job'"),
        ({"sex": ["f"]}, rf"names the column 'sex' of table '{real}', which is not a target.* Targets: 'job'"),
        (["a"], r"maps target columns to the levels to leave out, e.g. \{'smsa': \['no'\]\}. Got \['a'\]"),
        ({"job": "a"}, rf"exclude_target_levels\['job'\] must be a list of levels of .* table '{real}', e.g. \['a'\]"),
        ({"job": ["d"]}, rf"Level 'd' of the target column 'job' of table '{real}' is not one of its categories \('a'"),
        ({"job": ["A"]}, r"Level 'A' .* Did you mean 'a'"),
        ({"job": [False]}, r"Level False .*YAML reads an unquoted no, yes, on, off, true or false as a boolean"),
        ({"job": [None]}, rf"Level None of the target column 'job' of table '{real}' cannot be left out"),
        ({"job": ["a", "a"]}, rf"Level 'a' of the target column 'job' of table '{real}' is listed twice"),
    ]
    for levels, message in cases:
        with pytest.raises(ss.InvalidParameterError, match=message):
            run(levels)
    numeric = [
        ([101], rf"Level 101 of the target column 'age' of table '{real}' is not a number in the column's domain"),
        ([101], r"\(its cells: \[0, 30\), \[30, 100\]\)"),
        ([-1], r"Level -1 .* not a number in the column's domain"),
        ([29.5], r"Level 29.5 .* not a number in the column's domain"),  # an integer column
        (["25"], r"Level '25' .* not a number in the column's domain"),
        ([True], r"Level True .* not a number in the column's domain"),
    ]
    for levels, message in numeric:
        with pytest.raises(ss.InvalidParameterError, match=message):
            run({"age": levels}, keys=["sex"], targets=["age"])


def test_a_date_target_cannot_leave_levels_out(db):
    spec = ss.describe(db, "mixed", exclude=["person_id"])
    with pytest.raises(
        ss.InvalidParameterError, match="it is a date column, and levels can be left out of categorical"
    ):
        risk_measures(
            db,
            "mixed",
            "mixed",
            spec,
            keys=["region"],
            targets=["born"],
            exclude_target_levels={"born": ["2000-01-01"]},
        )


# ----------------------------------------------------------------------------------------------------------------
# The rendered SQL with levels (golden), evaluate and the catalog
# ----------------------------------------------------------------------------------------------------------------
GOLDEN_SPEC = ss.TableSpec(
    table="persons",
    n_rows=9,
    columns=(
        ss.ColumnSpec(name="sex", kind="categorical", categories=("f", "m")),
        ss.ColumnSpec(name="job", kind="categorical", categories=("a", "b", "it's")),
        ss.ColumnSpec(name="income", kind="numeric", bins=(ss.Bin(0, 0), ss.Bin(0, 1000), ss.Bin(1000, 5000))),
    ),
)


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
@pytest.mark.parametrize(("target", "levels"), [("job", ["it's", "a"]), ("income", [0, 2000])])
def test_golden_sql_with_levels(dialect, target, levels):
    col = GOLDEN_SPEC.column(target)
    left = _check_levels("persons", [col], {target: levels})[target]
    bound = {
        **{f"{side}_key": key_expression([GOLDEN_SPEC.column("sex")], alias, dialect) for side, alias in SIDES},
        **{f"{side}_target": key_expression([col], alias, dialect) for side, alias in SIDES},
        "original_left_out": left_out_flag(col, left, dialect, "string"),
    }
    tables = {"original": "persons", "synthetic": "synth.Persons"}
    text = templates.render("attribute_disclosure", dialect, tables=tables, **bound) + "\n"
    path = GOLDEN / f"attribute_disclosure_left_out_{target}.{dialect}.sql"
    if os.environ.get("SYNTHSQL_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}; run with SYNTHSQL_UPDATE_GOLDEN=1 to write it"
    assert text == path.read_text(encoding="utf-8"), f"{path.name} changed; regenerate with SYNTHSQL_UPDATE_GOLDEN=1"
    flag = text[text.index('"original_cells" AS') : text.index('AS "x"')]  # the flag's CASE, up to its alias
    if target == "job":  # the levels are escaped literals of the tree, in the order given
        assert """WHEN "o"."job" IN ('it''s', 'a') THEN 1 ELSE 0 END""" in flag
    else:  # the cells of 0 (the point [0]) and 2000 (the interval [1000, 5000]): codes 0 and 2
        assert "END AS INT) IN (0, 2)" in flag


@pytest.fixture(scope="module")
def cps_small(db):
    """(name, parttime 'no' count, rows): every tenth row of cps1988, which evaluate measures in seconds."""
    table = db.table("cps1988").to_pyarrow()
    small = table.take(list(range(0, len(table), 10)))
    name = f"left_out_cps_{secrets.token_hex(3)}"
    ss.write_table(db, name, small)
    return name, small["parttime"].to_pylist().count("no"), len(small)


def test_evaluate_passes_the_levels_and_checks_them_first(db, cps_small):
    real, no, n = cps_small
    name = f"left_out_eval_{secrets.token_hex(3)}"
    ss.write_table(db, name, db.table(real).to_pyarrow())
    spec = ss.describe(db, real)
    keys = ["region", "ethnicity", "smsa"]
    args = {"real": real, "synthetic": name, "spec": spec, "pmse": ["cells"], "keys": keys, "targets": ["parttime"]}
    with pytest.raises(ss.InvalidParameterError, match="names the column 'partime'.*Did you mean 'parttime'"):
        ss.evaluate(db, exclude_target_levels={"partime": ["no"]}, **args)
    assert not db.exists(f"{name}__utility")  # refused before anything was measured or written
    result = ss.evaluate(db, exclude_target_levels={"parttime": ["no"]}, **args)
    disco = result.risk[result.risk["metric"] == "DiSCO"]["detail"].item()
    assert f"left out: 'no': {no} of {n} original records" in disco
    # The stored results are current for the same request only.
    assert stored_evaluation(db, exclude_target_levels={"parttime": ["no"]}, **args)[0] is not None
    assert stored_evaluation(db, **args)[0] is None
    assert stored_evaluation(db, exclude_target_levels={"parttime": ["yes"]}, **args)[0] is None


CATALOG = """
version: 1
tables:
  - name: cps_left_out
    source: cps1988
    columns:
      parttime: {{categories: ["no", "yes"], sensitive: true}}
      region: {{key: true}}
      wage: {{sensitive: true}}
    exclude_target_levels: {levels}
"""


def test_the_catalog_key(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text(CATALOG.format(levels='{parttime: ["no"], wage: [0]}'))
    (table,) = load(path).tables
    assert table.evaluate_args()["exclude_target_levels"] == {"parttime": ["no"], "wage": [0]}
    path.write_text(CATALOG.format(levels="{}"))
    assert "exclude_target_levels" not in load(path).tables[0].evaluate_args()
    problems = {
        '{partime: ["no"]}': "tables[0].exclude_target_levels.partime: not a risk target; the targets are the columns "
        "marked sensitive: true (parttime, wage). Did you mean 'parttime'?",
        '{region: ["south"]}': "tables[0].exclude_target_levels.region: not a risk target",
        '{parttime: ["noo"]}': "tables[0].exclude_target_levels.parttime[0]: 'noo' is not one of the declared "
        "categories of 'parttime'. Did you mean 'no'?",
        "{parttime: [no]}": "exclude_target_levels.parttime[0]: False is not one of the declared categories of "
        "'parttime'. YAML reads an unquoted no",
        '{parttime: ["no", "no"]}': "exclude_target_levels.parttime[1]: 'no' is listed twice.",
        '{parttime: "no"}': "tables[0].exclude_target_levels.parttime: Input should be a valid list",
    }
    for levels, message in problems.items():
        path.write_text(CATALOG.format(levels=levels))
        with pytest.raises(CatalogError) as caught:
            load(path)
        assert any(message in p for p in caught.value.problems), (levels, caught.value.problems)
    path.write_text(
        CATALOG.format(levels='{parttime: ["no"]}').replace("exclude_target_levels", "exclude_target_level")
    )
    with pytest.raises(CatalogError, match="exclude_target_level: unknown key. Did you mean 'exclude_target_levels'"):
        load(path)


def test_a_catalog_table_is_evaluated_with_its_levels(db, tmp_path, cps_small):
    real, no, n = cps_small
    path = tmp_path / "c.yml"
    path.write_text(CATALOG.format(levels='{parttime: ["no"]}').replace("source: cps1988", f"source: {real}"))
    (table,) = load(path).tables
    spec = ss.describe(db, real, **table.describe_args())
    name = f"left_out_catalog_{secrets.token_hex(3)}"
    args = {**table.evaluate_args(), "synthetic": name}
    ss.write_table(db, name, db.table(real).to_pyarrow())
    result = ss.evaluate(db, spec=spec, write=False, pmse=["cells"], **args)
    rows = result.risk[result.risk["metric"] == "DiSCO"]
    assert f"left out: 'no': {no} of {n}" in rows[rows["scope"].str.startswith("parttime")]["detail"].item()
    assert "left out" not in rows[rows["scope"].str.startswith("wage")]["detail"].item()
