"""Cross-check synthsql's attribute-inference risk against anonymeter's ``InferenceEvaluator`` on eusilc and ses.

anonymeter pins ``numpy<1.27`` and ``pyarrow<22`` (see PITFALLS.md), so it lives in a virtual environment of its
own; this script runs in both and exchanges data through parquet files::

    python -m venv benchmarks/.venv-anonymeter
    benchmarks/.venv-anonymeter/bin/pip install anonymeter        # 1.1.0 when this was written
    .venv/bin/python benchmarks/anonymeter_check.py               # the project's venv; calls the other one

For each dataset the project side splits the table with ``Holdout(0.2, seed=0)``, fits ``independent`` on the
training rows and also takes an exact copy of them (a release that leaks), measures
:func:`synthsql.metrics.inference.inference_risk` in DuckDB, and writes to ``benchmarks/anonymeter_data/`` the very
records synthsql attacked (its seeded samples: ``attack_rows`` training and as many holdout records) and the
synthetic candidates. The anonymeter side (``--anonymeter DIR``) runs ``InferenceEvaluator(ori=attacked training
records, syn=candidates, control=attacked holdout records, aux_cols=keys, secret=target, n_attacks=all of them)``,
so both attack the same records with the same synthetic data, and prints its risk and confidence interval.

The two are not expected to agree to the digit: anonymeter scales numbers by the range of the attacked and candidate
records where synthsql uses the spec's domain, and breaks ties between equally close candidates by numba's
(unstable) argsort where synthsql takes the first in a seeded order; with keys as coarse as these, ties are common
and the guesses among tied candidates differ. They should agree within the confidence intervals.

Measured on this machine (anonymeter 1.1.0; 500 attacked records per side; 95% intervals)::

    dataset  synthetic    target         n  synthsql risk [CI] (attack, control)  anonymeter risk [CI] (attack, control)
    eusilc   independent  pl030        500  0.000 [0.000, 0.000] (0.206, 0.266)   0.000 [0.000, 0.000] (0.198, 0.252)
    eusilc   copy         pl030        500  0.383 [0.266, 0.500] (0.760, 0.611)   0.449 [0.344, 0.555] (0.774, 0.589)
    ses      independent  occupation   500  0.013 [0.000, 0.050] (0.091, 0.079)   0.000 [0.000, 0.021] (0.081, 0.097)
    ses      independent  earnings     500  0.000 [0.000, 0.029] (0.055, 0.055)   0.010 [0.000, 0.038] (0.055, 0.045)
    ses      copy         occupation   500  0.153 [0.075, 0.232] (0.409, 0.302)   0.152 [0.077, 0.227] (0.389, 0.280)
    ses      copy         earnings     500  0.155 [0.114, 0.196] (0.200, 0.053)   0.179 [0.138, 0.220] (0.218, 0.047)

Every pair of intervals overlaps; the attack and control rates differ by at most 0.022 (tie-breaking), and the
risks by at most 0.066 (eusilc copy, where ties among candidates with the same keys but different pl030 are many).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "anonymeter_data"
VENV_PYTHON = HERE / ".venv-anonymeter" / "bin" / "python"
CASES = {
    "eusilc": {"keys": ["age", "rb090", "db040", "hsize"], "targets": ["pl030"], "numeric": []},
    "ses": {
        "keys": ["location", "NACE1", "size", "sex", "age", "education"],
        "targets": ["occupation", "earnings"],
        "numeric": ["earnings"],
    },
}
ATTACK_ROWS = 500


def project_side() -> list[dict]:
    import pyarrow.parquet as pq

    import synthsql as ss
    from synthsql.holdout import Holdout
    from synthsql.metrics import distance as D
    from synthsql.metrics.inference import inference_risk
    from synthsql.schema import IdentifierColumnWarning

    DATA.mkdir(exist_ok=True)
    db = ss.connect("duckdb://")
    split = Holdout(0.2, seed=0)
    results = []
    for name, case in CASES.items():
        ss.write_table(db, name, pq.read_table(ss.datasets.path(name)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", IdentifierColumnWarning)
            spec = ss.describe(db, name)
            db.backend.create_table(f"{name}_train", split.training(db.table(name)))
            train_spec = ss.describe(db, f"{name}_train")
        db.backend.create_table(f"{name}_copy", db.table(f"{name}_train"))
        model = ss.fit(db, f"{name}_train", method="independent", spec=train_spec, seed=1)
        n_train = int(db.table(f"{name}_train").count().execute())
        ss.materialize(db, model, f"{name}_independent", rows=n_train, seed=2)
        columns = case["keys"] + case["targets"]
        marked, sizes = D.real_sides(db, name, split, 0)
        k = min(ATTACK_ROWS, sizes[False], sizes[True])
        for side, label in ((False, "ori"), (True, "control")):
            rows = D.fetch(db, D.first_rows(marked, k, side, lambda t: {c: t[c] for c in columns}))
            rows.sort_values(D._RANK)[columns].to_parquet(DATA / f"{name}_{label}.parquet")
        for synthetic in ("independent", "copy"):
            table = f"{name}_{synthetic}"
            syn, n_syn = D.synthetic_ranked(db, table, 0)
            rows = D.fetch(db, D.first_rows(syn, n_syn, None, lambda t: {c: t[c] for c in columns}))
            rows.sort_values(D._RANK)[columns].to_parquet(DATA / f"{name}_{synthetic}_syn.parquet")
            risk = inference_risk(db, name, table, spec, keys=case["keys"], targets=case["targets"], holdout=split,
                                  attack_rows=ATTACK_ROWS, reference_rows=n_syn)
            for target in case["targets"]:
                v = risk[risk["scope"] == f"{target} | {','.join(case['keys'])}"].set_index("metric")["value"]
                results.append({
                    "dataset": name, "synthetic": synthetic, "target": target, "attacks": k,
                    "synthsql": [v["inference_risk"], v["inference_risk_ci_low"], v["inference_risk_ci_high"]],
                    "synthsql_rates": [v["inference_attack_rate"], v["inference_control_rate"]],
                })
    return results


def anonymeter_side(directory: Path) -> list[dict]:
    import pandas as pd
    from anonymeter.evaluators import InferenceEvaluator

    out = []
    for name, case in CASES.items():
        def load(part: str) -> pd.DataFrame:
            frame = pd.read_parquet(directory / f"{name}_{part}.parquet")
            for col in frame.columns:  # NULL is a category of its own, as in synthsql
                if not pd.api.types.is_numeric_dtype(frame[col]):
                    frame[col] = frame[col].astype(object).where(frame[col].notna(), "<NULL>").astype(str)
            return frame

        ori, control = load("ori"), load("control")
        for synthetic in ("independent", "copy"):
            syn = load(f"{synthetic}_syn")
            for target in case["targets"]:
                evaluator = InferenceEvaluator(ori=ori, syn=syn, control=control, aux_cols=case["keys"],
                                               secret=target, regression=target in case["numeric"],
                                               n_attacks=len(ori))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    evaluator.evaluate(n_jobs=1)
                    results = evaluator.results()
                    risk = evaluator.risk()
                out.append({
                    "dataset": name, "synthetic": synthetic, "target": target,
                    "anonymeter": [risk.value, risk.ci[0], risk.ci[1]],
                    "anonymeter_rates": [results.attack_rate.value, results.control_rate.value],
                })
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anonymeter", type=Path, help="run the anonymeter side on this data folder (JSON out)")
    args = parser.parse_args()
    if args.anonymeter is not None:
        print(json.dumps(anonymeter_side(args.anonymeter)))
        return
    ours = project_side()
    if not VENV_PYTHON.exists():
        sys.exit(f"No anonymeter environment at {VENV_PYTHON}; create it as the docstring says.")
    done = subprocess.run([str(VENV_PYTHON), __file__, "--anonymeter", str(DATA)], check=True, capture_output=True,
                          text=True)
    theirs = {(r["dataset"], r["synthetic"], r["target"]): r for r in json.loads(done.stdout.strip().splitlines()[-1])}
    print(f"{'dataset':8} {'synthetic':12} {'target':11} {'n':>4}  {'synthsql risk [CI] (attack, control)':44}"
          f"  anonymeter risk [CI] (attack, control)")
    for r in ours:
        a = theirs[(r["dataset"], r["synthetic"], r["target"])]
        s, sr, t, tr = r["synthsql"], r["synthsql_rates"], a["anonymeter"], a["anonymeter_rates"]
        print(f"{r['dataset']:8} {r['synthetic']:12} {r['target']:11} {r['attacks']:4}  "
              f"{s[0]:.3f} [{s[1]:.3f}, {s[2]:.3f}] ({sr[0]:.3f}, {sr[1]:.3f})          "
              f"{t[0]:.3f} [{t[1]:.3f}, {t[2]:.3f}] ({tr[0]:.3f}, {tr[1]:.3f})")


if __name__ == "__main__":
    main()
