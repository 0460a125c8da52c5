"""One peer synthesizer on a Parquet file, in its own process: the peers of the scale benchmark.

``benchmarks/bench_scale.py`` runs every peer in a fresh child process (the parent enforces a time cap and watches
its memory), on a Parquet export of the table it benchmarks, with this command::

    <python> benchmarks/scale_peers.py --peer {sdv_copula|sdv_ctgan|mbi_mst} --input IN.parquet \\
        --output OUT.parquet --rows N --seed S [--epochs E] [--epsilon EPS] [--domains JSON_FILE]

The peers:

* ``sdv_copula``: SDV 2.0 ``GaussianCopulaSynthesizer`` with its default settings, on metadata detected from the
  frame (``Metadata.detect_from_dataframes``);
* ``sdv_ctgan``: SDV 2.0 ``CTGANSynthesizer`` with ``--epochs`` (default 5) epochs, on the CPU, not verbose;
* ``mbi_mst``: the reference MST of ``benchmarks/reference_mst.py`` (private-pgm's mechanism on mbi 2.0) at
  ``--epsilon`` (default 1) and delta 1e-9, on the table encoded with the public domains of ``--domains`` (a JSON
  file ``{column: {"categories": [...]} | {"bins": [[lo, hi] | [point], ...]} | {"edges": [e0, e1, ...]} |
  {"kind": "excluded"}}``, as :func:`synthsql.datasets.domains.domains` gives them). Values outside the declared
  bins are clipped to the nearest bin, NULLs (and unknown categories) get a cell of their own when there are any;
  sampled cells are decoded to their category, or to a value drawn uniformly inside the bin (a whole number for an
  integer column); excluded columns are written NULL.

Each writes ``--rows`` sampled rows to ``--output`` (same column names and Arrow types as the input) and prints
exactly one JSON line on stdout::

    {"peer": ..., "rows_in": ..., "rows_out": ..., "read_s": ..., "fit_s": ..., "sample_s": ...,
     "peak_rss_mb": ..., "workers_peak_rss_mb": ...}

``read_s`` is Parquet to pandas (with the frame made ready for the peer), ``fit_s`` and ``sample_s`` the fit and the
sample in memory; writing the output is not timed. ``peak_rss_mb`` is this process's ``VmHWM``;
``workers_peak_rss_mb`` the sum of those of its child processes still alive at the end (CTGAN's joblib workers;
0 for the other peers), which a memory watch on this process alone does not see. Everything else (warnings,
progress bars, logs, whatever a library prints) goes to stderr.

SDV is an optional extra (torch, and the Business Source Licence), installed in a virtual environment of its own
that ``bench_scale.py`` uses for the ``sdv_*`` peers; ``mbi_mst`` runs in the project's environment::

    python3 -m venv benchmarks/.venv-sdv
    benchmarks/.venv-sdv/bin/pip install torch==2.13.0     # first: any other version pulls GBs of CUDA
    benchmarks/.venv-sdv/bin/pip install sdv duckdb pyarrow

    benchmarks/.venv-sdv/bin/python benchmarks/scale_peers.py --peer sdv_copula --input t.parquet \\
        --output s.parquet --rows 50000 --seed 1

Nothing here imports SDV, torch, mbi or synthsql at module level: each peer imports what it needs, so the file runs
under either interpreter.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

# The scale benchmark's peer names and peak-memory reading (its module imports only the standard library, so this
# works under the SDV venv too; this directory is on sys.path when the script runs).
from bench_scale import PEERS, peak_rss_mb

HERE = Path(__file__).resolve().parent
DELTA = 1e-9


def workers_peak_rss_mb() -> float:
    """Sum of the peak resident sizes (VmHWM) of this process's live descendants, in MiB (best effort).

    CTGAN transforms its columns in joblib (loky) worker processes, whose memory ``peak_rss_mb`` does not count;
    loky keeps its workers alive for reuse, so they are still there to be read when the peer is done.
    """
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    family, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - family
        family |= frontier
    total = 0
    for pid in family:
        try:
            text = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        total += next((int(x.split()[1]) for x in text.splitlines() if x.startswith("VmHWM:")), 0)
    return total / 1024


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to stdout (Python and C level) to stderr, so the JSON line is alone on stdout."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def seed_everything(seed: int) -> None:
    """The global generators the peers draw from (CTGAN trains and mbi samples from numpy's and torch's)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


# --- reading and writing ---------------------------------------------------------------------------------------
def to_plain(df: pd.DataFrame) -> pd.DataFrame:
    """Numpy dtypes only: categories and strings as objects, nullable integers as int64 (float64 with NULLs).

    SDV's CTGAN refuses the ``category`` dtype, and its type detection is made for plain numpy columns.
    """
    out = {}
    for name, col in df.items():
        dtype = col.dtype
        if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype):
            out[name] = col.astype(object).where(col.notna(), None)
        elif isinstance(dtype, pd.api.extensions.ExtensionDtype) and pd.api.types.is_integer_dtype(dtype):
            out[name] = col.astype("float64") if col.isna().any() else col.astype("int64")
        elif isinstance(dtype, pd.api.extensions.ExtensionDtype) and pd.api.types.is_float_dtype(dtype):
            out[name] = col.astype("float64")
        elif isinstance(dtype, pd.BooleanDtype):
            out[name] = col.astype(object) if col.isna().any() else col.astype(bool)
        else:
            out[name] = col
    return pd.DataFrame(out, index=df.index)


def to_arrow(columns: dict[str, Any], schema: pa.Schema) -> pa.Table:
    """The sampled columns as an Arrow table with the input's column names and types."""
    arrays = []
    for field in schema:
        arrays.append(_cast(columns[field.name], field.type))
    return pa.Table.from_arrays(arrays, schema=schema.remove_metadata())


def _cast(values: Any, target: pa.DataType) -> pa.Array:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        array = values
    else:
        series = pd.Series(values)
        if pd.api.types.is_float_dtype(series.dtype) and pa.types.is_integer(target):
            series = series.round()  # SDV can hand back 12.0000001 for an integer column
        if isinstance(series.dtype, pd.CategoricalDtype):
            series = series.astype(object)
        array = pa.array(series.where(series.notna(), None) if series.dtype == object else series, from_pandas=True)
    if array.type == target:
        return array
    if pa.types.is_dictionary(target):
        return array.cast(target.value_type).dictionary_encode().cast(target)
    return array.cast(target)


def read(path: str) -> tuple[pd.DataFrame, pa.Schema]:
    table = pq.read_table(path)
    return to_plain(table.to_pandas()), table.schema


# --- SDV -------------------------------------------------------------------------------------------------------
def sdv_peer(df: pd.DataFrame, peer: str, rows: int, seed: int, epochs: int) -> tuple[pd.DataFrame, float, float]:
    """Fit the SDV synthesizer, sample ``rows``; (sample, fit seconds, sample seconds)."""
    import torch  # noqa: F401  (imported first, so that seed_everything seeds it)
    from sdv.metadata import Metadata
    from sdv.single_table import CTGANSynthesizer, GaussianCopulaSynthesizer

    seed_everything(seed)
    start = time.perf_counter()
    metadata = Metadata.detect_from_dataframes({"t": df})
    sdtypes = {c: v.get("sdtype") for c, v in metadata.to_dict()["tables"]["t"]["columns"].items()}
    print(f"{peer}: detected sdtypes {sdtypes}", file=sys.stderr)
    if peer == "sdv_copula":
        synthesizer = GaussianCopulaSynthesizer(metadata)
    else:
        synthesizer = CTGANSynthesizer(metadata, epochs=epochs, enable_gpu=False, verbose=False)
    synthesizer.fit({"t": df})
    fitted = time.perf_counter()
    # SDV samples from a fixed seed (73251) unless told otherwise; its only hook is this private method.
    if hasattr(synthesizer, "_set_random_state"):
        synthesizer._set_random_state(seed)
    sample = synthesizer.sample(rows)
    sample = sample["t"] if isinstance(sample, dict) else sample  # SDV 2.0: {table: frame}
    sampled = time.perf_counter()
    return sample, fitted - start, sampled - fitted


# --- CART peers (benchmarks/bench_cart.py) ----------------------------------------------------------------------
#: The CART peers: py-synthpop's CARTMethod (its own venv: python-synthpop), and sequential synthesis with
#: scikit-learn's trees drawing observed values from each leaf (synthpop's syn.cart), both with synthpop's minbucket 5.
CART_PEERS = ("synthpop_cart", "sklearn_cart")


def synthpop_peer(df: pd.DataFrame, rows: int, seed: int) -> tuple[pd.DataFrame, float, float]:
    """py-synthpop 0.1 (``python-synthpop``): MissingDataHandler's types, DataProcessor, CARTMethod. Note that its
    CARTMethod is not sequential: each column's tree is fitted on all the others and predicted from resampled real
    rows."""
    from synthpop import CARTMethod, DataProcessor, MissingDataHandler

    seed_everything(seed)
    start = time.perf_counter()
    metadata = MissingDataHandler().get_column_dtypes(df)
    processor = DataProcessor(metadata)
    processed = processor.preprocess(df)
    cart = CARTMethod(metadata, smoothing=False, proper=False, minibucket=5, random_state=seed)
    cart.fit(processed)
    fitted = time.perf_counter()
    sample = processor.postprocess(cart.sample(rows))
    return sample, fitted - start, time.perf_counter() - fitted


def sklearn_cart_peer(df: pd.DataFrame, rows: int, seed: int, minbucket: int = 5) -> tuple[dict[str, Any], float, float]:
    """Sequential CART synthesis as synthpop's ``syn.cart`` does it, with scikit-learn's trees on the real rows: the
    first column resampled, each later one drawn from the observed values of the leaf its tree (on the columns
    before it, categories as codes, NULL as missing) puts the synthetic row in. A numeric column with NULLs first
    gets its NULL indicator from a classification tree, then values for the rest (synthpop's two-step)."""
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    real: dict[str, np.ndarray] = {}
    categories: dict[str, pd.Index] = {}
    for name in df.columns:
        column = df[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            real[name] = column.to_numpy(dtype=float)
        else:
            cat = pd.Categorical(column)
            categories[name] = cat.categories
            real[name] = np.where(cat.codes < 0, np.nan, cat.codes).astype(float)
    names = list(df.columns)
    synth = {names[0]: real[names[0]][rng.integers(0, len(df), size=rows)]}
    fit_s = 0.0
    for i, name in enumerate(names[1:], start=1):
        x_real = np.column_stack([real[p] for p in names[:i]])
        x_synth = np.column_stack([synth[p] for p in names[:i]])
        y = real[name]
        out = np.full(rows, np.nan)
        missing = np.isnan(y)
        numeric = name not in categories
        fill = np.ones(rows, dtype=bool)
        if missing.any() and numeric:  # the NULL indicator first
            tree = DecisionTreeClassifier(min_samples_leaf=minbucket, random_state=seed).fit(x_real, missing)
            fill = ~_donors(tree, x_real, missing.astype(float), x_synth, rng).astype(bool)
        keep = ~missing if numeric else np.ones(len(y), dtype=bool)
        target = y[keep] if numeric else np.where(missing, -1, y)
        if fill.any() and keep.any():
            kind = DecisionTreeRegressor if numeric else DecisionTreeClassifier
            tree = kind(min_samples_leaf=minbucket, random_state=seed).fit(x_real[keep], target)
            out[fill] = _donors(tree, x_real[keep], target, x_synth[fill], rng)
        if not numeric:
            out[out < 0] = np.nan
        synth[name] = out
    fit_s = time.perf_counter() - start
    columns: dict[str, Any] = {}
    for name in names:
        if name in categories:
            codes = synth[name]
            values = np.full(rows, None, dtype=object)
            ok = ~np.isnan(codes)
            values[ok] = np.asarray(categories[name])[codes[ok].astype(int)]
            columns[name] = values
        else:
            columns[name] = synth[name]
    return columns, fit_s, 0.0


def _donors(tree: Any, x_real: np.ndarray, y: np.ndarray, x_synth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each synthetic row, an observed ``y`` of a real row in the same leaf."""
    leaf_real, leaf_synth = tree.apply(x_real), tree.apply(x_synth)
    order = np.argsort(leaf_real, kind="stable")
    leaves, first, size = np.unique(leaf_real[order], return_index=True, return_counts=True)
    at = np.searchsorted(leaves, leaf_synth)
    pick = first[at] + (rng.random(len(x_synth)) * size[at]).astype(int)
    return y[order][pick]


# --- reference MST on mbi --------------------------------------------------------------------------------------
def _bins(domain: dict[str, Any]) -> list[tuple[float, float, bool]]:
    """(lo, hi, is_point) per cell of a numeric domain, from ``bins`` or ``edges``."""
    if "edges" in domain:
        edges = [float(e) for e in domain["edges"]]
        return [(a, b, False) for a, b in zip(edges, edges[1:])]
    out = []
    for b in domain["bins"]:
        if len(b) == 1:
            out.append((float(b[0]), float(b[0]), True))
        else:
            out.append((float(b[0]), float(b[1]), False))
    return out


def encode(col: pd.Series, domain: dict[str, Any]) -> tuple[np.ndarray, int]:
    """Cell codes ``0 .. cells-1`` of a column and its number of cells (a last one for NULL, only if needed).

    Categories: their index (an undeclared value is NULL, or the declared ``other`` category). Numbers: points win
    over intervals ``[lo, hi)`` (the top one closed), as in :func:`synthsql.discretize.encode`; a value in no bin
    goes to the nearest one (values below or above the domain to the end bins).
    """
    if "categories" in domain:
        cats = [str(c) for c in domain["categories"]]
        values = col.astype(object).where(col.notna(), None)
        codes = pd.Categorical(values.map(lambda v: None if v is None else str(v)), categories=cats).codes
        codes = codes.astype(np.int64)
        if domain.get("other") is not None:
            codes[(codes < 0) & col.notna().to_numpy()] = cats.index(str(domain["other"]))
        cells = len(cats)
    else:
        bins = _bins(domain)
        x = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        lo = np.array([b[0] for b in bins])
        hi = np.array([b[1] for b in bins])
        point = np.array([b[2] for b in bins])
        top = hi.max()
        codes = np.full(x.size, -1, dtype=np.int64)
        for code in np.flatnonzero(~point):  # intervals first, so that the points can overwrite them
            inside = (x >= lo[code]) & ((x < hi[code]) | ((hi[code] == top) & (x == top)))
            codes[inside & (codes < 0)] = code
        for code in np.flatnonzero(point):
            codes[x == lo[code]] = code
        stray = np.flatnonzero((codes < 0) & ~np.isnan(x))
        if stray.size:  # clip: the nearest bin (distance 0 inside one)
            v = x[stray, None]
            distance = np.maximum(lo[None, :] - v, 0) + np.maximum(v - hi[None, :], 0)
            codes[stray] = np.argmin(distance, axis=1)
        cells = len(bins)
    if (codes < 0).any():
        codes[codes < 0] = cells
        cells += 1
    return codes, cells


def decode(codes: np.ndarray, domain: dict[str, Any], integer: bool, rng: np.random.Generator) -> pa.Array:
    """Values for sampled ``codes``: the category, or uniform inside the bin (whole numbers for an integer column)."""
    if "categories" in domain:
        cats = np.array([str(c) for c in domain["categories"]], dtype=object)
        missing = codes >= cats.size
        out = cats[np.where(missing, 0, codes)]
        out[missing] = None
        return pa.array(out, type=pa.string())
    bins = _bins(domain)
    missing = codes >= len(bins)
    safe = np.where(missing, 0, codes)
    lo = np.array([b[0] for b in bins])
    hi = np.array([b[1] for b in bins])
    point = np.array([b[2] for b in bins])
    if integer:
        top = hi.max()
        lower = np.ceil(lo)
        upper = np.where(point | (hi == top), np.floor(hi), np.ceil(hi) - 1)
        upper = np.maximum(upper, lower)
        values = rng.integers(lower[safe].astype(np.int64), upper[safe].astype(np.int64) + 1)
        return pa.array(values, type=pa.int64(), mask=missing)
    values = np.where(point[safe], lo[safe], rng.uniform(lo[safe], hi[safe]))
    return pa.array(values, type=pa.float64(), mask=missing)


def mbi_peer(
    df: pd.DataFrame, schema: pa.Schema, domains: dict[str, Any], rows: int, seed: int, epsilon: float
) -> tuple[dict[str, Any], float, float]:
    """Encode with the public domains, run the reference MST, decode; (columns, fit seconds, sample seconds).

    The mechanism fits and samples in one call: ``fit_s`` is encode + MST (model estimated and sampled in codes),
    ``sample_s`` the decoding of the codes to values.
    """
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent))
    seed_everything(seed)
    rng = np.random.default_rng(seed)
    missing = [c for c in df.columns if c not in domains]
    if missing:
        raise SystemExit(f"mbi_mst: no public domain for column(s) {missing} in the --domains file.")
    modelled = [c for c in df.columns if domains[c].get("kind") != "excluded"]
    start = time.perf_counter()
    encoded = [encode(df[c], domains[c]) for c in modelled]
    matrix = np.column_stack([codes for codes, _ in encoded])
    sizes = [cells for _, cells in encoded]
    import reference_mst

    out = reference_mst.mst(matrix, sizes, epsilon, DELTA, rng=rng, rows=rows)
    fitted = time.perf_counter()
    columns: dict[str, Any] = {}
    for name in df.columns:
        target = schema.field(name).type
        if name not in modelled:
            columns[name] = pa.nulls(rows, type=target)
            continue
        integer = pa.types.is_integer(target)
        columns[name] = decode(out[:, modelled.index(name)], domains[name], integer, rng)
    sampled = time.perf_counter()
    return columns, fitted - start, sampled - fitted


# --- main ------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peer", required=True, choices=PEERS + CART_PEERS)
    parser.add_argument("--input", required=True, help="Parquet file of the real table")
    parser.add_argument("--output", required=True, help="Parquet file written with the sampled rows")
    parser.add_argument("--rows", type=int, required=True, help="rows to sample")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=5, help="CTGAN epochs")
    parser.add_argument("--epsilon", type=float, default=1.0, help="MST epsilon (delta 1e-9)")
    parser.add_argument("--domains", help="JSON file of the public domains (mbi_mst only)")
    args = parser.parse_args(argv)
    if args.peer == "mbi_mst" and not args.domains:
        parser.error("--peer mbi_mst needs --domains (the public domains; bins from the data are not private)")
    if args.rows <= 0:
        parser.error(f"--rows must be > 0, got {args.rows}")

    warnings.simplefilter("ignore")
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    with stdout_to_stderr():
        start = time.perf_counter()
        df, schema = read(args.input)
        read_s = time.perf_counter() - start
        if args.peer == "mbi_mst":
            domains = json.loads(Path(args.domains).read_text())
            columns, fit_s, sample_s = mbi_peer(df, schema, domains, args.rows, args.seed, args.epsilon)
        elif args.peer == "sklearn_cart":
            columns, fit_s, sample_s = sklearn_cart_peer(df, args.rows, args.seed)
        else:
            sample, fit_s, sample_s = (synthpop_peer(df, args.rows, args.seed) if args.peer == "synthpop_cart"
                                       else sdv_peer(df, args.peer, args.rows, args.seed, args.epochs))
            columns = {name: sample[name] for name in df.columns}
        table = to_arrow(columns, schema)
        pq.write_table(table, args.output)
    result = {
        "peer": args.peer, "rows_in": len(df), "rows_out": table.num_rows, "read_s": read_s, "fit_s": fit_s,
        "sample_s": sample_s, "peak_rss_mb": peak_rss_mb(), "workers_peak_rss_mb": workers_peak_rss_mb(),
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
