"""A seeded training/holdout split of a table's rows, computed in the database and the same on every backend.

Distance- and inference-based disclosure risk (:mod:`synthsql.metrics.distance`) compares how close the synthetic
data come to the records they were fitted on (*training*) with how close they come to records of the same
population they never saw (*holdout*, the control set; Platzer & Reutterer 2021, anonymeter). :class:`Holdout`
declares that split: the generator reads ``holdout.training(table)`` only, and the evaluation uses
``holdout.holdout(table)`` as the control.

How a row is assigned (no row ever reaches Python):

1. every column is written as text, in the order of the column names, each part ``'N'`` for NULL or
   ``length(text) || ':' || text`` for a value, joined by ``'|'`` (self-delimiting, so two different rows never
   give the same text); numbers are written so that DuckDB and PostgreSQL spell them alike (integers through
   BIGINT, doubles in their shortest round-trip form with whole numbers as integers, NaN and infinities named),
   booleans as ``t``/``f``, dates as epoch days and timestamps as epoch microseconds (see ``_portable_double``);
2. ``md5(<salt> || ':' || <seed> || '|' || <text>)``, a function both databases have;
3. its first 8 hex digits turned into an integer ``n`` in ``[0, 2**32)`` with plain arithmetic (the position of
   each digit in ``'0123456789abcdef'`` times a power of 16), not with a dialect's cast from hex;
4. the row is in the holdout when ``n / 2**32 < share``.

So the split is a pure function of a row's content and the seed: the same on DuckDB and PostgreSQL, the same in
every run, and independent of the physical order of the rows. **Identical rows land on the same side** (they have
the same hash): a table with duplicated rows keeps all copies of a record together, which is what a membership test
needs (a record is either seen or not), and the realised share is close to ``share`` as long as no single row is
repeated a large part of the table.

>>> import synthsql as ss
>>> db = ss.connect("duckdb://")
>>> _ = db.backend.raw_sql("CREATE TABLE p AS SELECT i AS id, i % 3 AS g FROM range(1000) r(i)")
>>> split = Holdout(0.2, seed=1)
>>> t = db.table("p")
>>> n_holdout = split.holdout(t).count().execute()
>>> n_holdout + split.training(t).count().execute()
1000
>>> 150 < n_holdout < 250
True
>>> Holdout.from_json(split.to_json()) == split
True
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ibis

from synthsql.errors import InvalidParameterError, UnsupportedTypeError, did_you_mean
from synthsql.schema import kind_of

__all__ = ["Holdout", "row_text", "hash_number", "with_hashes"]

_HEX = "0123456789abcdef"
HOLDOUT_DIGITS = 8  # 32 bits: the holdout threshold is resolved to 1 / 2**32
HOLDOUT_SALT = "holdout"


@ibis.udf.scalar.builtin(name="md5")
def _md5(value: str) -> str:  # pragma: no cover - a database function, never called in Python
    """md5 of a text as 32 lower-case hex digits: the same function on DuckDB and PostgreSQL."""


@ibis.udf.scalar.builtin(name="substr")
def _substr(value: str, start: int, length: int) -> str:  # pragma: no cover - a database function
    """``substr(text, start, length)``, 1-based, as both databases have it (Ibis's own adds a CASE per call)."""


@ibis.udf.scalar.builtin(name="strpos")
def _strpos(value: str, part: str) -> int:  # pragma: no cover - a database function
    """``strpos(text, part)``: the 1-based position of ``part`` in ``text``, 0 when absent."""


def _portable_double(x: ibis.FloatingValue, exponent: ibis.FloatingValue | None = None) -> ibis.StringValue:
    """A double as text that DuckDB, PostgreSQL and Spark spell alike.

    All three write the doubles between 1e-3 and 1e7 in their shortest round-trip form, fixed notation, and
    agree there; outside that range they differ (DuckDB ``1e-05``, Spark ``1.0E-5``; DuckDB ``12345678.912``,
    Spark ``1.2345678912E7``; PostgreSQL switches to an exponent at 1e15 and writes some doubles with 17 digits),
    and they name NaN and the infinities differently. So: NaN and infinities by name; whole numbers below 9e18 in
    magnitude through BIGINT; every other double outside [1e-3, 1e7) as its 53-bit integer mantissa and binary
    exponent (``m 'p' k`` with x = m * 2**k, exact; see :func:`_binary_exponent`, which ``exponent`` may hold
    already, computed in a query layer below so that Spark's code generator sees a small expression); the rest as
    the database writes it. The CASE branches are evaluated in order, so no cast ever sees a value out of its range.
    """
    exponent = _binary_exponent(x) if exponent is None else exponent
    whole = x.cast("int64")
    size = x.abs()
    two = ibis.literal(2.0)
    # x / 2**(exponent - 52), exact: a whole number of at most 53 bits (tiny x scaled up first, by a power of two)
    mantissa = ibis.ifelse(
        exponent < 0, (x * two.pow(600.0)) / two.pow(exponent + 548.0), x / two.pow(exponent - 52.0)
    ).cast("int64")
    binary = mantissa.cast("string") + "p" + (exponent - 52.0).cast("int64").cast("string")
    return ibis.cases(
        (x.isnan(), ibis.literal("nan")),
        (x == math.inf, ibis.literal("inf")),
        (x == -math.inf, ibis.literal("-inf")),
        (size >= 9e18, binary),
        (x == whole.cast("float64"), whole.cast("string")),
        ((size < 1e-3) | (size >= 1e7), binary),
        else_=x.cast("string"),
    )


def _binary_exponent(x: ibis.FloatingValue) -> ibis.FloatingValue:
    """floor(log2 |x|), never below -1022 (0 for zero, NaN and the infinities): ``ln`` gives it to within one,
    and exact comparisons with powers of two correct it (a double exponent, so that PostgreSQL takes pow(double,
    double) and not its NUMERIC power; never a power below 2**-1022, whose subnormal result PostgreSQL refuses, nor
    |x| / 2, which underflows there)."""
    size = x.abs()
    two = ibis.literal(2.0)
    guess = ibis.greatest(ibis.least((size.ln() / math.log(2.0)).floor(), 1023), -1022).cast("float64")
    above = (guess < 1023) & (size >= two.pow(ibis.least(guess + 1.0, 1023.0)))
    exponent = guess - ibis.ifelse(size < two.pow(guess), 1.0, 0.0) + ibis.ifelse(above, 1.0, 0.0)
    finite = (size > 0) & (size < math.inf)  # NaN is neither (it sorts above infinity on every engine)
    return ibis.ifelse(finite, ibis.greatest(exponent, -1022.0), 0.0)


def _value_text(column: ibis.Value, name: str, exponent: ibis.FloatingValue | None = None) -> ibis.StringValue:
    """One column's value as portable text (NULL stays NULL); ``exponent``: a numeric column's
    :func:`_binary_exponent`, when a query layer below computed it."""
    dtype = column.type()
    kind = kind_of(dtype)
    if kind == "categorical":
        return column
    if kind == "boolean":
        return ibis.ifelse(column, "t", "f")
    if kind == "integer":
        return column.cast("int64").cast("string")
    if kind == "numeric":
        return _portable_double(column.cast("float64"), exponent)
    if kind == "date":
        return column.epoch_days().cast("int64").cast("string")
    if kind == "timestamp":
        return column.delta(ibis.timestamp("1970-01-01 00:00:00"), unit="microsecond").cast("int64").cast("string")
    if kind == "identifier":  # UUID: lower-case hex with dashes on both backends
        return column.cast("string")
    raise UnsupportedTypeError(
        f"Column {name!r} has type {dtype}, which synthsql cannot hash the same way on every database; "
        "drop it from the table (or a view of it) before splitting."
    )


def row_text(t: ibis.Table, columns: Sequence[str] | None = None) -> ibis.StringValue:
    """The row's content as one text, never NULL, equal for two rows exactly when they agree on ``columns``.

    ``columns`` defaults to every column of ``t``; they are taken in the order of their names, so a copy of a table
    with its columns in another order gives the same text. Each part is ``'N'`` for NULL or ``length || ':' ||
    text``; parts are joined by ``'|'``.
    """
    names = sorted(t.columns if columns is None else columns)
    if not names:
        raise InvalidParameterError("A row hash needs at least one column.")
    parts = []
    for name in names:
        text = _value_text(t[name], name)
        # NULL || x is NULL on both backends, so the coalesce turns exactly the NULLs into 'N'.
        parts.append((text.length().cast("string") + ":" + text).fill_null("N"))
    return _joined(parts)


def _joined(parts: Sequence[ibis.StringValue]) -> ibis.StringValue:
    """The parts joined by ``'|'``, as a balanced tree of concatenations: the same text as a fold from the left,
    but nested log2(n) deep instead of n, which Ibis walks recursively (a 200-column table passed Python's
    recursion limit)."""
    if len(parts) == 1:
        return parts[0]
    middle = len(parts) // 2
    return _joined(parts[:middle]) + "|" + _joined(parts[middle:])


def with_hashes(
    t: ibis.Table, hashes: Mapping[str, tuple[str, int, int]], columns: Sequence[str] | None = None
) -> ibis.Table:
    """``t`` with one column per entry ``name: (salt, seed, digits)`` holding :func:`hash_number` of the row text.

    Layered in subqueries (row text, then the digests, then the numbers), so that each text and digest is built
    once per row instead of once per hex digit: the same numbers as the one-expression form, computed faster.
    ``columns`` (default: all) are the columns hashed; the result has the columns of ``t`` plus the hashes.
    """
    names = list(t.columns)
    hashed = sorted(t.columns if columns is None else columns)
    if not hashed:
        raise InvalidParameterError("A row hash needs at least one column.")
    # Each layer is a SELECT of its own whose new columns are fenced (_fenced), so that no optimizer pastes them
    # into the layer above, where each would be rebuilt once per use: PostgreSQL would rebuild every value's text
    # and the md5 once per hex digit, in one expression so long that its JIT compiler takes minutes over it
    # (eusilc: 217 s against 0.2 s), and Spark's plan grew past its driver's memory. DuckDB is unaffected either way.
    numeric = {name: f"_synthsql_e{i}" for i, name in enumerate(hashed) if kind_of(t[name].type()) == "numeric"}
    layered = t
    if numeric:  # the binary exponents of the numeric columns first: a small expression for each value's text
        layered = t.mutate(**{e: _fenced(_binary_exponent(t[name].cast("float64"))) for name, e in numeric.items()})
    values = {
        f"_synthsql_v{i}": _value_text(layered[name], name, layered[numeric[name]] if name in numeric else None)
        for i, name in enumerate(hashed)
    }
    layered = layered.mutate(**{v: _fenced(text) for v, text in values.items()})
    text = _joined([(layered[v].length().cast("string") + ":" + layered[v]).fill_null("N") for v in values])
    digests = {f"_synthsql_md5_{i}": (name, spec) for i, (name, spec) in enumerate(hashes.items())}
    layered = layered.mutate(
        **{d: _fenced(_md5(ibis.literal(f"{salt}:{int(seed)}|") + text)) for d, (_, (salt, seed, _n)) in digests.items()}
    )
    layered = layered.mutate(
        **{name: _fenced(_digits(layered[d], digits)) for d, (name, (_s, _e, digits)) in digests.items()}
    )
    return layered.select(*names, *hashes)


def _fenced(value: ibis.Value) -> ibis.Value:
    """``value``, unchanged, behind a volatile test that always holds (``floor(random()) = 0``; Spark sees through
    ``random() >= 0``, which it knows to hold, and drops it): the optimizers treat a
    column computed with a volatile function as computed once, where it is. PostgreSQL does not pull such a
    subquery up into the query above; Spark neither merges such a projection into the one above nor pushes a
    filter through it; Ibis keeps the SELECT apart. (A row-number window did this before, but Spark drops a window
    whose column is unused, and a window over all rows runs in one task there.)"""
    return ibis.ifelse(ibis.random().floor() == 0, value, ibis.null(value.type()))


def _digits(digest: ibis.StringValue, digits: int) -> ibis.FloatingValue:
    if not 1 <= digits <= 13:
        raise InvalidParameterError(f"A hash number takes 1 to 13 hex digits, got {digits!r}.")
    # Doubles, not integers: PostgreSQL's POSITION is a 4-byte int and Ibis drops a cast to BIGINT it thinks
    # redundant, so 15 * 16**7 would overflow; every partial sum is a whole number below 2**52, exact in a double.
    terms = [
        (_strpos(_HEX, _substr(digest, i + 1, 1)) - 1).cast("float64") * float(16 ** (digits - 1 - i))
        for i in range(digits)
    ]
    return functools.reduce(lambda a, b: a + b, terms)


def hash_number(text: ibis.StringValue, *, salt: str, seed: int, digits: int = 13) -> ibis.FloatingValue:
    """The first ``digits`` hex digits of ``md5(salt || ':' || seed || '|' || text)`` as a whole number.

    Plain arithmetic on the position of each digit in ``'0123456789abcdef'``, the same on every backend; the result
    is a double holding a whole number below ``16**digits`` (13 digits, 52 bits, are exact).
    """
    return _digits(_md5(ibis.literal(f"{salt}:{int(seed)}|") + text), digits)


@dataclass(frozen=True)
class Holdout:
    """A seeded split of a table's rows into training and holdout (the control set); see the module documentation.

    ``share`` is the expected share of holdout rows, in (0, 0.5]; ``seed`` picks the split.
    """

    share: float
    seed: int = 0

    def __post_init__(self) -> None:
        share = self.share
        if (
            isinstance(share, bool)
            or not isinstance(share, (int, float))
            or not math.isfinite(share)
            or not 0.0 < share <= 0.5
        ):
            raise InvalidParameterError(
                f"The holdout share must be a number in (0, 0.5]: the part of the rows kept out of fitting. "
                f"Got {share!r}."
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise InvalidParameterError(f"The holdout seed must be an int, got {self.seed!r}.")
        object.__setattr__(self, "share", float(share))

    @property
    def threshold(self) -> int:
        """A row is in the holdout when its 32-bit hash number is below this (``ceil(share * 2**32)``)."""
        return math.ceil(self.share * 16**HOLDOUT_DIGITS)

    def number(self, t: ibis.Table) -> ibis.FloatingValue:
        """The row's 32-bit hash number in ``[0, 2**32)``."""
        return hash_number(row_text(t), salt=HOLDOUT_SALT, seed=self.seed, digits=HOLDOUT_DIGITS)

    def is_holdout(self, t: ibis.Table) -> ibis.BooleanValue:
        """True for the rows of ``t`` in the holdout, as an Ibis expression on ``t``.

        One expression, so it repeats each column's text once per hex digit: on PostgreSQL with JIT on, a wide table
        of doubles can spend minutes compiling it. :meth:`training`, :meth:`holdout` and :meth:`marked` select the
        same rows through layered SELECTs and do not have that cost.
        """
        return self.number(t) < self.threshold

    def marked(
        self, t: ibis.Table, name: str = "_synthsql_holdout", columns: Sequence[str] | None = None
    ) -> ibis.Table:
        """``t`` with a boolean column ``name``, True for the holdout rows: the same rows as :meth:`is_holdout`, in
        layered SELECTs that PostgreSQL evaluates far faster. ``columns``: the columns hashed (default: all)."""
        numbered = with_hashes(t, {name: (HOLDOUT_SALT, self.seed, HOLDOUT_DIGITS)}, columns)
        return numbered.mutate(**{name: numbered[name] < self.threshold})

    def training(self, t: ibis.Table) -> ibis.Table:
        """The rows of ``t`` not in the holdout: what a generator may be fitted on."""
        flag = "_synthsql_holdout"
        marked = self.marked(t, flag)
        return marked.filter(~marked[flag]).drop(flag)

    def holdout(self, t: ibis.Table) -> ibis.Table:
        """The rows of ``t`` in the holdout: records the generator never saw."""
        flag = "_synthsql_holdout"
        marked = self.marked(t, flag)
        return marked.filter(marked[flag]).drop(flag)

    def to_json(self) -> dict[str, Any]:
        return {"share": self.share, "seed": self.seed}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Holdout:
        """The split saved by :meth:`to_json` (``seed`` defaults to 0), checked as on creation."""
        if not isinstance(data, Mapping):
            raise InvalidParameterError(f"A holdout is {{'share': ..., 'seed': ...}}, got {type(data).__name__}.")
        for key in data:
            if key not in ("share", "seed"):
                hint = did_you_mean(key, ("share", "seed")) if isinstance(key, str) else ""
                raise InvalidParameterError(
                    f"A holdout is {{'share': ..., 'seed': ...}}: unknown key {key!r}.{hint}"
                )
        if "share" not in data:
            raise InvalidParameterError("A holdout is {'share': ..., 'seed': ...}: 'share' is missing.")
        return cls(share=data["share"], seed=data.get("seed", 0))
