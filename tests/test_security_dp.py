"""DP noise stays private: unseeded by default, reproducible only when asked, and then marked not private everywhere.

The attack this guards against: with a fixed, published noise seed, fitting two neighbouring tables gives noisy
counts that differ by exactly the one row, so the seed undoes the noise. Here the default noise comes from OpenDP's
unseeded sampler (whatever the fit's ``seed``), the explicit ``noise="reproducible"`` needs its own ``noise_seed``
which is never written anywhere, and such a release says it is NOT differentially private in the model, the
``__privacy`` table and the report.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import synthsql as ss
from synthsql.catalog import CatalogError, load
from synthsql.pipeline import build
from synthsql.privacy import Budget
from synthsql.report import render_report
from tests.test_privacy import CPS_DOMAINS, cps_spec

NOISE_SEED = 987654321  # distinctive: it must not appear in anything published

CATALOG = """
version: 1
tables:
  - name: {prefix}_repro
    source: cps1988
    purpose: scientific_use
    method: privbayes
    privacy: {{epsilon: 1.0, noise: reproducible, noise_seed: {noise_seed}}}
    seed: 3
    columns: {columns}
    metrics: [utility]
"""


def noisy_counts(model: ss.Model) -> np.ndarray:
    return np.concatenate([np.ravel(t) for _, t in sorted(model.tables.items())])


def test_default_noise_differs_between_two_fits_with_the_same_seed(db):
    spec = cps_spec(db, exclude=("experience",))
    first, second = (ss.fit(db, "cps1988", method="privbayes", epsilon=1.0, spec=spec, seed=7) for _ in range(2))
    assert first.privacy["noise"] == "private" and first.privacy["differentially_private"] is True
    assert not np.array_equal(noisy_counts(first), noisy_counts(second))
    text = json.dumps(first.to_json())
    assert "noise_seed" not in text and "seeded" not in text


def test_reproducible_noise_repeats_and_is_marked_not_private(db, fresh_name):
    spec = cps_spec(db, exclude=("experience",))
    models = [
        ss.fit(db, "cps1988", method="mst", epsilon=1.0, spec=spec, seed=1, iters=100, noise="reproducible",
               noise_seed=NOISE_SEED)
        for _ in range(2)
    ]
    assert json.dumps(models[0].to_json(), sort_keys=True) == json.dumps(models[1].to_json(), sort_keys=True)
    model = models[0]
    assert model.privacy["noise"] == "reproducible" and model.privacy["differentially_private"] is False
    assert str(NOISE_SEED) not in json.dumps(model.to_json())
    ss.materialize(db, model, fresh_name, rows=300, seed=2)
    ledger = db.table(f"{fresh_name}__privacy").to_pandas()
    assert (~ledger["differentially_private"].astype(bool)).all() and set(ledger["noise"]) == {"reproducible"}
    total = ledger[ledger["step"] == "total"].iloc[0]
    assert "NOT differentially private" in total["columns"]
    assert not ledger.astype(str).apply(lambda c: c.str.contains(str(NOISE_SEED))).any().any()


def test_private_ledger_table_says_private(db, fresh_name):
    model = ss.fit(db, "cps1988", method="privbayes", epsilon=1.0, spec=cps_spec(db, exclude=("experience",)), seed=1)
    ss.materialize(db, model, fresh_name, rows=200, seed=2)
    ledger = db.table(f"{fresh_name}__privacy").to_pandas()
    assert ledger["differentially_private"].astype(bool).all() and set(ledger["noise"]) == {"private"}


def test_a_catalog_build_publishes_no_noise_seed(db, tmp_path, fresh_name):
    columns = "{" + ", ".join(f"{k}: {json.dumps(v)}" for k, v in CPS_DOMAINS.items() if k != "experience") + \
        ", experience: {exclude: true}}"
    path = tmp_path / "c.yml"
    path.write_text(CATALOG.format(prefix=fresh_name, noise_seed=NOISE_SEED, columns=columns))
    catalog = load(path)
    (built,) = build(catalog, db)
    target = f"{fresh_name}_repro"
    saved = db.table(f"{target}__model").to_pandas()["model"].iloc[0]
    assert str(NOISE_SEED) not in saved and "noise_seed" not in saved
    model = ss.Model.from_json(json.loads(saved))
    assert model.privacy["differentially_private"] is False
    for name in built.tables:
        assert not db.table(name).to_pandas().astype(str).apply(
            lambda c: c.str.contains(str(NOISE_SEED))).any().any(), name
    spec = ss.describe(db, "cps1988", **catalog.tables[0].describe_args())
    html = render_report(db, real="cps1988", synthetic=target, spec=spec, model=model, catalog=Path(path))
    assert str(NOISE_SEED) not in html
    assert "noise_seed: (withheld)" in html
    assert "NOT differentially private" in html


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"noise_seed": 5}, "applies only to noise='reproducible'"),
        ({"noise": "reproducible"}, "needs a 'noise_seed'"),
        ({"noise": "reproducible", "noise_seed": -1}, "needs a 'noise_seed'"),
        ({"noise": "reproducible", "noise_seed": True}, "needs a 'noise_seed'"),
        ({"noise": "seeded", "noise_seed": 1}, "'noise' setting must be 'private'"),
    ],
)
def test_bad_noise_settings_are_refused_before_reading(db, kwargs, message):
    with pytest.raises(ss.InvalidParameterError, match=message):
        ss.fit(db, "cps1988", method="mst", epsilon=1.0, spec=cps_spec(db), **kwargs)


def test_noise_settings_do_not_apply_to_non_dp_methods(db):
    with pytest.raises(ss.InvalidParameterError, match="'noise' and 'noise_seed' do not apply"):
        ss.fit(db, "cps1988", method="bayesnet", noise="reproducible", noise_seed=1)


@pytest.mark.parametrize(
    "privacy, message",
    [
        ("{epsilon: 1, noise_seed: 4}", "privacy.noise_seed: give noise_seed exactly when noise is 'reproducible'"),
        ("{epsilon: 1, noise: reproducible}", "privacy.noise_seed: give noise_seed exactly when noise is"),
        ("{epsilon: 1, noise: seeded}", "privacy.noise: Input should be 'private' or 'reproducible'"),
    ],
)
def test_bad_catalog_noise_settings(tmp_path, privacy, message):
    path = tmp_path / "c.yml"
    path.write_text(f"version: 1\ntables:\n  - {{name: a, source: cps1988, method: mst, privacy: {privacy}}}\n")
    with pytest.raises(CatalogError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load(path)


def test_a_public_use_file_cannot_have_reproducible_noise(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text("version: 1\ntables:\n  - {name: a, source: cps1988, purpose: public_use, "
                    "privacy: {epsilon: 1, noise: reproducible, noise_seed: 3}}\n")
    with pytest.raises(CatalogError, match="a public_use file must be differentially private"):
        load(path)


@pytest.mark.parametrize("sigma", [0, -1.0, float("nan"), float("inf")])
def test_a_gaussian_step_needs_a_positive_sigma(sigma):
    budget = Budget(1.0, 1e-9)
    with pytest.raises(ss.InvalidParameterError, match="'sigma' of a mechanism must be a finite number > 0"):
        budget.gaussian(np.array([1, 2]), sigma=sigma, step="s", columns=("x",))
    assert budget.ledger == []


@pytest.mark.parametrize("epsilon, sensitivity, name", [(-0.1, 1.0, "epsilon"), (0, 1.0, "epsilon"),
                                                         (0.5, 0, "sensitivity"), (0.5, -2.0, "sensitivity")])
def test_an_exponential_step_needs_positive_epsilon_and_sensitivity(epsilon, sensitivity, name):
    budget = Budget(1.0, 1e-9)
    with pytest.raises(ss.InvalidParameterError, match=f"'{name}' of a mechanism must be a finite number > 0"):
        budget.exponential([1.0, 2.0], epsilon=epsilon, sensitivity=sensitivity, step="s", columns=())
    assert budget.ledger == []
