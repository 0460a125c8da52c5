"""Outcome-specific utility: the same GLM fitted on the real and on the synthetic table, compared per coefficient.

A model is a formula (``income ~ age + sex + region``, ``wage ~ education * ethnicity``) and a family: gaussian
(identity link), binomial (logit) or poisson (log). It is fitted inside the database: the design columns are Ibis
expressions and each fit reads back only sums.

* Gaussian (OLS): one aggregate query returns the sufficient statistics XᵀX (upper triangle), Xᵀy, yᵀy and n;
  β = (XᵀX)⁻¹Xᵀy, the residual sum of squares is the quadratic form RSS = yᵀy − 2βᵀXᵀy + βᵀXᵀXβ (a second query
  sums the squared residuals when that form cancels, for a nearly exact fit), and Cov(β) = σ²(XᵀX)⁻¹ with
  σ² = RSS/(n − k).
* Binomial and poisson: iteratively reweighted least squares (Green 1984; McCullagh & Nelder 1989, §2.5) with one
  aggregate query per iteration. With the canonical link, η = Xβ, μ = g⁻¹(η), the weight is W = 1/(V(μ) g'(μ)²)
  (μ(1 − μ) for the logit, μ for the log link) and the working response z = η + (y − μ) g'(μ), so
  β_{t+1} = (XᵀW_tX)⁻¹ XᵀW_t z_t, where W z = Wη + (y − μ) is summed without dividing by a small weight.
  Cov(β) = (XᵀWX)⁻¹ (scale 1), as statsmodels' GLM does by default. A fit that converges only because fitted
  probabilities reached 0 or 1 (perfect separation: the estimates do not exist) is refused.

A singular design (a column that is a linear combination of the ones before it, or a dummy that is zero in every
row) is refused with the columns named, where statsmodels would silently return a pseudo-inverse solution.

Rows with NULL in any column the formula uses, or with a category the coding does not list, are dropped (complete
cases, statsmodels' ``missing="drop"``).
Categorical and boolean predictors are dummy coded against their first category (treatment contrasts, as R and
patsy do), and terms are named and ordered as patsy/statsmodels print them (``region[T.south]``,
``education:ethnicity[T.cauc]``).

Every sum a fit reads is exact, in fixed point (:func:`_sums`): each row's term is scaled by a power of two and
rounded to an integer, and the database adds the integers exactly. A database adds doubles in an order of its own
(DuckDB's parallel aggregation, PostgreSQL's parallel plans), which changes the last bits of a double sum from run to
run; an integer sum does not change, so a fit gives the same coefficients, to the bit, on every run, and on every
engine that computes the rows' terms alike (DuckDB and PostgreSQL do). The scales come from one more query per fit,
which reads the largest magnitude of each numeric design column and of the response.

The comparison (Karr, Kohnen, Oganian, Reiter & Sanil 2006, "A framework for evaluating the utility of data
altered to protect confidentiality", The American Statistician 60(3), 224–232) reports per coefficient the
confidence-interval overlap J = ½[(U − L)/(u_o − l_o) + (U − L)/(u_s − l_s)] with U = min(u_o, u_s) and
L = max(l_o, l_s) (1 for identical intervals, negative when they do not overlap), and the standardised difference
|β_s − β_o| / se_o.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ibis
import numpy as np
import pandas as pd
from scipy import stats
from sqlglot import exp

from synthsql.connection import Database, connect
from synthsql.errors import (
    ColumnNotFoundError,
    InvalidParameterError,
    ModelFitError,
    SyntheticFitError,
    did_you_mean,
)
from synthsql.schema import TableSpec, kind_of

__all__ = [
    "FAMILIES",
    "MAX_FORMULA_CHARS",
    "MAX_FORMULA_DEPTH",
    "MAX_FORMULA_TERMS",
    "MAX_INTERACTION_ORDER",
    "MAX_PARAMETERS",
    "Formula",
    "GLMResult",
    "ci_overlap",
    "compare_glm",
    "design_parameters",
    "fit_glm",
    "glm_metrics",
    "glm_rows",
    "parse_formula",
]

FAMILIES = ("gaussian", "binomial", "poisson")
PREDICTOR_KINDS = ("categorical", "boolean", "integer", "numeric")
_RESPONSE_KINDS = {
    "gaussian": ("boolean", "integer", "numeric"),
    "binomial": ("boolean", "integer", "numeric", "categorical"),
    "poisson": ("integer", "numeric"),
}

Term = tuple[str, ...]

# A column is collinear when 1 − R² of it on the columns before it (the pivot of a Cholesky factorisation of the
# scaled XᵀX) falls below this: the solution would have lost about ten of its sixteen digits.
_RANK_TOL = 1e-10
# The linear predictor is clipped before exp(), which PostgreSQL refuses to overflow or underflow (R clips the logit
# at ±30 too); a converged fit with a row at the bound is refused as separated.
_ETA_BOUND = {"binomial": 30.0, "poisson": 100.0}
# An aggregate query with more results than this returns them in arrays (PostgreSQL's select lists stop at 1664).
_MAX_SELECT = 1000
# Fixed-point sums (see _sums): a row's term is a whole number of magnitude at most 2**_TERM_BITS (a BIGINT, whose sums
# over up to 2**64 rows fit 127 bits); a product term is two factors of at most 2**_FACTOR_BITS each.
_TERM_BITS = 62
_FACTOR_BITS = 31
# A weight or working response whose largest magnitude is more than 2**_LOOSE_BITS below the power of two it was
# scaled by is summed again at its own scale (precision); one above it, at its own scale too (range).
_LOOSE_BITS = 12
# The exponents of the powers of two that scale terms stay in this range, so that each scale is a normal double.
_MIN_EXPONENT, _MAX_EXPONENT = -900, 1024
# An IRLS iteration guesses the largest weight, working response and deviance term as this many times those of the
# iteration before (a guess that misses costs one more query).
_GROWTH = 4.0
# PostgreSQL's JIT compiled the thousands of sums of an IRLS step (k = 169) for minutes, where the query itself runs
# in a second: Database turns JIT off for its sessions.

#: The longest formula text accepted, in characters.
MAX_FORMULA_CHARS = 10_000
#: The most terms a formula may expand to (``a*b*c`` is seven), checked before each expansion is built.
MAX_FORMULA_TERMS = 1_000
#: The highest order a term may have (``a:b:c`` is of order three).
MAX_INTERACTION_ORDER = 8
#: The deepest parentheses may nest in a formula.
MAX_FORMULA_DEPTH = 50
#: The default cap on the parameters (design columns: the intercept, numeric columns, dummy-coded categories and their
#: products in interactions) of a GLM and of the logistic pMSE, raised with ``max_parameters=``. Checked on the
#: formula and the categories before any query: each fit sums k(k + 1)/2 products per query and holds a k × k plan,
#: and a six-way interaction of a few categorical columns has hundreds of thousands of columns.
MAX_PARAMETERS = 300


# --------------------------------------------------------------------------------------------------------------
# Formulas
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Formula:
    """A parsed model formula: the response, the terms (tuples of column names) and whether there is an intercept."""

    text: str
    response: str
    terms: tuple[Term, ...]
    intercept: bool = True

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column the formula uses, the response first, each once."""
        return tuple(dict.fromkeys([self.response, *(name for term in self.terms for name in term)]))


_TOKEN = re.compile(r"\s*(?:(?P<name>[^\W\d]\w*)|(?P<number>\d+(?:\.\d*)?)|(?P<op>[~+\-*:()]))")


def parse_formula(formula: str) -> Formula:
    """Parse ``response ~ terms`` as R and patsy do, for the operators GLMs need.

    ``a + b`` adds terms, ``a:b`` is an interaction, ``a*b`` means ``a + b + a:b``, ``- a`` removes a term,
    parentheses group, and ``- 1`` or ``+ 0`` drops the intercept. A formula is at most :data:`MAX_FORMULA_CHARS`
    characters long, expands to at most :data:`MAX_FORMULA_TERMS` terms of order at most
    :data:`MAX_INTERACTION_ORDER`, and nests parentheses at most :data:`MAX_FORMULA_DEPTH` deep; each is checked
    before the terms are built (``a*b*c*...`` doubles them at each ``*``).

    >>> f = parse_formula("wage ~ education * ethnicity - 1")
    >>> f.terms, f.intercept
    ((('education',), ('ethnicity',), ('education', 'ethnicity')), False)
    """
    if not isinstance(formula, str):
        raise InvalidParameterError(f"A formula must be a string like 'y ~ a + b', got {formula!r}.")
    if len(formula) > MAX_FORMULA_CHARS:
        raise InvalidParameterError(
            f"The formula {formula[:60]!r}... is {len(formula):,} characters long, more than the "
            f"{MAX_FORMULA_CHARS:,} a formula may have."
        )
    return _Parser(formula).parse()


class _Parser:
    """Recursive descent over: formula := name '~' sum; sum := [±] product {± product};
    product := interaction {'*' interaction}; interaction := atom {':' atom}; atom := name | 0 | 1 | '(' sum ')'."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = self._tokenize(text)
        self.pos = 0
        self.intercept = True
        self.depth = 0  # of parentheses

    def parse(self) -> Formula:
        response = self._expect_name("the response before '~'")
        if self._peek() != "~":
            raise self._error("expected '~' after the response (a formula reads 'response ~ terms')")
        self.pos += 1
        terms = self._sum(top=True)
        if self.pos < len(self.tokens):
            raise self._error(f"unexpected {self._peek()!r}")
        return Formula(text=self.text, response=response, terms=tuple(terms), intercept=self.intercept)

    # --- grammar -----------------------------------------------------------------------------------------------
    def _sum(self, *, top: bool) -> list[Term]:
        terms: list[Term] = []
        sign = "+"
        if self._peek() in ("+", "-"):
            sign = self._advance()
        while True:
            value = self._product()
            if isinstance(value, int):
                if not top:
                    raise self._error("0 and 1 (the intercept) can only be added or removed outside parentheses")
                self.intercept = (value == 1) == (sign == "+")
            elif sign == "+":
                terms = _unique([*terms, *value])
                self._check_count(len(terms))
            else:
                removed = {frozenset(term) for term in value}
                terms = [term for term in terms if frozenset(term) not in removed]
            if self._peek() not in ("+", "-"):
                return terms
            sign = self._advance()

    def _product(self) -> list[Term] | int:
        value = self._interaction()
        while self._peek() == "*":
            self.pos += 1
            right = self._interaction()
            left, right = self._terms(value), self._terms(right)
            value = _unique([*left, *right, *self._interact(left, right)])
            self._check_count(len(value))
        return value

    def _interaction(self) -> list[Term] | int:
        value = self._atom()
        while self._peek() == ":":
            self.pos += 1
            value = _unique(self._interact(self._terms(value), self._terms(self._atom())))
        return value

    def _atom(self) -> list[Term] | int:
        if self.pos >= len(self.tokens):
            raise self._error("the formula ends where a column name was expected")
        kind, value, _ = self.tokens[self.pos]
        if kind == "name":
            self.pos += 1
            return [(value,)]
        if kind == "number" and value in ("0", "1"):
            self.pos += 1
            return int(value)
        if value == "(":
            if self.depth >= MAX_FORMULA_DEPTH:
                raise self._error(f"parentheses nest more than {MAX_FORMULA_DEPTH} deep")
            self.pos += 1
            self.depth += 1
            terms = self._sum(top=False)
            if self._peek() != ")":
                raise self._error("expected ')'")
            self.pos += 1
            self.depth -= 1
            return terms
        raise self._error(f"expected a column name, 0, 1 or '(' but found {value!r}")

    # --- tokens ------------------------------------------------------------------------------------------------
    def _tokenize(self, text: str) -> list[tuple[str, str, int]]:
        tokens, pos = [], 0
        while text[pos:].strip():
            match = _TOKEN.match(text, pos)
            if match is None:
                bad = len(text[pos:]) - len(text[pos:].lstrip()) + pos
                raise InvalidParameterError(
                    f"Cannot parse formula {text!r}: unexpected character {text[bad]!r} at position {bad}."
                )
            kind = match.lastgroup or "op"
            tokens.append((kind, match.group(kind), match.start(kind)))
            pos = match.end()
        return tokens

    def _peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def _advance(self) -> str:
        value = self.tokens[self.pos][1]
        self.pos += 1
        return value

    def _expect_name(self, what: str) -> str:
        if self.pos >= len(self.tokens) or self.tokens[self.pos][0] != "name":
            raise self._error(f"expected {what}")
        return self._advance()

    def _terms(self, value: list[Term] | int) -> list[Term]:
        if isinstance(value, int):
            raise self._error("0 and 1 cannot be multiplied or interacted with a term")
        return value

    def _interact(self, left: Sequence[Term], right: Sequence[Term]) -> list[Term]:
        """Every term of ``left`` with every term of ``right``, the sizes checked before the products are built."""
        self._check_count(len(left) * len(right))
        longest = max(len(frozenset(a + b)) for a in left for b in right) if left and right else 0
        if longest > MAX_INTERACTION_ORDER:
            raise self._error(
                f"an interaction of {longest} columns; a formula's interactions may join at most "
                f"{MAX_INTERACTION_ORDER}"
            )
        return _interact(left, right)

    def _check_count(self, count: int) -> None:
        if count > MAX_FORMULA_TERMS:
            raise self._error(
                f"it expands to {count:,} terms, more than the {MAX_FORMULA_TERMS:,} a formula may have; "
                "write fewer products of sums"
            )

    def _error(self, message: str) -> InvalidParameterError:
        where = f" at position {self.tokens[self.pos][2]}" if self.pos < len(self.tokens) else " at its end"
        return InvalidParameterError(f"Cannot parse formula {self.text!r}: {message}{where}.")


def _unique(terms: Iterable[Term]) -> list[Term]:
    """Terms without repeats; ``b:a`` is the same term as ``a:b`` (the first spelling wins)."""
    seen: set[frozenset[str]] = set()
    out = []
    for term in terms:
        if frozenset(term) not in seen:
            seen.add(frozenset(term))
            out.append(term)
    return out


def _interact(left: Sequence[Term], right: Sequence[Term]) -> list[Term]:
    return [tuple(dict.fromkeys(a + b)) for a in left for b in right]


# --------------------------------------------------------------------------------------------------------------
# Design: patsy's columns, as Ibis expressions
# --------------------------------------------------------------------------------------------------------------
_NUMERIC = object()  # the "level" of a numeric factor: the column enters as it is
# The "level" of an indicator that a factor is missing, in designs that keep such rows: its value (set to 0) and its
# level indicators are 0 wherever the indicator is 1.
_MISSING = object()
Parts = tuple[tuple[str, Any], ...]  # a design column as a product of (factor, level) indicators and numeric factors


@dataclass(frozen=True, slots=True)
class _Column:
    """One design column: the product of numeric factors and category indicators ``(factor, level)``."""

    name: str
    parts: tuple[tuple[str, Any], ...]


def _design(formula: Formula, levels: Mapping[str, tuple[Any, ...]]) -> list[_Column]:
    """The design columns, coded and ordered as patsy does (patsy's ``build._make_subterm_infos``).

    Terms are grouped by the numeric factors they hold (the group without numeric factors first), ordered by degree
    within a group, and each categorical factor is coded with treatment contrasts where the lower-order terms of
    its group already span the reference, with full dummy coding where they do not (``y ~ g - 1``, ``y ~ x:g``).
    """
    terms = [(), *formula.terms] if formula.intercept else list(formula.terms)
    groups: dict[frozenset[str], list[Term]] = {}
    for term in terms:
        groups.setdefault(frozenset(f for f in term if f not in levels), []).append(term)
    columns: list[_Column] = []
    for group in sorted(groups, key=bool):  # stable: the group without numeric factors first
        used: set[frozenset[tuple[str, bool]]] = set()
        for term in sorted(groups[group], key=len):
            for coding in _codings(term, levels, used):
                columns.extend(_term_columns(term, coding, levels))
    return columns


def design_parameters(terms: Iterable[Term], levels: Mapping[str, int], *, intercept: bool = True) -> int:
    """The number of design columns (parameters) of ``terms``, coded as :func:`_design` and patsy code them, counted
    without building them: the size check of GLMs and of the logistic pMSE, made before any query.

    ``levels`` holds the number of categories of each categorical (or boolean) factor; every other factor is numeric
    and enters as one column. Terms are grouped by the numeric factors they hold; within a group the coding spans
    every subset of the terms' categorical factors (the empty subset too: the intercept, or the numeric factors
    alone), each with one column per combination of non-reference categories, so a group adds
    Σ over those subsets S of Π over S of (categories − 1). For a hierarchical model (every lower-order term present,
    as in the logistic pMSE) this is Σ over terms of Π of (categories − 1), a numeric factor counting 1.

    >>> design_parameters([("region",), ("age",), ("region", "age")], {"region": 4})  # 1 + 3 + 1 + 3
    8
    >>> design_parameters([("age", "region")], {"region": 4})  # age times a full coding of region, and 1
    5
    """
    groups: dict[frozenset[str], set[frozenset[str]]] = {}
    for term in [(), *terms] if intercept else terms:
        categorical = sorted({f for f in term if f in levels})
        spanned = groups.setdefault(frozenset(f for f in term if f not in levels), set())
        for size in range(len(categorical) + 1):
            spanned.update(frozenset(c) for c in itertools.combinations(categorical, size))
    return sum(math.prod(max(levels[f] - 1, 0) for f in subset) for spanned in groups.values() for subset in spanned)


def _codings(
    term: Term, levels: Mapping[str, tuple[Any, ...]], used: set[frozenset[tuple[str, bool]]]
) -> list[dict[str, bool]]:
    """Patsy's ``pick_contrasts_for_term``: for each subterm still needed, factor -> full coding (True) or not."""
    categorical = [f for f in term if f in levels]
    subsets = (
        frozenset((categorical[i], False) for i in idx)
        for size in range(len(categorical) + 1)
        for idx in itertools.combinations(range(len(categorical)), size)
    )
    subterms = [s for s in subsets if s not in used]
    used.update(subterms)
    while _absorb_one(subterms):
        pass
    return [dict(s) for s in subterms]


def _absorb_one(subterms: list[frozenset[tuple[str, bool]]]) -> bool:
    # a- and a-:b- together span the same space as a-:b+ (b fully coded); merge greedily from the left.
    for i, short in enumerate(subterms):
        for j in range(i + 1, len(subterms)):
            long = subterms[j]
            if len(long) - len(short) == 1 and long > short:
                ((factor, _),) = long - short
                subterms[j] = short | {(factor, True)}
                del subterms[i]
                return True
    return False


def _term_columns(term: Term, coding: Mapping[str, bool], levels: Mapping[str, tuple[Any, ...]]) -> list[_Column]:
    per_factor: list[list[tuple[str, tuple[str, Any]]]] = []
    for factor in term:
        if factor not in levels:
            per_factor.append([(factor, (factor, _NUMERIC))])
        elif factor in coding:
            full = coding[factor]
            kept = levels[factor] if full else levels[factor][1:]
            prefix = "" if full else "T."
            per_factor.append([(f"{factor}[{prefix}{_readable(v)}]", (factor, v)) for v in kept])
    # The left-most factor varies fastest, as in R and patsy.
    combos = (combo[::-1] for combo in itertools.product(*reversed(per_factor)))
    return [
        _Column(":".join(name for name, _ in combo) or "Intercept", tuple(part for _, part in combo))
        for combo in combos
    ]


def _indicator(condition: ibis.BooleanValue) -> ibis.Value:
    # PostgreSQL casts a boolean to integer only, and reads a literal 1.0 as numeric (Ibis drops a cast of a float
    # literal to float64), so the indicator is an integer cast to double.
    return ibis.ifelse(condition, 1, 0).cast("float64")


def _number_expr(column: ibis.Value) -> ibis.Value:
    return _indicator(column) if column.type().is_boolean() else column.cast("float64")


def _readable(level: Any) -> str:
    return level if isinstance(level, str) else repr(level)


def _column_expr(t: ibis.Table, column: _Column) -> ibis.Value:
    parts = [
        _number_expr(t[factor]) if level is _NUMERIC else _indicator(t[factor] == level)
        for factor, level in column.parts
    ]
    return functools.reduce(operator.mul, parts) if parts else ibis.literal(1).cast("float64")


# --------------------------------------------------------------------------------------------------------------
# Columns: kinds and categories, from the spec or the table
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Variables:
    """What the formula's columns are: kind per column, categories of the categorical and boolean ones."""

    kinds: Mapping[str, str]
    levels: Mapping[str, tuple[Any, ...]]


def _variables(
    db: Database, table: str, formula: Formula, family: str, spec: TableSpec | None, max_parameters: int
) -> _Variables:
    """Kinds and categories of the formula's columns, with the design's size checked against ``max_parameters``
    before any query when ``spec`` gives them (without it, the categories are read from ``table``, at most
    ``max_parameters`` + 1 of them per column)."""
    if spec is not None:
        kinds = {name: spec.column(name).kind for name in formula.columns}
        _check_kinds(formula, family, kinds)
        levels = {name: tuple(spec.column(name).categories or ()) for name, kind in kinds.items() if kind in _CODED}
        _check_design_size(formula, levels, max_parameters)
        _check_columns(db.table(table), table, formula)
    else:
        t = db.table(table)
        schema = _check_columns(t, table, formula)
        kinds = {name: kind_of(schema[name]) or str(schema[name]) for name in formula.columns}
        _check_kinds(formula, family, kinds)
        levels = {n: _levels(t, n, kind, formula, max_parameters) for n, kind in kinds.items() if kind in _CODED}
        _check_design_size(formula, levels, max_parameters)
    response = formula.response
    if family == "binomial" and kinds[response] == "categorical" and len(levels[response]) != 2:
        raise InvalidParameterError(
            f"The binomial response {response!r} has {len(levels[response])} categories {list(levels[response])}; "
            "it needs exactly two (the second counts as 1)."
        )
    return _Variables(kinds=kinds, levels=levels)


_CODED = ("categorical", "boolean")


def _check_design_size(formula: Formula, levels: Mapping[str, Sequence[Any]], max_parameters: int) -> None:
    """Refuse a formula whose design has more than ``max_parameters`` columns (:func:`design_parameters`), naming
    the count, the cap, the largest term and how to raise the cap."""
    counts = {name: len(values) for name, values in levels.items()}
    k = design_parameters(formula.terms, counts, intercept=formula.intercept)
    if k <= max_parameters:
        return

    def size(term: Term) -> int:
        return math.prod(max(counts[f] - 1, 0) if f in counts else 1 for f in term)

    largest = max(formula.terms, key=size)
    factors = " × ".join(f"{counts[f] - 1} ({f})" for f in largest if f in counts) or "1"
    raise InvalidParameterError(
        f"The formula {formula.text!r} has {k:,} design parameters (the intercept, numeric columns, dummy-coded "
        f"categories and their products in interactions), more than max_parameters={max_parameters:,}. Its largest "
        f"term, {':'.join(largest)}, alone has {size(largest):,} = {factors}. Drop or split high-order interactions, "
        "merge categories, or raise the cap with max_parameters=... (each fit sums k(k + 1)/2 products per query)."
    )


def _check_max_parameters(max_parameters: Any) -> None:
    """The 'max_parameters' argument of a GLM or logistic pMSE: an int >= 1."""
    if isinstance(max_parameters, bool) or not isinstance(max_parameters, int) or max_parameters < 1:
        raise InvalidParameterError(
            f"The 'max_parameters' parameter must be an int >= 1. Got {max_parameters!r} instead."
        )


def check_formula_columns(db: Database, tables: Sequence[str], formula: str) -> None:
    """Refuse a formula that does not parse, or names a column missing from one of ``tables``, before any work."""
    parsed = parse_formula(formula)
    for table in tables:
        _check_columns(db.table(table), table, parsed)


def _check_columns(t: ibis.Table, table: str, formula: Formula) -> ibis.Schema:
    schema = t.schema()
    for name in formula.columns:
        if name not in schema:
            raise ColumnNotFoundError(
                f"Column {name!r} (in the formula {formula.text!r}) is not in table {table!r}."
                f"{did_you_mean(name, schema.names)}"
            )
    return schema


def _check_kinds(formula: Formula, family: str, kinds: Mapping[str, str]) -> None:
    for name in formula.columns[1:]:
        if kinds[name] not in PREDICTOR_KINDS:
            raise InvalidParameterError(
                f"Column {name!r} in the formula {formula.text!r} is of kind {kinds[name]!r}; GLM predictors must be "
                f"{', '.join(PREDICTOR_KINDS)}."
            )
    kind, allowed = kinds[formula.response], _RESPONSE_KINDS[family]
    if kind not in allowed:
        raise InvalidParameterError(
            f"The response {formula.response!r} of {formula.text!r} is of kind {kind!r}; a {family} GLM needs "
            f"{' or '.join(allowed)}."
        )


def _levels(t: ibis.Table, name: str, kind: str, formula: Formula, max_parameters: int) -> tuple[Any, ...]:
    """The categories of a column, read from the table, sorted; at most ``max_parameters`` + 1 of them are read:
    a predictor with more than ``max_parameters`` categories has more parameters than that on its own."""
    if kind == "boolean":
        return (False, True)
    limit = max_parameters + 1
    values = t.select(v=t[name]).filter(ibis._.v.notnull()).distinct().limit(limit).to_pyarrow()["v"].to_pylist()
    if len(values) == limit and name == formula.response:  # only a binomial response can be categorical
        raise InvalidParameterError(
            f"The binomial response {name!r} has more than {max_parameters:,} categories; it needs exactly two "
            "(the second counts as 1)."
        )
    if len(values) == limit:
        raise InvalidParameterError(
            f"Column {name!r} in the formula {formula.text!r} has more than {max_parameters:,} categories, so the "
            f"design has more than max_parameters={max_parameters:,} parameters. Merge its categories, leave it out, "
            "or raise the cap with max_parameters=...."
        )
    # Sorted in Python, as describe() does, so both backends (and patsy) pick the same reference category.
    return tuple(sorted(values))


def _response_expr(t: ibis.Table, name: str, variables: _Variables) -> ibis.Value:
    if variables.kinds[name] == "categorical":
        return _indicator(t[name] == variables.levels[name][1])
    return _number_expr(t[name])


def _complete_rows(t: ibis.Table, formula: Formula, variables: _Variables, columns: Sequence[_Column]) -> ibis.Table:
    """The complete cases as a table ``y, x0, ..., x{k-1}``; values outside the categories count as missing."""
    conditions = []
    for name in formula.columns:
        conditions.append(t[name].notnull())
        if name in variables.levels:
            conditions.append(t[name].isin(list(variables.levels[name])))
    return t.filter(*conditions).select(
        y=_response_expr(t, formula.response, variables),
        **{f"x{j}": _column_expr(t, column) for j, column in enumerate(columns)},
    )


# --------------------------------------------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class GLMResult:
    """A GLM fitted in the database: coefficients and standard errors per term, in patsy's order and names.

    ``deviance`` is the residual sum of squares for the gaussian family and, for the others, the deviance at the
    β of the last IRLS iteration (which differs from the reported ``coef`` by one converged Newton step);
    ``scale`` is σ² = RSS/(n − k) for the gaussian family and 1 otherwise.
    """

    formula: str
    family: str
    table: str
    terms: tuple[str, ...]
    coef: tuple[float, ...]
    se: tuple[float, ...]
    n: int
    deviance: float
    scale: float
    iterations: int
    converged: bool

    def to_frame(self) -> pd.DataFrame:
        """One row per term: ``term``, ``coef``, ``se``."""
        return pd.DataFrame({"term": list(self.terms), "coef": list(self.coef), "se": list(self.se)})

    def conf_int(self, level: float = 0.95) -> list[tuple[float, float]]:
        """Normal-theory (Wald) intervals β ± z se, as statsmodels' GLM ``conf_int``."""
        z = _z(level)
        return [(b - z * s, b + z * s) for b, s in zip(self.coef, self.se, strict=True)]


@dataclass(frozen=True, slots=True)
class _Sums:
    gram: np.ndarray  # XᵀWX
    score: np.ndarray  # XᵀWz (XᵀWy for least squares)
    n: int
    extra: Mapping[str, float]  # the totals and the extra aggregates
    largest: Mapping[str, float]  # the largest magnitude of the weight ("w"), target ("t") and each total ("q_...")


@dataclass(frozen=True, slots=True)
class _Summand:
    """A value per row that :func:`_sums` adds up exactly, with a guess at its largest magnitude over the rows."""

    value: ibis.Value
    bound: float
    tight: bool = True  # sum again at its own scale when the guess was more than 2**_LOOSE_BITS too high


@dataclass(frozen=True, slots=True)
class _Maxima:
    """The largest magnitude of each design column (``x``) and of the response (``y``), and which design columns
    are 0 or 1 in every row (``indicator``): one query per fit (:func:`_column_maxima`), which scales the
    fixed-point sums of every iteration."""

    x: np.ndarray
    y: float
    indicator: np.ndarray


def fit_glm(
    con: Database | Any,
    table: str,
    formula: str,
    *,
    family: str = "gaussian",
    spec: TableSpec | None = None,
    max_iter: int = 50,
    tol: float = 1e-10,
    max_parameters: int = MAX_PARAMETERS,
) -> GLMResult:
    """Fit a GLM to ``table`` in the database, reading back only sums.

    ``family`` is ``gaussian`` (least squares from XᵀX and Xᵀy), ``binomial`` (logit) or ``poisson`` (log), the
    latter two by IRLS, β_{t+1} = (XᵀW_tX)⁻¹XᵀW_t z_t, one aggregate query per iteration. IRLS has converged
    when the deviance a Newton step still gains, (β_{t+1} − β_t)ᵀXᵀW_tX(β_{t+1} − β_t), is at most
    ``tol`` · (|deviance| + 0.1); it then runs one more iteration, so that the weights behind the standard errors,
    (XᵀWX)⁻¹, and the reported deviance are those of a converged β.

    A binomial response is boolean, 0/1, or categorical with two categories (the second is 1). Categories come from
    ``spec`` (its order sets the reference level: the first) or, without one, from the table, sorted. Rows with a
    NULL in any column of the formula, or a category ``spec`` does not list, are dropped.

    A design of more than ``max_parameters`` columns (:func:`design_parameters`: the intercept, numeric columns,
    dummy-coded categories and their products in interactions) is refused before any work, with a ``spec`` before
    any query; without one, at most ``max_parameters`` + 1 categories are read per column.

    Raises :class:`~synthsql.errors.ModelFitError` for a singular design (naming the collinear or all-zero
    columns) and when IRLS does not converge in ``max_iter`` iterations.

    >>> import synthsql as ss
    >>> db = ss.connect("duckdb://")
    >>> _ = db.backend.raw_sql("CREATE TABLE t AS SELECT i % 7 AS x, 2 * (i % 7) + i % 2 AS y FROM range(100) r(i)")
    >>> fit = fit_glm(db, "t", "y ~ x")
    >>> fit.terms, [round(b, 3) for b in fit.coef], fit.n
    (('Intercept', 'x'), [0.496, 2.001], 100)
    """
    db = connect(con)
    parsed = parse_formula(formula)
    _check_fit_parameters(family, max_iter, tol)
    _check_max_parameters(max_parameters)
    variables = _variables(db, table, parsed, family, spec, max_parameters)
    return _fit(db, table, parsed, family, variables, max_iter, tol)


def _check_fit_parameters(family: str, max_iter: int, tol: float) -> None:
    if family not in FAMILIES:
        raise InvalidParameterError(
            f"Unknown GLM family {family!r}.{did_you_mean(str(family), FAMILIES)} Families are {', '.join(FAMILIES)}."
        )
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise InvalidParameterError(
            f"The 'max_iter' parameter of fit_glm must be an int >= 1. Got {max_iter!r} instead."
        )
    if not (isinstance(tol, (int, float)) and tol > 0):
        raise InvalidParameterError(f"The 'tol' parameter of fit_glm must be a float > 0. Got {tol!r} instead.")


def _fit(
    db: Database, table: str, formula: Formula, family: str, variables: _Variables, max_iter: int, tol: float
) -> GLMResult:
    columns = _design(formula, variables.levels)
    if not columns:
        raise InvalidParameterError(f"The formula {formula.text!r} has no terms and no intercept: nothing to fit.")
    rows = _complete_rows(db.table(table), formula, variables, columns)
    names = [c.name for c in columns]
    parts = [c.parts for c in columns]
    if family == "gaussian":
        return _least_squares(db, rows, names, parts, formula, table)
    return _irls(db, rows, names, parts, formula, family, table, max_iter, tol)


def _least_squares(
    db: Database, rows: ibis.Table, names: list[str], parts: Sequence[Parts], formula: Formula, table: str
) -> GLMResult:
    k = len(names)
    plan = _gram_plan(parts)
    maxima = _column_maxima(db, rows, parts)
    _check_finite(maxima, names, formula, table)
    sums = _sums(
        db,
        rows,
        plan,
        maxima=maxima,
        weight=None,
        target=_Summand(rows.y, maxima.y),
        totals={"yy": _Summand(rows.y * rows.y, maxima.y * maxima.y)},
        extra={},
    )
    _check_rows(sums.n, k, formula, table)
    beta, inverse = _solve(sums.gram, sums.score, names, formula, table)
    rss = sums.extra["yy"] - 2 * beta @ sums.score + beta @ sums.gram @ beta
    if rss <= 1e-8 * sums.extra["yy"]:
        # The quadratic form cancels when the fit is nearly exact; sum the squared residuals themselves then.
        rss = _residual_sum_of_squares(db, rows, beta, rss if rss > 0 else 1e-8 * sums.extra["yy"])
    scale = rss / (sums.n - k)
    return _result(formula, "gaussian", table, names, beta, np.sqrt(np.diag(inverse) * scale), sums.n, rss, scale, 1)


def _irls(
    db: Database,
    rows: ibis.Table,
    names: list[str],
    parts: Sequence[Parts],
    formula: Formula,
    family: str,
    table: str,
    max_iter: int,
    tol: float,
) -> GLMResult:
    fit = _irls_fit(db, rows, names, parts, formula, family, table, max_iter, tol)
    # The weights of the last iteration are those of a converged β: they give the standard errors.
    se = np.sqrt(np.diag(fit.inverse))
    return _result(formula, family, table, fit.names, fit.beta, se, fit.n, fit.deviance, 1.0, fit.iterations)


@dataclass(frozen=True, slots=True)
class _IRLSFit:
    """An IRLS fit: β and (XᵀWX)⁻¹ over the design columns it kept, and ``rows`` holding just those columns."""

    rows: ibis.Table  # y, x0, ..., x{k-1}: the kept columns, renumbered
    names: tuple[str, ...]
    dropped: tuple[str, ...]  # aliased columns left out (drop_aliased=True only)
    beta: np.ndarray
    inverse: np.ndarray
    n: int
    deviance: float
    iterations: int
    clipped: int  # rows whose linear predictor sits at the clipping bound (allow_clipped=True only)


def _irls_fit(
    db: Database,
    rows: ibis.Table,
    names: Sequence[str],
    parts: Sequence[Parts],
    formula: Formula,
    family: str,
    table: str,
    max_iter: int,
    tol: float,
    *,
    drop_aliased: bool = False,
    allow_clipped: bool = False,
) -> _IRLSFit:
    """IRLS on ``rows`` (any Ibis table of float columns ``y, x0, ..., x{k-1}``), one aggregate query per iteration.

    ``parts`` says what each design column is a product of (see :func:`_gram_plan`); ``formula`` and ``table`` only
    name the model in messages. With ``drop_aliased``, design columns that are zero in every row or a linear
    combination of the columns before them are left out, as R's ``glm`` does (their coefficients are NA there),
    instead of refusing the design: they are found from the first iteration's XᵀWX, whose weights are all positive,
    so the fit needs no extra query. With ``allow_clipped``, a converged fit with linear predictors at the clipping
    bound is returned (their count in ``clipped``) instead of being refused as separated: rows far out on a numeric
    column can have a fitted probability of 0 or 1 at a finite estimate.
    """
    names, parts = list(names), list(parts)
    k = len(names)
    plan = _gram_plan(parts)
    maxima = _column_maxima(db, rows, parts)  # the scales of the exact sums: one query before the iterations
    _check_finite(maxima, names, formula, table)
    eta = _starting_eta(rows.y, family)
    previous: np.ndarray | None = None
    settled = False
    dropped: list[str] = []
    seen: Mapping[str, float] | None = None  # the largest terms of the iteration before
    for iteration in range(1, max_iter + 1):
        sums = _irls_sums(db, rows, eta, family, plan, maxima, seen)
        seen = sums.largest
        if iteration == 1:
            _check_rows(sums.n, k, formula, table)
            _check_response(sums.extra["invalid"], formula, family, table)
            if drop_aliased:
                keep = _independent_columns(sums.gram)
                if len(keep) < k:
                    dropped = [names[j] for j in range(k) if j not in set(keep)]
                    rows = rows.select("y", **{f"x{i}": rows[f"x{j}"] for i, j in enumerate(keep)})
                    names, parts = [names[j] for j in keep], [parts[j] for j in keep]
                    k = len(keep)
                    plan = _gram_plan(parts)
                    maxima = _Maxima(maxima.x[keep], maxima.y, maxima.indicator[keep])
                    sums = _Sums(sums.gram[np.ix_(keep, keep)], sums.score[keep], sums.n, sums.extra, sums.largest)
                    eta = _starting_eta(rows.y, family)
        beta, inverse = _solve(sums.gram, sums.score, names, formula, table)
        if settled:
            if not allow_clipped:
                _check_finite_estimates(sums.extra["clipped"], formula, family, table, iteration)
            return _IRLSFit(
                rows,
                tuple(names),
                tuple(dropped),
                beta,
                inverse,
                sums.n,
                sums.extra["deviance"],
                iteration,
                int(sums.extra["clipped"]),
            )
        if previous is not None:
            step = beta - previous
            settled = step @ sums.gram @ step <= tol * (abs(sums.extra["deviance"]) + 0.1)
        previous = beta
        eta = _linear_predictor(rows, beta)
    raise ModelFitError(
        f"The {family} GLM {formula.text!r} on table {table!r} did not converge in {max_iter} IRLS iteration(s)"
        f"{'' if max_iter > 2 else ' (IRLS needs at least three)'}. Raise max_iter, or look for a predictor that "
        "separates the response perfectly."
    )


def _independent_columns(gram: np.ndarray) -> list[int]:
    """The columns of a positive semi-definite XᵀWX that are neither all zero nor dependent on those before."""
    nonzero = [j for j in range(len(gram)) if gram[j, j] > 0]
    sub = gram[np.ix_(nonzero, nonzero)]
    d = np.sqrt(np.diag(sub))
    dependent = set(_dependent_columns(sub / np.outer(d, d)))
    return [j for i, j in enumerate(nonzero) if i not in dependent]


def _check_finite_estimates(clipped: float, formula: Formula, family: str, table: str, iteration: int) -> None:
    # At a converged β no linear predictor should sit at the clipping bound; those that do belong to rows whose fitted
    # mean is numerically 0 or 1 (or 0 / infinite counts): the likelihood keeps rising as coefficients run off.
    if clipped:
        what = "probabilities are numerically 0 or 1" if family == "binomial" else "means are numerically 0 or infinite"
        raise ModelFitError(
            f"The {family} GLM {formula.text!r} on table {table!r} did not converge: after {iteration} IRLS "
            f"iterations the fitted {what} for {int(clipped)} row(s). A predictor, or a combination of them, "
            "separates the response perfectly (for the poisson family: a category whose counts are all zero), so "
            "the maximum-likelihood estimates do not exist. Drop or merge that term."
        )


def _gram_plan(parts: Sequence[Parts]) -> dict[tuple[int, int], tuple[int, int] | None]:
    """For each entry (i, j), i <= j, of XᵀWX: the entry whose sum gives it, or None when it is zero in every row.

    Design columns are products of level indicators and numeric factors (``parts``), so many entries are the same
    sum or no sum at all: an indicator times itself is the indicator (``Σ w·g[b]·g[b] = Σ w·g[b]``, the same as the
    entry with the intercept) and two levels of one factor never meet (``Σ w·g[b]·g[c] = 0``). Each distinct product
    is summed once: with all two-way interactions this leaves a third of the k(k + 1)/2 sums, or fewer.
    """
    plan: dict[tuple[int, int], tuple[int, int] | None] = {}
    first: dict[Any, tuple[int, int]] = {}
    for i, j in itertools.combinations_with_replacement(range(len(parts)), 2):
        key = _product_key((*parts[i], *parts[j]))
        plan[(i, j)] = None if key is None else first.setdefault(key, (i, j))
    return plan


def _product_key(parts: Parts) -> Any:
    """What a product of parts is, up to order and repeated indicators; None when it is zero in every row."""
    levels: dict[str, Any] = {}
    powers: dict[str, int] = {}
    for factor, level in parts:
        if level is _NUMERIC:
            powers[factor] = powers.get(factor, 0) + 1
        elif levels.setdefault(factor, level) != level:
            return None  # two levels of one factor (or a level and "missing")
    if any(level is _MISSING and factor in powers for factor, level in levels.items()):
        return None  # a value is 0 where it is missing
    return (
        tuple(sorted(((f, "missing" if v is _MISSING else ("level", v)) for f, v in levels.items()), key=_first)),
        tuple(sorted(powers.items())),
    )


def _first(item: tuple[str, Any]) -> str:
    return item[0]


def _sums(
    db: Database,
    rows: ibis.Table,
    plan: Mapping[tuple[int, int], tuple[int, int] | None],
    *,
    maxima: _Maxima,
    weight: _Summand | None,
    target: _Summand | None,
    totals: Mapping[str, _Summand],
    extra: Mapping[str, ibis.Value],
) -> _Sums:
    """One aggregate query: XᵀWX (upper triangle, each distinct entry of ``plan`` once), XᵀW·target, the row count,
    the ``totals`` and ``extra``; every sum but those of ``extra`` is exact in fixed point.

    Each summed value v (a product w·x_i·x_j, a product x_j·target, or a total's value) is scaled by 2^(62 − e),
    where 2^e bounds |v| over the rows, rounded to the nearest integer, and the integers are added exactly
    (:meth:`~synthsql.engines.Engine.integer_sum`: to HUGEINT on DuckDB, NUMERIC on PostgreSQL, DECIMAL(38, 0) on
    Spark). Every row's term is then a BIGINT of magnitude at most 2^62, so no sum can overflow below 2^64 rows,
    and an integer sum does not depend on the order the rows are added in: the result is the same bits on every
    run, whatever the parallel plan, and on every engine that computes the rows' doubles alike.

    Error bound. A term is rounded to within half a unit 2^(e − 62), so a sum over n rows is off by at most
    n·2^(e − 63), plus half an ulp of the double it is read into. For an entry of XᵀWX, 2^e = 2^(e_w + m_i + m_j),
    where 2^m_j is the power of two at or just above max|x_j| (:func:`_column_maxima`, one query per fit; a 0/1
    column has m_j = 0) and 2^e_w that of a guess at the largest weight, so the error is below
    n·2^-61 · 2^e_w · max|x_i| · max|x_j|. A weight or target (:class:`_Summand`) comes with a guess at its largest
    magnitude; the query also returns the exact maxima (MAX is exact too), and when a guess was low (a term would
    have been clipped) or more than 2^_LOOSE_BITS too high, the sums are computed again at the scale of those
    maxima. So 2^e_w < 2^(_LOOSE_BITS + 1) · max w, and an entry is within n·2^-48 · max w · max|x_i| · max|x_j| of
    its exact value (typically within n·2^-58 of it: the guesses are within _GROWTH of the maxima): a relative
    error, on a column of terms of like size, far below double precision (2^-53) and the IRLS tolerance. Values
    beyond 2^1024 (the sums would overflow a double) give NaN sums, which :func:`_solve` refuses.

    Speed: an integer sum costs what a double sum does, a double rounded to an integer in each sum some three times
    as much on DuckDB. So a column that is 0 or 1 in every row (an intercept, dummy or product of dummies: most of
    a wide design, known from its ``parts``) enters its products as a BIGINT: w·x_i·x_j is then the
    integer A_i = round(w·x_i scaled) times x_j, with A_i rounded once per row, not once per sum. Only the products
    of two other columns round in each sum.

    The scaled columns and the integers become columns of the rows below, and the sums are added to the compiled
    query as sqlglot expressions over those columns: Ibis takes about a millisecond to compile each aggregate, which
    at k = 170 (some ten thousand sums) was most of the time a fit took on DuckDB.
    """
    k = max((j for _, j in plan), default=-1) + 1
    columns = [_exponent(float(m)) for m in maxima.x[:k]]  # |x_j| <= 2**columns[j]
    summands = {name: s for name, s in (("w", weight), ("t", target)) if s is not None}
    summands.update({f"q_{name}": s for name, s in totals.items()})
    bounds = {name: s.bound for name, s in summands.items()}
    for attempt in (1, 2):
        exponents = {name: _exponent(bound) for name, bound in bounds.items()}
        row = _fixed_point_row(db, rows, plan, k, columns, maxima.indicator, summands, exponents, extra)
        seen = {name: _number(row[f"max_{name}"]) for name in summands}
        overflow = any(not _within(seen[name], exponents[name]) for name in summands)
        loose = any(s.tight and _loose(seen[name], exponents[name]) for name, s in summands.items())
        if attempt == 2 or not (overflow or loose) or not all(map(math.isfinite, seen.values())):
            break
        bounds = seen  # the exact maxima: the second query's terms are all within their bounds
    # A term still clipped on the second query (a value beyond 2**1024, or NaN): its sums are NaN.
    unscale = functools.partial(_unscale, nan=overflow)
    e_w = exponents.get("w", 0)
    # The exponent of column j's scale in the integer products (a 0/1 column is not scaled).
    integer = [0 if maxima.indicator[j] else columns[j] for j in range(k)]
    gram = np.zeros((k, k))
    for (i, j), source in plan.items():
        if source is not None:
            p, q = source
            if maxima.indicator[q] or maxima.indicator[p]:  # A_p·x_q or A_q·x_p
                e = e_w + (integer[p] if maxima.indicator[q] else integer[q])
            else:
                e = e_w + columns[p] + columns[q]
            gram[i, j] = gram[j, i] = unscale(row[f"g_{p}_{q}"], e - _TERM_BITS)
    score = np.zeros(k)
    if target is not None:
        score = np.array([unscale(row[f"s_{j}"], integer[j] + exponents["t"] - _TERM_BITS) for j in range(k)])
    values = {name: unscale(row[f"q_{name}"], exponents[f"q_{name}"] - _TERM_BITS) for name in totals}
    values.update({name: _number(row[name]) for name in extra})
    return _Sums(gram, score, int(row["n_"]), values, seen)


def _fixed_point_row(
    db: Database,
    rows: ibis.Table,
    plan: Mapping[tuple[int, int], tuple[int, int] | None],
    k: int,
    columns: Sequence[int],
    indicator: Sequence[bool],
    summands: Mapping[str, _Summand],
    exponents: Mapping[str, int],
    extra: Mapping[str, ibis.Value],
) -> dict[str, Any]:
    """The query of :func:`_sums` at the given scales, and its one row (the sums as exact integers).

    Per row, in three layers below the aggregate: b_j = x_j·2^(31 − m_j) and a_j = ŵ·b_j (doubles, ŵ = w·2^-e_w at
    most 1), A_j = round(a_j·2^31) (for a 0/1 column: W·x_j, W = round(ŵ·2^62) once per row), I_j = x_j as an
    integer for a 0/1 column; the target likewise as t̂ = t·2^(31 − e_t) and T = round(t̂·2^31); a total's value as
    round(v·2^(62 − e_q)). Rounding is :meth:`~synthsql.engines.Engine.round_integer`, to the nearest integer (ties
    to even) on every engine; |v| <= 2^62 in each. The weight, target and totals are clipped to their bounds (a
    guess that was low is summed again); the b_j are not (their bounds are the exact maxima: a value beyond would
    make the query fail, not err). The layers are sqlglot (Ibis would paste W into each A_j, and takes long to
    compile hundreds of columns); the integer columns are named ia_j, ix_j, iw_, it_ (DuckDB matches quoted names
    regardless of case)."""
    pairs = [(i, j) for (i, j), source in plan.items() if source == (i, j)]
    weighted, targeted = "w" in summands, "t" in summands
    # Which columns the terms need: doubles b_j (a_j too when weighted), integers A_j, 0/1 columns I_j.
    doubles = {c for i, j in pairs if not (indicator[i] or indicator[j]) for c in (i, j)}
    integers = {i if indicator[j] else j for i, j in pairs if indicator[i] or indicator[j]}
    units = {c for i, j in pairs for c in (i, j) if indicator[c]} | {j for j in integers if indicator[j]}
    if targeted:
        doubles |= {j for j in range(k) if not indicator[j]}
        units |= {j for j in range(k) if indicator[j]}
    doubles |= {j for j in integers if not indicator[j]}

    values = rows.mutate(**{f"u_{name}": s.value for name, s in summands.items()})
    maxima = {f"max_{name}": values[f"u_{name}"].abs().max() for name in summands}
    tree = db.compile(values.aggregate(n_=values.count(), **maxima, **extra))
    assert isinstance(tree, exp.Select)  # an Ibis aggregate compiles to one SELECT

    engine = db.engine
    half, whole = 2.0**_FACTOR_BITS, 2.0**_TERM_BITS
    first: dict[str, exp.Expression] = {
        f"b{j}": _sql_times(_col(f"x{j}"), 2.0 ** (_FACTOR_BITS - columns[j])) for j in sorted(doubles)
    }
    first.update({f"ix{j}": exp.cast(_col(f"x{j}"), exp.DataType.build("BIGINT")) for j in sorted(units)})
    if weighted:  # the weight multiplies the b_j: at most 1
        first["v_w"] = _sql_bounded(_sql_times(_col("u_w"), 2.0 ** -exponents["w"]), 1.0)
    if targeted:  # the target multiplies the b_j
        first["v_t"] = _sql_bounded(_sql_times(_col("u_t"), 2.0 ** (_FACTOR_BITS - exponents["t"])), half)
    for name in summands:
        if name.startswith("q_"):
            scaled = _sql_times(_col(f"u_{name}"), 2.0 ** (_TERM_BITS - exponents[name]))
            first[f"v_{name}"] = engine.round_integer(_sql_bounded(scaled, whole))
    second: dict[str, exp.Expression] = {}
    if weighted:
        second.update({f"a{j}": exp.Mul(this=_col("v_w"), expression=_col(f"b{j}")) for j in sorted(doubles)})
    if any(indicator[j] for j in integers):
        second["iw_"] = (
            engine.round_integer(_sql_times(_col("v_w"), whole)) if weighted else exp.Literal.number(str(2**_TERM_BITS))
        )
    if targeted and any(indicator[j] for j in range(k)):
        second["it_"] = engine.round_integer(_sql_times(_col("v_t"), half))
    third = {
        f"ia{j}": exp.Mul(this=_col("iw_"), expression=_col(f"ix{j}"))
        if indicator[j]
        else engine.round_integer(_sql_times(_col(f"a{j}" if weighted else f"b{j}"), half))
        for j in sorted(integers)
    }
    key = "from_" if "from_" in tree.args else "from"  # sqlglot 30 renamed the argument
    source = tree.args[key].this
    alias = source.alias_or_name
    layer = exp.select(exp.Star(), *(exp.alias_(e, n, quoted=True) for n, e in first.items())).from_(source.copy())
    for number, added in enumerate((second, third)):
        if added:
            inner = exp.Subquery(this=layer, alias=exp.TableAlias(this=exp.to_identifier(f"fx{number}_", quoted=True)))
            layer = exp.select(exp.Star(), *(exp.alias_(e, n, quoted=True) for n, e in added.items())).from_(inner)
    tree.set(
        key,
        exp.From(this=exp.Subquery(this=layer, alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True)))),
    )

    def product(left: str, right: str) -> exp.Expression:
        return exp.Mul(this=_col(left), expression=_col(right))

    def aliased(total: exp.Expression, name: str) -> exp.Expression:
        return exp.alias_(total, name, quoted=True, copy=False)

    sums = []
    for i, j in pairs:
        if indicator[j]:
            total = engine.integer_sum(product(f"ia{i}", f"ix{j}"))
        elif indicator[i]:
            total = engine.integer_sum(product(f"ia{j}", f"ix{i}"))
        else:
            total = engine.integer_sum(engine.round_integer(product(f"a{i}" if weighted else f"b{i}", f"b{j}")))
        sums.append(aliased(total, f"g_{i}_{j}"))
    if targeted:
        for j in range(k):
            if indicator[j]:
                total = engine.integer_sum(product("it_", f"ix{j}"))
            else:
                total = engine.integer_sum(engine.round_integer(product(f"b{j}", "v_t")))
            sums.append(aliased(total, f"s_{j}"))
    sums += [aliased(engine.integer_sum(_col(f"v_{name}")), name) for name in summands if name.startswith("q_")]
    tree.set("expressions", [*tree.expressions, *sums])
    return _fetch_tree(db, tree, plain=[*maxima, *extra])


def _col(name: str) -> exp.Column:
    return exp.column(name, quoted=True)  # each layer reads one table


def _sql_times(value: exp.Expression, power: float) -> exp.Expression:
    """``value`` times a power of two, written so that every engine reads the literal as that exact double."""
    return exp.Mul(this=value, expression=exp.Literal.number(f"{power:.17e}"))


def _sql_bounded(value: exp.Expression, limit: float) -> exp.Expression:
    # Within ±limit (only a value beyond its bound, which _sums then sums again, is changed): no cast can overflow.
    least = exp.Least(this=value, expressions=[exp.Literal.number(f"{limit:.17e}")])
    return exp.Greatest(this=least, expressions=[exp.Literal.number(f"{-limit:.17e}")])


def _exponent(bound: float) -> int:
    """The least e with bound <= 2**e (a bound just below a power of two, within 2**-30, gets the next one: a
    value computed in SQL may round above it), within the scales' range; the largest for an infinite or NaN bound."""
    if not bound > 0:
        return _MIN_EXPONENT if bound == 0 else _MAX_EXPONENT
    if not math.isfinite(bound):
        return _MAX_EXPONENT
    mantissa, e = math.frexp(bound)  # bound = mantissa·2**e, 0.5 <= mantissa < 1
    if mantissa == 0.5:
        e -= 1  # bound is 2**(e - 1)
    elif mantissa > 1 - 2.0**-30:
        e += 1
    return min(max(e, _MIN_EXPONENT), _MAX_EXPONENT)


def _within(value: float, e: int) -> bool:
    """|value| <= 2**e (False for NaN)."""
    if value == 0:
        return True
    if not math.isfinite(value):
        return False
    mantissa, f = math.frexp(abs(value))
    return f <= e or (f == e + 1 and mantissa == 0.5)


def _loose(value: float, e: int) -> bool:
    """0 < |value| < 2**(e - _LOOSE_BITS): scaled by 2**e, the value would keep too few bits."""
    return value != 0 and math.isfinite(value) and math.frexp(abs(value))[1] <= e - _LOOSE_BITS


def _unscale(total: Any, e: int, *, nan: bool = False) -> float:
    """An exact integer sum (int, Decimal or None for no rows) times 2**e, rounded once to a double."""
    if nan:
        return math.nan
    integer = 0 if total is None else int(total)
    try:
        return math.ldexp(float(integer), e)
    except OverflowError:
        return math.copysign(math.inf, integer)


def _column_maxima(db: Database, rows: ibis.Table, parts: Sequence[Parts]) -> _Maxima:
    """The largest magnitude of ``y`` and of each design column ``x0``...``x{k-1}`` (0 without rows), in one query.
    MAX is exact: the same on every run, whatever order the rows are read in.

    A column whose ``parts`` are all category (or NULL) indicators is 0 or 1 in every row (an intercept, a dummy or
    a product of dummies: :func:`_indicator` codes each as a double 0 or 1): it is marked so, with maximum 1, and
    not read."""
    indicator = np.array([all(level is not _NUMERIC for _, level in p) for p in parts], dtype=bool)
    numeric = [j for j in range(len(parts)) if not indicator[j]]
    row = _fetch_one(
        db, rows.aggregate(my_=rows.y.abs().max(), **{f"mx{j}": rows[f"x{j}"].abs().max() for j in numeric})
    )
    x = np.ones(len(parts))
    x[numeric] = [_number(row[f"mx{j}"]) for j in numeric]
    return _Maxima(x, _number(row["my_"]), indicator)


def _check_finite(maxima: _Maxima, names: Sequence[str], formula: Formula, table: str) -> None:
    bad = ([formula.response] if not math.isfinite(maxima.y) else []) + [
        names[j] for j, m in enumerate(maxima.x) if not math.isfinite(m)
    ]
    if bad:
        raise ModelFitError(
            f"Cannot fit {formula.text!r} on table {table!r}: {_quoted(bad)} "
            f"{'holds' if len(bad) == 1 else 'hold'} infinite or NaN values."
        )


def _fetch_one(db: Database, query: ibis.Table) -> dict[str, Any]:
    """The one row of an aggregate query."""
    tree = db.compile(query)
    assert isinstance(tree, exp.Select)  # an Ibis aggregate compiles to one SELECT
    return _fetch_tree(db, tree)


def _fetch_tree(db: Database, tree: exp.Select, *, plain: Iterable[str] = ()) -> dict[str, Any]:
    """The one row of an aggregate query's sqlglot tree.

    The engine fences the derived tables (:meth:`~synthsql.engines.Engine.fence_subqueries`): PostgreSQL would
    otherwise recompute the weights of IRLS in each of the k(k + 1)/2 sums. The session runs without JIT (pinned by
    :class:`~synthsql.engines.PostgresEngine`). The results named in ``plain`` stay out of the arrays a long select
    list travels in: an array has one element type, and a double among exact integer sums would turn them all into
    doubles (or, on PostgreSQL, itself into a NUMERIC of 15 digits).
    """
    db.engine.fence_subqueries(tree)
    names = tree.named_selects
    projections = tree.expressions
    if len(projections) <= _MAX_SELECT:
        (row,) = db.fetchall(tree)
        return dict(zip(names, row, strict=True))
    # PostgreSQL allows at most 1664 entries in a select list: the aggregates travel in arrays of _MAX_SELECT.
    keep = set(plain)
    kept = [(name, p) for name, p in zip(names, projections, strict=True) if name in keep]
    packed = [(name, p) for name, p in zip(names, projections, strict=True) if name not in keep]
    chunks = [packed[at : at + _MAX_SELECT] for at in range(0, len(packed), _MAX_SELECT)]
    tree.set(
        "expressions",
        [p for _, p in kept]
        + [
            exp.alias_(exp.Array(expressions=[p.unalias() for _, p in chunk]), f"pack_{c}", quoted=True, copy=False)
            for c, chunk in enumerate(chunks)
        ],
    )
    (row,) = db.fetchall(tree)
    values = dict(zip([name for name, _ in kept], row[: len(kept)], strict=True))
    values.update(zip([name for name, _ in packed], (v for array in row[len(kept) :] for v in array), strict=True))
    return values


def _number(value: Any) -> float:
    return 0.0 if value is None else float(value)  # SUM over no rows is NULL


def _irls_sums(
    db: Database,
    rows: ibis.Table,
    eta: ibis.Value,
    family: str,
    plan: Mapping[tuple[int, int], tuple[int, int] | None],
    maxima: _Maxima,
    seen: Mapping[str, float] | None,
) -> _Sums:
    """One IRLS iteration's sums at linear predictor ``eta``; ``seen`` holds the largest terms of the iteration
    before (None on the first), from which the scales of this one's fixed-point sums are guessed."""
    bound = _ETA_BOUND[family]
    step = rows.mutate(eta_=ibis.greatest(ibis.least(eta, bound), -bound))
    if family == "binomial":
        step = step.mutate(mu_=1.0 / (1.0 + (-step.eta_).exp()), e_=(-step.eta_.abs()).exp())
        # μ(1 − μ) written without the cancellation in 1 − μ; the deviance is 2Σ[ln(1 + e^η) − yη].
        step = step.mutate(
            w_=step.e_ / ((1.0 + step.e_) * (1.0 + step.e_)),
            dev_=2.0 * ((1.0 + step.eta_.exp()).ln() - step.y * step.eta_),
            invalid_=ibis.ifelse((step.y != 0.0) & (step.y != 1.0), 1, 0),
        )
    else:
        step = step.mutate(mu_=step.eta_.exp())
        # 2Σ[y ln(y/μ) − (y − μ)], with y ln y = 0 at y = 0 (and no ln(0), which both databases refuse).
        step = step.mutate(
            w_=step.mu_,
            dev_=2.0 * (step.y * ibis.ifelse(step.y > 0.0, step.y, 1.0).ln() - step.y * step.eta_ - step.y + step.mu_),
            invalid_=ibis.ifelse(step.y < 0.0, 1, 0),
        )
    working = step.w_ * step.eta_ + (step.y - step.mu_)  # W z, with z = η + (y − μ)/W
    extra = {
        "invalid": step.invalid_.sum(),
        "clipped": ibis.ifelse(step.eta_.abs() >= bound, 1, 0).sum(),
    }
    guess = _irls_bounds(family, maxima.y, seen)
    return _sums(
        db,
        step,
        plan,
        maxima=maxima,
        weight=_Summand(step.w_, guess["w"]),
        target=_Summand(working, guess["t"]),
        # The deviance only sets the convergence threshold and is reported: a loose scale costs it no query.
        totals={"deviance": _Summand(step.dev_, guess["q_deviance"], tight=False)},
        extra=extra,
    )


def _irls_bounds(family: str, y_max: float, seen: Mapping[str, float] | None) -> dict[str, float]:
    """Guesses at the largest weight (``w``), working response W z (``t``) and deviance term (``q_deviance``) of
    an IRLS iteration, given max |y| and the largest terms of the iteration before (``seen``, None on the first).

    A wrong guess costs a second query (:func:`_sums`), never a wrong sum. For the binomial family they are bounds:
    w = μ(1 − μ) <= 1/4, |w η| <= 0.2241 (the largest x e^-x / (1 + e^-x)^2), |y − μ| < 1, and a row's deviance is
    at most 2 ln(1 + e^30) (|η| <= 30) for a valid response (an invalid one is refused after the first query); the
    weight and W z are guessed at most _GROWTH times those of the iteration before. For the poisson family the
    starting η = ln(y + 0.1) is at most ln(max y + 0.1), so the first w = e^η is at most max y + 0.1; later weights
    and W z are guessed at _GROWTH times those before, and a row's deviance 2[y ln(y/μ) − (y − μ)] is bounded
    through |η| <= 100 and μ at most the weight guessed."""
    y = y_max
    if family == "binomial":
        first = {
            "w": 0.25,
            "t": 0.2242 + (1.0 if y <= 1 else y + 1.0),
            "q_deviance": 60.01 if y <= 1 else 2 * (30.01 + 30 * y),
        }
        if seen is None:
            return first
        return {**first, "w": min(first["w"], _GROWTH * seen["w"]), "t": min(first["t"], _GROWTH * seen["t"])}
    if seen is None:
        w = y + 0.1
        g = max(math.log(w), math.log(0.1))  # the largest |η|, at least that of y = 0
        t = max(1 / math.e, w * max(g, 0.0)) + w  # |w η| + |y − μ|
    else:
        w, t = _GROWTH * seen["w"], _GROWTH * seen["t"]
    deviance = 2 * (max(y * math.log(max(y, 1.0)), 1 / math.e) + 100 * y + y + w)
    return {"w": w, "t": t, "q_deviance": deviance}


def _starting_eta(y: ibis.Value, family: str) -> ibis.Value:
    # R's starting values: μ = (y + ½)/2 for the binomial, μ = y + 0.1 for the poisson family. y is clipped to its
    # valid range so that a bad response reaches the check after the first query instead of failing inside ln().
    if family == "binomial":
        mu = (y.clip(lower=0.0, upper=1.0) + 0.5) / 2.0
        return (mu / (1.0 - mu)).ln()
    return (y.clip(lower=0.0) + 0.1).ln()


def _linear_predictor(rows: ibis.Table, beta: np.ndarray) -> ibis.Value:
    return functools.reduce(operator.add, [rows[f"x{j}"] * _exact_literal(float(b)) for j, b in enumerate(beta)])


def _exact_literal(value: float) -> ibis.Value:
    """``value`` as an expression every engine reads as exactly that double: an integer of at most 53 bits times a
    power of two. (Ibis writes a float literal as its shortest decimal, which DuckDB reads as a DECIMAL and then
    converts to a double in two roundings: one in twenty coefficients came out one ulp off, and the fit apart
    from PostgreSQL's.)"""
    if value == 0 or not math.isfinite(value):
        return ibis.literal(value)
    mantissa, e = math.frexp(value)
    integer, e = int(mantissa * 2**53), e - 53
    while integer % 2 == 0:
        integer, e = integer // 2, e + 1
    if not -1022 <= e <= 1023:  # the power of two would not be a normal double
        return ibis.literal(value)
    return ibis.literal(integer, type="int64").cast("float64") * 2.0**e


def _residual_sum_of_squares(db: Database, rows: ibis.Table, beta: np.ndarray, guess: float) -> float:
    """Σ (y − Xβ)², exact in fixed point (:func:`_sums`); ``guess`` is a guess at the largest squared residual."""
    residuals = rows.mutate(r_=rows.y - _linear_predictor(rows, beta))
    square = _Summand(residuals.r_ * residuals.r_, guess)
    none = _Maxima(np.zeros(0), 0.0, np.zeros(0, dtype=bool))
    sums = _sums(db, residuals, {}, maxima=none, weight=None, target=None, totals={"rss": square}, extra={})
    return sums.extra["rss"]


def _check_rows(n: int, k: int, formula: Formula, table: str) -> None:
    if n <= k:
        raise ModelFitError(
            f"The GLM {formula.text!r} has {k} coefficient(s) but table {table!r} has only {n} complete row(s) "
            f"(rows with NULL in {', '.join(formula.columns)} are dropped); it needs more rows than coefficients."
        )


def _check_response(invalid: float, formula: Formula, family: str, table: str) -> None:
    if invalid:
        need = "0 or 1" if family == "binomial" else "at least 0"
        raise InvalidParameterError(
            f"The {family} response {formula.response!r} of {formula.text!r} must be {need}; {int(invalid)} "
            f"row(s) of table {table!r} are not."
        )


def _solve(
    gram: np.ndarray, score: np.ndarray, names: Sequence[str], formula: Formula, table: str
) -> tuple[np.ndarray, np.ndarray]:
    """β = gram⁻¹ score and gram⁻¹, after checking the design has full rank; solved on the unit-diagonal scaling."""
    if not (np.all(np.isfinite(gram)) and np.all(np.isfinite(score))):
        raise ModelFitError(f"The GLM {formula.text!r} on table {table!r} diverged: its sums overflowed.")
    diagonal = np.diag(gram)
    zero = [names[int(j)] for j in np.flatnonzero(diagonal <= 0)]
    if zero:
        raise ModelFitError(
            f"Cannot fit {formula.text!r} on table {table!r}: the design is singular, "
            f"{_quoted(zero)} {'is' if len(zero) == 1 else 'are'} zero in every complete row (a category that does "
            "not occur, or a constant zero column)."
        )
    d = np.sqrt(diagonal)
    scaled = gram / np.outer(d, d)
    dependent = _dependent_columns(scaled)
    if dependent:
        first = dependent[0]
        raise ModelFitError(
            f"Cannot fit {formula.text!r} on table {table!r}: the design is singular, "
            f"{_quoted([names[j] for j in dependent])} {'is' if len(dependent) == 1 else 'are'} a linear combination "
            f"of the columns before {'it' if len(dependent) == 1 else 'them'} ({_quoted(names[:first]) or 'none'}). "
            "Drop the term or merge its categories."
        )
    inverse = np.linalg.inv(scaled)
    return (inverse @ (score / d)) / d, inverse / np.outer(d, d)


def _dependent_columns(scaled: np.ndarray) -> list[int]:
    """Columns whose Cholesky pivot, 1 − R² on the independent columns before them, is (numerically) zero."""
    k = len(scaled)
    lower = np.zeros_like(scaled)
    dependent = []
    for j in range(k):
        pivot = scaled[j, j] - lower[j, :j] @ lower[j, :j]
        if pivot <= _RANK_TOL:
            dependent.append(j)  # its column of the factor stays zero: later columns are checked without it
            continue
        lower[j, j] = math.sqrt(pivot)
        lower[j + 1 :, j] = (scaled[j + 1 :, j] - lower[j + 1 :, :j] @ lower[j, :j]) / lower[j, j]
    return dependent


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(repr(name) for name in names)


def _result(
    formula: Formula,
    family: str,
    table: str,
    names: Sequence[str],
    beta: np.ndarray,
    se: np.ndarray,
    n: int,
    deviance: float,
    scale: float,
    iterations: int,
) -> GLMResult:
    return GLMResult(
        formula=formula.text,
        family=family,
        table=table,
        terms=tuple(names),
        coef=tuple(float(b) for b in beta),
        se=tuple(float(s) for s in se),
        n=n,
        deviance=float(deviance),
        scale=float(scale),
        iterations=iterations,
        converged=True,
    )


# --------------------------------------------------------------------------------------------------------------
# Comparison (Karr et al. 2006)
# --------------------------------------------------------------------------------------------------------------
def ci_overlap(real: tuple[float, float], synthetic: tuple[float, float]) -> float:
    """Confidence-interval overlap of Karr et al. (2006): J = ½[(U − L)/(u_o − l_o) + (U − L)/(u_s − l_s)].

    U = min(u_o, u_s), L = max(l_o, l_s). J is 1 for identical intervals, 0 when they only touch, and negative
    (the gap measured in interval widths) when they do not overlap. NaN when an interval has zero width.

    >>> round(ci_overlap((0.0, 2.0), (1.0, 4.0)), 6)  # ½(1/2 + 1/3)
    0.416667
    """
    (lo_o, hi_o), (lo_s, hi_s) = real, synthetic
    if hi_o - lo_o <= 0 or hi_s - lo_s <= 0:
        return math.nan
    overlap = min(hi_o, hi_s) - max(lo_o, lo_s)
    return 0.5 * (overlap / (hi_o - lo_o) + overlap / (hi_s - lo_s))


_COMPARE_COLUMNS = ["term", "coef_real", "se_real", "coef_synthetic", "se_synthetic", "ci_overlap", "std_diff"]


def compare_glm(
    con: Database | Any,
    real: str,
    synthetic: str,
    formula: str,
    *,
    family: str = "gaussian",
    spec: TableSpec | None = None,
    level: float = 0.95,
    max_iter: int = 50,
    tol: float = 1e-10,
    max_parameters: int = MAX_PARAMETERS,
) -> pd.DataFrame:
    """Fit ``formula`` on the real and on the synthetic table and compare them per coefficient.

    Both fits use the same coding: the categories of ``spec`` or, without one, those of the real table (a category
    missing from the synthetic table then makes its fit singular, a :class:`~synthsql.errors.ModelFitError`).
    Returns one row per coefficient: ``term``, ``coef_real``, ``se_real``, ``coef_synthetic``, ``se_synthetic``,
    ``ci_overlap`` (Karr et al. 2006, on Wald intervals β ± z se at ``level``) and ``std_diff`` = |β_s − β_o|/se_o.
    A design over ``max_parameters`` columns is refused before any work, as :func:`fit_glm` does. A fit that fails
    on the synthetic table only raises :class:`~synthsql.errors.SyntheticFitError` (a ModelFitError).
    """
    db = connect(con)
    parsed = parse_formula(formula)
    _check_fit_parameters(family, max_iter, tol)
    _check_max_parameters(max_parameters)
    z = _z(level)
    variables = _variables(db, real, parsed, family, spec, max_parameters)
    _check_columns(db.table(synthetic), synthetic, parsed)
    fits = [_fit(db, real, parsed, family, variables, max_iter, tol)]
    try:
        fits.append(_fit(db, synthetic, parsed, family, variables, max_iter, tol))
    except ModelFitError as error:
        raise SyntheticFitError(str(error)) from error
    rows = []
    for term, b_o, s_o, b_s, s_s in zip(fits[0].terms, fits[0].coef, fits[0].se, fits[1].coef, fits[1].se, strict=True):
        rows.append(
            {
                "term": term,
                "coef_real": b_o,
                "se_real": s_o,
                "coef_synthetic": b_s,
                "se_synthetic": s_s,
                "ci_overlap": ci_overlap((b_o - z * s_o, b_o + z * s_o), (b_s - z * s_s, b_s + z * s_s)),
                "std_diff": abs(b_s - b_o) / s_o if s_o > 0 else math.nan,
            }
        )
    return pd.DataFrame(rows, columns=_COMPARE_COLUMNS)


def glm_metrics(
    con: Database | Any,
    real: str,
    synthetic: str,
    formula: str,
    *,
    family: str = "gaussian",
    spec: TableSpec | None = None,
    level: float = 0.95,
    max_iter: int = 50,
    tol: float = 1e-10,
    max_parameters: int = MAX_PARAMETERS,
) -> pd.DataFrame:
    """:func:`compare_glm` as metric rows (``metric``, ``scope``, ``value``, ``detail``): per coefficient one
    ``glm_ci_overlap`` row (Karr et al. 2006; 1 is ideal) and one ``glm_std_diff`` row (0 is ideal), with scope
    ``"{formula}: {term}"``."""
    table = compare_glm(
        con,
        real,
        synthetic,
        formula,
        family=family,
        spec=spec,
        level=level,
        max_iter=max_iter,
        tol=tol,
        max_parameters=max_parameters,
    )
    return glm_rows(table, formula, family=family, level=level)


def glm_rows(table: pd.DataFrame, formula: str, *, family: str = "gaussian", level: float = 0.95) -> pd.DataFrame:
    """The metric rows of a :func:`compare_glm` table (see :func:`glm_metrics`), without fitting again."""
    rows = []
    for r in table.itertuples(index=False):
        scope = f"{formula.strip()}: {r.term}"
        rows.append(
            {
                "metric": "glm_ci_overlap",
                "scope": scope,
                "value": r.ci_overlap,
                "detail": f"{family}, {level:.0%} intervals; coef real {r.coef_real:.4g} (se {r.se_real:.3g}), "
                f"synthetic {r.coef_synthetic:.4g} (se {r.se_synthetic:.3g})",
            }
        )
        rows.append(
            {
                "metric": "glm_std_diff",
                "scope": scope,
                "value": r.std_diff,
                "detail": f"{family}; |coef synthetic - coef real| / se real",
            }
        )
    return pd.DataFrame(rows, columns=["metric", "scope", "value", "detail"])


def _z(level: float) -> float:
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise InvalidParameterError(f"The 'level' parameter must be a float in (0, 1). Got {level!r} instead.")
    return float(stats.norm.ppf(0.5 + level / 2))
