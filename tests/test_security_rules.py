"""Rules and formulas are closed languages (issue 13): user text is checked on its sqlglot tree, before any SQL runs.

The attacks of the issue (``pg_read_file``, ``lo_import``, ``set_config``, ``pg_sleep`` on PostgreSQL; ``read_text``,
``read_csv``, ``getenv``, ``query`` on DuckDB; subqueries, placeholders) are refused with an error naming the rule,
the part and the construct, in Python and in a YAML catalog, and the database receives no statement: statements are
counted where they arrive (DuckDB's own query log; every execution through the psycopg driver for PostgreSQL), and a
control test shows the counter does see the statements of an allowed rule. A hypothesis test draws rule texts from
the whole sqlglot function space. Formulas get caps on their text, terms, interaction order and nesting, and a design
size cap checked before any query.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

import synthsql as ss
from synthsql import cli, rules
from synthsql.errors import InvalidParameterError, SynthsqlError
from synthsql.metrics import glm
from synthsql.metrics.fitness import check_rules
from synthsql.metrics.glm import compare_glm, design_parameters, fit_glm, parse_formula
from synthsql.metrics.pmse import pmse_logit
from synthsql.rules import Rule, RuleError, parse_condition
from tests.conftest import mixed_table


# --------------------------------------------------------------------------------------------------------------
# Counting the statements a database receives (the ``statements`` fixture, tests/conftest.py)
# --------------------------------------------------------------------------------------------------------------
def test_the_counter_sees_the_statements_of_an_allowed_rule(db, statements):
    assert statements() == 0
    out = check_rules(db, "mixed", "mixed", [Rule("working_age", "age >= 16")])
    assert out["violations"].tolist() == [0, 0]
    assert statements() >= 2  # at least one aggregate query per table


# --------------------------------------------------------------------------------------------------------------
# The attacks of the issue
# --------------------------------------------------------------------------------------------------------------
ATTACKS = {
    "pg_read_file": ("substr(pg_read_file('/etc/passwd'), 1, 4) = 'root'", "PG_READ_FILE"),
    "lo_import": ("lo_import('/etc/passwd') > 0", "the function LO_IMPORT"),
    "set_config": ("set_config('search_path', 'evil', false) = 'evil'", "the function SET_CONFIG"),
    "pg_sleep": ("pg_sleep(1) IS NULL", "the function PG_SLEEP"),
    "read_text": ("length(read_text('/etc/passwd')) > 0", "the function READ_TEXT"),
    "read_csv": ("read_csv('/etc/passwd') IS NOT NULL", "the function READ_CSV"),
    "getenv": ("getenv('HOME') = '/root'", "the function GETENV"),
    "query": ("query('SELECT 1') IS NOT NULL", "the function QUERY"),
    "subquery": ("age IN (SELECT age FROM mixed)", "a subquery"),
    "scalar subquery": ("age > (SELECT min(age) FROM mixed)", "a subquery"),
    "placeholder": ("age > ?", "the placeholder ?"),
    "parameter": ("age > $1", "the placeholder $1"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
@pytest.mark.parametrize("part", ["condition", "when"])
def test_attacks_are_refused_before_any_statement(db, statements, attack, part):
    text, construct = ATTACKS[attack]
    rule = {"name": "evil", "condition": text} if part == "condition" else {"name": "evil", "condition": "age >= 0", "when": text}
    with pytest.raises(RuleError) as caught:
        check_rules(db, "mixed", "mixed", [{"name": "fine", "condition": "age >= 0"}, rule])
    message = str(caught.value)
    assert message.startswith(f"Edit rule 'evil': the {part} uses ")
    assert construct in message
    assert (caught.value.rule, caught.value.part) == ("evil", part)
    assert isinstance(caught.value, InvalidParameterError)
    assert statements() == 0


def test_pg_read_file_names_every_function_and_lists_the_allowed_ones():
    with pytest.raises(RuleError) as caught:
        Rule("r", ATTACKS["pg_read_file"][0])
    assert str(caught.value) == (
        "Edit rule 'r': the condition uses the functions SUBSTRING and PG_READ_FILE, which are not allowed in a rule; "
        "allowed functions: abs, ceil, coalesce, day, extract, floor, length, lower, month, nullif, round, trim, "
        "upper, year."
    )


def _catalog(tmp_path, text: str, part: str) -> str:
    evil = {"name": "evil", "condition": text} if part == "condition" else {"name": "evil", "condition": "age >= 0", "when": text}
    table = {
        "name": "mixed_closed",
        "source": "mixed",
        "method": "independent",
        "rules": [{"name": "fine", "condition": "age >= 0"}, evil],
    }
    path = tmp_path / "evil.yml"
    path.write_text(yaml.safe_dump({"version": 1, "tables": [table]}))
    return str(path)


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_catalog_attacks_fail_validate_and_build_without_touching_the_database(
    db, statements, tmp_path, monkeypatch, capsys, attack
):
    text, construct = ATTACKS[attack]
    part = "when" if attack in ("pg_sleep", "getenv") else "condition"
    path = _catalog(tmp_path, text, part)
    tables = set(db.list_tables())
    connected = []
    monkeypatch.setattr(cli, "_connect", lambda url: connected.append(url) or db)
    before = statements()

    assert cli.main(["validate", path]) == cli.EXIT_CATALOG
    err = capsys.readouterr().err
    assert f"evil.yml: tables[0].rules[1].{part}: uses " in err
    assert construct in err
    assert cli.main(["build", path, "--db", "duckdb://"]) == cli.EXIT_CATALOG
    assert f"tables[0].rules[1].{part}: uses " in capsys.readouterr().err

    assert connected == []  # build stopped at the catalog, before connecting
    assert statements() == before
    assert set(db.list_tables()) == tables


def test_validate_reports_a_bad_rule_of_a_table_that_fails_its_schema_too(tmp_path, capsys):
    table = {"name": "t", "source": "mixed", "rows": -1, "rules": [{"name": "r", "condition": "getenv('HOME') = 'x'"}]}
    path = tmp_path / "c.yml"
    path.write_text(yaml.safe_dump({"version": 1, "tables": [table]}))
    assert cli.main(["validate", str(path)]) == cli.EXIT_CATALOG
    err = capsys.readouterr().err
    assert "tables[0].rows" in err
    assert "tables[0].rules[0].condition: uses the function GETENV" in err


# --------------------------------------------------------------------------------------------------------------
# The language's edges
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "construct"),
    [
        ("region || 'x' = 'northx'", "the || operator"),
        ("age::regclass IS NULL", "a cast to REGCLASS"),
        ("TRY_CAST(age AS INT) = 1", "the function TRY_CAST"),
        ("region COLLATE nocase = 'north'", "COLLATE"),
        ("t.age > 0", "the qualified column t.age"),
        ("[1, 2] = [age]", "an array"),
        ("{'a': age} IS NULL", "a struct"),
        ("region ->> 'a' = 'b'", "a JSON operator"),
        ("sum(age) > 0", "the aggregate function SUM"),
        ("row_number() OVER () > 1", "a window function"),
        ("if(employed, 1, 0) = 1", "IF(...)"),
        ("age IN (children, 1)", "IN with something other than constants"),
        ("age IN UNNEST([1, 2])", "a subquery in IN"),
        ("EXISTS (SELECT 1)", "a subquery"),
        ("extract(foo FROM born) = 1", "EXTRACT with the unit FOO"),
        ("extract('year', born) = 1", "EXTRACT without a unit"),
        ("ceil() > 1", "the function CEIL without its required arguments"),
        ("born > now()", "the function NOW"),
        ("random() < 0.5", "the function RAND"),
        ("age IS children", "IS with something other than NULL, TRUE or FALSE"),
        ("born > current_date - INTERVAL 1 DAY", "CURRENT_DATE"),
        ("$$x$$ = region", "a dollar-quoted string"),
        ("round(income, 2, 3) = 1", "ROUND with TRUNCATE"),
        ("list_transform([1], x -> x + 1) IS NULL", "the function TRANSFORM"),
    ],
)
def test_constructs_outside_the_language_are_named(text, construct):
    with pytest.raises(RuleError, match=r"^Edit rule 'r': the condition uses ") as caught:
        parse_condition("r", "condition", text)
    assert construct in str(caught.value)


def test_caps_on_size_depth_and_nul():
    with pytest.raises(RuleError, match=r"is 10,001 characters long, more than the 10,000"):
        Rule("long", "a" * (rules.MAX_RULE_CHARS + 1))
    many = "age IN (" + ",".join(str(i) for i in range(2100)) + ")"
    assert len(many) <= rules.MAX_RULE_CHARS
    with pytest.raises(RuleError, match=r"has more than 2,000 syntax-tree nodes"):
        Rule("many", many)
    chain = " OR ".join(f"age = {i}" for i in range(rules.MAX_RULE_DEPTH + 1))
    with pytest.raises(RuleError, match=r"nests more than 100 levels deep.*x IN \(\.\.\.\)"):
        Rule("deep", "age >= 0", when=chain)
    with pytest.raises(RuleError, match=r"Edit rule 'parens': the condition nests too deeply for the SQL parser"):
        Rule("parens", "(" * 2000 + "age > 0" + ")" * 2000)
    with pytest.raises(RuleError, match=r"holds a NUL character"):
        Rule("nul", "region = 'a\x00b'")
    for empty in ("", "   ", None, 3):
        with pytest.raises(RuleError, match=r"must be a non-empty SQL condition"):
            parse_condition("e", "condition", empty)


def test_comments_never_reach_the_sql():
    tree = parse_condition("c", "condition", "age >= 0 /* a comment */ AND employed -- another")
    assert tree.sql() == "age >= 0 AND employed"


def test_the_allowed_functions_are_the_issues_list():
    assert set(rules.ALLOWED_FUNCTIONS) == set(ALLOWED_NAMES)
    assert rules.MAX_RULE_CHARS == 10_000 and rules.MAX_RULE_NODES == 2_000 and rules.MAX_RULE_DEPTH == 100


def test_rule_is_the_same_class_everywhere():
    from synthsql.metrics import fitness

    assert ss.Rule is rules.Rule is fitness.Rule


# --------------------------------------------------------------------------------------------------------------
# Allowed rules: the same counts on both backends, checked against pandas' three-valued logic
# --------------------------------------------------------------------------------------------------------------
def _frame() -> pd.DataFrame:
    frame = mixed_table().to_pandas().convert_dtypes()
    frame["born"] = pd.to_datetime(frame["born"])
    return frame


def _maybe(values: pd.Series, missing: pd.Series) -> pd.Series:
    """A nullable boolean: ``values``, NULL where ``missing``."""
    return values.astype("boolean").mask(missing, pd.NA)


ALLOWED: list[tuple[Rule, Callable[[pd.DataFrame], pd.Series], Callable[[pd.DataFrame], pd.Series] | None]] = [
    (
        Rule("case", "CASE WHEN region = 'north' THEN age >= 18 ELSE age >= 16 END"),
        lambda f: pd.Series(np.where(f.region.eq("north").fillna(False), f.age >= 18, f.age >= 16)).astype("boolean"),
        None,
    ),
    (
        Rule("in", "region IN ('north', 'south')", when="employed"),
        lambda f: _maybe(f.region.isin(["north", "south"]), f.region.isna()),
        lambda f: f.employed,
    ),
    (
        Rule("not_in", "region NOT IN ('east', '')"),
        lambda f: _maybe(~f.region.isin(["east", ""]), f.region.isna()),
        None,
    ),
    (Rule("between", "age BETWEEN 18 AND 64"), lambda f: (f.age >= 18) & (f.age <= 64), None),
    (
        Rule("like", "region LIKE 'n%' OR region ILIKE 'S%' OR lower(region) LIKE '%!_t' ESCAPE '!'"),
        lambda f: f.region.str.startswith("n") | f.region.str.lower().str.startswith("s"),
        None,
    ),
    (Rule("coalesce", "coalesce(income, 0) > 1000"), lambda f: f.income.fillna(0) > 1000, None),
    (
        Rule("dates", "extract(year FROM born) >= 1995 AND month(born) <= 6", when="year(born) < 1999"),
        lambda f: (f.born.dt.year >= 1995) & (f.born.dt.month <= 6),
        lambda f: f.born.dt.year < 1999,
    ),
    (Rule("day", "day(born) = 1 OR born >= DATE '1999-06-01'"), lambda f: (f.born.dt.day == 1) | (f.born >= "1999-06-01"), None),
    (
        Rule("arithmetic", "income / 12 > 500 OR income IS NULL"),
        lambda f: (f.income / 12 > 500) | f.income.isna(),
        None,
    ),
    (
        Rule("modulo", "age % 10 = 0 OR -age < -80 OR abs(age - 50) <= 5"),
        lambda f: (f.age % 10 == 0) | (-f.age < -80) | ((f.age - 50).abs() <= 5),
        None,
    ),
    (
        Rule("rounding", "round(age / 7) = floor(age / 7) AND ceil(age / 7) > floor(age / 7)"),
        lambda f: (np.round(f.age / 7) == np.floor(f.age / 7)) & (f.age % 7 != 0),
        None,
    ),
    (
        Rule("strings", "length(trim(region)) = 5 OR upper(region) = 'EAST'"),
        lambda f: (f.region.str.strip().str.len() == 5) | (f.region.str.upper() == "EAST"),
        None,
    ),
    (Rule("nullif", "nullif(region, '') IS NOT NULL"), lambda f: f.region.notna() & (f.region != "").fillna(False), None),
    (Rule("distinct", "region IS DISTINCT FROM 'north'"), lambda f: (f.region != "north").fillna(True), None),
    (
        Rule("cast", "CAST(age AS VARCHAR) LIKE '7%'", when="children IN (0, 1) AND employed IS NOT TRUE"),
        lambda f: f.age.astype(str).str.startswith("7"),
        lambda f: f.children.isin([0, 1]) & ~f.employed,
    ),
]


def _expected(frame: pd.DataFrame) -> dict[str, tuple[int, int, int]]:
    out = {}
    for rule, condition, when in ALLOWED:
        holds = pd.array(condition(frame), dtype="boolean")
        applies = np.asarray(pd.array(when(frame), dtype="boolean").fillna(False)) if when else np.ones(len(frame), bool)
        violated = ~np.asarray(holds.fillna(False))
        out[rule.name] = (int(applies.sum()), int((applies & violated).sum()), int((applies & np.asarray(holds.isna())).sum()))
    return out


def test_allowed_rules_count_as_pandas_does_on_both_backends(db):
    out = check_rules(db, "mixed", "mixed", [rule for rule, _, _ in ALLOWED])
    expected = _expected(_frame())
    for row in out.itertuples(index=False):
        assert (row.applicable, row.violations, row.unknown) == expected[row.rule], row
    # the rules are not trivial: each splits the rows, and NULLs reach some of them
    assert all(0 < violations < applicable for applicable, violations, _ in expected.values())
    assert sum(unknown for _, _, unknown in expected.values()) > 0


def test_a_rule_at_the_depth_cap_runs_on_both_backends(db):
    n = rules.MAX_RULE_DEPTH
    while True:  # the longest OR chain the cap admits
        text = " OR ".join(f"age = {16 + i}" for i in range(n))
        try:
            rule = Rule("chain", text)
            break
        except RuleError:
            n -= 1
    assert n > rules.MAX_RULE_DEPTH - 5
    out = check_rules(db, "mixed", "mixed", [rule])
    frame = _frame()
    assert out["violations"].tolist() == [int((~frame.age.isin(range(16, 16 + n))).sum())] * 2


# --------------------------------------------------------------------------------------------------------------
# Fuzzing over the whole sqlglot function space
# --------------------------------------------------------------------------------------------------------------
ALLOWED_NAMES = ("abs", "round", "floor", "ceil", "lower", "upper", "length", "trim", "coalesce", "nullif", "extract",
                 "year", "month", "day")
# What an accepted tree may hold, stated from the issue (not read from synthsql.rules): the allowed functions' node
# types, and the non-function nodes of the predicate language.
ALLOWED_FUNCTION_NODES = {exp.FUNCTION_BY_NAME[name.upper()] for name in ALLOWED_NAMES} | {exp.Case, exp.If, exp.Cast}
ALLOWED_OTHER_NODES = {
    exp.Column, exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE,
    exp.NullSafeEQ, exp.NullSafeNEQ, exp.And, exp.Or, exp.Not, exp.Paren, exp.In, exp.Between, exp.Is, exp.Like,
    exp.ILike, exp.Escape, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Neg, exp.Var, exp.DataType,
    exp.DataTypeParam,
}
FUNCTION_NAMES = sorted(exp.FUNCTION_BY_NAME)
COLUMNS = ("age", "income", "region", "born", "employed", "children")

_literal = st.one_of(
    st.integers(-1000, 10**6).map(str),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False).map(lambda v: repr(round(v, 3))),
    st.text(alphabet="abcnorthsuwe %_'/.", max_size=8).map(lambda s: "'" + s.replace("'", "''") + "'"),
    st.sampled_from(["NULL", "TRUE", "FALSE", "DATE '2000-01-01'", "'/etc/passwd'", "'SELECT 1'"]),
)
_name = st.one_of(
    st.sampled_from(FUNCTION_NAMES),
    st.sampled_from(FUNCTION_NAMES).map(str.lower),
    st.sampled_from(ALLOWED_NAMES),  # so that accepted calls are drawn too
    st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True),  # anonymous: any name at all
)
_value = st.recursive(
    st.one_of(st.sampled_from(COLUMNS), _literal),
    lambda inner: st.one_of(
        st.builds(lambda name, args: f"{name}({', '.join(args)})", _name, st.lists(inner, max_size=3)),
        # allowed functions with arguments they take, so that accepted trees hold calls too
        st.builds(lambda name, arg: f"{name}({arg})", st.sampled_from(ALLOWED_NAMES[:8] + ALLOWED_NAMES[-3:]), inner),
        st.builds(lambda name, a, b: f"{name}({a}, {b})", st.sampled_from(["coalesce", "nullif", "round"]), inner, inner),
        st.builds(lambda unit, a: f"extract({unit} FROM {a})", st.sampled_from(["year", "dow", "hour", "foo"]), inner),
    ),
    max_leaves=6,
)
_comparison = st.one_of(
    st.builds(lambda a, op, b: f"{a} {op} {b}", _value, st.sampled_from(["=", "<>", "<", "<=", ">", ">="]), _value),
    st.builds(lambda a, neg: f"{a} IS {neg}NULL", _value, st.sampled_from(["", "NOT "])),
    st.builds(lambda a, xs: f"{a} IN ({', '.join(xs)})", _value, st.lists(_literal, min_size=1, max_size=3)),
    st.builds(lambda a, lo, hi: f"{a} BETWEEN {lo} AND {hi}", _value, _literal, _literal),
    _value,
)
_predicate = st.recursive(
    _comparison,
    lambda inner: st.one_of(
        st.builds(lambda a, op, b: f"({a}) {op} ({b})", inner, st.sampled_from(["AND", "OR"]), inner),
        inner.map(lambda a: f"NOT ({a})"),
    ),
    max_leaves=3,
)


def _only_allowed_constructs(rule: Rule) -> None:
    for tree in rule._trees:
        for node in tree.walk() if tree is not None else ():
            kind = type(node)
            assert kind in ALLOWED_FUNCTION_NODES or kind in ALLOWED_OTHER_NODES, (rule.condition, kind.__name__)
            if kind is exp.Column:
                assert len(node.parts) == 1, rule.condition


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=_predicate)
def test_fuzzed_rules_are_accepted_only_in_the_language_or_refused_before_any_statement(db, statements, text):
    try:
        rule = Rule("fuzz", text)
    except SynthsqlError:
        before = statements()
        with pytest.raises(SynthsqlError):
            check_rules(db, "mixed", "mixed", [{"name": "fuzz", "condition": text}])
        assert statements() == before, text
    else:
        _only_allowed_constructs(rule)


def test_every_sqlglot_function_outside_the_list_is_refused():
    """Exhaustively, each name sqlglot knows called on a column: accepted exactly when it parses to an allowed
    function, so the fuzzer's function space holds both outcomes."""
    accepted = set()
    for name in FUNCTION_NAMES:
        try:
            rule = Rule("f", f"{name}(age) > 1")
        except RuleError:
            continue
        _only_allowed_constructs(rule)
        accepted.add(name)
    # (a few other names are builders of allowed nodes: TIME_TO_TIME_STR(x) is CAST(x AS TEXT))
    assert {"ABS", "CEIL", "CEILING", "LOWER", "LENGTH", "YEAR"} <= accepted
    assert len(accepted) < 30 < len(FUNCTION_NAMES) - len(accepted)


# --------------------------------------------------------------------------------------------------------------
# Formulas: caps on text, terms, order, nesting and the design size, before any query
# --------------------------------------------------------------------------------------------------------------
SES_SIX = "earnings ~ NACE1 * occupation * payAgreement * lengthService * education * size"


@pytest.fixture(scope="module")
def ses_spec(db):
    return ss.describe(db, "ses")


def test_a_six_way_interaction_is_refused_before_any_query(db, ses_spec, statements):
    categories = {name: len(ses_spec.column(name).categories) for name in
                  ("NACE1", "occupation", "payAgreement", "lengthService", "education", "size")}
    full = math.prod(categories.values())  # a full factorial with its intercept: one column per cell
    reduced = math.prod(n - 1 for n in categories.values())
    assert full > 100_000
    before = statements()
    for call in (
        lambda: fit_glm(db, "ses", SES_SIX, spec=ses_spec),
        lambda: compare_glm(db, "ses", "ses", SES_SIX, spec=ses_spec),
    ):
        with pytest.raises(InvalidParameterError) as caught:
            call()
        message = str(caught.value)
        assert f"The formula {SES_SIX!r} has {full:,} design parameters" in message
        assert "more than max_parameters=300" in message
        assert f"alone has {reduced:,} = " in message
        assert "raise the cap with max_parameters=" in message
    assert statements() == before


def test_a_six_way_interaction_without_a_spec_reads_bounded_categories_and_is_refused(db, statements):
    with pytest.raises(InvalidParameterError, match=r"design parameters .* more than max_parameters=300"):
        fit_glm(db, "ses", SES_SIX)
    assert statements() < 30  # the table's schema and one bounded DISTINCT per column, nothing per design column


def test_a_column_with_more_categories_than_the_cap_is_refused_from_a_bounded_read(db):
    with pytest.raises(InvalidParameterError, match=r"Column 'occupation' .* has more than 20 categories"):
        fit_glm(db, "ses", "earnings ~ occupation", max_parameters=20)
    with pytest.raises(InvalidParameterError, match=r"'IDunit' .* has more than 300 categories"):
        fit_glm(db, "ses", "earnings ~ IDunit")  # 500 units
    fit = fit_glm(db, "ses", "earnings ~ occupation", max_parameters=23)  # 23 categories: fits at the raised cap
    assert len(fit.terms) == 23


def test_an_ordinary_formula_fits_and_its_size_is_the_count(db, ses_spec):
    formula = "earnings ~ sex + education * size + hoursPaid"
    fit = fit_glm(db, "ses", formula, spec=ses_spec)
    parsed = parse_formula(formula)
    levels = {name: len(ses_spec.column(name).categories) for name in ("sex", "education", "size")}
    assert len(fit.terms) == design_parameters(parsed.terms, levels, intercept=parsed.intercept) == 1 + 1 + 4 + 4 + 16 + 1
    with pytest.raises(InvalidParameterError, match=r"has 27 design parameters.*max_parameters=26"):
        fit_glm(db, "ses", formula, spec=ses_spec, max_parameters=26)
    with pytest.raises(InvalidParameterError, match=r"'max_parameters' parameter must be an int >= 1"):
        fit_glm(db, "ses", formula, spec=ses_spec, max_parameters=0)


def test_pmse_logit_uses_the_same_count_and_cap(db, ses_spec):
    columns = ["sex", "education", "size"]
    levels = {name: len(ses_spec.column(name).categories) for name in columns}
    k = design_parameters([(c,) for c in columns] + list(itertools.combinations(columns, 2)), levels)
    assert k == 1 + 1 + 4 + 4 + (4 + 4 + 16)
    with pytest.raises(InvalidParameterError, match=rf"has {k} parameters, more than max_parameters={k - 1}"):
        pmse_logit(db, "ses", "ses", ses_spec, columns=columns, max_parameters=k - 1)
    assert pmse_logit.__kwdefaults__["max_parameters"] == glm.MAX_PARAMETERS == fit_glm.__kwdefaults__["max_parameters"]


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("y ~ " + "*".join("abcdefghi"), r"an interaction of 9 columns; .* at most 8"),
        ("y ~ " + "(" * 60 + "a" + ")" * 60, r"parentheses nest more than 50 deep"),
        ("y ~ " + "*".join(f"({' + '.join(f'{c}{i}' for i in range(12))})" for c in "abc"),
         r"expands to 2,016 terms, more than the 1,000"),
        ("y ~ " + "+".join(f"x{i}" for i in range(1100)), r"expands to 1,001 terms, more than the 1,000"),
        ("y ~ " + "x + " * 2600 + "x", r"is 10,405 characters long, more than the 10,000"),
    ],
)
def test_formula_caps(formula, message):
    with pytest.raises(InvalidParameterError, match=message):
        parse_formula(formula)


def test_eight_way_interactions_still_parse():
    assert len(parse_formula("y ~ " + "*".join("abcdefgh")).terms) == 2**8 - 1


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    terms=st.lists(
        st.lists(st.sampled_from(["a", "b", "c", "d", "x", "z"]), min_size=1, max_size=4, unique=True).map(tuple),
        max_size=6,
    ),
    intercept=st.booleans(),
    counts=st.tuples(*[st.integers(1, 5)] * 4),
)
def test_design_parameters_counts_the_columns_the_design_builds(terms, intercept, counts):
    levels = {name: tuple(range(n)) for name, n in zip("abcd", counts, strict=True)}
    formula = glm.Formula(text="y ~ ...", response="y", terms=tuple(glm._unique(terms)), intercept=intercept)
    built = glm._design(formula, levels)
    assert design_parameters(formula.terms, {k: len(v) for k, v in levels.items()}, intercept=intercept) == len(built)
