"""Dependence is captured: on real tables, bayesnet and copula beat the product of marginals on 2-way TVD."""

from __future__ import annotations

import warnings

import pytest

import synthsql as ss
from synthsql.schema import IdentifierColumnWarning


@pytest.fixture(scope="module", params=["eusilc", "cps1988", "ses"])
def mean_tvd(request, db):
    name = request.param
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifierColumnWarning)
        spec = ss.describe(db, name)
    out = {}
    for method in ("independent", "bayesnet", "copula"):
        model = ss.fit(db, name, method=method, spec=spec, seed=1)
        target = ss.materialize(db, model, f"{name}_{method}_q", seed=2, replace=True)
        out[method] = ss.marginal_tvd(db, name, str(target), spec)["value"].mean()
    return name, out


def test_bayesnet_halves_the_two_way_tvd_of_independent(mean_tvd):
    name, tvd = mean_tvd
    assert tvd["bayesnet"] <= 0.5 * tvd["independent"], (name, tvd)


def test_copula_beats_independent(mean_tvd):
    name, tvd = mean_tvd
    assert tvd["copula"] < tvd["independent"], (name, tvd)
