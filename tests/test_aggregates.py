"""Every aggregate the store computes equals an independent pandas/numpy/scipy computation on the same data."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats

import synthsql as ss
from synthsql.aggregates import AggregateStore
from synthsql.discretize import WITHIN_BIN_PROBS
from synthsql.schema import NUMERIC_KINDS, ColumnSpec, IdentifierColumnWarning


def numbers(series: pd.Series, kind: str) -> np.ndarray:
    """The value a numeric-kind column is binned on, computed in pandas (NaN for NULL)."""
    if kind == "date":
        days = pd.to_datetime(series).astype("datetime64[s]")
        return ((days - pd.Timestamp("1970-01-01")) // pd.Timedelta(days=1)).astype("float64").to_numpy()
    if kind == "timestamp":
        stamp = pd.to_datetime(series).astype("datetime64[us]")
        return ((stamp - pd.Timestamp("1970-01-01")) // pd.Timedelta(microseconds=1)).astype("float64").to_numpy()
    return pd.to_numeric(series).astype("float64").to_numpy()


def pandas_codes(series: pd.Series, col: ColumnSpec) -> np.ndarray:
    """Cell codes by the rules in synthsql.schema, written again with numpy: points first, then intervals."""
    codes = np.full(len(series), col.null_code)
    free = series.notna().to_numpy()
    if col.kind in ("categorical", "boolean"):
        for code, value in enumerate(col.categories):
            hit = free & (series.to_numpy(dtype=object) == value)
            codes[hit], free = code, free & ~hit
        return codes
    x = numbers(series, col.kind)
    top = max(b.hi for b in col.bins)
    for code, b in enumerate(col.bins):
        if b.is_point:
            hit = free & (x == b.lo)
            codes[hit], free = code, free & ~hit
    for code, b in enumerate(col.bins):
        if not b.is_point:
            hit = free & (x >= b.lo) & ((x <= b.hi) if b.hi == top else (x < b.hi))
            codes[hit], free = code, free & ~hit
    return codes


def inverse_cdf(values: np.ndarray, probs) -> np.ndarray:
    """Discrete quantiles by definition, the smallest value whose share at or below it reaches p, in exact
    arithmetic (numpy's inverted_cdf computes p * n in floating point and is one value off when it lands on 3.0000001).
    """
    ordered = np.sort(values)
    n = len(ordered)
    return np.array([ordered[max(math.ceil(Fraction(str(float(p))) * n), 1) - 1] for p in probs])


def pandas_marginal(frame: pd.DataFrame, spec: ss.TableSpec, columns: tuple[str, ...]) -> np.ndarray:
    cols = [spec.column(c) for c in columns]
    counts = np.zeros([c.cells for c in cols], dtype=np.int64)
    np.add.at(counts, tuple(pandas_codes(frame[c.name], c) for c in cols), 1)
    return counts


@pytest.fixture(scope="module", params=["mixed", "cps1988", "eusilc"])
def table(request, db):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifierColumnWarning)
        spec = ss.describe(db, request.param)
    frame = db.table(request.param).to_pandas()
    return request.param, spec, frame, AggregateStore(db, request.param, spec)


def test_one_and_two_way_marginals_equal_pandas_exactly(table):
    name, spec, frame, store = table
    names = [c.name for c in spec.modelled]
    for col in names:
        np.testing.assert_array_equal(store.marginal((col,)), pandas_marginal(frame, spec, (col,)))
    pairs = list(itertools.combinations(names, 2))
    for pair, counts in zip(pairs, store.marginals(pairs), strict=True):
        np.testing.assert_array_equal(counts, pandas_marginal(frame, spec, pair), err_msg=str(pair))
        assert counts.sum() == len(frame)


def test_three_way_marginals_and_axis_order(table):
    name, spec, frame, store = table
    names = [c.name for c in spec.modelled]
    triples = list(itertools.combinations(names, 3))[:12]
    for triple in triples:
        np.testing.assert_array_equal(store.marginal(triple), pandas_marginal(frame, spec, triple))
        backwards = triple[::-1]
        np.testing.assert_array_equal(store.marginal(backwards), pandas_marginal(frame, spec, backwards))


def test_grouping_sets_batch_equals_one_query_per_marginal(db, table):
    name, spec, frame, store = table
    names = [c.name for c in spec.modelled][:5]
    sets = [s for k in (1, 2, 3) for s in itertools.combinations(names, k)]
    fresh = AggregateStore(db, name, spec)
    batched = fresh.marginals(sets)
    one_by_one = [AggregateStore(db, name, spec).marginal(s) for s in sets]
    for a, b in zip(batched, one_by_one, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_request_of_several_queries_counts_the_combinations_once(db, table, monkeypatch):
    """Over GROUPING_SETS_PER_QUERY sets, the queries read one temporary table of counted cell combinations: the
    counts equal those of queries that each read the table, and the temporary table is gone afterwards."""
    import synthsql.aggregates as aggregates

    name, spec, frame, _ = table
    names = [c.name for c in spec.modelled]
    sets = [s for k in (2, 3) for s in itertools.combinations(names, k)][:300]
    created: list[str] = []
    create = db.engine.create_temporary
    monkeypatch.setattr(db.engine, "create_temporary", lambda n, q: (created.append(n), create(n, q)))
    cached = AggregateStore(db, name, spec).marginals(sets)
    assert len(created) == (1 if len(sets) > aggregates.GROUPING_SETS_PER_QUERY else 0)
    for temporary in created:
        with pytest.raises(Exception, match=temporary):  # dropped: reading it fails, naming it
            db.engine.fetchall(f'SELECT COUNT(*) FROM "{temporary}"')
    monkeypatch.setattr(aggregates, "MAX_COMBINATION_VALUES", 0)  # over the cap: every query reads the table
    uncached = AggregateStore(db, name, spec).marginals(sets)
    assert len(created) == (1 if len(sets) > aggregates.GROUPING_SETS_PER_QUERY else 0)
    for subset, a, b in zip(sets, cached, uncached, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=str(subset))
    for subset, counts in list(zip(sets, cached, strict=True))[::37]:
        np.testing.assert_array_equal(counts, pandas_marginal(frame, spec, subset), err_msg=str(subset))


def test_marginals_of_a_table_wider_than_64_columns(db, fresh_name):
    """One query's result rows are told apart by which columns are NULL: a bit mask of the columns overflowed past
    63 columns and every marginal of a 200-column table came back empty."""
    columns = ", ".join(f"(i * {k + 1} + i / 7) % {2 + k % 5} AS v{k:02d}" for k in range(70))
    db.backend.raw_sql(f"CREATE TABLE {fresh_name} AS SELECT {columns} FROM generate_series(0, 299) AS s(i)")
    spec = ss.describe(db, fresh_name)
    frame = db.table(fresh_name).to_pandas()
    sets = [(f"v{k:02d}", f"v{69 - k:02d}") for k in range(35)] + [("v00", "v33", "v69")]
    for subset, counts in zip(sets, AggregateStore(db, fresh_name, spec).marginals(sets), strict=True):
        assert counts.sum() == 300
        np.testing.assert_array_equal(counts, pandas_marginal(frame, spec, subset), err_msg=str(subset))


def test_null_blocks_of_many_columns_fit_in_postgres_select_lists(db, fresh_name):
    """64 columns NULL in the same rows are 2,016 pairs to compare, more than the 1,664 columns PostgreSQL allows in
    one select list: the pairs go in several queries, and only columns with as many NULLs are compared."""
    from synthsql.aggregates import null_blocks

    same = ", ".join(f"CASE WHEN i % 3 = 0 THEN NULL ELSE i + {k} END AS a{k:02d}" for k in range(64))
    db.backend.raw_sql(
        f"CREATE TABLE {fresh_name} AS SELECT {same}, CASE WHEN i % 3 = 1 THEN NULL ELSE i END AS other, "
        f"CASE WHEN i % 5 = 0 THEN NULL ELSE i END AS apart FROM generate_series(0, 299) AS s(i)"
    )
    names = [f"a{k:02d}" for k in range(64)]
    listed = [*names[:40], "other", "apart", *names[40:]]  # the first 64 are compared: a00 .. a61
    assert null_blocks(db.table(fresh_name), listed) == [tuple(names[:62])]


def test_answers_are_cached(db, table):
    name, spec, _, _ = table
    store = AggregateStore(db, name, spec)
    col = spec.modelled[0].name
    store.marginal((col,))
    store.marginals([(col,)])
    assert store.log == [("marginal", (col,))]


def test_within_bin_quantiles_equal_numpy(table):
    name, spec, frame, store = table
    grid = np.array(WITHIN_BIN_PROBS)
    for col in spec.modelled:
        if col.kind not in NUMERIC_KINDS:
            continue
        got = store.bin_quantiles(col.name)
        codes, x = pandas_codes(frame[col.name], col), numbers(frame[col.name], col.kind)
        for code in range(col.cells - 1):
            inside = x[codes == code]
            if len(inside):
                np.testing.assert_array_equal(got[code], inverse_cdf(inside, grid))
            else:
                assert np.isnan(got[code]).all()
        assert np.isnan(got[col.null_code]).all()


def test_rank_correlations_equal_scipy_spearman_on_cells(table):
    name, spec, frame, store = table
    cols = spec.modelled
    ordinal = []
    for col in cols:
        codes = pandas_codes(frame[col.name], col)
        ordinal.append(np.where(codes == col.null_code, -1, codes))  # NULL ranks first
    expected = np.eye(len(cols))
    for i, j in itertools.combinations(range(len(cols)), 2):
        rho = stats.spearmanr(ordinal[i], ordinal[j]).statistic
        expected[i, j] = expected[j, i] = 0.0 if np.isnan(rho) else rho
    np.testing.assert_allclose(store.rank_correlation([c.name for c in cols]), expected, atol=1e-12)


def test_rank_correlations_on_cells_are_close_to_row_ranks(table):
    name, spec, frame, store = table
    numeric = [c for c in spec.modelled if c.kind in NUMERIC_KINDS and c.null_share == 0][:6]
    got = store.rank_correlation([c.name for c in numeric])
    for i, j in itertools.combinations(range(len(numeric)), 2):
        rows = stats.spearmanr(numbers(frame[numeric[i].name], numeric[i].kind),
                               numbers(frame[numeric[j].name], numeric[j].kind)).statistic
        assert got[i, j] == pytest.approx(rows, abs=0.03), (numeric[i].name, numeric[j].name)


def test_asking_for_a_column_that_is_not_modelled(table):
    name, spec, _, store = table
    with pytest.raises(ss.ColumnNotFoundError, match="Did you mean"):
        store.marginal((spec.modelled[0].name + "x",))
    with pytest.raises(ss.InvalidParameterError, match="twice"):
        store.marginal((spec.modelled[0].name,) * 2)


def test_values_equal_to_bin_edges_land_in_their_bins(db, fresh_name):
    """Bin edges are values of the data. Written as 17-digit decimals, DuckDB read about one in twenty an ulp off,
    so a row equal to an edge fell into the bin below, or, at the lowest edge, into the NULL cell."""
    edges = [0.00046228259662045275, 0.0018855498092248519, 0.010822804823357447, 0.014503407423313793]
    ss.write_table(db, fresh_name, pa.table({"x": pa.array(edges + [0.001, 0.012], type=pa.float64())}))
    spec = ss.describe(db, fresh_name, columns={"x": {"bins": [[edges[0], edges[1]], [edges[1], edges[2]],
                                                                [edges[2], edges[3]]]}})
    counts = AggregateStore(db, fresh_name, spec).marginal(("x",))
    assert counts.tolist() == [2, 1, 3, 0]  # [e0, e1): e0, 0.001; [e1, e2): e1; [e2, e3]: e2, 0.012, e3; NULL: none
