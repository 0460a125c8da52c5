"""What a model file must look like, checked whole before anything is built from it.

A model file (or the ``<target>__model`` row a catalog build stores) is input like any other: it may have been
edited, truncated or forged. :meth:`synthsql.model.Model.from_json` therefore checks every part of it against the
spec it carries before it builds a model, and refuses a bad one with a :class:`~synthsql.errors.ModelFormatError`
that names the field by its JSON path (``state.counts.age``, ``privacy.ledger[3].rho``, ``spec.columns[2]``):

* the envelope: known keys, their types, the format version and a known generator;
* the spec (through :meth:`synthsql.schema.TableSpec.from_json`, whose errors are given the field's path), with a row
  count within :data:`MAX_ROWS`;
* the fitted state, against the spec: each model class declares its state in ``_check_state`` with the checks of
  :class:`StateCheck` (count vectors, conditional tables, a network's order and parents, a correlation matrix,
  merged cells), and the within-bin quantiles;
* the privacy block of a differentially private model: its rho must follow from its (epsilon, delta), every ledger
  line must spend what its noise scale implies, and the ledger must fit in the budget, so an edited epsilon or a
  ledger that shows less spending than the noise implies is caught;
* sizes: the file (:data:`MAX_MODEL_BYTES`), the nesting (:data:`MAX_DEPTH`) and the numbers all tables hold
  together (:data:`MAX_CELLS`), each checked from the declared shapes before a table is allocated.

The caps are module constants: set, say, ``synthsql.model_format.MAX_CELLS`` higher to load a larger model.

>>> check_depth({"a": [[1, 2], [3]]})
>>> check_depth([[[[[[[[[[0]]]]]]]]]])
Traceback (most recent call last):
...
synthsql.errors.ModelFormatError: [0][0][0][0][0][0][0][0]: JSON nested deeper than the 8 levels a synthsql model uses.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import numpy as np

from synthsql.connection import TableRef
from synthsql.discretize import WITHIN_BIN_GRID
from synthsql.errors import ModelFormatError, SynthsqlError, did_you_mean
from synthsql.privacy import NOISE, cdp_rho
from synthsql.schema import NUMERIC_KINDS, Bin, ColumnSpec, TableSpec

__all__ = [
    "MAX_MODEL_BYTES",
    "MAX_ROWS",
    "MAX_CELLS",
    "MAX_DEPTH",
    "MAX_COUNT",
    "StateCheck",
    "parse",
    "check_depth",
    "fields",
    "check_spec",
    "check_privacy",
    "check_holdout",
]

#: The largest model file :func:`synthsql.load` reads (bytes); checked before the file is read.
MAX_MODEL_BYTES = 1 << 30
#: The largest row count a model's spec may state.
MAX_ROWS = 10**12
#: The most numbers all the tables of a model may hold together (counts, estimates, quantiles, correlations).
MAX_CELLS = 20_000_000
#: The deepest nesting of JSON arrays and objects in a model (``spec.columns[i].bins[j]`` is 5 levels deep).
MAX_DEPTH = 8
#: The most edit rules a model may carry.
MAX_RULES = 1000
#: The largest count a count table may hold: counts are exact in the float64 arithmetic of sampling below 2**53.
MAX_COUNT = 2**53
#: Relative tolerance of the privacy block's arithmetic (rho from epsilon and delta, rho from a noise scale).
TOLERANCE = 1e-9
#: The largest gap between the latent correlation 2 sin(pi r / 6) of the copula and the rank correlation r it is
#: computed from (at r = (6 / pi) acos(3 / pi)): a stored matrix is within (d - 1) times this of a positive
#: semi-definite one, which bounds how negative its smallest eigenvalue can be.
_X = 6 / math.pi * math.acos(3 / math.pi)
SIN_GAP = 2 * math.sin(math.pi * _X / 6) - _X

_SCALARS = frozenset({int, float, str, bool, type(None)})
MECHANISMS = ("gaussian", "exponential", "gaussian threshold")


# --------------------------------------------------------------------------------------------------------------
# Paths, messages and plain values
# --------------------------------------------------------------------------------------------------------------
def child(path: str, key: Any) -> str:
    """The JSON path of ``key`` inside ``path``: ``a.b``, ``a[3]``, or ``a['odd key']``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if isinstance(key, str) and key.isidentifier():
        return f"{path}.{key}" if path else key
    return f"{path}[{key!r}]"


def fail(path: str, message: str) -> NoReturn:
    raise ModelFormatError(f"{path or 'The model'}: {message}")


def show(value: Any) -> str:
    """A short description of a JSON value for a message (never the whole of a large one)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = repr(value)
        return f"the string {text if len(text) <= 40 else text[:37] + '...'}"
    if isinstance(value, Mapping):
        return f"an object with {len(value)} key(s)"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def fields(value: Any, path: str, required: Sequence[str], optional: Sequence[str] = ()) -> Mapping[str, Any]:
    """``value`` as an object with every ``required`` key, and no key outside ``required`` and ``optional``."""
    if not isinstance(value, Mapping):
        fail(path, f"expected an object with {_listing(required) or 'no keys'}, got {show(value)}.")
    for key in required:
        if key not in value:
            fail(child(path, key), f"missing ({path or 'a model'} needs {_listing(required)}).")
    known = [*required, *optional]
    for key in value:
        if key not in known:
            hint = did_you_mean(key, known) if isinstance(key, str) else ""
            fail(child(path, key), f"unknown key.{hint} Known keys: {_listing(known) or 'none'}.")
    return value


def _listing(keys: Sequence[str]) -> str:
    return ", ".join(repr(k) for k in keys)


def string(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        fail(path, f"expected a non-empty string, got {show(value)}.")
    return value


def integer(value: Any, path: str, *, low: int, high: int | None = None, cap: str = "") -> int:
    """An integer (not a bool) in ``[low, high]``; ``cap`` names the constant that sets ``high``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        fail(path, f"expected an integer >= {low}, got {show(value)}.")
    if value < low:
        fail(path, f"expected an integer >= {low}, got {value}.")
    if high is not None and value > high:
        raise_it = f" ({cap}; raise it to load this model)" if cap else ""
        fail(path, f"{value:,} is over the cap of {high:,}{raise_it}.")
    return int(value)


def number(value: Any, path: str, *, low: float, high: float = math.inf, open_low: bool = True,
           open_high: bool = False) -> float:
    """A finite number (not a bool) in the interval from ``low`` to ``high`` (open or closed at each end)."""
    numeric = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if not numeric or not (value > low if open_low else value >= low) or not (
        value < high if open_high else value <= high
    ):
        interval = f"{'(' if open_low else '['}{low:g}, {high:g}{')' if open_high or high == math.inf else ']'}"
        fail(path, f"expected a finite number in {interval}, got {show(value)}.")
    return float(value)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=0.0)


# --------------------------------------------------------------------------------------------------------------
# Text, nesting, spec, privacy, holdout
# --------------------------------------------------------------------------------------------------------------
def parse(text: str | bytes | bytearray, source: str = "The model") -> Any:
    """The JSON value of a model's text, within :data:`MAX_MODEL_BYTES`; a clear error for anything unreadable."""
    if len(text) > MAX_MODEL_BYTES:
        raise ModelFormatError(
            f"{source} has {len(text):,} bytes, over the cap of {MAX_MODEL_BYTES:,} "
            "(synthsql.model_format.MAX_MODEL_BYTES; raise it to load this model)."
        )
    try:
        return json.loads(text)
    except RecursionError:
        raise ModelFormatError(
            f"{source} nests JSON arrays or objects too deeply to read; a synthsql model uses at most {MAX_DEPTH} "
            "levels."
        ) from None
    except ValueError as err:  # JSONDecodeError, a bad encoding, an integer of thousands of digits
        raise ModelFormatError(f"{source} is not valid JSON: {err}") from None


def check_depth(data: Any) -> None:
    """Refuse JSON nested deeper than :data:`MAX_DEPTH` (level by level, without recursion)."""
    level = [(data, "")] if isinstance(data, (Mapping, list, tuple)) else []
    depth = 0
    while level:
        depth += 1
        if depth > MAX_DEPTH:
            fail(level[0][1], f"JSON nested deeper than the {MAX_DEPTH} levels a synthsql model uses.")
        inner = []
        for node, path in level:
            items = node.items() if isinstance(node, Mapping) else enumerate(node)
            values = node.values() if isinstance(node, Mapping) else node
            if set(map(type, values)) <= _SCALARS:  # the common case, a long list of numbers: no loop in Python
                continue
            inner.extend((v, child(path, k)) for k, v in items if isinstance(v, (Mapping, list, tuple)))
        level = inner


def check_spec(value: Any, path: str = "spec") -> TableSpec:
    """The model's :class:`TableSpec`, its row count within :data:`MAX_ROWS`; errors of :mod:`synthsql.schema`
    get the path of the column at fault (and of the bin, where one is)."""
    known = [f.name for f in dataclasses.fields(TableSpec)]
    required = ("table", "n_rows", "columns")
    data = fields(value, path, required, [k for k in known if k not in required])
    try:
        TableRef.parse(string(data["table"], child(path, "table")))
    except SynthsqlError as err:
        fail(child(path, "table"), str(err))
    integer(data["n_rows"], child(path, "n_rows"), low=1, high=MAX_ROWS, cap="synthsql.model_format.MAX_ROWS")
    columns = data["columns"]
    if not isinstance(columns, list) or not columns:
        fail(child(path, "columns"), f"expected a non-empty list of columns, got {show(columns)}.")
    for i, col in enumerate(columns):
        where = f"{path}.columns[{i}]"
        if not isinstance(col, Mapping):
            fail(where, f"expected an object describing a column, got {show(col)}.")
        for key in ("name", "kind"):
            if key not in col:
                fail(child(where, key), "missing (a column needs 'name' and 'kind').")
            string(col[key], child(where, key))
        _column_types(col, where)
        try:
            ColumnSpec.from_json(col)
        except (SynthsqlError, TypeError, ValueError, KeyError, AttributeError, OverflowError) as err:
            fail(_locate(col, where), str(err))
    try:
        return TableSpec.from_json(data)
    except (SynthsqlError, TypeError, ValueError, KeyError, AttributeError, OverflowError) as err:
        fail(path, str(err))


def _column_types(col: Mapping[str, Any], path: str) -> None:
    """What :class:`ColumnSpec` takes as given: the types of its plain settings, and categories of one type that
    sampling can turn into one Arrow column (booleans for a boolean column)."""
    for key in ("categories", "bins"):
        if col.get(key) is not None and not isinstance(col[key], list):
            fail(child(path, key), f"expected a list, got {show(col[key])}.")
    if not isinstance(col.get("dtype", ""), str):
        fail(child(path, "dtype"), f"expected a type name, got {show(col['dtype'])}.")
    if col.get("n_distinct") is not None:
        integer(col["n_distinct"], child(path, "n_distinct"), low=0)
    if not isinstance(col.get("declared", False), bool):
        fail(child(path, "declared"), f"expected true or false, got {show(col['declared'])}.")
    categories = col.get("categories")
    if isinstance(categories, list):
        family = {"boolean": (bool,)}.get(col["kind"])
        for j, value in enumerate(categories):
            if value is None:
                continue
            if isinstance(value, bool):
                types: tuple[type, ...] = (bool,)
            elif isinstance(value, (int, float)):
                types = (int, float)
            elif isinstance(value, str):
                types = (str,)
            else:
                fail(f"{path}.categories[{j}]", f"expected a string, number or boolean, got {show(value)}.")
            if family is None:
                family = types
            elif types != family:
                what = {(bool,): "booleans", (int, float): "numbers", (str,): "strings"}[family]
                fail(f"{path}.categories[{j}]", f"expected {what} like the column's other categories, got "
                     f"{show(value)}.")


def _locate(col: Mapping[str, Any], path: str) -> str:
    """The path of the first bin :class:`Bin` refuses, else the column's own."""
    bins = col.get("bins")
    if isinstance(bins, list):
        for j, item in enumerate(bins):
            try:
                Bin.from_json(item)
            except (SynthsqlError, TypeError, ValueError, KeyError, AttributeError, OverflowError):
                return f"{path}.bins[{j}]"
    return path


def check_privacy(value: Any, spec: TableSpec, *, generator: str, private: bool) -> dict[str, Any] | None:
    """The privacy block, required exactly for a differentially private method, and consistent with itself.

    ``rho`` must be what ``(epsilon, delta - delta_reserved)`` converts to; each ledger line's ``rho`` what its noise
    scale spends (Gaussian: 1 / (2 sigma^2); exponential mechanism: epsilon^2 / 8); the ledger's rhos must sum to
    at most ``rho``, and the deltas of its threshold releases to at most ``delta_reserved``.
    """
    if value is None:
        if private:
            fail("privacy", f"missing: a model of the differentially private method {generator!r} carries its privacy "
                 "block (epsilon, delta, rho and the ledger of every measurement).")
        return None
    if not private:
        fail("privacy", f"method {generator!r} is not differentially private, so its model has no privacy block.")
    keys = ("epsilon", "delta", "delta_reserved", "rho", "noise", "differentially_private", "ledger")
    block = fields(value, "privacy", keys)
    epsilon = number(block["epsilon"], "privacy.epsilon", low=0.0)
    delta = number(block["delta"], "privacy.delta", low=0.0, high=1.0, open_high=True)
    reserved = number(block["delta_reserved"], "privacy.delta_reserved", low=0.0, high=delta, open_low=False,
                      open_high=True)
    rho = number(block["rho"], "privacy.rho", low=0.0)
    expected = cdp_rho(epsilon, delta - reserved)
    if not _close(rho, expected):
        fail("privacy.rho", f"{rho!r} is not the rho that epsilon={epsilon!r} and delta={delta!r} (of which "
             f"{reserved!r} reserved) give, {expected!r}: the privacy block was edited.")
    noise = block["noise"]
    if noise not in NOISE:
        fail("privacy.noise", f"expected one of {_listing(NOISE)}, got {show(noise)}.")
    dp = block["differentially_private"]
    if not isinstance(dp, bool) or dp != (noise == "private"):
        fail("privacy.differentially_private", f"expected {'true' if noise == 'private' else 'false'} for "
             f"noise={noise!r} (only unseeded noise is differentially private), got {show(dp)}.")
    ledger = block["ledger"]
    if not isinstance(ledger, list) or not ledger:
        fail("privacy.ledger", f"expected the list of the model's measurements, got {show(ledger)}.")
    spent, deltas = [], []
    for i, line in enumerate(ledger):
        step_rho, step_delta = _measurement(line, f"privacy.ledger[{i}]", spec)
        spent.append(step_rho)
        deltas.append(step_delta)
    total = math.fsum(spent)
    if total > rho * (1 + TOLERANCE):
        fail("privacy.ledger", f"the measurements spend rho={total!r}, more than the budget rho={rho!r}.")
    total_delta = math.fsum(deltas)
    if total_delta > reserved * (1 + TOLERANCE):
        fail("privacy.ledger", f"the threshold releases spend delta={total_delta!r}, more than the "
             f"delta_reserved={reserved!r} set aside for them.")
    return dict(block)


def _measurement(value: Any, path: str, spec: TableSpec) -> tuple[float, float]:
    """One ledger line, checked; its rho and delta."""
    line = fields(value, path, ("step", "columns", "mechanism", "rho", "sigma", "epsilon", "delta"))
    string(line["step"], child(path, "step"))
    columns = line["columns"]
    if not isinstance(columns, list):
        fail(child(path, "columns"), f"expected a list of column names, got {show(columns)}.")
    names = set(spec.names)
    for j, name in enumerate(columns):
        if not isinstance(name, str) or name not in names:
            hint = did_you_mean(name, names) if isinstance(name, str) else ""
            fail(f"{path}.columns[{j}]", f"expected a column of table {spec.table!r}, got {show(name)}.{hint}")
    mechanism = line["mechanism"]
    if mechanism not in MECHANISMS:
        fail(child(path, "mechanism"), f"expected one of {_listing(MECHANISMS)}, got {show(mechanism)}.")
    rho = number(line["rho"], child(path, "rho"), low=0.0)
    scale = "epsilon" if mechanism == "exponential" else "sigma"
    for key in ("sigma", "epsilon", "delta"):
        wanted = key == scale or (key == "delta" and mechanism == "gaussian threshold")
        if not wanted and line[key] is not None:
            fail(child(path, key), f"expected null for a {mechanism} measurement, got {show(line[key])}.")
    size = number(line[scale], child(path, scale), low=0.0)
    square = size * size  # (not size**2, which raises OverflowError for a huge size)
    implied = square / 8.0 if mechanism == "exponential" else 1.0 / (2.0 * square) if square > 0 else math.inf
    if not _close(rho, implied):
        formula = "epsilon^2 / 8" if mechanism == "exponential" else "1 / (2 sigma^2)"
        fail(child(path, "rho"), f"{rho!r}, but a {mechanism} measurement with {scale}={size!r} spends "
             f"{formula} = {implied!r}.")
    delta = 0.0
    if mechanism == "gaussian threshold":
        delta = number(line["delta"], child(path, "delta"), low=0.0, high=1.0, open_high=True)
    return rho, delta


def check_holdout(value: Any) -> Any:
    """The holdout split the model was fitted with (a :class:`synthsql.holdout.Holdout`), or None."""
    from synthsql.holdout import Holdout

    if value is None:
        return None
    fields(value, "holdout", ("share", "seed"))
    try:
        return Holdout.from_json(value)
    except SynthsqlError as err:
        fail("holdout", str(err))


def check_rules(value: Any, spec: TableSpec) -> tuple[Any, ...]:
    """The edit rules the model's samples meet: each parsed and checked as any rule is (the closed predicate language
    of :mod:`synthsql.rules`) and bound to the spec's columns; a forged rule is refused naming ``rules[i]``."""
    from synthsql.rules import Rule

    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_RULES:
        fail("rules", f"expected a list of at most {MAX_RULES} edit rules, got {show(value)}")
    out = []
    for i, item in enumerate(value):
        try:
            rule = Rule.from_json(item)
            rule._bound(spec.names, spec.table)
        except SynthsqlError as err:
            fail(f"rules[{i}]", str(err))
        out.append(rule)
    return tuple(out)


def check_null_blocks(value: Any, spec: TableSpec) -> tuple[tuple[str, ...], ...]:
    """Blocks of columns NULL together: lists of two or more modelled columns of the spec, no column in two."""
    if value is None:
        return ()
    modelled = {c.name for c in spec.modelled}
    if not isinstance(value, list) or len(value) > len(modelled):
        fail("null_blocks", f"expected a list of column blocks, got {show(value)}")
    seen: set[str] = set()
    out = []
    for i, block in enumerate(value):
        if not isinstance(block, list) or len(block) < 2 or not all(isinstance(n, str) for n in block):
            fail(f"null_blocks[{i}]", f"expected a list of two or more column names, got {show(block)}")
        for name in block:
            if name not in modelled or name in seen:
                fail(f"null_blocks[{i}]", f"{show(name)} is not a modelled column of the spec, or is in two blocks")
            seen.add(name)
        out.append(tuple(block))
    return tuple(out)


# --------------------------------------------------------------------------------------------------------------
# The fitted state
# --------------------------------------------------------------------------------------------------------------
class StateCheck:
    """Checks of a model's state against its spec, shared by every model class (see ``Model._check_state``).

    Keeps count of the numbers the model's tables will hold, from their declared shapes and before anything is
    allocated, and refuses a model over :data:`MAX_CELLS`.
    """

    def __init__(self, spec: TableSpec) -> None:
        self.spec = spec
        self.cells = {c.name: c.cells for c in spec.modelled}
        self.names = set(spec.names)
        self.used = 0

    @property
    def modelled(self) -> list[str]:
        """The modelled columns, in source order."""
        return list(self.cells)

    def fields(self, value: Any, path: str, required: Sequence[str], optional: Sequence[str] = ()) -> Mapping[str, Any]:
        return fields(value, path, required, optional)

    def reserve(self, numbers: int, path: str) -> None:
        """Count ``numbers`` more toward :data:`MAX_CELLS`, refusing the model before they are allocated."""
        self.used += numbers
        if self.used > MAX_CELLS:
            fail(path, f"the model's tables would hold {self.used:,} numbers or more, over the cap of {MAX_CELLS:,} "
                 "(synthsql.model_format.MAX_CELLS; raise it to load this model).")

    def column(self, value: Any, path: str, columns: Sequence[str] | set[str], what: str = "modelled columns") -> str:
        """A name among ``columns``; ``what`` says what they are, for the message."""
        if not isinstance(value, str):
            fail(path, f"expected a column name, got {show(value)}.")
        if value not in columns:
            if value in self.names:
                fail(path, f"column {value!r} is not one of the {what}.")
            fail(path, f"unknown column {value!r}.{did_you_mean(value, self.names)}")
        return value

    def per_column(self, value: Any, path: str, names: Sequence[str]) -> Mapping[str, Any]:
        """An object with one entry per name in ``names`` (and no other)."""
        if not isinstance(value, Mapping):
            fail(path, f"expected an object with an entry per column ({_listing(names)}), got {show(value)}.")
        wanted = set(names)
        for key in value:
            if key not in wanted:
                self.column(key, child(path, key), wanted)
        for name in names:
            if name not in value:
                fail(child(path, name), f"missing: column {name!r} needs an entry.")
        return value

    def numbers(self, values: Any, path: str, count: int, what: str, *, kind: str) -> np.ndarray:
        """``count`` numbers of one kind: ``count`` (integers in [0, MAX_COUNT]), ``estimate`` (finite, >= 0),
        ``real`` (finite) or ``quantile`` (finite or null, null as NaN)."""
        if not isinstance(values, (list, tuple)):
            fail(path, f"expected a list of {count:,} {what}, got {show(values)}.")
        if len(values) != count:
            fail(path, f"expected {count:,} {what}, got {len(values):,}.")
        allowed = {"count": {int}, "quantile": {int, float, type(None)}}.get(kind, {int, float})
        one = {"count": "a non-negative integer count", "estimate": "a finite number >= 0",
               "quantile": "a finite number or null"}.get(kind, "a finite number")
        types = set(map(type, values))
        if not types <= allowed:
            i = next(i for i, v in enumerate(values) if type(v) not in allowed)
            fail(child(path, i), f"expected {one}, got {show(values[i])}.")
        try:
            array = np.array(values, dtype=np.int64 if kind == "count" else np.float64)
        except OverflowError:  # an integer beyond int64 (counts) or beyond the largest double
            limit = 2**63 if kind == "count" else 2**1024
            i = next(i for i, v in enumerate(values) if isinstance(v, int) and abs(v) >= limit)
            fail(child(path, i), f"expected {one}, got an integer of {abs(values[i]).bit_length()} bits.")
        if kind == "count":
            bad = (array < 0) | (array > MAX_COUNT)
        elif kind == "quantile" and type(None) in types:
            bad = ~np.isfinite(array) & ~np.fromiter((v is None for v in values), dtype=bool, count=count)
        else:
            bad = ~np.isfinite(array) | ((array < 0) if kind == "estimate" else False)
        if bad.any():
            i = int(np.argmax(bad))
            fail(child(path, i), f"expected {one}, got {show(values[i])}.")
        return array

    def counts(self, value: Any, path: str, name: str) -> np.ndarray:
        """A 1-way count vector: one non-negative integer per cell of column ``name``, at least one positive."""
        self.reserve(self.cells[name], path)
        array = self.numbers(value, path, self.cells[name], f"non-negative integer counts (the cells of column "
                             f"{name!r})", kind="count")
        if not array.any():
            fail(path, "every count is zero; a fitted table counts at least one row.")
        return array

    def oneway(self, value: Any, path: str) -> None:
        """One count vector per modelled column (an independence model's marginals)."""
        value = self.per_column(value, path, self.modelled)
        for name in self.modelled:
            self.counts(value[name], child(path, name), name)

    def network(
        self, state: Mapping[str, Any], path: str, columns: Sequence[str], placed: Sequence[str] = ()
    ) -> tuple[list[str], dict[str, list[str]]]:
        """A Bayesian network's ``order`` (each of ``columns`` once) and ``parents`` (columns placed before their
        child, each once; ``placed`` columns, kept ones in partial synthesis, count as placed from the start)."""
        order_path, parents_path = child(path, "order"), child(path, "parents")
        order = state["order"]
        if not isinstance(order, list):
            fail(order_path, f"expected a list of the columns {_listing(columns)}, got {show(order)}.")
        seen: set[str] = set()
        for i, name in enumerate(order):
            self.column(name, child(order_path, i), columns, "columns this model draws")
            if name in seen:
                fail(child(order_path, i), f"column {name!r} is listed twice.")
            seen.add(name)
        for name in columns:
            if name not in seen:
                fail(order_path, f"column {name!r} is missing: the order lists every column the model draws.")
        parents = self.per_column(state["parents"], parents_path, order)
        before = set(placed)
        known = {*placed, *order}
        for name in order:
            where = child(parents_path, name)
            chosen = parents[name]
            if not isinstance(chosen, list):
                fail(where, f"expected a list of parent columns, got {show(chosen)}.")
            listed: set[str] = set()
            for j, parent in enumerate(chosen):
                self.column(parent, child(where, j), known, "columns a parent can be")
                if parent == name:
                    fail(child(where, j), f"column {name!r} cannot be its own parent.")
                if parent not in before:
                    fail(child(where, j), f"parent {parent!r} comes after its child {name!r} in {order_path}.")
                if parent in listed:
                    fail(child(where, j), f"parent {parent!r} is listed twice.")
                listed.add(parent)
            before.add(name)
        return list(order), {k: list(parents[k]) for k in order}

    def tables(
        self,
        value: Any,
        path: str,
        order: Sequence[str],
        parents: Mapping[str, Sequence[str]],
        *,
        kind: str,
        sizes: Mapping[str, int] | None = None,
    ) -> None:
        """Each column's joint table with its parents, of shape (cells of each parent ..., cells of the column):
        ``kind="count"`` for exact counts (at least one positive), ``"estimate"`` for noisy estimates (>= 0)."""
        sizes = self.cells if sizes is None else sizes
        value = self.per_column(value, path, order)
        for name in order:
            where = child(path, name)
            shape = [sizes[p] for p in parents[name]] + [sizes[name]]
            table = fields(value[name], where, ("shape", "values"))
            claimed = table["shape"]
            if not isinstance(claimed, list) or any(type(k) is not int for k in claimed) or claimed != shape:
                dims = " x ".join(f"{sizes[c]} ({c})" for c in [*parents[name], name])
                got = claimed if isinstance(claimed, list) and len(claimed) <= 8 else show(claimed)
                fail(child(where, "shape"), f"expected {shape}, the cells of {dims}, got {got}.")
            self.reserve(math.prod(shape), where)
            what = "non-negative integer counts" if kind == "count" else "finite estimates >= 0"
            array = self.numbers(table["values"], child(where, "values"), math.prod(shape), what, kind=kind)
            if kind == "count" and not array.any():
                fail(child(where, "values"), "every count is zero; a fitted table counts at least one row.")

    def groups(self, value: Any, path: str) -> dict[str, int]:
        """Merged cells (MST's domain compression): per column, a partition of its cells into non-empty groups.
        Returns each compressed column's number of groups."""
        if not isinstance(value, Mapping):
            fail(path, f"expected an object of merged cells per column, got {show(value)}.")
        out = {}
        for name, groups in value.items():
            where = child(path, name)
            self.column(name, where, self.cells)
            cells = self.cells[name]
            if not isinstance(groups, list) or not groups:
                fail(where, f"expected a non-empty list of groups of cells, got {show(groups)}.")
            self.reserve(cells, where)
            seen = [False] * cells
            for i, group in enumerate(groups):
                if not isinstance(group, list) or not group:
                    fail(child(where, i), f"expected a non-empty list of cells, got {show(group)}.")
                for j, cell in enumerate(group):
                    if isinstance(cell, bool) or not isinstance(cell, int) or not 0 <= cell < cells:
                        fail(f"{where}[{i}][{j}]", f"expected a cell of column {name!r} (0 to {cells - 1}), got "
                             f"{show(cell)}.")
                    if seen[cell]:
                        fail(f"{where}[{i}][{j}]", f"cell {cell} is in two groups.")
                    seen[cell] = True
            if not all(seen):
                fail(where, f"cell {seen.index(False)} of column {name!r} is in no group.")
            out[name] = len(groups)
        return out

    def correlation(self, value: Any, path: str, names: Sequence[str]) -> None:
        """A correlation matrix over ``names``: finite, symmetric, unit diagonal, entries in [-1, 1], and positive
        semi-definite within what the copula's sine transform of rank correlations can cost (see SIN_GAP)."""
        d = len(names)
        if not isinstance(value, list) or len(value) != d:
            got = f"{len(value)} rows" if isinstance(value, list) else show(value)
            fail(path, f"expected a {d} x {d} matrix (the modelled columns {_listing(names)}), got {got}.")
        self.reserve(d * d, path)
        matrix = np.array([self.numbers(row, child(path, i), d, "correlations", kind="real")
                           for i, row in enumerate(value)]).reshape(d, d)
        for check, message in (
            (np.abs(matrix - matrix.T) > TOLERANCE, "the matrix is not symmetric: [{i}][{j}] is {v!r} but "
                                                    "[{j}][{i}] is {w!r}."),
            (np.eye(d, dtype=bool) & (np.abs(matrix - 1.0) > TOLERANCE), "a diagonal entry must be 1, got {v!r}."),
            (np.abs(matrix) > 1.0 + TOLERANCE, "a correlation must be in [-1, 1], got {v!r}."),
        ):
            if check.any():
                i, j = (int(k) for k in np.argwhere(check)[0])
                fail(f"{path}[{i}][{j}]", message.format(i=i, j=j, v=float(matrix[i, j]), w=float(matrix[j, i])))
        if d > 1:
            smallest = float(np.linalg.eigvalsh(matrix)[0])
            floor = -(SIN_GAP * (d - 1) + TOLERANCE)
            if smallest < floor:
                fail(path, f"the matrix is not a correlation matrix: its smallest eigenvalue is {smallest:.4g}, below "
                     f"{floor:.4g} (positive semi-definite up to the copula's sine transform).")

    def quantiles(self, value: Any, path: str = "quantiles") -> None:
        """Within-bin quantiles: per numeric column, (cells x grid) finite numbers or nulls, non-decreasing within
        each bin (compared as doubles; the model keeps whole numbers beyond 2**53 exact)."""
        numeric = [c.name for c in self.spec.modelled if c.kind in NUMERIC_KINDS]
        if not isinstance(value, Mapping):
            fail(path, f"expected an object of within-bin quantiles per numeric column, got {show(value)}.")
        for name, rows in value.items():
            where = child(path, name)
            self.column(name, where, numeric, "numeric modelled columns")
            cells = self.cells[name]
            if not isinstance(rows, list) or len(rows) != cells:
                got = f"{len(rows)}" if isinstance(rows, list) else show(rows)
                fail(where, f"expected {cells} rows of quantiles (the cells of column {name!r}), got {got}.")
            self.reserve(cells * WITHIN_BIN_GRID, where)
            table = np.array([self.numbers(row, child(where, i), WITHIN_BIN_GRID, "quantiles (a number or null "
                                           "each)", kind="quantile") for i, row in enumerate(rows)])
            table = table.reshape(cells, WITHIN_BIN_GRID)
            running = np.fmax.accumulate(table, axis=1)  # the largest quantile so far in each bin, nulls skipped
            falling = table[:, 1:] < running[:, :-1]
            if falling.any():
                i, j = (int(k) for k in np.argwhere(falling)[0])
                fail(f"{where}[{i}][{j + 1}]", f"quantiles within a bin must not decrease, got "
                     f"{float(table[i, j + 1])!r} after {float(running[i, j])!r}.")
