"""Global utility: can a propensity model tell the real rows from the synthetic ones? (Woo et al. 2009)

Stack the real (n1 rows) and synthetic (n2 rows) tables, label synthetic rows t = 1, fit a propensity model, and
measure how far the fitted probabilities stray from the share c = n2 / N they would all have if the tables were
indistinguishable: pMSE = (1/N) * sum_i (p_i - c)^2. S_pMSE divides by the pMSE expected when the synthetic data come
from the same distribution (Snoke et al. 2018), so about 1 is ideal and large values flag a poor synthesis.

* :func:`pmse_cells`: the propensity is the synthetic share of each cell of a set of categorical columns, from one
  GROUP BY per table (a saturated logistic model on the cells); null expectation (g - 1)(1 - c)^2 c / N with g
  non-empty cells.
* :func:`pmse_cart`: a classification tree (scikit-learn) fitted on a *declared, bounded, seeded sample* of rows
  from each table (this metric truly needs rows, so it says so and caps them); the null is the mean pMSE of the
  same tree fitted after permuting the labels (Snoke et al. 2018, section 3.2).
* :func:`pmse_logit`: the logistic propensity model of synthpop's ``utility.gen(method = "logit", maxorder = 1)``,
  main effects plus all two-way interactions of the modelled columns, fitted on the stacked tables *in the
  database* by IRLS (:mod:`synthsql.metrics.glm`, one aggregate query per iteration); null expectation
  (k - 1)(1 - c)^2 c / N with k parameters. A main-effects-only logit sees only the 1-way marginals: a table of
  independent columns scores S_pMSE near 1 on it, so the interactions are the default.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ibis
import numpy as np
from sqlglot import exp

from synthsql.aggregates import AggregateStore
from synthsql.connection import Database, connect
from synthsql.discretize import encode
from synthsql.errors import ColumnNotFoundError, EmptyTableError, InvalidParameterError, ModelFitError, did_you_mean
from synthsql.holdout import with_hashes
from synthsql.metrics import glm
from synthsql.schema import NUMERIC_KINDS, ColumnSpec, TableSpec, numeric_value

__all__ = ["pmse_cart", "pmse_cells", "pmse_logit", "propensity_mse"]


def propensity_mse(p: np.ndarray, weights: np.ndarray, c: float) -> float:
    """(1/N) * sum_i w_i (p_i - c)^2 for propensities ``p`` shared by ``weights`` rows each."""
    return float(np.sum(weights * (p - c) ** 2) / np.sum(weights))


MAX_CELLS = 1_000_000  # the default cross-classification of pmse_cells stays below this many cells


def pmse_cells(
    con: Database | Any, real: str, synthetic: str, spec: TableSpec, /, *, columns: Sequence[str] | None = None
) -> dict[str, Any]:
    """Cell-based pMSE over ``columns`` (default: the key columns of ``spec``, else every categorical column, else,
    for a table without one, every modelled column on its bins; as many of them, in order, as keep the
    cross-classification under ``MAX_CELLS`` cells).

    Returns ``{"pmse", "s_pmse", "null", "cells", "columns"}``.
    """
    db = connect(con)
    if columns is None:
        candidates = (
            spec.keys()
            or [c.name for c in spec.modelled if c.kind in ("categorical", "boolean")]
            or [c.name for c in spec.modelled]  # an all-numeric table: its columns' bins are cells too
        )
        columns, size = [], 1
        for name in candidates:
            size *= spec.column(name).cells
            if size > MAX_CELLS and columns:
                break
            columns.append(name)
    columns = list(columns)
    if not columns:
        raise InvalidParameterError("Cell-based pMSE needs at least one column; name them with columns=[...].")
    a = AggregateStore(db, real, spec).marginal(columns).ravel().astype(np.float64)
    b = AggregateStore(db, synthetic, spec).marginal(columns).ravel().astype(np.float64)
    n = a + b
    occupied = n > 0
    total = n.sum()
    c = b.sum() / total
    pmse = propensity_mse(b[occupied] / n[occupied], n[occupied], c)
    cells = int(occupied.sum())
    null = (cells - 1) * (1 - c) ** 2 * c / total
    return {"pmse": pmse, "s_pmse": float(pmse / null) if null > 0 else float("nan"), "null": float(null), "cells": cells,
            "columns": columns}


def pmse_cart(
    con: Database | Any,
    real: str,
    synthetic: str,
    spec: TableSpec,
    /,
    *,
    sample_rows: int = 5000,
    permutations: int = 20,
    max_depth: int | None = None,
    min_samples_leaf: int = 5,
    seed: int = 0,
) -> dict[str, Any]:
    """pMSE of a CART propensity model on a bounded sample, with the permutation null.

    At most ``sample_rows`` rows are drawn from each table, in the database, as cell codes of the modelled columns
    (``sample_rows`` is what crosses into Python; the sample is seeded, repeatable, and the same rows on every engine:
    :func:`synthsql.holdout.with_hashes` orders them). Returns ``{"pmse", "s_pmse", "null", "rows"}``.
    """
    from sklearn.tree import DecisionTreeClassifier

    db = connect(con)
    if sample_rows < 10:
        raise InvalidParameterError(f"The 'sample_rows' parameter of pmse_cart must be >= 10. Got {sample_rows}.")
    frames = [_coded_sample(db, name, spec, sample_rows, seed) for name in (real, synthetic)]
    x = np.vstack(frames)
    t = np.r_[np.zeros(len(frames[0])), np.ones(len(frames[1]))]
    c = t.mean()
    rng = np.random.default_rng(seed)

    def fitted_pmse(labels: np.ndarray) -> float:
        tree = DecisionTreeClassifier(max_depth=max_depth, min_samples_leaf=min_samples_leaf, random_state=seed)
        tree.fit(x, labels)
        return propensity_mse(tree.predict_proba(x)[:, 1], np.ones(len(labels)), c)

    observed = fitted_pmse(t)
    null = float(np.mean([fitted_pmse(rng.permutation(t)) for _ in range(permutations)]))
    return {"pmse": observed, "s_pmse": observed / null if null > 0 else float("nan"), "null": null, "rows": len(t)}


def _coded_sample(db: Database, name: str, spec: TableSpec, rows: int, seed: int) -> np.ndarray:
    """At most ``rows`` rows of cell codes, the ones with the smallest seeded hash: a top-N, so bounded memory, and
    the same rows every time and on every engine (identical rows hash alike, so ties cannot change the sample)."""
    t = db.table(name)
    codes = t.select(**{f"c{i}": encode(t[c.name], c) for i, c in enumerate(spec.modelled)})
    hashed = with_hashes(codes, {"h_": ("pmse_cart", seed, 13)})  # layered: the md5 once per row, not per digit
    sample = hashed.order_by(["h_", *codes.columns]).limit(rows).drop("h_")
    return sample.to_pandas().to_numpy(dtype=np.float64)


# --------------------------------------------------------------------------------------------------------------
# Logistic propensity model, fitted in the database
# --------------------------------------------------------------------------------------------------------------
def pmse_logit(
    con: Database | Any,
    real: str,
    synthetic: str,
    spec: TableSpec,
    /,
    *,
    columns: Sequence[str] | None = None,
    interactions: bool = True,
    max_parameters: int = glm.MAX_PARAMETERS,
) -> dict[str, Any]:
    """pMSE of a logistic propensity model with main effects and all two-way interactions, fitted in the database.

    The real and synthetic rows are stacked in the database (``UNION ALL``, with t = 0 for real and 1 for synthetic
    rows) and ``t`` is regressed on ``columns`` (default: every modelled column of ``spec``) by IRLS, one aggregate
    query per iteration (Woo et al. 2009; Snoke et al. 2018; synthpop's ``utility.gen`` with ``method = "logit"``,
    ``maxorder = 1``). One query before describes both tables, one after sums (p_i - c)^2; no row leaves the
    database. ``interactions=False`` fits main effects only, which see only the 1-way marginals (a table of
    independent columns then scores S_pMSE near 1).

    The design, from ``spec``:

    * categorical and boolean columns: treatment dummies against the first category of ``spec``;
    * integer and numeric columns, dates (epoch days) and timestamps (epoch microseconds): the value standardised by
      the real table's mean and standard deviation (which changes no fitted probability, but keeps IRLS well
      conditioned);
    * a column with NULLs in either table (for a categorical column: also values outside the categories of
      ``spec``) gets a NULL-indicator main effect, and its value counts as 0 where it is NULL: the reference
      category, or the real table's mean. The indicator enters no interaction;
    * the interaction of two columns: the products of their dummies and standardised values.

    Design columns that are zero in every row or a linear combination of others (a pair of categories that occurs
    in neither table) are dropped, as R's ``glm`` does; ``parameters`` (k) counts those kept, intercept included,
    and the null expectation is (k - 1)(1 - c)^2 c / N with c = n2 / N, S_pMSE = pMSE / null. A design with more
    than ``max_parameters`` parameters (default :data:`~synthsql.metrics.glm.MAX_PARAMETERS`, the cap GLMs share, counted
    by the same :func:`~synthsql.metrics.glm.design_parameters`) is refused before anything is fitted. Rows far out on a numeric column can
    get fitted probabilities of 0 or 1 at finite estimates; ``model`` then says for how many rows.

    Raises :class:`~synthsql.errors.ModelFitError` when the tables are separable: a category, a pair of categories
    or NULLs that occur in one table only predict t perfectly, so the estimates do not exist. The message names the
    terms.

    Returns ``{"pmse", "s_pmse", "null", "parameters", "model"}``; ``model`` describes the design, e.g.
    ``"main effects + 2-way interactions of 7 columns"``.
    """
    db = connect(con)
    if not isinstance(interactions, bool):
        raise InvalidParameterError(f"The 'interactions' parameter must be True or False. Got {interactions!r}.")
    glm._check_max_parameters(max_parameters)
    chosen = _logit_columns(spec, columns)
    tables = {0: db.table(real), 1: db.table(synthetic)}
    for label, t in tables.items():
        for column in chosen:
            if column.name not in t.columns:
                raise ColumnNotFoundError(
                    f"Column {column.name!r} is not in table {(real, synthetic)[label]!r}."
                    f"{did_you_mean(column.name, t.columns)}"
                )
    interactions = interactions and len(chosen) > 1
    plural = "s" * (len(chosen) != 1)
    shape = f"main effects{' + 2-way interactions' * interactions} of {len(chosen)} column{plural}"
    widths = [1 if c.kind in NUMERIC_KINDS else len(c.categories or ()) - 1 for c in chosen]
    names = [c.name for c in chosen]
    terms = [(name,) for name in names] + (list(itertools.combinations(names, 2)) if interactions else [])
    levels = {c.name: len(c.categories or ()) for c in chosen if c.kind not in NUMERIC_KINDS}
    k = glm.design_parameters(terms, levels)  # the count GLMs are capped by
    if k > max_parameters:  # before any query; the NULL indicators can only add to k
        raise _too_many(k, max_parameters, shape, chosen, widths, real, synthetic)

    stats = _logit_stats(db, tables, chosen, interactions)
    for label in (0, 1):
        if stats.rows[label] == 0:
            raise EmptyTableError(
                f"Table {(real, synthetic)[label]!r} has no rows: pMSE compares two non-empty tables."
            )
    factors = [_factor(column, stats, j) for j, column in enumerate(chosen)]
    design = _logit_design(factors, interactions)
    if len(design) > max_parameters:
        raise _too_many(len(design), max_parameters, shape, chosen, widths, real, synthetic)
    total = sum(stats.rows)
    if total <= len(design):
        raise InvalidParameterError(
            f"The logistic pMSE model ({shape}) has {len(design)} parameters but {real!r} and {synthetic!r} have "
            f"only {total} rows together; it needs more rows than parameters. Name fewer columns with columns=[...]."
        )
    _check_separation(design, stats, real, synthetic)

    def branch(label: int) -> ibis.Table:
        t = tables[label]
        return t.select(y=ibis.literal(label).cast("float64"), **{f"x{j}": d.expr(t) for j, d in enumerate(design)})

    joined = " + ".join(c.name for c in chosen)
    fit = glm._irls_fit(
        db,
        branch(0).union(branch(1), distinct=False),
        [d.name for d in design],
        [d.parts for d in design],
        glm.Formula(text=f"t ~ ({joined})^2" if interactions else f"t ~ {joined}", response="t", terms=()),
        "binomial",
        f"{real} UNION ALL {synthetic}",
        50,
        1e-10,
        drop_aliased=True,
        allow_clipped=True,
    )
    c = stats.rows[1] / total
    bound = glm._ETA_BOUND["binomial"]
    eta = ibis.greatest(ibis.least(glm._linear_predictor(fit.rows, fit.beta), bound), -bound)
    fitted = fit.rows.select(d_=1.0 / (1.0 + (-eta).exp()) - c)
    pmse = _exact_sum_of_squares(db, fitted, "d_") / total
    k = len(fit.names)
    null = (k - 1) * (1 - c) ** 2 * c / total
    model = shape
    missing = [f.column.name for f in factors if f.missing is not None]
    if missing:
        model += f", NULL indicators for {', '.join(missing)}"
    if fit.dropped:
        model += f"; {len(fit.dropped)} aliased parameter{'s' * (len(fit.dropped) != 1)} dropped"
    if fit.clipped:
        model += f"; fitted probabilities numerically 0 or 1 for {fit.clipped} row{'s' * (fit.clipped != 1)}"
    return {
        "pmse": float(pmse),
        "s_pmse": float(pmse / null) if null > 0 else float("nan"),
        "null": float(null),
        "parameters": k,
        "model": model,
    }


@dataclass(frozen=True, slots=True)
class _DesignColumn:
    name: str
    expr: Callable[[ibis.Table], ibis.Value]  # the column's float64 value on either table
    parts: glm.Parts  # what it is a product of, for the engine's plan of XᵀWX


@dataclass(frozen=True, slots=True)
class _Factor:
    """One column of ``spec`` in the logit design: its dummies or standardised value, and its NULL indicator."""

    column: ColumnSpec
    values: tuple[_DesignColumn, ...]
    missing: _DesignColumn | None


@dataclass(frozen=True, slots=True)
class _Stats:
    """What the query before the fit finds, per table (index 0 real, 1 synthetic)."""

    rows: tuple[int, int]
    location: tuple[tuple[float, float] | None, ...]  # per column: the real table's mean and sd (numeric kinds)
    # The rows holding each category, pair of categories, and NULL ({(column, glm._MISSING)}: NULL or a category
    # outside the spec) of a column.
    occurs: Mapping[frozenset[tuple[str, Any]], tuple[int, int]]


def _logit_columns(spec: TableSpec, columns: Sequence[str] | None) -> list[ColumnSpec]:
    if columns is None:
        chosen = list(spec.modelled)
    else:
        if isinstance(columns, str):
            raise InvalidParameterError(f"The 'columns' parameter is a list of names, got the string {columns!r}.")
        chosen = [spec.column(name) for name in columns]  # ColumnNotFoundError with a suggestion
        for column in chosen:
            if not column.modelled:
                raise InvalidParameterError(
                    f"Column {column.name!r} is of kind {column.kind!r}; the logistic pMSE models categorical, "
                    f"boolean and {', '.join(NUMERIC_KINDS)} columns."
                )
        names = [c.name for c in chosen]
        if len(set(names)) != len(names):
            raise InvalidParameterError(f"The 'columns' parameter names a column twice: {names}.")
    if not chosen:
        raise InvalidParameterError(
            f"The logistic pMSE needs at least one modelled column; table {spec.table!r} has none."
            if columns is None
            else "The logistic pMSE needs at least one column; name them with columns=[...]."
        )
    return chosen


def _too_many(
    k: int,
    limit: int,
    shape: str,
    chosen: Sequence[ColumnSpec],
    widths: Sequence[int],
    real: str,
    synthetic: str,
) -> InvalidParameterError:
    widest = sorted(zip(widths, (c.name for c in chosen), strict=True), key=lambda wc: -wc[0])[:3]
    listed = ", ".join(f"{name!r} ({width} parameter{'s' * (width != 1)})" for width, name in widest)
    return InvalidParameterError(
        f"The logistic pMSE model ({shape}) of {real!r} and {synthetic!r} has {k} parameters, more than "
        f"max_parameters={limit}. The widest columns are {listed}; with "
        f"two-way interactions every pair of columns multiplies. Name fewer columns with columns=[...], fit main "
        f"effects only with interactions=False ({1 + sum(widths)} parameters), or raise max_parameters."
    )


def _is_missing(value: ibis.Value, column: ColumnSpec) -> ibis.BooleanValue:
    if column.kind in ("categorical", "boolean"):
        return value.isnull() | ~value.isin(list(column.categories or ()))
    return value.isnull()


def _number(t: ibis.Table, column: ColumnSpec) -> ibis.Value:
    return numeric_value(t[column.name], column.kind).cast("float64")


def _logit_stats(
    db: Database, tables: Mapping[int, ibis.Table], columns: Sequence[ColumnSpec], interactions: bool
) -> _Stats:
    """One query over both tables: row counts; per column the rows missing; the real table's mean and sd of each
    numeric column; the rows holding each category and, with interactions, each pair of categories of two columns
    (the dummies and their products: a term that occurs in one table only separates the tables)."""
    dummies = [
        [(j, level) for level in (c.categories or ())[1:]] if c.kind not in NUMERIC_KINDS else []
        for j, c in enumerate(columns)
    ]
    combos = [[d] for ds in dummies for d in ds]
    if interactions:
        combos += [list(pair) for a, b in itertools.combinations(dummies, 2) for pair in itertools.product(a, b)]
    # Numeric columns as numbers, so that the two tables' types agree whatever their widths.
    stacked = [
        t.select(
            t_=ibis.literal(label),
            **{f"c{j}": _number(t, c) if c.kind in NUMERIC_KINDS else t[c.name] for j, c in enumerate(columns)},
        )
        for label, t in tables.items()
    ]
    u = stacked[0].union(stacked[1], distinct=False)

    def count(condition: ibis.BooleanValue, label: int) -> ibis.Value:
        return ibis.ifelse(condition & (u.t_ == label), 1, 0).sum()

    metrics: dict[str, ibis.Value] = {}
    for label in (0, 1):
        metrics[f"n_{label}"] = count(ibis.literal(True), label)
        for j, column in enumerate(columns):
            metrics[f"na_{label}_{j}"] = count(_is_missing(u[f"c{j}"], column), label)
        for i, combo in enumerate(combos):
            held = functools.reduce(operator.and_, [u[f"c{j}"] == level for j, level in combo])
            metrics[f"o_{label}_{i}"] = count(held.fill_null(False), label)
    for j, column in enumerate(columns):
        if column.kind in NUMERIC_KINDS:  # for the real table's exact mean and sd (fitness._exact_moments)
            metrics[f"count{j}"] = u[f"c{j}"].count(where=u.t_ == 0)
            metrics[f"min{j}"] = u[f"c{j}"].min(where=u.t_ == 0)
            metrics[f"max{j}"] = u[f"c{j}"].max(where=u.t_ == 0)
    row = glm._fetch_one(db, u.aggregate(**metrics))

    def number(name: str) -> int:
        return int(glm._number(row[name]))

    from synthsql.metrics.fitness import _exact_moments

    # The mean and sd standardise the design: a plain AVG or STDDEV of doubles changed in its last bits from run to
    # run on a parallel aggregate, and with them the fitted coefficients and the pMSE's last bits.
    numeric = [(j, c) for j, c in enumerate(columns) if c.kind in NUMERIC_KINDS]
    moments: dict[str, Any] = {}
    for j, _ in numeric:
        moments[f"count{j}"] = number(f"count{j}")
        for bound in ("min", "max"):
            moments[f"{bound}{j}"] = None if row[f"{bound}{j}"] is None else float(row[f"{bound}{j}"])
    moments.update(_exact_moments(db, tables[0], numeric, moments))

    location: list[tuple[float, float] | None] = []
    for j, column in enumerate(columns):
        if column.kind not in NUMERIC_KINDS:
            location.append(None)
            continue
        mean, sd = moments[f"mean{j}"], moments[f"sd{j}"]
        # A column that is NULL or constant in the real table is only centred (or left as it is).
        location.append((0.0 if mean is None else mean, sd if sd is not None and sd > 0 else 1.0))
    occurs = {
        frozenset((columns[j].name, level) for j, level in combo): (number(f"o_0_{i}"), number(f"o_1_{i}"))
        for i, combo in enumerate(combos)
    }
    for j, column in enumerate(columns):
        occurs[frozenset([(column.name, glm._MISSING)])] = (number(f"na_0_{j}"), number(f"na_1_{j}"))
    return _Stats(rows=(number("n_0"), number("n_1")), location=tuple(location), occurs=occurs)


def _factor(column: ColumnSpec, stats: _Stats, j: int) -> _Factor:
    location = stats.location[j]
    if location is not None:
        mean, sd = location

        def standardised(t: ibis.Table) -> ibis.Value:
            return ((_number(t, column) - mean) / sd).fill_null(0.0)

        values: tuple[_DesignColumn, ...] = (_DesignColumn(column.name, standardised, ((column.name, glm._NUMERIC),)),)
    else:
        values = tuple(
            _DesignColumn(
                f"{column.name}[T.{level}]",
                lambda t, level=level: glm._indicator(t[column.name] == level),
                ((column.name, level),),
            )
            for level in (column.categories or ())[1:]
        )
    indicator = None
    if sum(stats.occurs[frozenset([(column.name, glm._MISSING)])]):
        indicator = _DesignColumn(
            f"{column.name}[NULL]",
            lambda t: glm._indicator(_is_missing(t[column.name], column)),
            ((column.name, glm._MISSING),),
        )
    return _Factor(column, values, indicator)


def _logit_design(factors: Sequence[_Factor], interactions: bool) -> list[_DesignColumn]:
    """Intercept, each column's main effects (and NULL indicator), then the products for every pair of columns."""
    design = [_DesignColumn("Intercept", lambda t: ibis.literal(1).cast("float64"), ())]
    for factor in factors:
        design.extend(factor.values)
        if factor.missing is not None:
            design.append(factor.missing)
    if interactions:
        for a, b in itertools.combinations(factors, 2):
            for u, v in itertools.product(a.values, b.values):
                design.append(
                    _DesignColumn(f"{u.name}:{v.name}", lambda t, u=u, v=v: u.expr(t) * v.expr(t), u.parts + v.parts)
                )
    return design


def _exact_sum_of_squares(db: Database, rows: ibis.Table, column: str) -> float:
    """The sum of ``column``² over ``rows``, for values in [-1, 1], added exactly in fixed point: each square scaled
    by 2^62 and rounded to an integer (an error of at most 2^-63 a row), the integers summed exactly by the engine
    (:meth:`~synthsql.engines.Engine.integer_sum`), so the total does not depend on the order in which a parallel
    aggregate adds the rows, and the pMSE is the same to the bit from run to run."""
    engine = db.engine
    value = exp.column(column, quoted=True)
    scaled = exp.Mul(this=exp.Mul(this=value, expression=value.copy()), expression=exp.Literal.number(str(2**62)))
    total = exp.alias_(engine.integer_sum(engine.round_integer(scaled)), "ss_", quoted=True)
    tree = exp.select(total).from_(exp.Subquery(this=db.compile(rows), alias=exp.TableAlias(this=exp.to_identifier("r"))))
    value = glm._fetch_tree(db, tree)["ss_"]
    return 0.0 if value is None else int(value) / 2**62


def _check_separation(design: Sequence[_DesignColumn], stats: _Stats, real: str, synthetic: str) -> None:
    """Refuse a term whose categories (or NULLs) occur in one table only: it predicts t perfectly on its rows, and
    the maximum-likelihood estimates do not exist. Numeric factors count as nonzero."""
    only: dict[int, list[str]] = {0: [], 1: []}
    for d in design:
        levels = frozenset((f, v) for f, v in d.parts if v is not glm._NUMERIC)
        if not levels:
            continue
        counts = stats.occurs[levels]
        if (counts[0] > 0) != (counts[1] > 0):
            only[0 if counts[0] else 1].append(d.name)
    if not (only[0] or only[1]):
        return
    found = [
        f"{', '.join(repr(n) for n in names[:5])}{f' and {len(names) - 5} more' if len(names) > 5 else ''} "
        f"{'occurs' if len(names) == 1 else 'occur'} only in the {('real', 'synthetic')[label]} table "
        f"{(real, synthetic)[label]!r}"
        for label, names in only.items()
        if names
    ]
    raise ModelFitError(
        f"Cannot compute the logistic pMSE of {synthetic!r} against {real!r}: the tables are separable on "
        f"{'; '.join(found)}. A term present in one table only predicts t perfectly, so the propensity model's "
        "estimates do not exist (the tables visibly differ there). Leave such columns out with columns=[...], use "
        "interactions=False when the term is an interaction, or use pmse_cells or pmse_cart."
    )
