"""The one sequencer of a run: what happens in which order when a model is fitted and when it is released.

``fit`` settles everything a fit depends on before the first aggregate is read, in this order:

1. the method and its parameters, the privacy parameters and the caps (errors here read nothing);
2. the privacy budget (with the share reserved for estimating domains, when asked for);
3. the holdout split: the training rows are set apart as a temporary table, and everything the model learns, DP
   domains and the table's description included, is read from them only (the held-out rows stay unseen for the
   risk measures that use them as a control set; a DP guarantee covers only the rows it was spent on);
4. the domains: declared ones checked for a DP method, undeclared ones estimated with DP or described;
5. the generator's fit on an :class:`~synthsql.aggregates.AggregateStore`, given a :class:`~synthsql.generators.Fitting`
   (seed, budget, holdout): it returns the complete model, which is not patched afterwards.

``materialize`` checks the target and the row count, asks the model for its released rows as Arrow batches
(:meth:`~synthsql.model.Model.release`: sampled, or read from the source for partial synthesis) and hands them to
:func:`~synthsql.write.write_table`, together with the model (``<target>__model``: its JSON and what its edit rules
cost) and the DP ledger, in one transaction.

``evaluate`` checks every input, measures every metric on one snapshot of both tables
(:func:`synthsql.evaluate.measure`), and only then writes ``<synthetic>__utility`` and ``<synthetic>__risk``
together.

``build`` runs a catalog's tables (:mod:`synthsql.catalog`) through describe, fit, write and evaluate, in one
transaction for the whole run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import logging
import secrets
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa
from sqlglot import exp

from synthsql.aggregates import MAX_AGGREGATE_CELLS, AggregateStore, check_max_cells
from synthsql.catalog import Catalog, TableDecl, check_database
from synthsql.connection import COMPANIONS, Database, TableRef, connect
from synthsql.dp_domains import estimate_domains, undeclared
from synthsql.engines import staging_name
from synthsql.errors import ColumnNotFoundError, InvalidParameterError, SynthsqlError, TargetError, did_you_mean
from synthsql import results
from synthsql.evaluate import PMSE_MODELS, Evaluation, formula_and_family, measure
from synthsql.generators import REGISTRY, Fitting, check_int, get_generator, public_domains
from synthsql.holdout import Holdout
from synthsql.metrics.fitness import Rule, check_rules
from synthsql.rules import SourceBreaksRuleWarning, impossible_categories
from synthsql.model import BATCH_ROWS, Model
from synthsql.privacy import Budget, check_noise
from synthsql.schema import TableSpec, describe
from synthsql.write import MAX_ROWS, check_rows, model_table, privacy_table, write_table

__all__ = ["BuildError", "Built", "build", "evaluate", "fit", "materialize", "stored_evaluation"]

#: The companion tables that hold what evaluate measured on a synthetic table.
MEASURED = ("__utility", "__risk", "__details")

#: One line per step, with counts and seconds (``logging.basicConfig(level=logging.INFO)`` shows them).
_log = logging.getLogger("synthsql")


@contextlib.contextmanager
def _logged(step: str, table: str) -> Any:
    """Log ``step table: counts (seconds)`` at INFO once the step is done; the caller fills in the counts."""
    counts: dict[str, Any] = {}
    start = time.perf_counter()
    yield counts
    text = ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in counts.items())
    _log.info("%s %s: %s (%.2f s)", step, table, text, time.perf_counter() - start)


def fit(
    con: Database | Any,
    table: str,
    /,
    *,
    method: str = "bayesnet",
    spec: TableSpec | None = None,
    seed: int | None = None,
    epsilon: float | None = None,
    delta: float | None = None,
    budget: Budget | None = None,
    holdout: Any = None,
    rules: Iterable[Rule | Mapping[str, Any]] = (),
    null_blocks: Iterable[Sequence[str]] | None = None,
    synthesize: Sequence[str] | None = None,
    domain_share: float | None = None,
    noise: str = "private",
    noise_seed: int | None = None,
    max_aggregate_cells: int = MAX_AGGREGATE_CELLS,
    **params: Any,
) -> Model:
    """Fit a generator on aggregates of ``table`` computed in its database.

    ``spec`` is the table's description (from :func:`synthsql.describe`, inferred when omitted); ``params`` go to
    the method (``degree=2`` for ``bayesnet``, say).

    Differentially private methods (``mst``, ``aim``, ``privbayes``) take ``epsilon`` and ``delta`` (default
    1e-9), or a :class:`~synthsql.privacy.Budget` whose remaining rho they spend, and a ``spec`` whose domains are
    declared (public), never read from the data; the model records its ledger (:meth:`Model.ledger`). Their noise
    always comes from OpenDP's unseeded samplers: ``seed`` drives only the non-private randomness of the fit and
    never the noise. ``noise="reproducible"`` with a ``noise_seed`` makes the noise repeatable for tests and audits,
    and marks the model as NOT differentially private (see :mod:`synthsql.privacy`); the noise seed is never stored.
    ``domain_share`` (in (0, 1)) instead spends that share of the budget on estimating the undeclared domains with
    DP (:mod:`synthsql.dp_domains`; half of delta is then reserved for category discovery).

    ``synthesize`` asks for partial synthesis (method ``partial``, :mod:`synthsql.generators.partial`): only the
    listed columns are regenerated, conditionally on the kept ones, which are copied from the source when the model
    is materialised (with ``degree``, ``candidates`` and ``max_cells`` as for ``bayesnet``, and ``id=`` a unique
    row identifier).

    ``max_aggregate_cells`` caps the cells of all the marginals the fit may hold (default
    :data:`~synthsql.aggregates.MAX_AGGREGATE_CELLS`); a fit that would need more is refused before the query runs.

    ``holdout`` (a :class:`synthsql.holdout.Holdout`) sets a share of the rows aside: the model is fitted on the
    rest only, and records the split so that risk measures can use the held-out rows as a control set.

    ``rules`` are edit rules (:class:`~synthsql.rules.Rule`, or mappings as a catalog lists them) the synthetic rows
    must meet: the model records them and its samples keep only rows that meet them, topped up to the exact count
    (:meth:`~synthsql.model.Model.sample`; rules are public knowledge, so this costs a DP model no budget). For a
    model that is not differentially private, a rule the source itself breaks is reported with its count
    (:class:`~synthsql.rules.SourceBreaksRuleWarning`), and a rule no applicable source row meets is an error; a DP
    fit does not read such counts, which would be released without noise. A rule that rules out a declared category
    whatever the other columns hold is an error. ``bayesnet`` and ``independent`` also turn the cells a rule forbids
    into structural zeros of their tables (:func:`~synthsql.rules.forbidden_cells`), so fewer rows are redrawn.

    ``null_blocks`` declares blocks of columns that are NULL together (``[["occupation", "contract", "hours"]]``: a
    questionnaire section skipped as a whole, known from the questionnaire's routing): the samples keep each block
    NULL together at the share of its first column (:meth:`~synthsql.model.Model.sample`). Left unset, a model that
    is not differentially private finds the blocks from the data (one aggregate,
    :meth:`~synthsql.aggregates.AggregateStore.null_blocks`), while a DP model keeps only each column's own NULL
    share: which columns are NULL in exactly the same rows is a fact about the rows, and reading it would be released
    without noise. Declared blocks are public knowledge, like
    the domains and the rules, so a DP model keeps them without spending budget and without reading anything (the
    block's share is the noisy share of its first column's NULL cell); ``null_blocks=[]`` keeps no block.

    >>> import synthsql as ss
    >>> db = ss.connect("duckdb://")
    >>> _ = db.backend.raw_sql("CREATE TABLE t AS SELECT i % 3 AS g, (i * 7) % 10 AS x FROM range(50) r(i)")
    >>> model = ss.fit(db, "t", method="independent", seed=1)
    >>> model.to_arrow(5, seed=2).num_rows
    5
    """
    db = connect(con)
    # 1. parameters, before the database is read
    if synthesize is not None:
        if method not in ("bayesnet", "partial") or holdout is not None:
            raise InvalidParameterError(
                "Partial synthesis (synthesize=[...]) is its own method (Bayesian-network conditionals), without "
                "epsilon, budget or holdout; leave method unset."
            )
        method, params = "partial", {**params, "synthesize": synthesize}
    elif method == "partial" and holdout is not None:
        raise InvalidParameterError("Partial synthesis keeps every source record, so it takes no holdout.")
    generator = get_generator(method, **params)
    check_max_cells(max_aggregate_cells)
    private = getattr(generator, "private", False)
    ref = TableRef.parse(table)
    _check_privacy_parameters(method, private, epsilon, delta, budget, domain_share, noise, noise_seed)
    names = db.table(ref).schema().names
    check_table = getattr(generator, "check_table", None)
    if check_table is not None:
        check_table(names, str(ref))
    rule_list = _rules(rules, names, str(ref))
    enforceable = getattr(generator, "check_rules", None)  # rules the method cannot enforce, refused now
    if rule_list and enforceable is not None:
        enforceable(rule_list, names, str(ref))
    declared_blocks = _null_blocks(null_blocks, names, str(ref), method)
    if rule_list and not private:
        _check_source_meets(db, str(ref), rule_list)
    # 2. the budget
    todo = undeclared(db, ref, spec) if private and domain_share is not None else []  # the column types only
    if private and budget is None:
        delta = 1e-9 if delta is None else delta
        needs_delta = any(kind == "categorical" for _, kind, _ in todo)
        reserve = delta / 2 if needs_delta and isinstance(delta, (int, float)) and 0 < delta < 1 else 0.0
        budget = Budget(epsilon, delta, noise=noise, noise_seed=noise_seed, delta_reserved=reserve)
    fitting = Fitting(seed=seed, budget=budget, holdout=holdout, rules=rule_list)
    # 3. the holdout split: the training rows set apart (their row hash computed once, not in every aggregate)
    with _training_rows(db, ref, holdout) as rows:
        # 4. the domains, from the training rows only
        if private:
            if todo:
                spec = estimate_domains(db, ref, spec, budget, share=float(domain_share), rows=rows)
            spec = public_domains(spec, str(ref), method)
        elif spec is None:
            spec = describe(db, str(ref), rows=rows)
        elif holdout is not None:
            spec = dataclasses.replace(spec, n_rows=rows.count().execute())
        impossible_categories(rule_list, spec)  # a rule that rules out a declared category for every row
        # 5. the generator's fit, on aggregates of those rows (with the blocks of columns NULL together: declared,
        # or read from the rows for a non-DP model, which may read them; a DP model reads nothing beyond its
        # measurements)
        with _logged("fit", str(ref)) as counts:
            store = AggregateStore(db, rows, spec, max_cells=max_aggregate_cells)
            if declared_blocks is not None:
                fitting = dataclasses.replace(fitting, null_blocks=_in_spec(declared_blocks, spec))
            elif not private and method != "partial":
                fitting = dataclasses.replace(fitting, null_blocks=tuple(store.null_blocks()))
            model = generator.fit(store, fitting)
            counts.update(method=method, columns=len(spec.modelled), aggregates=len(store.log))
        return model


def _rules(rules: Any, names: Sequence[str], table: str) -> tuple[Rule, ...]:
    """The edit rules a model must meet, each checked (its language, and its columns against the table's)."""
    if isinstance(rules, (str, Mapping, Rule)) or not isinstance(rules, Iterable):
        raise InvalidParameterError(f"'rules' must be a list of edit rules, got {type(rules).__name__}.")
    out = tuple(r if isinstance(r, Rule) else Rule.from_json(r) for r in rules)
    for rule in out:
        rule._bound(names, table)  # every column it names is in the table
    return out


def _null_blocks(blocks: Any, names: Sequence[str], table: str, method: str) -> list[list[str]] | None:
    """Declared blocks of columns NULL together, checked against the table's columns before anything is read."""
    if blocks is None:
        return None
    if isinstance(blocks, (str, Mapping)) or not isinstance(blocks, Iterable):
        raise InvalidParameterError(f"'null_blocks' must be a list of lists of column names, got {blocks!r}.")
    if method == "partial":
        raise InvalidParameterError(
            "Partial synthesis keeps the source's records and draws only the synthesized columns, so it takes no "
            "null_blocks."
        )
    out, seen = [], set()
    for block in blocks:
        if isinstance(block, (str, Mapping)) or not isinstance(block, Iterable):
            raise InvalidParameterError(f"A NULL block must be a list of column names, got {block!r}.")
        block = list(block)
        if len(block) < 2 or not all(isinstance(name, str) for name in block):
            raise InvalidParameterError(f"A NULL block names two columns or more, got {block!r}.")
        for name in block:
            if name not in names:
                raise ColumnNotFoundError(
                    f"NULL block {block!r} names the column {name!r}, which is not in table {table!r}."
                    f"{did_you_mean(name, names)}"
                )
            if name in seen:
                raise InvalidParameterError(f"Column {name!r} is in two NULL blocks; a column belongs to one block.")
            seen.add(name)
        out.append(block)
    return out


def _in_spec(blocks: Sequence[Sequence[str]], spec: TableSpec) -> tuple[tuple[str, ...], ...]:
    """Declared blocks in the spec's column order (the first column leads its block), each column modelled."""
    modelled = [c.name for c in spec.modelled]
    for block in blocks:
        for name in block:
            if name not in modelled:
                raise InvalidParameterError(
                    f"NULL block {list(block)!r}: column {name!r} is not modelled "
                    f"(kind {spec.column(name).kind!r} or excluded), so its NULLs cannot follow a block."
                )
    return tuple(tuple(sorted(block, key=modelled.index)) for block in blocks)


def _check_source_meets(db: Database, table: str, rules: Sequence[Rule]) -> None:
    """Warn of a rule the source breaks (with the count); refuse one that no applicable source row meets."""
    counts = check_rules(db, table, table, rules)
    for row in counts[counts["table"] == "real"].to_dict("records"):
        applicable, violations = int(row["applicable"]), int(row["violations"])
        if applicable and violations == applicable:
            raise InvalidParameterError(
                f"Edit rule {row['rule']!r}: none of the {applicable:,} rows of {table!r} it applies to meets it, so "
                "no synthetic row drawn like them would; check the rule."
            )
        if violations:
            warnings.warn(
                f"Edit rule {row['rule']!r} is broken by {violations:,} of the {applicable:,} rows of {table!r} it "
                "applies to (the source itself); the synthetic rows will meet it.",
                SourceBreaksRuleWarning,
                stacklevel=3,
            )


def _check_privacy_parameters(
    method: str,
    private: bool,
    epsilon: Any,
    delta: Any,
    budget: Any,
    domain_share: Any,
    noise: str,
    noise_seed: Any,
) -> None:
    if domain_share is not None and not private:
        raise InvalidParameterError("'domain_share' applies to the differentially private methods only.")
    if not private:
        if epsilon is not None or delta is not None or budget is not None or noise != "private" or noise_seed is not None:
            dp = ", ".join(sorted(n for n, c in REGISTRY.items() if getattr(c, "private", False)))
            raise InvalidParameterError(
                f"Method {method!r} is not differentially private, so 'epsilon', 'delta', 'budget', 'noise' and "
                f"'noise_seed' do not apply; the DP methods are {dp}."
            )
        return
    check_noise(noise, noise_seed)
    if domain_share is not None and (
        isinstance(domain_share, bool) or not isinstance(domain_share, (int, float)) or not 0 < domain_share < 1
    ):
        raise InvalidParameterError(f"'domain_share' must be in (0, 1), got {domain_share!r}.")
    if budget is None and epsilon is None:
        raise InvalidParameterError(
            f"Method {method!r} is differentially private: give the privacy parameter 'epsilon' (and 'delta', "
            "default 1e-9), e.g. fit(..., epsilon=1.0, delta=1e-9)."
        )
    if budget is not None and (epsilon is not None or delta is not None or noise != "private" or noise_seed is not None):
        raise InvalidParameterError(
            "Give either 'budget' or 'epsilon'/'delta' (and 'noise'), not both: a Budget carries its own noise setting."
        )


@contextlib.contextmanager
def _training_rows(db: Database, ref: TableRef, holdout: Any) -> Any:
    """The rows a fit reads: the whole table, or the training rows of ``holdout`` as a temporary table dropped at
    the end."""
    if holdout is None:
        yield db.table(ref)
        return
    training = f"_synthsql_training_{secrets.token_hex(6)}"
    db.engine.create_temporary(training, db.compile(holdout.training(db.table(ref))))
    try:
        yield db.backend.table(training)
    finally:
        db.engine.drop_temporary(training)


def materialize(
    con: Database | Any,
    model: Model,
    target: str,
    /,
    *,
    rows: int | None = None,
    seed: int | None = None,
    replace: bool = False,
    batch_rows: int = BATCH_ROWS,
    max_rows: int = MAX_ROWS,
) -> TableRef:
    """Write the release of ``model`` to the table ``target``: ``rows`` sampled rows (default: as many as the
    source had), or, for a partially synthetic model, one row per source row.

    Column names and types are the source table's when it is in the same database (else they follow the sampled
    Arrow types). An existing ``target`` is replaced only with ``replace=True``, and only once the new table is
    complete (its earlier ``__utility``, ``__risk`` and ``__details`` are dropped with it: they measured the table
    replaced); ``target`` equal to the source is refused. More than ``max_rows`` rows (default
    :data:`~synthsql.write.MAX_ROWS`) are refused before anything is drawn; raise the cap to write more. A DP model's
    ledger lands in ``<target>__privacy`` in the same transaction, and every model in ``<target>__model``
    (:func:`~synthsql.write.model_table`: its JSON, and the rows drawn and kept under its edit rules with their
    rejection rate, also kept on the model as :attr:`~synthsql.model.Model.rejection_rate`).

    >>> import synthsql as ss
    >>> db = ss.connect("duckdb://")
    >>> _ = db.backend.raw_sql("CREATE TABLE t AS SELECT i % 3 AS g, i * 0.5 AS x FROM range(40) r(i)")
    >>> model = ss.fit(db, "t", method="independent")
    >>> str(ss.materialize(db, model, "t_synth", rows=10, seed=1))
    't_synth'
    """
    db = connect(con)
    if not isinstance(model, Model):
        raise InvalidParameterError(f"materialize() takes a fitted Model, got {type(model).__name__}.")
    ref = TableRef.parse(target).check_target()
    source = TableRef.parse(model.spec.table)
    if db.same_table(ref, source):
        raise TargetError(f"Target {str(ref)!r} is the source table {str(source)!r}; synthsql never writes the source.")
    rows = model.release_rows(rows)
    if rows is not None:
        check_rows(rows, max_rows)
    batch_rows = check_int("materialize", "batch_rows", batch_rows, 1)
    exists = db.exists(ref)
    if exists and not replace:
        raise TargetError(f"Target table {str(ref)!r} already exists; pass replace=True to replace it.")
    saved = ref.companion("__model")
    privacy = ref.companion("__privacy") if model.privacy is not None else None
    for companion in (saved, privacy):
        if companion is not None and db.exists(companion) and not replace:
            raise TargetError(f"Table {str(companion)!r} already exists; pass replace=True to replace it.")
    db.check_writable(ref, saved, *([privacy] if privacy is not None else []),
                      *((ref.companion(s) for s in MEASURED) if exists else ()))
    template = model.template(db)
    batches = model.release(db, rows, seed, batch_rows=batch_rows)
    with _logged("materialize", str(ref)) as counts:
        # the table, its model (with what the rules cost) and its ledger land together or not at all
        with contextlib.closing(batches), db.transaction():
            write_table(db, ref, batches, template=template, replace=exists)
            write_table(db, saved, model_table(model), replace=True)  # counts final: the batches are all written
            if privacy is not None:
                write_table(db, privacy, privacy_table(model), replace=True)
            if exists:  # metrics of the table replaced describe a table that is gone: they go with it
                for suffix in MEASURED:
                    db.engine.drop(ref.companion(suffix).sqlglot())
        counts.update(method=model.generator, rows=rows if rows is not None else "one per source row")
        if model.rules:
            counts.update(rows_drawn=model.rows_drawn, rejection_rate=f"{model.rejection_rate:.4f}")
    return ref


def evaluate(
    con: Database | Any,
    /,
    *,
    real: str,
    synthetic: str,
    spec: TableSpec | None = None,
    rules: Iterable[Rule | Mapping[str, Any]] = (),
    formulas: Iterable[str | Mapping[str, Any] | tuple[str, str]] = (),
    pmse: Sequence[str] = PMSE_MODELS,
    pmse_columns: Sequence[str] | None = None,
    max_marginals: int = 300,
    seed: int = 0,
    write: bool = True,
    keys: Sequence[str] | None = None,
    targets: Sequence[str] | None = None,
    holdout: Holdout | None = None,
    risk: bool = True,
    match_id: str | None = None,
    replace: bool = False,
    exclude_target_levels: Mapping[str, Sequence[Any]] | None = None,
) -> Evaluation:
    """Measure the utility of ``synthetic`` against ``real`` in the database, and write ``<synthetic>__utility``.

    ``spec`` is the real table's description (inferred when omitted); ``rules`` are edit rules
    (``Rule("age", "age >= 0")`` or ``{"name": ..., "condition": ..., "when": ...}``); ``formulas`` are GLMs
    (``"income ~ age + sex"``, ``("visits ~ age", "poisson")`` or ``{"formula": ..., "family": ...}``); ``pmse``
    picks the propensity models and ``pmse_columns`` the columns of the logistic one (default: all modelled columns;
    a design over its parameter cap, or one that separates the tables perfectly, is reported as a NaN row whose
    detail says why). With ``risk`` (the default) disclosure risk is measured on ``keys`` and ``targets`` (default:
    the spec's key and sensitive columns), with ``holdout`` (the :class:`~synthsql.holdout.Holdout` the model was
    fitted with) as the control set, and written as ``<synthetic>__risk`` beside ``<synthetic>__utility``;
    ``exclude_target_levels`` (``{"smsa": ["no"]}``, synthpop's ``not.targetlev``) names target levels that disclose
    nothing, left out of the attribute measures' numerators (:func:`synthsql.metrics.risk.risk_measures`). For a
    partially synthetic table, ``match_id`` (the row identifier partial synthesis kept) adds the expected match risk
    and the true- and false-match rates of an intruder who knows the keys (Reiter & Mitra 2009).
    Everything is checked before anything is written. Results stored earlier (by ``synthsql build``, or an earlier
    ``evaluate``) are replaced only with ``replace=True``; beside the metric tables, ``<synthetic>__details`` keeps
    the whole evaluation and what it was measured on (:mod:`synthsql.results`), from which ``synthsql report``
    draws the report without measuring again while both tables are unchanged.

    >>> import synthsql as ss
    >>> db = ss.connect("duckdb://")
    >>> _ = ss.datasets.load(db, "cps1988")
    >>> model = ss.fit(db, "cps1988", method="independent", seed=1)
    >>> _ = ss.materialize(db, model, "cps_synth", seed=1)
    >>> result = ss.evaluate(db, real="cps1988", synthetic="cps_synth", pmse=["cells"])
    >>> result.tables
    ('cps_synth__utility', 'cps_synth__details')
    >>> result.risk["metric"].tolist()  # cps1988 was described without keys
    ['risk_skipped']
    """
    db = connect(con)
    target = TableRef.parse(synthetic)
    utility_ref, risk_ref, details_ref = (target.companion(s) for s in MEASURED)
    if write:
        db.check_writable(utility_ref.check_safe(), risk_ref.check_safe(), details_ref.check_safe())

    def refuse_to_replace() -> None:  # once the request is known to be valid, before any metric is measured
        stored = [str(ref) for ref in (utility_ref, risk_ref, details_ref) if write and db.exists(ref)]
        if stored and not replace:
            raise TargetError(
                f"Table {stored[0]!r} already holds results measured earlier (by `synthsql build` or an earlier "
                "evaluate); pass replace=True (`--replace`) to measure again and replace them, or write=False."
            )
    rules, formulas = list(rules), list(formulas)
    # Every query reads one snapshot of both tables: a synthetic table replaced by another session meanwhile cannot
    # give metrics half from the old version and half from the new one.
    with db.transaction(snapshot=True):
        with _logged("evaluate", str(target)) as counts:
            evaluation = measure(
                db, real, synthetic, spec=spec, rules=rules, formulas=formulas, pmse=pmse, pmse_columns=pmse_columns,
                max_marginals=max_marginals, seed=seed, keys=keys, targets=targets, holdout=holdout, risk=risk,
                match_id=match_id, checked=refuse_to_replace, exclude_target_levels=exclude_target_levels,
            )
            counts.update(utility_rows=len(evaluation.utility), risk_rows=len(evaluation.risk),
                          verdict=evaluation.verdict().overall)
        if not write:
            return evaluation
        # A risk table that measured nothing is not written, and an older one is dropped with the swap: it would
        # describe another synthetic table than the utility table written beside it.
        risk_rows = evaluation.risk
        measured = risk and not (risk_rows["metric"] == "risk_skipped").all()
        request = _request(rules=rules, formulas=formulas, pmse=pmse, pmse_columns=pmse_columns,
                           max_marginals=max_marginals, seed=seed, keys=keys, targets=targets, holdout=holdout,
                           risk=risk, match_id=match_id, exclude_target_levels=exclude_target_levels)
        versions = results.table_version(db, real), results.table_version(db, synthetic)
        details = results.details_table(evaluation, spec=evaluation.spec, request=request, versions=versions)
        outputs = {utility_ref: evaluation.utility, **({risk_ref: risk_rows} if measured else {}),
                   details_ref: details}
        _write_together(db, outputs, drop=() if measured else (risk_ref,))
    return dataclasses.replace(evaluation, tables=tuple(str(ref) for ref in outputs))


#: The arguments of :func:`evaluate` that decide its results (what a stored evaluation must have been asked).
_REQUEST_ARGS = ("rules", "formulas", "pmse", "pmse_columns", "max_marginals", "seed", "keys", "targets", "holdout",
                 "risk", "match_id", "exclude_target_levels")


def _request(**args: Any) -> dict[str, Any]:
    if args.get("exclude_target_levels") is None:  # absent: results stored before the option stay current
        args.pop("exclude_target_levels", None)
    return results.request_of(
        **{**args, "rules": [r if isinstance(r, Rule) else Rule.from_json(r) for r in args["rules"]],
           "formulas": [formula_and_family(f) for f in args["formulas"]],
           "pmse": list(args["pmse"]),
           "pmse_columns": None if args["pmse_columns"] is None else list(args["pmse_columns"])}
    )


def stored_evaluation(
    con: Database | Any, /, *, real: str, synthetic: str, spec: TableSpec, **evaluate_args: Any
) -> tuple[Evaluation | None, str]:
    """``(evaluation, why)``: what :func:`evaluate` stored beside ``synthetic`` when it was asked the same (the other
    keyword arguments of :func:`evaluate`, defaults included) on the same versions of both tables, else
    ``(None, why not)``. Measures nothing (:func:`synthsql.results.load_current`)."""
    db = connect(con)
    bound = inspect.signature(evaluate).bind(db, real=real, synthetic=synthetic, spec=spec, **evaluate_args)
    bound.apply_defaults()
    args = {k: bound.arguments[k] for k in _REQUEST_ARGS}
    request = _request(**{**args, "rules": list(args["rules"]), "formulas": list(args["formulas"])})
    return results.load_current(db, real, synthetic, spec=spec, request=request)


def _write_together(db: Database, outputs: Mapping[TableRef, pd.DataFrame | pa.Table], drop: Sequence[TableRef] = ()) -> None:
    """Write each frame to its table (and drop the tables ``drop``) so that all change together or none does.

    Each frame is written (atomically, by :func:`~synthsql.write.write_table`) under a staging name; then one
    transaction drops the old tables and publishes the new ones (:meth:`~synthsql.engines.Engine.publish`). A
    failure before that transaction drops the staging tables and leaves the targets as they were.
    """
    staged: dict[TableRef, TableRef] = {}
    try:
        for ref, frame in outputs.items():
            temporary = TableRef(staging_name(), ref.schema)
            table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
            write_table(db, temporary, table)
            staged[ref] = temporary
        with db.transaction():
            for ref in drop:
                db.engine.drop(ref.sqlglot())
            for ref, temporary in staged.items():
                db.engine.publish(temporary.sqlglot(), ref.sqlglot(), exists=db.exists(ref))
        staged.clear()
    finally:
        for temporary in staged.values():
            if db.exists(temporary):
                db.execute(exp.Drop(this=temporary.sqlglot(), kind="TABLE"))


@dataclasses.dataclass(frozen=True)
class Built:
    """What :func:`build` made for one catalog table: its tables, the synthetic row count, seconds per step."""

    name: str
    tables: tuple[str, ...]
    rows: int
    seconds: Mapping[str, float]


def build(
    catalog: Catalog,
    con: Database | Any,
    /,
    *,
    select: Iterable[str] | None = None,
    progress: Callable[[str, str], None] | None = None,
) -> list[Built]:
    """Build the selected tables of a catalog (:mod:`synthsql.catalog`), each in the steps describe, fit, write
    (the synthetic table, its ``__privacy`` ledger and its ``__model``) and evaluate (``__utility``, ``__risk``),
    all in ONE transaction: a failure at any step leaves the database as it was before the run (on Spark, nothing is
    published until every table is complete) and raises :class:`BuildError` naming the table and the step.

    The same catalog and seeds give identical tables. ``progress(table, step)`` is called as each step starts.
    """
    db = connect(con)
    chosen = catalog.select(select)
    check_database(catalog, db, chosen)
    targets = [TableRef.parse(table.target_name).check_target() for table in chosen]
    db.check_writable(*(ref for t in targets for ref in (t, *(t.companion(s) for s in COMPANIONS))))
    done = []
    with db.transaction():
        for table in chosen:
            seconds: dict[str, float] = {}
            step = "describe"
            try:
                made = []
                for step, action in _steps(db, table):
                    if progress is not None:
                        progress(table.name, step)
                    start = time.perf_counter()
                    made.extend(action())
                    seconds[step] = time.perf_counter() - start
            except Exception as err:  # ours, the database's or a bug: say where; the transaction rolls back
                raise BuildError(table.name, step, err) from err
            done.append((table, tuple(made), seconds))
    # counted once published (on Spark, the tables appear under their names only when the run is complete)
    return [Built(t.name, made, int(db.table(t.target_name).count().execute()), s) for t, made, s in done]


def _steps(db: Database, table: TableDecl) -> list[tuple[str, Callable[[], list[str]]]]:
    """The build steps of one catalog table, in order, each returning the tables it wrote."""
    state: dict[str, Any] = {}

    def describe_step() -> list[str]:
        state["spec"] = describe(db, table.source, **table.describe_args())
        return []

    def fit_step() -> list[str]:
        state["model"] = fit(db, table.source, spec=state["spec"], **table.fit_args())
        return []

    def write_step() -> list[str]:
        model = state["model"]
        # materialize writes the model beside the table (what `synthsql report` reads, with what the rules cost)
        materialize(db, model, table.target_name, rows=table.rows, seed=table.seed, replace=True, max_rows=table.max_rows)
        privacy = [f"{table.target_name}__privacy"] if model.privacy is not None else []
        return [table.target_name, *privacy, f"{table.target_name}__model"]

    def evaluate_step() -> list[str]:
        return list(evaluate(db, spec=state["spec"], replace=True, **table.evaluate_args()).tables)

    steps: list[tuple[str, Callable[[], list[str]]]] = [
        ("describe", describe_step), ("fit", fit_step), ("write", write_step)
    ]
    if "utility" in table.metrics or "risk" in table.metrics:
        steps.append(("evaluate", evaluate_step))
    return steps


class BuildError(SynthsqlError):
    """A build step failed; the database was left as it was before the run."""

    def __init__(self, table: str, step: str, cause: BaseException) -> None:
        self.table, self.step, self.cause = table, step, cause
        super().__init__(
            f"Building {table!r} failed at step {step!r}: {cause}. Nothing was changed in the database."
        )
