"""Reference MST for the DP benchmark: McKenna's published mechanism, ported to the mbi 2.0 API.

Source: ``mechanisms/mst.py`` of the private-pgm repository (Ryan McKenna, https://github.com/ryan112358/private-pgm),
licensed under the Apache License, Version 2.0; this is a port, modified for the mbi 2.0.0 API (``Domain``,
``Dataset``, ``LinearMeasurement``, ``estimation.MirrorDescent``) and to take cell codes as a numpy array. The
algorithm is unchanged (McKenna, Miklau & Sheldon 2021, "Winning the NIST Contest"):

1. ``rho = cdp_rho(epsilon, delta)``, ``sigma = sqrt(3 / (2 rho))``; every 1-way marginal measured with Gaussian
   noise ``sigma * sqrt(d)`` (the original's unit-norm weights: the d measurements together cost ``rho / 3``);
2. domain compression: cells whose noisy count is below ``3 sigma`` are merged into one cell, the merged cell's
   measurement re-expressed as its sum scaled by ``1 / sqrt(merged cells)``;
3. a spanning tree by Kruskal with the exponential mechanism (total ``rho / 3``, sensitivity 1) on the L1 distance
   between each pair's exact 2-way counts and those of the model fitted to the 1-way measurements (1000 iterations);
4. each tree edge's 2-way marginal measured with noise ``sigma * sqrt(d - 1)``; the model estimated (5000 iterations of mirror
   descent) and sampled; compressed cells are expanded uniformly at random among the cells they merged.

Two departures, neither of which changes the mechanism's output distribution: the 1-way-only model of step 3 is a
product of its 1-way marginals, so its 2-way projections are computed as outer products (mbi 2.0 compiles a JAX
program for every projected pair, about 0.8 s each: 4 minutes on a 26-column table); and the sample is drawn with
``synthetic_data(method="sample")`` (i.i.d. sampling, see PITFALLS.md on mbi's "round"). Noise is numpy's
Gaussian (this is a benchmark reference, not a release: synthsql's own MST uses OpenDP's samplers), and the
privacy conversion is synthsql's ``cdp_rho`` (the same as private-pgm's ``cdp2adp``).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from scipy.special import logsumexp

from synthsql.generators.graphical import mbi
from synthsql.privacy import cdp_rho


def mst(
    codes: np.ndarray,
    sizes: list[int],
    epsilon: float,
    delta: float,
    *,
    rng: np.random.Generator,
    iters: int = 5000,
    select_iters: int = 1000,
    rows: int | None = None,
) -> np.ndarray:
    """MST on ``codes`` (rows x columns of cell codes, column j in ``0 .. sizes[j]-1``); ``rows`` synthetic codes back
    (default: as many as ``codes`` has)."""
    m = mbi()
    names = [f"c{j}" for j in range(len(sizes))]
    domain = m.Domain(names, sizes)
    data = m.Dataset({n: codes[:, j] for j, n in enumerate(names)}, domain)
    rho = cdp_rho(epsilon, delta)
    sigma = float(np.sqrt(3 / (2 * rho)))
    log1 = _measure(data, [(n,) for n in names], sigma, rng)
    data, log1, supports = _compress_domain(data, log1)
    cliques = _select(data, rho / 3.0, log1, rng, select_iters)
    log2 = _measure(data, cliques, sigma, rng)
    model = m.estimation.MirrorDescent().estimate(data.domain, log1 + log2, iters=iters)
    np.random.seed(int(rng.integers(2**31)))  # mbi samples with the global numpy generator
    synth = model.synthetic_data(rows=codes.shape[0] if rows is None else rows, method="sample")
    out = np.column_stack([np.asarray(synth.data[n], dtype=np.int64) for n in names])
    return _reverse(out, supports, rng)


def _measure(data: Any, cliques: list[tuple[str, ...]], sigma: float, rng: np.random.Generator) -> list[Any]:
    """Every clique with Gaussian noise: equal weights normalised to unit L2 norm, so each clique's noise scale is
    sigma / (1 / sqrt(len(cliques))) and the whole set costs 1 / (2 sigma^2), as in the original ``measure``."""
    m = mbi()
    scale = sigma * np.sqrt(len(cliques))
    out = []
    for proj in cliques:
        x = np.asarray(data.project(proj).datavector(), dtype=np.float64)
        y = x + rng.normal(0.0, scale, size=x.size)
        out.append(m.LinearMeasurement(y, tuple(proj), stddev=scale))
    return out


def _compress_domain(data: Any, measurements: list[Any]) -> tuple[Any, list[Any], dict[str, np.ndarray]]:
    m = mbi()
    supports, new = {}, []
    for item in measurements:
        (col,) = item.clique
        y = np.asarray(item.noisy_measurement)
        sup = y >= 3 * item.stddev
        supports[col] = sup
        if sup.all():
            new.append(item)
            continue
        merged = y.size - int(sup.sum())
        y2 = np.append(y[sup], y[~sup].sum() / np.sqrt(merged))
        weights = np.ones(y2.size)
        weights[-1] = 1.0 / np.sqrt(merged)
        new.append(m.LinearMeasurement(y2, (col,), stddev=item.stddev, query=m.WeightedQuery(weights)))
    mapping = {}
    for col, sup in supports.items():
        if sup.all():
            continue
        mp = np.full(sup.size, int(sup.sum()), dtype=np.int64)
        mp[sup] = np.arange(int(sup.sum()))
        mapping[col] = mp
    return data.compress(mapping) if mapping else data, new, supports


def _exponential(q: np.ndarray, eps: float, sensitivity: float, rng: np.random.Generator) -> int:
    scores = 0.5 * eps / sensitivity * q
    return int(rng.choice(q.size, p=np.exp(scores - logsumexp(scores))))


def _select(data: Any, rho: float, log: list[Any], rng: np.random.Generator, iters: int) -> list[tuple[str, str]]:
    m = mbi()
    est = m.estimation.MirrorDescent().estimate(data.domain, log, iters=iters)
    names = list(data.domain.attributes)
    total = float(est.total)
    one = {n: np.asarray(est.project((n,)).datavector(), dtype=np.float64) for n in names}
    weights = {}
    candidates = list(itertools.combinations(names, 2))
    for a, b in candidates:
        xhat = np.outer(one[a], one[b]).ravel() / total  # the 1-way-only model is a product distribution
        x = np.asarray(data.project((a, b)).datavector(), dtype=np.float64)
        weights[a, b] = np.linalg.norm(x - xhat, 1)
    parent = {n: n for n in names}

    def root(n: str) -> str:
        while parent[n] != n:
            n = parent[n]
        return n

    r = len(names)
    epsilon = np.sqrt(8 * rho / (r - 1))
    chosen = []
    for _ in range(r - 1):
        candidates = [e for e in candidates if root(e[0]) != root(e[1])]
        idx = _exponential(np.array([weights[e] for e in candidates]), epsilon, 1.0, rng)
        a, b = candidates[idx]
        parent[root(a)] = root(b)
        chosen.append((a, b))
    return chosen


def _reverse(codes: np.ndarray, supports: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    out = codes.copy()
    for j in range(codes.shape[1]):
        sup = supports[f"c{j}"]
        if sup.all():
            continue
        idx, extra = np.flatnonzero(sup), np.flatnonzero(~sup)
        mask = codes[:, j] == idx.size
        out[mask, j] = rng.choice(extra, int(mask.sum()))
        out[~mask, j] = idx[codes[~mask, j]]
    return out
