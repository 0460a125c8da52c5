"""Edit rules and the closed predicate language they are written in.

An edit rule (a plausibility check, Drechsler et al. 2024, fit for purpose) is a SQL boolean ``condition`` that
every row meeting ``when`` should satisfy. The text comes from a user or a YAML catalog and ends up inside the SQL
that :func:`~synthsql.metrics.fitness.check_rules` runs, so it is not SQL at large: it is parsed by sqlglot (DuckDB's
dialect) and the whole tree is checked against an **allow-list** before any SQL is built or run. To a parser,
``pg_read_file('/etc/passwd')``, ``lo_import(...)``, ``set_config(...)``, ``pg_sleep(...)``, ``read_text(...)``,
``getenv(...)`` and ``query(...)`` are plain function calls; an allow-list is the only safe check.

A rule may use, and nothing else:

* column references without a table (``age``, ``"eqIncome"``), matched to the table's columns when it is checked;
* literals: strings, numbers, ``TRUE``/``FALSE``, ``NULL``;
* comparisons ``=  <>  <  <=  >  >=``, ``IS [NOT] DISTINCT FROM``; ``AND``, ``OR``, ``NOT``; parentheses;
* ``x [NOT] IN (constant, ...)`` (constants only: no subquery, no ``UNNEST``), ``x BETWEEN a AND b``,
  ``x IS [NOT] NULL``, ``x IS [NOT] TRUE`` / ``FALSE``, ``x [NOT] LIKE`` / ``ILIKE 'pattern' [ESCAPE 'c']``;
* arithmetic ``+ - * / %`` and unary minus; ``CASE [x] WHEN ... THEN ... [ELSE ...] END``;
* the pure scalar functions of :data:`ALLOWED_FUNCTIONS` (``abs``, ``round``, ``floor``, ``ceil``, ``lower``,
  ``upper``, ``length``, ``trim``, ``coalesce``, ``nullif``, ``extract`` with a unit of :data:`EXTRACT_UNITS`,
  ``year``, ``month``, ``day``), under any spelling sqlglot reads as one of them (``ceiling``, ``ifnull``,
  ``char_length``);
* ``CAST(x AS type)`` and ``x::type`` to a plain scalar type of :data:`CAST_TYPES`, which also admits typed
  literals such as ``DATE '2020-01-01'`` (sqlglot reads them as casts).

Everything else is refused with a :class:`RuleError` that names the rule, the part (condition or when) and the
construct: any other function (``exp.Anonymous`` calls included), aggregates and windows, subqueries, placeholders
and parameters, ``*``, arrays, structs, JSON operators, string concatenation ``||`` (left out on purpose: nothing a
plausibility check needs), ``COLLATE``, casts to other types (``::regclass``), ``TRY_CAST``, qualified names
(``t.age``). Texts longer than :data:`MAX_RULE_CHARS` characters, trees of more than :data:`MAX_RULE_NODES` nodes or
deeper than :data:`MAX_RULE_DEPTH`, and texts holding a NUL character are refused as well. Comments are dropped:
the SQL that runs never carries user text other than checked literals and identifiers matched to real columns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from synthsql.errors import ColumnNotFoundError, InvalidParameterError, did_you_mean

__all__ = [
    "ALLOWED_FUNCTIONS",
    "meeting",
    "CAST_TYPES",
    "EXTRACT_UNITS",
    "MAX_RULE_CHARS",
    "MAX_STRUCTURAL_CELLS",
    "MAX_RULE_DEPTH",
    "MAX_RULE_NODES",
    "Rule",
    "RuleError",
    "SourceBreaksRuleWarning",
    "forbidden_cells",
    "impossible_categories",
    "parse_condition",
]

#: The longest rule text (condition or when) accepted, in characters.
MAX_RULE_CHARS = 10_000
#: The most sqlglot nodes a rule's tree may have.
MAX_RULE_NODES = 2_000
#: The deepest a rule's tree may nest (``a = 1 OR a = 2 OR ...`` nests one level per OR: use ``a IN (1, 2, ...)``).
MAX_RULE_DEPTH = 100

#: The scalar functions a rule may call, by name, and the sqlglot node each parses to.
ALLOWED_FUNCTIONS: Mapping[str, type[exp.Expression]] = {
    "abs": exp.Abs,
    "ceil": exp.Ceil,
    "coalesce": exp.Coalesce,
    "day": exp.Day,
    "extract": exp.Extract,
    "floor": exp.Floor,
    "length": exp.Length,
    "lower": exp.Lower,
    "month": exp.Month,
    "nullif": exp.Nullif,
    "round": exp.Round,
    "trim": exp.Trim,
    "upper": exp.Upper,
    "year": exp.Year,
}
#: The units ``EXTRACT(unit FROM x)`` may take (both DuckDB and PostgreSQL know them, with the same meaning).
EXTRACT_UNITS = ("year", "quarter", "month", "week", "day", "dow", "doy", "hour", "minute", "second", "epoch")
#: The types a cast may name: plain scalars both backends know.
CAST_TYPES: Mapping[exp.DataType.Type, str] = {
    exp.DataType.Type.SMALLINT: "smallint",
    exp.DataType.Type.INT: "integer",
    exp.DataType.Type.BIGINT: "bigint",
    exp.DataType.Type.FLOAT: "float",
    exp.DataType.Type.DOUBLE: "double",
    exp.DataType.Type.DECIMAL: "decimal",
    exp.DataType.Type.VARCHAR: "varchar",
    exp.DataType.Type.TEXT: "text",
    exp.DataType.Type.DATE: "date",
    exp.DataType.Type.TIMESTAMP: "timestamp",
    exp.DataType.Type.TIMESTAMPNTZ: "timestamp",  # DuckDB's TIMESTAMP, as sqlglot reads it
    exp.DataType.Type.BOOLEAN: "boolean",
}

_BINARY = ("this", "expression")
# Every node type a rule may contain (matched exactly: a subclass such as TRY_CAST, a Cast, is not admitted), with
# the arguments it may set. A node setting any other argument is refused.
_NODES: Mapping[type[exp.Expression], tuple[str, ...]] = {
    exp.Column: ("this",),
    exp.Identifier: ("this", "quoted"),
    exp.Literal: ("this", "is_string"),
    exp.Boolean: ("this",),
    exp.Null: (),
    **{op: _BINARY for op in (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE, exp.NullSafeEQ, exp.NullSafeNEQ)},
    exp.And: _BINARY,
    exp.Or: _BINARY,
    exp.Not: ("this",),
    exp.Paren: ("this",),
    exp.In: ("this", "expressions"),
    exp.Between: ("this", "low", "high"),
    exp.Is: ("this", "expression", "negate"),
    exp.Like: ("this", "expression", "negate"),
    exp.ILike: ("this", "expression", "negate"),
    exp.Escape: _BINARY,
    exp.Add: _BINARY,
    exp.Sub: _BINARY,
    exp.Mul: _BINARY,
    exp.Div: ("this", "expression", "typed", "safe"),
    exp.Mod: _BINARY,
    exp.Neg: ("this",),
    exp.Case: ("this", "ifs", "default"),
    exp.If: ("this", "true"),
    exp.Abs: ("this",),
    exp.Round: ("this", "decimals"),
    exp.Floor: ("this",),
    exp.Ceil: ("this",),
    exp.Lower: ("this",),
    exp.Upper: ("this",),
    exp.Length: ("this",),
    exp.Trim: ("this", "expression", "position"),
    exp.Coalesce: ("this", "expressions", "is_nvl", "is_null"),
    exp.Nullif: _BINARY,
    exp.Extract: _BINARY,
    exp.Year: ("this",),
    exp.Month: ("this",),
    exp.Day: ("this",),
    exp.Var: ("this",),
    exp.Cast: ("this", "to"),
    exp.DataType: ("this", "expressions", "nested"),
    exp.DataTypeParam: ("this",),
}
# Nodes that only make sense under one parent, in one argument: the word of EXTRACT(unit FROM x), the type of a
# cast and its parameters (DECIMAL(10, 2)), a column's name, and the WHEN ... THEN ... branches of a CASE.
_ONLY_UNDER: Mapping[type[exp.Expression], tuple[type[exp.Expression], str]] = {
    exp.Var: (exp.Extract, "this"),
    exp.DataType: (exp.Cast, "to"),
    exp.DataTypeParam: (exp.DataType, "expressions"),
    exp.Identifier: (exp.Column, "this"),
    exp.If: (exp.Case, "ifs"),
}
_ROW_LEVEL = "a rule looks at one row at a time"


class SourceBreaksRuleWarning(UserWarning):
    """An edit rule a model must meet is broken by rows of the source itself (fit warns, with the count)."""


class RuleError(InvalidParameterError):
    """A rule text outside the closed predicate language, or one that does not parse.

    ``rule`` is the rule's name, ``part`` ``"condition"`` or ``"when"``, and ``problem`` what is wrong, phrased to
    follow a YAML path (``tables[0].rules[1].condition: uses the function PG_READ_FILE, ...``).
    """

    def __init__(self, rule: str, part: str, problem: str) -> None:
        self.rule, self.part, self.problem = rule, part, problem
        super().__init__(f"Edit rule {rule!r}: the {part} {problem}")


def parse_condition(rule: str, part: str, text: Any) -> exp.Expression:
    """The checked sqlglot tree of one rule text, or a :class:`RuleError` naming the rule, the part and the problem.

    The one check of rule texts: :class:`Rule` calls it when a rule is made, and a catalog's validation calls it for
    each ``condition`` and ``when``. Nothing reaches a database before it returns. Comments are dropped from the
    tree.

    >>> parse_condition("adult", "condition", "age BETWEEN 18 AND 120").sql()
    'age BETWEEN 18 AND 120'
    >>> parse_condition("r", "condition", "substr(pg_read_file('/etc/passwd'), 1, 4) = 'root'")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    synthsql.rules.RuleError: Edit rule 'r': the condition uses the functions SUBSTRING and PG_READ_FILE, ...
    """
    if not isinstance(text, str) or not text.strip():
        raise RuleError(rule, part, f"must be a non-empty SQL condition, got {text!r}.")
    if len(text) > MAX_RULE_CHARS:
        raise RuleError(rule, part, f"is {len(text):,} characters long, more than the {MAX_RULE_CHARS:,} a rule may have.")
    if "\x00" in text:
        raise RuleError(rule, part, "holds a NUL character, which is not allowed in a rule.")
    try:
        tree = sqlglot.parse_one(text, dialect="duckdb")
    except SqlglotError as err:
        raise RuleError(rule, part, f"does not parse as SQL: {str(err).splitlines()[0]}") from err
    except RecursionError as err:
        raise RuleError(rule, part, "nests too deeply for the SQL parser: use fewer nested parentheses or calls.") from err
    except (IndexError, KeyError, TypeError, ValueError, AttributeError) as err:
        # sqlglot's builders of some functions fail this way on a wrong number of arguments (DATE_ADD(x), say).
        raise RuleError(rule, part, f"does not parse as SQL ({type(err).__name__} in the parser).") from err
    _check_size(rule, part, tree)
    if not isinstance(tree, exp.Condition) or isinstance(tree, (exp.Star, exp.Query, exp.Block)):
        raise RuleError(rule, part, "is not a boolean condition on one row.")
    refused = [(node, problem) for node in tree.walk() if (problem := _refusal(node))]
    if refused:
        raise RuleError(rule, part, _first_problem(refused))
    for node in tree.walk():
        node.comments = None
    return tree


def _first_problem(refused: list[tuple[exp.Expression, str]]) -> str:
    """The first problem in the tree; when it is a function call, every function call the rule may not make, the
    inner ones too (``substr(pg_read_file(...))`` names both)."""
    calls = list(dict.fromkeys(_call_name(node) for node, _ in refused if _is_call(node)))
    if not _is_call(refused[0][0]):
        return refused[0][1]
    named = f"{', '.join(calls[:-1])} and {calls[-1]}" if len(calls) > 1 else calls[0]
    return (
        f"uses the function{'s' * (len(calls) > 1)} {named}, which {'are' if len(calls) > 1 else 'is'} not allowed in "
        f"a rule; allowed functions: {', '.join(sorted(ALLOWED_FUNCTIONS))}."
    )


def _is_call(node: exp.Expression) -> bool:
    """A call of a function outside the language (aggregates, arrays, structs, ... get their own message)."""
    return (
        type(node) not in _NODES
        and type(node) not in _NAMES
        and isinstance(node, exp.Func)
        and not isinstance(node, exp.AggFunc)
    )


def _call_name(node: exp.Expression) -> str:
    return node.name.upper() if type(node) is exp.Anonymous else node.sql_name()


def _check_size(rule: str, part: str, tree: exp.Expression) -> None:
    """Refuse a tree of more than MAX_RULE_NODES nodes or deeper than MAX_RULE_DEPTH, walking it without recursion."""
    depth = {id(tree): 1}
    for count, node in enumerate(tree.walk(), start=1):
        if count > MAX_RULE_NODES:
            raise RuleError(rule, part, f"has more than {MAX_RULE_NODES:,} syntax-tree nodes, the most a rule may have.")
        level = depth[id(node)]
        if level > MAX_RULE_DEPTH:
            raise RuleError(
                rule,
                part,
                f"nests more than {MAX_RULE_DEPTH} levels deep, the most a rule may (each OR of a chain nests one "
                "level: write a list of values as x IN (...)).",
            )
        for child in node.iter_expressions():
            depth[id(child)] = level + 1


def _refusal(node: exp.Expression) -> str | None:
    """Why ``node`` is not allowed in a rule, or None when it is."""
    kind = type(node)
    if kind not in _NODES:
        return _unknown(node)
    if kind in _ONLY_UNDER:
        parent, key = _ONLY_UNDER[kind]
        if type(node.parent) is not parent or node.arg_key != key:
            if kind is exp.If:
                return "uses IF(...), which is not allowed in a rule; write CASE WHEN ... THEN ... ELSE ... END."
            return f"uses {_describe(node)} out of place, which is not allowed in a rule."
    if kind is exp.Column and len(node.parts) > 1:
        return f"uses the qualified column {node.sql()}: name columns without a table (age, not t.age)."
    if kind is exp.In and (node.args.get("query") or node.args.get("unnest")):
        return f"uses a subquery in IN: subqueries are not allowed; {_ROW_LEVEL}. Write x IN (1, 2, 'a')."
    if kind is exp.DataType and node.this not in CAST_TYPES:
        return f"uses a cast to {node.sql('duckdb').upper()}, which is not allowed in a rule; types: {_types()}."
    extra = sorted(k for k, v in node.args.items() if k not in _NODES[kind] and v not in (None, False, []))
    if extra:
        return f"uses {_describe(node)} with {', '.join(extra).upper()}, which is not allowed in a rule."
    if node.error_messages():  # a required argument missing: ceil()
        return f"uses {_describe(node)} without its required arguments."
    if kind is exp.Extract and type(node.this) is not exp.Var:
        return f"uses EXTRACT without a unit: write EXTRACT(year FROM x); units: {', '.join(EXTRACT_UNITS)}."
    if kind is exp.Literal and node.is_string and "\x00" in node.this:
        return "holds a NUL character, which is not allowed in a rule."
    if kind is exp.In and not all(_is_constant(e) for e in node.expressions):
        return "uses IN with something other than constants: write x IN (1, 2, 'a'), constants only."
    if kind is exp.Is and type(node.expression) not in (exp.Null, exp.Boolean):
        return "uses IS with something other than NULL, TRUE or FALSE."
    if kind is exp.Escape and not (type(node.this) in (exp.Like, exp.ILike) and _is_string(node.expression)):
        return "uses ESCAPE outside LIKE 'pattern' ESCAPE 'c'."
    if kind is exp.Var and node.name.lower() not in EXTRACT_UNITS:
        return f"uses EXTRACT with the unit {node.name.upper()}; units: {', '.join(EXTRACT_UNITS)}."
    if kind is exp.DataTypeParam and not (type(node.this) is exp.Literal and node.this.is_number):
        return "uses a type parameter that is not a number."
    return None


def _unknown(node: exp.Expression) -> str:
    """The refusal of a node type outside the language, naming what it is."""
    if isinstance(node, (exp.Query, exp.Subquery, exp.Exists)):
        return f"uses a subquery: subqueries are not allowed; {_ROW_LEVEL}."
    if isinstance(node, (exp.AggFunc, exp.Window)):
        return f"uses {_describe(node)}: aggregate and window functions are not allowed; {_ROW_LEVEL}."
    if isinstance(node, (exp.Placeholder, exp.Parameter)):
        return f"uses the placeholder {node.sql('duckdb')}: placeholders and parameters are not allowed in a rule."
    if _is_call(node):
        return (
            f"uses {_describe(node)}, which is not allowed in a rule; allowed functions: "
            f"{', '.join(sorted(ALLOWED_FUNCTIONS))}."
        )
    return f"uses {_describe(node)}, which is not allowed in a rule."


_NAMES: Mapping[type[exp.Expression], str] = {
    exp.Star: "*",
    exp.DPipe: "the || operator (string concatenation)",
    exp.Array: "an array",
    exp.Struct: "a struct",
    exp.Bracket: "a subscript [...]",
    exp.Dot: "a dotted name",
    exp.Collate: "COLLATE",
    exp.Alias: "an alias (AS)",
    exp.Lambda: "a lambda",
    exp.Var: "a bare word",
    exp.Interval: "an INTERVAL",
    exp.ByteString: "an escaped string literal",
    exp.RawString: "a dollar-quoted string",
    exp.Window: "a window function (OVER)",
    exp.Cast: "CAST",
    exp.If: "IF",
    exp.SimilarTo: "SIMILAR TO",
    exp.Exists: "EXISTS",
    exp.JSONExtract: "a JSON operator",
    exp.JSONExtractScalar: "a JSON operator",
    exp.JSONBExtract: "a JSON operator",
    exp.JSONBExtractScalar: "a JSON operator",
    exp.Glob: "GLOB",
}


def _describe(node: exp.Expression) -> str:
    kind = type(node)
    if isinstance(node, exp.AggFunc):
        return f"the aggregate function {node.sql_name()}"
    if kind in _NAMES:
        return _NAMES[kind]
    if kind is exp.Anonymous or (isinstance(node, exp.Func) and node.sql_name()):
        return f"the function {_call_name(node)}"
    snippet = node.sql("duckdb")
    return f"{kind.__name__} ({snippet[:40]}{'...' if len(snippet) > 40 else ''})"


def _is_string(node: exp.Expression) -> bool:
    return type(node) is exp.Literal and node.is_string


def _is_constant(node: exp.Expression) -> bool:
    """A literal, a negative number, or a typed literal (``DATE '2020-01-01'``): what ``IN (...)`` may list."""
    kind = type(node)
    if kind in (exp.Literal, exp.Boolean, exp.Null):
        return True
    if kind is exp.Neg:
        return type(node.this) is exp.Literal and node.this.is_number
    return kind is exp.Cast and type(node.this) is exp.Literal


def _types() -> str:
    return ", ".join(sorted(set(CAST_TYPES.values())))


# --------------------------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """An edit rule: a SQL boolean ``condition`` every row meeting ``when`` (every row, without it) should satisfy.

    Conditions are written in DuckDB's SQL as statisticians write plausibility checks (Drechsler et al. 2024, fit for
    purpose): ``Rule("age_nonnegative", "age >= 0")``, ``Rule("income", "income IS NULL OR income >= 0")``,
    ``Rule("no_child_income", "py010n IS NULL", when="age < 16")``. Both texts are checked by
    :func:`parse_condition` when the rule is made: a text that does not parse, or that steps outside the closed
    predicate language of this module (any function but the allowed scalar ones, a subquery, an aggregate, a
    placeholder, ...), raises :class:`RuleError` naming the rule. The columns they name are checked against each
    table by :func:`~synthsql.metrics.fitness.check_rules`. Columns are matched as DuckDB matches them: exactly,
    else case-insensitively when the name was not quoted; they are always rendered quoted.

    >>> Rule("adult", "age >= 18", when="employed").columns
    ('age', 'employed')
    """

    name: str
    condition: str
    when: str | None = None
    _trees: tuple[exp.Expression, exp.Expression | None] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidParameterError(f"An edit rule needs a non-empty name, got {self.name!r}.")
        condition = parse_condition(self.name, "condition", self.condition)
        when = parse_condition(self.name, "when", self.when) if self.when is not None else None
        object.__setattr__(self, "_trees", (condition, when))

    @property
    def columns(self) -> tuple[str, ...]:
        """The column names the rule refers to, as written, in order of first appearance."""
        names = [c.name for tree in self._trees if tree is not None for c in tree.find_all(exp.Column)]
        return tuple(dict.fromkeys(names))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Rule:
        """A rule from a mapping with ``name``, ``condition`` and optionally ``when`` (a catalog entry)."""
        if not isinstance(data, Mapping):
            raise InvalidParameterError(f"An edit rule must be a mapping with name and condition, got {data!r}.")
        known = ("name", "condition", "when")
        for key in data:
            if key not in known:
                raise InvalidParameterError(
                    f"Edit rule {data.get('name')!r}: unknown setting {key!r}.{did_you_mean(str(key), known)}"
                )
        for key in ("name", "condition"):
            if key not in data:
                raise InvalidParameterError(f"Edit rule {data.get('name')!r} has no {key!r}.")
        return cls(data["name"], data["condition"], data.get("when"))

    def to_json(self) -> dict[str, str]:
        out = {"name": self.name, "condition": self.condition}
        if self.when is not None:
            out["when"] = self.when
        return out

    def _bound(self, columns: Sequence[str], table: str) -> tuple[exp.Expression, exp.Expression | None]:
        """The rule's trees with every column resolved against ``columns`` and every identifier quoted."""
        condition, when = self._trees
        return _bind(self.name, condition, columns, table), _bind(self.name, when, columns, table) if when else None


def _bind(rule: str, tree: exp.Expression, columns: Sequence[str], table: str) -> exp.Expression:
    tree = tree.copy()
    lower: dict[str, list[str]] = {}
    for name in columns:
        lower.setdefault(name.lower(), []).append(name)
    for column in list(tree.find_all(exp.Column)):
        ident = column.this
        name = column.name
        if name in columns:
            actual = name
        elif not ident.quoted and len(lower.get(name.lower(), [])) == 1:
            actual = lower[name.lower()][0]
        else:
            same_letters = lower.get(name.lower())
            hint = f" Did you mean {same_letters[0]!r}?" if same_letters else did_you_mean(name, columns)
            raise ColumnNotFoundError(
                f"Edit rule {rule!r} names the column {name!r}, which is not in table {table!r}.{hint}"
            )
        column.set("this", exp.to_identifier(actual, quoted=True))
    for ident in tree.find_all(exp.Identifier):
        ident.set("quoted", True)
    return tree


def meeting(rules: Sequence[Rule], batch: Any) -> Any:
    """For each row of an Arrow record batch, whether it meets every rule (a numpy bool array).

    A row fails a rule when ``when`` is TRUE and ``condition`` is not TRUE (FALSE or NULL), as
    :func:`~synthsql.metrics.fitness.check_rules` counts violations. The checked trees run in an in-memory DuckDB
    over the batch (rules are written in DuckDB's SQL, so they mean the same here as when they are checked in the
    database); only the batch is read, the row order is kept.
    """
    import duckdb
    import numpy as np
    import pyarrow as pa

    names = list(batch.schema.names)
    table = pa.Table.from_batches([batch]).append_column("__row", pa.array(np.arange(batch.num_rows)))
    tests = []
    for rule in rules:
        condition, when = rule._bound(names, "the synthetic rows")
        holds = exp.Is(this=exp.Paren(this=condition), expression=exp.true())
        if when is not None:
            holds = exp.or_(exp.Not(this=exp.Is(this=exp.Paren(this=when), expression=exp.true())), holds)
        tests.append(exp.Paren(this=holds))
    query = exp.select(exp.and_(*tests) if tests else exp.true()).from_("rows").order_by(exp.column("__row"))
    with duckdb.connect() as con:
        con.register("rows", table)
        return np.array([bool(v) for (v,) in con.execute(query.sql(dialect="duckdb")).fetchall()], dtype=bool)


# --------------------------------------------------------------------------------------------------------------
# Structural zeros: what a rule forbids, cell by cell
# --------------------------------------------------------------------------------------------------------------
#: The most cells (product over the columns a rule names) a rule's structural zeros are worked out over.
MAX_STRUCTURAL_CELLS = 1_000_000

# A cell's possible truth values as a 3-bit set: TRUE, FALSE, NULL (SQL's three-valued logic).
_T, _F, _N = 1, 2, 4
_ANY = _T | _F | _N


def _kleene(op: Any) -> Any:
    """The 8 x 8 table of ``op`` lifted from truth values to sets of them."""
    import numpy as np

    atoms = (_T, _F, _N)
    table = np.zeros((8, 8), dtype=np.uint8)
    for a in range(8):
        for b in range(8):
            table[a, b] = np.bitwise_or.reduce([op(x, y) for x in atoms if a & x for y in atoms if b & y] or [0])
    return table


def _and(x: int, y: int) -> int:
    return _F if _F in (x, y) else _N if _N in (x, y) else _T


def _or(x: int, y: int) -> int:
    return _T if _T in (x, y) else _N if _N in (x, y) else _F


def _lifted(mapping: Mapping[int, int]) -> Any:
    import numpy as np

    return np.array([np.bitwise_or.reduce([mapping[x] for x in (_T, _F, _N) if m & x] or [0]) for m in range(8)],
                    dtype=np.uint8)


_AND, _OR = _kleene(_and), _kleene(_or)
_NOT = _lifted({_T: _F, _F: _T, _N: _N})
_IS_NULL = _lifted({_T: _F, _F: _F, _N: _T})
_IS_TRUE = _lifted({_T: _T, _F: _F, _N: _F})
_IS_FALSE = _lifted({_T: _F, _F: _T, _N: _F})
_COMPARE = {exp.EQ: lambda a, b: a == b, exp.NEQ: lambda a, b: a != b, exp.LT: lambda a, b: a < b,
            exp.LTE: lambda a, b: a <= b, exp.GT: lambda a, b: a > b, exp.GTE: lambda a, b: a >= b}
_FLIPPED = {exp.EQ: exp.EQ, exp.NEQ: exp.NEQ, exp.LT: exp.GT, exp.LTE: exp.GTE, exp.GT: exp.LT, exp.GTE: exp.LTE}


def forbidden_cells(rule: Rule, spec: Any) -> tuple[tuple[str, ...], Any] | None:
    """The cells a rule forbids: ``(columns, forbidden)``, ``forbidden`` a boolean array over the cells of the
    modelled ``columns`` the rule names (spec order), True where EVERY value a synthetic row can take in those cells
    breaks the rule (``when`` always TRUE, ``condition`` never TRUE); None when it forbids no cell.

    A model may give these cells probability 0 (structural zeros): they are public knowledge (the rule and the
    declared domains), so this costs a DP model no budget. A cell is a category (its value exactly), a point bin, an
    interval bin (the values sampling can draw in it: whole numbers between its edges for an integer column, for a
    numeric one ``[lo, hi)``, closed at the top bin, without ``lo`` when a point bin holds it), a special value or
    NULL. The rule is read in SQL's three-valued logic over the sets of truth values each cell allows,
    understanding comparisons of a column with a literal, ``IN``, ``BETWEEN``, ``IS [NOT] NULL``, ``IS [NOT] TRUE``
    / ``FALSE``, ``AND``, ``OR``, ``NOT`` and boolean columns; anything else (arithmetic, functions, two columns
    compared, dates) may be anything, so a cell is forbidden only when the rule's verdict there is certain. Rules over
    more than :data:`MAX_STRUCTURAL_CELLS` cells are left to rejection at sampling.
    """
    import numpy as np

    condition, when = rule._bound(spec.names, spec.table)
    named = {c.name for tree in (condition, when) if tree is not None for c in tree.find_all(exp.Column)}
    columns = tuple(c.name for c in spec.modelled if c.name in named)
    if not columns:
        return None
    shape = tuple(spec.column(name).cells for name in columns)
    if int(np.prod(shape, dtype=np.float64)) > MAX_STRUCTURAL_CELLS:
        return None
    cells = {name: _cell_values(spec.column(name)) for name in columns}
    axis = {name: i for i, name in enumerate(columns)}

    def along(name: str, values: list[int]) -> Any:
        out = np.array(values, dtype=np.uint8)
        return out.reshape([-1 if i == axis[name] else 1 for i in range(len(columns))])

    def truth(node: exp.Expression) -> Any:
        if isinstance(node, exp.Paren):
            return truth(node.this)
        if isinstance(node, (exp.And, exp.Or)):
            return (_AND if isinstance(node, exp.And) else _OR)[truth(node.this), truth(node.expression)]
        if isinstance(node, exp.Not):
            return _NOT[truth(node.this)]
        if isinstance(node, exp.Boolean):
            return np.uint8(_T if node.this else _F)
        if isinstance(node, exp.Null):
            return np.uint8(_N)
        if isinstance(node, exp.Column):
            name = node.name
            if name in axis and spec.column(name).kind == "boolean":
                return along(name, [_N if c is None else _compare(exp.EQ, c, True) for c in cells[name]])
            return np.uint8(_ANY)
        if isinstance(node, exp.Is):
            target = node.expression
            if isinstance(target, exp.Null):
                inner = node.this
                if isinstance(inner, exp.Column) and inner.name in axis:
                    out = along(inner.name, [_T if c is None else _F for c in cells[inner.name]])
                else:
                    out = _IS_NULL[truth(inner)]
            elif isinstance(target, exp.Boolean):
                out = (_IS_TRUE if target.this else _IS_FALSE)[truth(node.this)]
            else:
                return np.uint8(_ANY)
            return _NOT[out] if node.args.get("negate") else out
        if type(node) in _COMPARE:
            pair = _column_and_literal(node.this, node.expression, axis)
            if pair is None:
                pair = _column_and_literal(node.expression, node.this, axis)
                op = _FLIPPED[type(node)]
            else:
                op = type(node)
            if pair is None:
                return np.uint8(_ANY)
            name, value = pair
            return along(name, [_N if c is None else _compare(op, c, value) for c in cells[name]])
        if isinstance(node, exp.In) and not node.args.get("query"):
            items = node.expressions
            out = np.uint8(_F)
            for item in items:
                out = _OR[out, truth(exp.EQ(this=node.this, expression=item))]
            return out if items else np.uint8(_ANY)
        if isinstance(node, exp.Between):
            low = exp.GTE(this=node.this, expression=node.args["low"])
            high = exp.LTE(this=node.this, expression=node.args["high"])
            return _AND[truth(low), truth(high)]
        return np.uint8(_ANY)

    verdict = np.broadcast_to(truth(condition), shape)
    forbidden = (verdict & _T) == 0
    if when is not None:
        forbidden = forbidden & (np.broadcast_to(truth(when), shape) == _T)
    return (columns, np.array(forbidden)) if forbidden.any() else None


def _cell_values(col: Any) -> list[Any]:
    """What each cell of a column can hold, by cell code: None (NULL), ``("exact", v)``, ``("range", lo, hi, lo_open,
    hi_open)`` or ``("any",)``."""
    if col.kind in ("categorical", "boolean"):
        values: list[Any] = [("exact", v) for v in col.categories or ()]
    elif col.kind in ("integer", "numeric"):
        top = max(b.hi for b in col.bins or ())
        points = {b.lo for b in col.bins or () if b.is_point}
        values = []
        for b in col.bins or ():
            if b.is_point:
                values.append(("exact", b.lo))
            elif col.kind == "integer":  # the whole numbers sampling draws in [lo, hi) ([lo, hi] at the top)
                upper = math.floor(b.hi) if b.hi == top else math.ceil(b.hi) - 1
                values.append(("range", math.ceil(b.lo), upper, False, False))
            else:  # floats in [lo, hi) ([lo, hi] at the top), lo left out when a point bin holds it
                values.append(("range", b.lo, b.hi, b.lo in points, b.hi != top))
        values += [("any",) if s == "nan" else ("exact", float(s)) for s in col.specials]
    else:  # dates and timestamps: cells in epoch units, rules in date literals
        values = [("any",)] * (col.cells - 1)
    return [*values, None]


def _column_and_literal(left: exp.Expression, right: exp.Expression, axis: Mapping[str, int]) -> tuple[str, Any] | None:
    """``(column, value)`` when ``left`` is a modelled column of the rule and ``right`` a literal."""
    while isinstance(left, exp.Paren):
        left = left.this
    if not isinstance(left, exp.Column) or left.name not in axis:
        return None
    value = _literal(right)
    return None if value is _NO_LITERAL else (left.name, value)


_NO_LITERAL = object()


def _literal(node: exp.Expression) -> Any:
    """A literal's Python value (str, int, float or bool), else ``_NO_LITERAL``."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    negative = isinstance(node, exp.Neg)
    if negative:
        node = node.this
    if not isinstance(node, exp.Literal):
        return _NO_LITERAL
    if node.is_string:
        return _NO_LITERAL if negative else node.this
    text = node.this
    try:
        value: Any = int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            return _NO_LITERAL
    return -value if negative else value


def _number(x: Any) -> bool:
    import numbers

    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _compare(op: type[exp.Expression], cell: tuple[Any, ...], value: Any) -> int:
    """The truth values ``cell <op> value`` can take (``cell`` not NULL)."""
    kind = cell[0]
    if kind == "exact":
        v = cell[1]
        same = (_number(v) and _number(value)) or (type(v) is type(value) and isinstance(v, (str, bool)))
        if not same or (isinstance(v, bool) and op not in (exp.EQ, exp.NEQ)):
            return _ANY
        return _T if _COMPARE[op](v, value) else _F
    if kind == "range" and _number(value):
        lo, hi, lo_open, hi_open = cell[1:]
        below = hi < value or (hi == value and hi_open)  # every value of the cell is < value
        above = lo > value or (lo == value and lo_open)  # every value of the cell is > value
        verdict = {
            exp.EQ: (False, below or above),
            exp.NEQ: (below or above, False),
            exp.LT: (below, lo >= value),
            exp.LTE: (hi <= value, above),
            exp.GT: (above, hi <= value),
            exp.GTE: (lo >= value, below),
        }
        holds_all, holds_none = verdict[op]
        return _T if holds_all else _F if holds_none else _T | _F
    return _ANY


def impossible_categories(rules: Sequence[Rule], spec: Any) -> None:
    """Refuse a rule that forbids a category of a categorical or boolean column whatever the other columns hold: no
    synthetic row could take that declared category (an error naming the rule, the column and the category)."""
    for rule in rules:
        found = forbidden_cells(rule, spec)
        if found is None:
            continue
        columns, forbidden = found
        for axis, name in enumerate(columns):
            col = spec.column(name)
            if col.kind not in ("categorical", "boolean"):
                continue
            everywhere = forbidden.all(axis=tuple(i for i in range(len(columns)) if i != axis))
            for code in map(int, everywhere[:-1].nonzero()[0]):  # the NULL cell (last) may be ruled out
                raise InvalidParameterError(
                    f"Edit rule {rule.name!r} makes the category {col.categories[code]!r} of column {name!r} "
                    "impossible for every row, whatever the other columns hold; check the rule, or leave the "
                    "category out of the column's declared categories."
                )
