"""Disclosure risk (synthsql.metrics.risk) and the SQL templates behind it, on both backends.

Checked three ways: a hand-worked fixture whose every measure is worked out in the comments; a pandas implementation
of the published formulas (synthpop, Taub et al. 2018) on eusilc and ses; and the properties an exact copy and an
independent synthesis must have. Golden files pin the rendered SQL per dialect: regenerate them with
``SYNTHSQL_UPDATE_GOLDEN=1 pytest tests/test_risk.py -k golden``.
"""

from __future__ import annotations

import os
import secrets
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sqlglot import exp

import synthsql as ss
from synthsql import templates
from synthsql.metrics.risk import (
    attribute_disclosure,
    equivalence_classes,
    exact_matches,
    key_expression,
    risk_measures,
    uniqueness,
)
from synthsql.schema import IdentifierColumnWarning
from tests.conftest import real_table

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE_GOLDEN = os.environ.get("SYNTHSQL_UPDATE_GOLDEN") == "1"


def values(frame: pd.DataFrame) -> dict[str, float]:
    """metric -> value, for a frame with one scope per metric."""
    assert not frame["metric"].duplicated().any()
    return dict(zip(frame["metric"], frame["value"], strict=True))


# ----------------------------------------------------------------------------------------------------------------
# Golden SQL: every template rendered for each dialect with a fixed binding
# ----------------------------------------------------------------------------------------------------------------
GOLDEN_SPEC = ss.TableSpec(
    table="persons",
    n_rows=9,
    columns=(
        ss.ColumnSpec(name="sex", kind="categorical", categories=("f", "m")),
        ss.ColumnSpec(name="age", kind="integer", bins=(ss.Bin(0, 30), ss.Bin(30, 100))),
        ss.ColumnSpec(name="job", kind="categorical", categories=("a", "b", "c")),
        ss.ColumnSpec(name="income", kind="numeric", bins=(ss.Bin(0, 0), ss.Bin(0, 1000), ss.Bin(1000, 5000))),
    ),
)
GOLDEN_TABLES = {"original": "persons", "synthetic": "synth.Persons"}
# golden case -> (template, key columns, target column or None, compare by cells?)
GOLDEN_CASES = {
    "key_matches": ("key_matches", ["sex", "age"], None, True),
    "key_matches_rows": ("key_matches", ["sex", "age", "job", "income"], None, False),
    "class_sizes": ("class_sizes", ["sex", "age"], None, True),
    "l_diversity": ("l_diversity", ["sex", "age"], "income", True),
    "attribute_disclosure": ("attribute_disclosure", ["sex", "age"], "job", True),
}


def golden_values(case: str, dialect: str, spec: ss.TableSpec = GOLDEN_SPEC) -> dict:
    _, keys, target, cells = GOLDEN_CASES[case]
    cols = [spec.column(name) for name in keys]
    out = both("key", cols, dialect, cells=cells)
    if target is not None:
        out |= both("target", [spec.column(target)], dialect)
    if GOLDEN_CASES[case][0] == "attribute_disclosure":
        out["original_left_out"] = exp.false()  # no level left out (tests/test_risk_left_out.py: with levels)
    return out


def both(prefix: str, cols: list[ss.ColumnSpec], dialect: str, *, cells: bool = True) -> dict:
    """``{original_<prefix>: ..., synthetic_<prefix>: ...}``: one key expression per template table alias."""
    return {
        f"{side}_{prefix}": key_expression(cols, alias, dialect, cells=cells)
        for side, alias in (("original", "o"), ("synthetic", "s"))
    }


def test_every_template_has_a_golden_case_and_each_placeholder_once():
    # risk.py's templates have their golden cases here; every template in sql/ (other modules' too) has one
    assert {template for template, *_ in GOLDEN_CASES.values()} <= set(templates.names())
    golden = {path.name for path in GOLDEN.glob("*.sql")}
    for name in templates.names():
        assert any(g.startswith(name) for g in golden), f"no golden SQL for template {name!r}"
    for name in templates.names():
        found = [p.name for p in templates.load(name).find_all(exp.Placeholder)]
        assert len(found) == len(set(found)), name  # bind() relies on each placeholder occurring once


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_golden_sql(case, dialect):
    text = templates.render(GOLDEN_CASES[case][0], dialect, tables=GOLDEN_TABLES, **golden_values(case, dialect)) + "\n"
    path = GOLDEN / f"{case}.{dialect}.sql"
    if UPDATE_GOLDEN:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}; run with SYNTHSQL_UPDATE_GOLDEN=1 to write it"
    assert text == path.read_text(encoding="utf-8"), f"{path.name} changed; regenerate with SYNTHSQL_UPDATE_GOLDEN=1"
    assert '"synth"."Persons" AS "s"' in text and '"persons" AS "o"' in text
    assert "$" not in text.split("*/")[-1]  # no placeholder is left outside the header comment


def test_template_errors():
    keys = golden_values("key_matches", "duckdb")
    with pytest.raises(ss.InvalidParameterError, match="Unknown SQL template 'key_match'. Did you mean 'key_matches'"):
        templates.bind("key_match", tables=GOLDEN_TABLES, **keys)
    with pytest.raises(ss.InvalidParameterError, match="needs a value for the placeholder 'synthetic_key'"):
        templates.bind("key_matches", tables=GOLDEN_TABLES, original_key=keys["original_key"])
    with pytest.raises(ss.InvalidParameterError, match="no placeholder 'original_kye'. Did you mean 'original_key'"):
        templates.bind("key_matches", tables=GOLDEN_TABLES, original_kye=keys["original_key"], **keys)
    with pytest.raises(ss.InvalidParameterError, match="needs a value for the table 'synthetic'"):
        templates.bind("key_matches", tables={"original": "persons"}, **keys)
    with pytest.raises(ss.InvalidParameterError, match="name of a step of SQL template"):
        templates.bind("key_matches", tables={"original": "original_classes", "synthetic": "s"}, **keys)
    with pytest.raises(ss.InvalidParameterError, match="Unknown dialect 'postgresql'. Did you mean 'postgres'"):
        templates.render("key_matches", "postgresql", tables=GOLDEN_TABLES, **keys)


def test_key_expression_is_injective_and_null_safe(db):
    # Values chosen to collide under naive joining: 'a|b' + 'c' vs 'a' + 'b|c', '' vs NULL, '1:x' vs 'x'.
    spec = ss.TableSpec(
        table="k",
        n_rows=2,
        columns=(
            ss.ColumnSpec(name="u", kind="categorical", categories=("x",)),
            ss.ColumnSpec(name="v", kind="categorical", categories=("x",)),
        ),
    )
    rows = [("a|b", "c"), ("a", "b|c"), ("", None), (None, ""), (None, None), ("", ""), ("1:x", "N"), ("N", "1:x")]
    name = f"risk_keys_{secrets.token_hex(3)}"
    ss.write_table(db, name, pa.table({"u": [r[0] for r in rows], "v": [r[1] for r in rows]}))
    key = key_expression(list(spec.columns), "o", db.dialect, cells=False)
    tree = exp.select(key).from_(exp.to_table(name).as_("o"))
    tree = tree.transform(lambda n: n.set("quoted", True) or n if isinstance(n, exp.Identifier) else n)
    keys = [r[0] for r in db.fetchall(tree)]
    assert None not in keys and len(set(keys)) == len(rows)


# ----------------------------------------------------------------------------------------------------------------
# A hand-worked fixture
# ----------------------------------------------------------------------------------------------------------------
# Keys: sex (text, with NULL) and age (integer; the spec's cells Y = [0, 30) and O = [30, 100]); target: job (NULL
# is a value of its own).
#
# Original (N = 9)                      classes on (sex, age cell)         Synthetic (S = 8)
#  1  f     25  a                       C1 (f, Y)    rows 1,2   {a, a}       s1 f     25  a
#  2  f     28  a                       C2 (f, O)    row 3      {b}          s2 f     45  b
#  3  f     40  b                       C3 (m, Y)    rows 4,5,6 {a, b, b}    s3 f     41  NULL
#  4  m     20  a                       C4 (NULL, Y) row 7      {c}          s4 m     22  b
#  5  m     22  b                       C5 (NULL, O) row 8      {a}          s5 m     21  b
#  6  m     22  b                       C6 (m, O)    row 9      {NULL}       s6 NULL  10  c
#  7  NULL  29  c                                                            s7 NULL  50  a
#  8  NULL  50  a                       synthetic classes:                   s8 f      5  a
#  9  m     80  NULL                    (f, Y) s1,s8 {a, a}; (f, O) s2,s3 {b, NULL}; (m, Y) s4,s5 {b, b};
#                                       (NULL, Y) s6 {c}; (NULL, O) s7 {a}; (m, O) absent.
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
HAND_EXPECTED = {
    # Uniques on the keys: original classes of size 1 are C2, C4, C5, C6 (rows 3, 7, 8, 9): UiO = 4/9.
    "UiO": 100 * 4 / 9,
    # Synthetic classes of size 1: (NULL, Y) and (NULL, O): UiS = 2/8.
    "UiS": 100 * 2 / 8,
    # Replicated uniques: row 3 (f, O) has 2 synthetic twins, row 9 (m, O) none; rows 7 and 8 (NULL keys) are unique
    # in both, so NULL matched NULL: repU = 2/9.
    "repU": 100 * 2 / 9,
    # Original rows whose key occurs in the synthetic data: all but row 9: 8/9.
    "key_match": 100 * 8 / 9,
    # Exact rows on (sex, age, job), raw values: s1 = row 1, s4 = rows 5 and 6, s7 = row 8 (NULL = NULL): 3 of 8.
    "exact_matches": 3,
    "exact_match_pct": 100 * 3 / 8,
    # Original rows unique on all columns: all but rows 5 and 6 (identical): 7. s1 and s7 match such rows (rows 1
    # and 8), s4 matches the pair: 2 synthetic rows, reproducing 2 of the 7 unique original rows.
    "unique_exact_matches": 2,
    "unique_exact_match_pct": 100 * 2 / 7,
    # Classes (k = 2). Original sizes 2, 1, 3, 1, 1, 1: 6 classes, min 1, median 1, max 3; smaller than 2:
    # C2, C4, C5, C6 = 4 classes, 4 rows. Synthetic sizes 2, 2, 2, 1, 1: 5 classes, min 1, median 2, max 2;
    # 2 classes and 2 rows smaller than 2.
    "classes_orig": 6,
    "class_size_min_orig": 1,
    "class_size_median_orig": 1,
    "class_size_max_orig": 3,
    "k_anonymity_classes_orig": 4,
    "k_anonymity_rows_orig": 4,
    "classes_syn": 5,
    "class_size_min_syn": 1,
    "class_size_median_syn": 2,
    "class_size_max_syn": 2,
    "k_anonymity_classes_syn": 2,
    "k_anonymity_rows_syn": 2,
    # l-diversity of job. Original l: C1 1, C2 1, C3 2, C4 1, C5 1, C6 1 (NULL is a value): min 1, 5 of 6 below 2.
    # Synthetic l: (f, Y) 1, (f, O) 2 (b and NULL), (m, Y) 1, (NULL, Y) 1, (NULL, O) 1: min 1, 4 of 5 below 2.
    "l_diversity_min_orig": 1,
    "l_diversity_below2_pct_orig": 100 * 5 / 6,
    "l_diversity_min_syn": 1,
    "l_diversity_below2_pct_syn": 100 * 4 / 5,
    # Attribute disclosure of job, record by record:
    #   row  orig class determines?  synthetic class (count of own target / size)   DiSCO  DCAP  TCAP defined
    #    1   C1 yes                  (f, Y) {a, a}: 2/2, one value, own              yes    1     yes, 1
    #    2   C1 yes                  same                                            yes    1     yes, 1
    #    3   C2 yes                  (f, O) {b, NULL}: 1/2, two values               no     1/2   no
    #    4   C3 no                   (m, Y) {b, b}: 0/2, one value, not own          no     0     yes, 0
    #    5   C3 no                   (m, Y): 2/2, own                                yes    1     yes, 1
    #    6   C3 no                   same                                            yes    1     yes, 1
    #    7   C4 yes                  (NULL, Y) {c}: 1/1, own                         yes    1     yes, 1
    #    8   C5 yes                  (NULL, O) {a}: 1/1, own                         yes    1     yes, 1
    #    9   C6 yes                  (m, O) absent                                   no     0     no
    # Dorig: rows 1, 2, 3, 7, 8, 9 = 6/9. DiSCO: rows 1, 2, 5, 6, 7, 8 = 6/9. DiSDiO: both: 1, 2, 7, 8 = 4/9.
    # DCAP = (1 + 1 + 1/2 + 0 + 1 + 1 + 1 + 1 + 0) / 9 = 6.5/9. TCAP = 6 successes / 7 defined records.
    # baseCAPd: original job counts a 4, b 3, c 1, NULL 1: (16 + 9 + 1 + 1) / 81 = 27/81.
    # CAPd: n_KT / n_K per record: 1, 1, 1, 1/3, 2/3, 2/3, 1, 1, 1: sum 7 2/3, over 9.
    "Dorig": 100 * 6 / 9,
    "DiSCO": 100 * 6 / 9,
    "DiSDiO": 100 * 4 / 9,
    "DCAP": 100 * 6.5 / 9,
    "TCAP": 100 * 6 / 7,
    "TCAP_records": 7,
    "baseCAPd": 100 * 27 / 81,
    "CAPd": 100 * (7 + 2 / 3) / 9,
}
HAND_SPEC_COLUMNS = (
    ss.ColumnSpec(name="sex", kind="categorical", categories=("f", "m")),
    ss.ColumnSpec(name="age", kind="integer", bins=(ss.Bin(0, 30), ss.Bin(30, 100))),
    ss.ColumnSpec(name="job", kind="categorical", categories=("a", "b", "c")),
)


@pytest.fixture(scope="module")
def hand(db):
    """(original name, synthetic name, spec) of the hand-worked fixture."""
    token = secrets.token_hex(3)
    real, synthetic = f"risk_hand_{token}", f"risk_hand_syn_{token}"
    types = {"sex": pa.string(), "age": pa.int32(), "job": pa.string()}
    ss.write_table(db, real, pa.table({c: pa.array(v, type=types[c]) for c, v in ORIGINAL.items()}))
    ss.write_table(db, synthetic, pa.table({c: pa.array(v, type=types[c]) for c, v in SYNTHETIC.items()}))
    return real, synthetic, ss.TableSpec(table=real, n_rows=9, columns=HAND_SPEC_COLUMNS)


def test_hand_worked_fixture(db, hand):
    real, synthetic, spec = hand
    risk = risk_measures(db, real, synthetic, spec, keys=["sex", "age"], targets=["job"], k=2)
    got = values(risk)
    assert set(got) == set(HAND_EXPECTED)
    for metric, expected in HAND_EXPECTED.items():
        assert got[metric] == pytest.approx(expected, rel=1e-12), metric
    scopes = dict(zip(risk["metric"], risk["scope"], strict=True))
    assert (scopes["repU"], scopes["DiSCO"], scopes["exact_matches"]) == ("sex,age", "job | sex,age", "sex,age,job")
    details = dict(zip(risk["metric"], risk["detail"], strict=True))
    assert "age (3 cells)" in details["repU"] and "raw values" in details["exact_matches"]
    assert "defined on 7 of 9" in details["TCAP"]
    # The single-purpose functions give the same rows as risk_measures.
    parts = pd.concat(
        [
            uniqueness(db, real, synthetic, spec, keys=["sex", "age"]),
            exact_matches(db, real, synthetic, spec),
            equivalence_classes(db, real, synthetic, spec, keys=["sex", "age"], targets=["job"], k=2),
            attribute_disclosure(db, real, synthetic, spec, keys=["sex", "age"], targets=["job"]),
        ],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(parts, risk)
    # Default k = 5: every class of both tables is too small.
    classes = values(equivalence_classes(db, real, synthetic, spec, keys=["sex", "age"]))
    assert (classes["k_anonymity_classes_orig"], classes["k_anonymity_rows_orig"]) == (6, 9)
    assert (classes["k_anonymity_classes_syn"], classes["k_anonymity_rows_syn"]) == (5, 8)


def test_no_key_overlap_is_zero_risk(db, hand):
    real, _, spec = hand
    other = f"risk_apart_{secrets.token_hex(3)}"
    ss.write_table(db, other, pa.table({"sex": ["x", "y"], "age": pa.array([1, 2], pa.int32()), "job": ["a", "a"]}))
    got = values(risk_measures(db, real, other, spec, keys=["sex", "age"], targets=["job"]))
    assert got["repU"] == got["DiSCO"] == got["DiSDiO"] == got["DCAP"] == got["key_match"] == 0
    assert got["TCAP_records"] == 0 and np.isnan(got["TCAP"])
    assert got["Dorig"] == pytest.approx(100 * 6 / 9)  # a property of the original alone


def test_every_template_runs(db, hand):
    real, synthetic, spec = hand
    tables = {"original": real, "synthetic": synthetic}
    keys = golden_values("class_sizes", db.dialect, spec)
    rows_key = both("key", list(spec.columns), db.dialect, cells=False)
    job = both("target", [spec.column("job")], db.dialect)
    ran = {
        "key_matches": db.fetchall(templates.bind("key_matches", tables=tables, **rows_key)),
        "class_sizes": db.fetchall(templates.bind("class_sizes", tables=tables, **keys)),
        "l_diversity": db.fetchall(templates.bind("l_diversity", tables=tables, **keys, **job)),
        "attribute_disclosure": db.fetchall(
            templates.bind("attribute_disclosure", tables=tables, **keys, **job, original_left_out=exp.false())
        ),
    }
    assert sorted(ran) == sorted({template for template, *_ in GOLDEN_CASES.values()})
    assert ran["key_matches"][0][:2] == (9, 8)
    assert sorted(ran["class_sizes"]) == [
        ("original", 1, 4), ("original", 2, 1), ("original", 3, 1), ("synthetic", 1, 2), ("synthetic", 2, 3)
    ]
    assert sorted(ran["l_diversity"]) == [
        ("original", 1, 5), ("original", 2, 1), ("synthetic", 1, 4), ("synthetic", 2, 1)
    ]
    # attribute_disclosure: (part, size, records, dorig, disco, ..., cap_sum, dcap_sum, base_cap); part 0 the counts,
    # part 1 the sum of n_kt^2 per original class size n_k, part 2 the sum of n_kt * s_kt per synthetic size s_k
    # (worked out from the table above: CAPd * 9 = 4/1 + 4/2 + 5/3, DCAP * 9 = 2/1 + 9/2).
    assert ran["attribute_disclosure"][0][:5] == (0, None, 9, 6, 6)
    assert [(r[0], r[1], r[8], r[9]) for r in ran["attribute_disclosure"]] == [
        (0, None, 13, 11), (1, 1, 4, 3), (1, 2, 4, 4), (1, 3, 5, 4), (2, None, 1, 0), (2, 1, 2, 2), (2, 2, 10, 9)
    ]
    assert {r[10] for r in ran["attribute_disclosure"]} == {27}  # base_cap: 4^2 + 3^2 + 1 + 1


def test_bad_input(db, hand):
    real, synthetic, spec = hand
    unknown = r"Key column 'sexx' is not in table 'risk_\w+'. Did you mean 'sex'"
    with pytest.raises(ss.ColumnNotFoundError, match=unknown):
        risk_measures(db, real, synthetic, spec, keys=["sexx", "age"], targets=["job"])
    with pytest.raises(ss.ColumnNotFoundError, match="Target column 'jobb' .*Did you mean 'job'"):
        risk_measures(db, real, synthetic, spec, keys=["sex", "age"], targets=["jobb"])
    with pytest.raises(ss.InvalidParameterError, match="'age' is both a key and a target"):
        risk_measures(db, real, synthetic, spec, keys=["sex", "age"], targets=["age"])
    with pytest.raises(ss.InvalidParameterError, match="at least one key column"):
        risk_measures(db, real, synthetic, spec, keys=[], targets=["job"])
    with pytest.raises(ss.InvalidParameterError, match="'keys' parameter must be a list of column names. Got 'sex'"):
        risk_measures(db, real, synthetic, spec, keys="sex", targets=["job"])
    with pytest.raises(ss.InvalidParameterError, match="'sex' is listed twice in keys"):
        risk_measures(db, real, synthetic, spec, keys=["sex", "sex"], targets=["job"])
    with pytest.raises(ss.InvalidParameterError, match="'k' parameter must be an int >= 1. Got 0"):
        risk_measures(db, real, synthetic, spec, keys=["sex"], targets=["job"], k=0)
    with pytest.raises(ss.TableNotFoundError, match="'nowhere_synth'"):
        risk_measures(db, real, "nowhere_synth", spec, keys=["sex"], targets=["job"])
    # The key COLUMNS must exist in the synthetic table too.
    lacking = f"risk_lacking_{secrets.token_hex(3)}"
    ss.write_table(db, lacking, pa.table({"sex": ["f"], "job": ["a"]}))
    with pytest.raises(ss.ColumnNotFoundError, match=f"Key column 'age' is not in table '{lacking}'"):
        risk_measures(db, real, lacking, spec, keys=["sex", "age"], targets=["job"])
    empty = f"risk_empty_{secrets.token_hex(3)}"
    no_rows = {"sex": pa.array([], pa.string()), "age": pa.array([], pa.int32()), "job": pa.array([], pa.string())}
    ss.write_table(db, empty, pa.table(no_rows))
    with pytest.raises(ss.EmptyTableError, match=f"Synthetic table '{empty}' is empty"):
        risk_measures(db, real, empty, spec, keys=["sex", "age"], targets=["job"])
    # A column in both tables that the spec does not know, and one it does not model.
    narrow = ss.TableSpec(table=real, n_rows=9, columns=HAND_SPEC_COLUMNS[:2])
    with pytest.raises(ss.ColumnNotFoundError, match="Target column 'job' is not in the spec of table"):
        attribute_disclosure(db, real, synthetic, narrow, keys=["sex"], targets=["job"])
    job = ss.ColumnSpec(name="job", kind="excluded")
    excluded = ss.TableSpec(table=real, n_rows=9, columns=(*HAND_SPEC_COLUMNS[:2], job))
    with pytest.raises(ss.InvalidParameterError, match="Target column 'job' is not modelled"):
        attribute_disclosure(db, real, synthetic, excluded, keys=["sex"], targets=["job"])


# ----------------------------------------------------------------------------------------------------------------
# Real data: against pandas implementations of the published formulas
# ----------------------------------------------------------------------------------------------------------------
REAL_CASES = {
    # Keys fine enough that some records are unique (age is binned by the spec: 20 cells).
    "eusilc": {"keys": ["age", "rb090", "db040", "hsize"], "targets": ["pl030"], "exclude": []},
    "ses": {
        "keys": ["location", "NACE1", "size", "sex", "age", "education"],
        "targets": ["occupation", "earnings"],  # earnings is numeric: compared by the spec's cells
        "exclude": ["IDunit"],
    },
}


@pytest.fixture(scope="module", params=sorted(REAL_CASES))
def real_case(request, db):
    """(name, spec, case, copy name, independent synthetic name)."""
    name = request.param
    case = REAL_CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifierColumnWarning)
        spec = ss.describe(db, name, exclude=case["exclude"])
    token = secrets.token_hex(3)
    copy = str(ss.write_table(db, f"risk_copy_{name}_{token}", real_table(name)))
    model = ss.fit(db, name, method="independent", spec=spec, seed=1)
    synthetic = str(ss.materialize(db, model, f"risk_indep_{name}_{token}", seed=2, replace=True))
    return name, spec, case, copy, synthetic


def cells(series: pd.Series, col: ss.ColumnSpec) -> pd.Series:
    """synthsql's cell code of a numeric column in numpy: points first, then [lo, hi) intervals, the top one closed."""
    x = series.astype(float).to_numpy()
    code = np.full(len(x), col.null_code)
    done = np.isnan(x)
    top = max(b.hi for b in col.bins)
    ordered = sorted(enumerate(col.bins), key=lambda item: not item[1].is_point)  # stable: points, then intervals
    for i, b in ordered:
        inside = (x == b.lo) if b.is_point else (x >= b.lo) & ((x < b.hi) | ((x == b.hi) & (b.hi == top)))
        hit = inside & ~done
        code[hit] = i
        done |= hit
    return pd.Series(code, index=series.index)


def prepared(frame: pd.DataFrame, spec: ss.TableSpec, names: list[str]) -> pd.DataFrame:
    out = pd.DataFrame(index=frame.index)
    for name in names:
        col = spec.column(name)
        if col.kind in ("integer", "numeric", "date", "timestamp"):
            out[name] = cells(frame[name], col)
        else:
            values = frame[name].astype(object)
            out[name] = values.where(values.notna(), "<NULL>").astype(str)
    return out


def reference(real: pd.DataFrame, synthetic: pd.DataFrame, keys: list[str], target: str) -> dict[str, float]:
    """repU, DiSCO and DCAP from their published definitions, record by record (synthpop; Taub et al. 2018)."""
    o, s = real.copy(), synthetic.copy()
    o["n_k"] = o.groupby(keys)[target].transform("size")
    sk = s.groupby(keys).size().rename("s_k").reset_index()
    skt = s.groupby([*keys, target]).size().rename("s_kt").reset_index()
    rec = o.merge(sk, on=keys, how="left").merge(skt, on=[*keys, target], how="left")
    s_k, s_kt = rec["s_k"].fillna(0), rec["s_kt"].fillna(0)
    return {
        "repU": 100 * ((rec["n_k"] == 1) & (s_k == 1)).mean(),
        # all synthetic records with the record's key carry the record's target
        "DiSCO": 100 * ((s_k > 0) & (s_kt == s_k)).mean(),
        "DCAP": 100 * np.where(s_k > 0, s_kt / s_k.where(s_k > 0, 1), 0).mean(),
    }


def test_real_data_against_pandas(db, real_case):
    name, spec, case, copy, synthetic = real_case
    keys, targets = case["keys"], case["targets"]
    real_frame = prepared(db.table(name).to_pandas(), spec, [*keys, *targets])
    for label, other in (("copy", copy), ("independent", synthetic)):
        syn_frame = prepared(db.table(other).to_pandas(), spec, [*keys, *targets])
        risk = risk_measures(db, name, other, spec, keys=keys, targets=targets)
        for target in targets:
            expected = reference(real_frame, syn_frame, keys, target)
            got = risk[risk["scope"].isin([",".join(keys), f"{target} | {','.join(keys)}"])]
            got = dict(zip(got["metric"], got["value"], strict=False))
            for metric, value in expected.items():
                assert got[metric] == pytest.approx(value, rel=1e-9, abs=1e-9), (label, target, metric)


def test_copy_versus_independent(db, real_case):
    name, spec, case, copy, synthetic = real_case
    keys, targets = case["keys"], case["targets"]
    same = risk_measures(db, name, copy, spec, keys=keys, targets=targets)
    indep = risk_measures(db, name, synthetic, spec, keys=keys, targets=targets)
    for target in targets:
        scope = f"{target} | {','.join(keys)}"
        s = values(same[same["scope"].isin([scope, ",".join(keys)])])
        i = values(indep[indep["scope"].isin([scope, ",".join(keys)])])
        # An exact copy replicates every unique and every determined target.
        assert s["repU"] == pytest.approx(s["UiO"]) and s["DiSCO"] == pytest.approx(s["Dorig"])
        assert s["DiSDiO"] == pytest.approx(s["Dorig"]) and s["DCAP"] == pytest.approx(s["CAPd"])
        assert s["key_match"] == 100 and s["TCAP"] == 100
        # Independent columns break the link between keys and target.
        assert s["repU"] > 0 and i["repU"] < s["repU"] / 2, target
        assert i["DiSCO"] < s["DiSCO"] / 2 and i["DCAP"] < s["DCAP"], target
        # With no link between keys and target, guessing from the synthetic data is guessing from the marginal.
        assert abs(i["DCAP"] - i["baseCAPd"]) < 3, target
    exact_same = values(exact_matches(db, name, copy, spec))
    exact_indep = values(exact_matches(db, name, synthetic, spec))
    assert exact_same["exact_match_pct"] == 100 and exact_same["unique_exact_match_pct"] == 100
    assert exact_indep["exact_match_pct"] < 1


def test_every_kind_of_column_as_key_and_target(db):
    # mixed: text with NULLs and '' (region), boolean, integer, numeric with NULLs and a point mass (income), date,
    # timestamp. Against itself every unique is replicated and every determined target disclosed.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifierColumnWarning)
        spec = ss.describe(db, "mixed")
    keys, targets = ["region", "born", "seen", "children"], ["income", "employed", "age"]
    got = risk_measures(db, "mixed", "mixed", spec, keys=keys, targets=targets)
    for target in targets:
        v = values(got[got["scope"].isin([",".join(keys), f"{target} | {','.join(keys)}"])])
        assert v["repU"] == v["UiO"] > 0 and v["DiSCO"] == v["Dorig"] > 0 and v["TCAP"] == 100
    v = values(got[got["metric"].str.startswith(("exact", "unique_exact"))])
    assert v["exact_match_pct"] == v["unique_exact_match_pct"] == 100
    assert "person_id" not in got.loc[got["metric"] == "exact_matches", "scope"].item()  # identifiers are not compared


# ----------------------------------------------------------------------------------------------------------------
# The same numbers in every run (issue 17, item 9a)
# ----------------------------------------------------------------------------------------------------------------
REPEAT_ROWS = 100_000  # ~44,000 (key, target) cells: DuckDB aggregates them in parallel, in an order of its own


def repeat_table(db, name: str, a: int, b: int, c: int) -> None:
    """``REPEAT_ROWS`` rows: keys ``a`` (151 values) and ``b`` (97 values; by the Chinese remainder theorem every key
    class has 6 or 7 rows, so the ratios n_kt / n_k are not sums of powers of two) and a target ``y`` (3 values)."""
    rows = f"range({REPEAT_ROWS}) r(i)" if db.dialect == "duckdb" else f"generate_series(0::bigint, {REPEAT_ROWS - 1}) r(i)"
    db.backend.raw_sql(
        f"CREATE TABLE {name} AS SELECT 'a' || CAST((i * {a}) % 151 AS TEXT) AS a, "
        f"'b' || CAST((i * {b} + 17) % 97 AS TEXT) AS b, "
        f"'y' || CAST(((i % 1009) * (i % {c}) + i % 7) % 3 AS TEXT) AS y FROM {rows}"
    )


def exact_cap(real: pd.DataFrame, synthetic: pd.DataFrame) -> tuple[float, float]:
    """(CAPd, DCAP) of keys (a, b) and target y: the exact rational means over the records, rounded once."""
    from fractions import Fraction

    cells = real.groupby(["a", "b", "y"]).size().rename("n_kt").reset_index()
    cells["n_k"] = cells.groupby(["a", "b"])["n_kt"].transform("sum")
    s_kt = synthetic.groupby(["a", "b", "y"]).size().rename("s_kt").reset_index()
    s_k = synthetic.groupby(["a", "b"]).size().rename("s_k").reset_index()
    cells = cells.merge(s_kt, on=["a", "b", "y"], how="left").merge(s_k, on=["a", "b"], how="left")
    cap = sum(Fraction(int(n) * int(n), int(k)) for n, k in zip(cells["n_kt"], cells["n_k"], strict=True))
    dcap = sum(
        Fraction(int(n) * int(s), int(k))
        for n, s, k in zip(cells["n_kt"], cells["s_kt"], cells["s_k"], strict=True)
        if not pd.isna(k) and not pd.isna(s)
    )
    return float(100 * cap / len(real)), float(100 * dcap / len(real))


def test_measures_are_identical_in_every_run(db):
    # Before the fix CAPd and DCAP were SUMs of doubles in the database: on DuckDB with 4 threads five runs on these
    # tables gave five different CAPd (43.29219047619044 to ...072) and DCAP (33.5011904761898 to ...905).
    token = secrets.token_hex(3)
    real, synthetic = f"risk_repeat_{token}", f"risk_repeat_syn_{token}"
    repeat_table(db, real, 7919, 104729, 1013)
    repeat_table(db, synthetic, 7907, 104723, 1019)
    spec = ss.describe(db, real)
    if db.dialect == "duckdb":
        (threads,) = db.backend.raw_sql("SELECT current_setting('threads')").fetchone()
        settings = ["SET threads = 4"]
        restore = [f"SET threads = {int(threads)}"]
    else:  # invite parallel plans: partial aggregates gathered in the order the workers finish
        settings = ["SET parallel_setup_cost = 0", "SET parallel_tuple_cost = 0", "SET min_parallel_table_scan_size = 0"]
        restore = ["RESET parallel_setup_cost", "RESET parallel_tuple_cost", "RESET min_parallel_table_scan_size"]
    for statement in settings:
        db.backend.raw_sql(statement)
    try:
        runs = [risk_measures(db, real, synthetic, spec, keys=["a", "b"], targets=["y"]) for _ in range(3)]
    finally:
        for statement in restore:
            db.backend.raw_sql(statement)
    first = runs[0]
    for again in runs[1:]:
        pd.testing.assert_frame_equal(again, first, check_exact=True)
        assert again["value"].to_numpy().tobytes() == first["value"].to_numpy().tobytes()  # to the bit, NaN too
    got = values(first[first["scope"] == "y | a,b"])
    frames = [db.table(name).to_pandas() for name in (real, synthetic)]
    assert (got["CAPd"], got["DCAP"]) == exact_cap(*frames)  # the exact means, rounded once
