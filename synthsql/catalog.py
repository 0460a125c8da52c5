"""Catalogs: synthetic tables declared in YAML, validated whole, and built dbt-style.

A catalog file (``catalogs/*.yml``) declares one or more tables::

    version: 1
    tables:
      - name: cps1988_public           # what --select picks; also the default target
        source: cps1988                # a table in the database (schema.table allowed)
        target: cps1988_public         # default: the name
        purpose: public_use            # structural | public_use | scientific_use | twin
        method: mst                    # default: the purpose's (uniform | mst | bayesnet | bayesnet degree 3)
        params: {iters: 2000}          # the method's parameters
        privacy: {epsilon: 1.0, delta: 1.0e-9}   # required for DP methods and public_use
        rows: 28155                    # default: as many as the source (DP: its noisy estimate)
        seed: 7
        holdout: 0.2                   # a share of the source set aside as the risk measures' control set
        columns:
          wage:     {kind: numeric, edges: [0, 200, 400, 800, 20000], sensitive: true}
          region:   {categories: [northeast, midwest, south, west], key: true}
          parttime: {categories: ["no", "yes"], sensitive: true}
          notes:    {exclude: true}
        rules:
          - {name: adult_wage, condition: "wage > 0", when: "experience >= 0"}
        null_blocks: [[occupation, contract]]   # NULL together (questionnaire routing): kept, DP models included
        formulas: ["wage ~ education + experience", {formula: "parttime ~ wage", family: binomial}]
        metrics: [utility, risk]
        exclude_target_levels: {parttime: ["no"]}   # levels that disclose nothing (synthpop's not.targetlev)

Purposes are the ESSnet presets: ``structural`` (schema and domains only: method ``uniform``, reads no statistics),
``public_use`` (differential privacy required, low-order marginals: ``mst`` by default), ``scientific_use`` (richer
dependence: ``bayesnet``) and ``twin`` (``bayesnet`` with ``degree: 3``). ``method: cart`` keeps the GLMs of
benchmarks/CART_RESULTS.md better than ``bayesnet`` but fits 3x slower on DuckDB and far slower on PostgreSQL, so
it is not yet the default of ``scientific_use``.

:func:`load` validates every file of a catalog together and reports every problem at once, each with its file and
YAML path (``catalogs/cps.yml: tables[0].columns.wage.edgs: unknown key; did you mean 'edges'?``). With a database,
:func:`check_database` also checks that sources and columns exist. :func:`synthsql.pipeline.build` then creates,
for each selected table, the synthetic table and its ``__privacy``, ``__utility`` and ``__risk`` tables, all in ONE
transaction: a failure at any step leaves the database exactly as it was before the run and names the table and
step. A declaration's meaning as parameters is here (:meth:`TableDecl.fit_args`, :meth:`TableDecl.evaluate_args`);
the order the steps run in is the pipeline's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from synthsql.errors import SynthsqlError, did_you_mean
from synthsql.write import MAX_ROWS

__all__ = ["PURPOSES", "Catalog", "CatalogError", "TableDecl", "check_database", "declaration", "load"]

PURPOSES = {
    "structural": ("uniform", {}),
    "public_use": ("mst", {}),
    "scientific_use": ("bayesnet", {}),
    "twin": ("bayesnet", {"degree": 3}),
}


class CatalogError(SynthsqlError):
    """A catalog does not validate; ``problems`` lists every problem as 'file: path: message'."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(
            f"The catalog has {len(self.problems)} problem(s):\n" + "\n".join(f"  {p}" for p in self.problems)
        )


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnDecl(_Strict):
    kind: Literal["categorical", "boolean", "integer", "numeric", "date", "timestamp", "identifier", "excluded"] | None = None
    categories: list[Any] | None = None
    bins: list[list[float]] | None = None
    edges: list[float] | None = None
    other: Any = None
    key: bool = False
    sensitive: bool = False
    exclude: bool = False
    #: Set by ``synthsql infer``: the domain was read from the data. A differentially private release refuses it
    #: until the domain is replaced by a public one (from a codebook) and the mark removed.
    inferred: bool = False

    @field_validator("categories")
    @classmethod
    def _no_duplicates(cls, value: list[Any] | None) -> list[Any] | None:
        if value is not None:
            seen = set()
            for item in value:
                if item in seen:
                    raise ValueError(f"lists the category {item!r} twice")
                seen.add(item)
        return value


class RuleDecl(_Strict):
    name: str
    condition: str
    when: str | None = None


class FormulaDecl(_Strict):
    formula: str
    family: Literal["gaussian", "binomial", "poisson"] = "gaussian"


class PrivacyDecl(_Strict):
    epsilon: float = Field(gt=0)
    delta: float = Field(default=1e-9, gt=0, lt=1)
    domain_share: float | None = Field(default=None, gt=0, lt=1)
    #: ``private`` (OpenDP's unseeded noise, the default and the only setting for a release) or ``reproducible``
    #: (seeded by ``noise_seed``: the release is marked NOT differentially private; the seed is never published).
    noise: Literal["private", "reproducible"] = "private"
    noise_seed: int | None = Field(default=None, ge=0)

    @field_validator("epsilon")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be finite")
        return value


class TableDecl(_Strict):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=50)
    source: str
    target: str | None = None
    purpose: Literal["structural", "public_use", "scientific_use", "twin"] = "scientific_use"
    method: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    privacy: PrivacyDecl | None = None
    rows: int | None = Field(default=None, gt=0)
    max_rows: int = Field(default=MAX_ROWS, gt=0)  # the cap on rows, raised on purpose
    seed: int = Field(default=0, ge=0)
    holdout: float | None = Field(default=None, gt=0, le=0.5)
    columns: dict[str, ColumnDecl] = Field(default_factory=dict)
    rules: list[RuleDecl] = Field(default_factory=list)
    #: Blocks of columns NULL together, declared from the questionnaire's routing (public: a DP model keeps them at no
    #: cost); unset, a non-DP model finds them from the data (:func:`synthsql.fit`, ``null_blocks``).
    null_blocks: list[list[str]] | None = None
    formulas: list[str | FormulaDecl] = Field(default_factory=list)
    metrics: list[Literal["utility", "risk"]] = Field(default_factory=lambda: ["utility", "risk"])
    k: int = Field(default=5, ge=1)
    #: The office's own verdict thresholds, per metric: ``{tvd_2way_mean: {good: 0.03, acceptable: 0.1}}``
    #: (:func:`synthsql.metrics.registry.with_thresholds`).
    thresholds: dict[str, Any] = Field(default_factory=dict)
    #: Levels of the risk targets (the sensitive columns) that disclose nothing, left out of the attribute measures'
    #: numerators: ``{smsa: ["no"]}`` (synthpop's ``not.targetlev``; :func:`synthsql.metrics.risk.risk_measures`).
    exclude_target_levels: dict[str, list[Any]] = Field(default_factory=dict)

    @field_validator("thresholds")
    @classmethod
    def _known_thresholds(cls, value: dict[str, Any]) -> dict[str, Any]:
        from synthsql.errors import InvalidParameterError
        from synthsql.metrics.registry import with_thresholds

        try:
            with_thresholds(value)
        except InvalidParameterError as error:
            raise ValueError(str(error)) from None
        return value

    @property
    def target_name(self) -> str:
        return self.target or self.name

    @property
    def method_name(self) -> str:
        return self.method or PURPOSES[self.purpose][0]

    @property
    def method_params(self) -> dict[str, Any]:
        return {**(PURPOSES[self.purpose][1] if self.method is None else {}), **self.params}

    def describe_args(self) -> dict[str, Any]:
        """Keyword arguments for :func:`synthsql.describe` from the column declarations."""
        overrides = {}
        for name, col in self.columns.items():
            declared = {
                k: v
                for k, v in col.model_dump(exclude_none=True).items()
                if k in ("kind", "categories", "bins", "edges", "other")
            }
            if declared:
                overrides[name] = declared
        return {
            "columns": overrides,
            "keys": [n for n, c in self.columns.items() if c.key],
            "sensitive": [n for n, c in self.columns.items() if c.sensitive],
            "exclude": [n for n, c in self.columns.items() if c.exclude],
        }

    def holdout_split(self) -> Any:
        """The :class:`~synthsql.holdout.Holdout` the table is fitted and evaluated with, or None."""
        if self.holdout is None:
            return None
        from synthsql.holdout import Holdout

        return Holdout(self.holdout, seed=self.seed)

    def fit_args(self) -> dict[str, Any]:
        """Keyword arguments for :func:`synthsql.fit` (all but the spec): method, parameters, seed, privacy, holdout,
        and the edit rules the synthetic rows must meet."""
        args: dict[str, Any] = {**self.method_params, "method": self.method_name, "seed": self.seed}
        if self.rules:
            args["rules"] = self.edit_rules()
        if self.null_blocks is not None:
            args["null_blocks"] = [list(block) for block in self.null_blocks]
        privacy = self.privacy
        if privacy is not None:
            args.update(epsilon=privacy.epsilon, delta=privacy.delta, noise=privacy.noise)
            if privacy.noise_seed is not None:
                args["noise_seed"] = privacy.noise_seed
            if privacy.domain_share is not None:
                args["domain_share"] = privacy.domain_share
        if self.holdout is not None:
            args["holdout"] = self.holdout_split()
        return args

    def edit_rules(self) -> list[Any]:
        """The declared rules as :class:`~synthsql.rules.Rule` objects (what the model meets and evaluate checks)."""
        from synthsql.rules import Rule

        return [Rule(r.name, r.condition, when=r.when) for r in self.rules]

    def evaluate_args(self) -> dict[str, Any]:
        """Keyword arguments for :func:`synthsql.evaluate` (all but the spec): rules, formulas, seed, holdout, risk,
        and the target levels left out of the attribute measures when any are declared."""
        args = {
            "real": self.source,
            "synthetic": self.target_name,
            "rules": self.edit_rules(),
            "formulas": [f if isinstance(f, str) else (f.formula, f.family) for f in self.formulas],
            "seed": self.seed,
            "holdout": self.holdout_split(),
            "risk": "risk" in self.metrics,
        }
        if self.exclude_target_levels:
            args["exclude_target_levels"] = {name: list(levels) for name, levels in self.exclude_target_levels.items()}
        return args


class CatalogFile(_Strict):
    version: Literal[1] = 1
    tables: list[dict[str, Any]]  # each validated on its own, so that one bad table does not hide another's problems


@dataclass(frozen=True)
class Catalog:
    """Every table of a catalog, with the file each came from and the YAML text (for the report)."""

    tables: tuple[TableDecl, ...]
    files: Mapping[str, Path] = field(default_factory=dict)  # table name -> file
    texts: Mapping[Path, str] = field(default_factory=dict)

    def select(self, names: Iterable[str] | None) -> list[TableDecl]:
        if not names:
            return list(self.tables)
        known = {t.name: t for t in self.tables}
        chosen = []
        for name in names:
            if name not in known:
                raise CatalogError([f"--select {name}: no such table in the catalog.{did_you_mean(name, known)}"])
            chosen.append(known[name])
        return chosen


def _paths(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            out.extend(sorted([*p.glob("*.yml"), *p.glob("*.yaml")]))
        elif p.exists():
            out.append(p)
        else:
            raise CatalogError([f"{p}: no such file or directory"])
    if not out:
        raise CatalogError([f"{', '.join(map(str, items))}: no catalog files (*.yml) found"])
    return out


def _yaml_path(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


_FIELDS = {
    "": CatalogFile,
    "tables": TableDecl,
    "columns": ColumnDecl,
    "rules": RuleDecl,
    "privacy": PrivacyDecl,
    "formulas": FormulaDecl,
}


def _message(error: Mapping[str, Any], *, table: bool = False) -> str:
    """One pydantic error as ``yaml.path: message``; ``table``: the path starts inside a table's declaration."""
    loc = [p for p in error["loc"] if p not in ("str", "FormulaDecl")]
    if error["type"] == "extra_forbidden":
        parent = next((str(p) for p in reversed(loc[:-1]) if isinstance(p, str) and p in _FIELDS), "")
        model = _FIELDS[parent] if parent else TableDecl if table or "tables" in loc else CatalogFile
        return f"{_yaml_path(loc)}: unknown key.{did_you_mean(str(loc[-1]), list(model.model_fields))}"
    if error["type"] == "literal_error" and loc and loc[-1] == "purpose":
        return f"{_yaml_path(loc)}: {error['input']!r} is not a purpose.{did_you_mean(str(error['input']), PURPOSES)} Purposes: {', '.join(PURPOSES)}."
    if error["type"] == "missing":
        return f"{_yaml_path(loc)}: required, missing"
    return f"{_yaml_path(loc)}: {error['msg']} (got {error.get('input')!r})"


def load(paths: str | Path | Sequence[str | Path], db: Any = None) -> Catalog:
    """Read and validate catalog files (a file, a directory of ``*.yml``, or several); every problem is collected
    and raised together as a :class:`CatalogError`. With ``db``, the tables are also checked against the database
    (:func:`check_database`) in the same pass: the problems of the files and of the database come together."""
    problems: list[str] = []
    tables: list[TableDecl] = []
    files: dict[str, Path] = {}
    texts: dict[Path, str] = {}
    for path in _paths(paths):
        text = path.read_text()
        texts[path] = text
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
            problems.append(f"{path}: invalid YAML at {where}: {getattr(err, 'problem', err)}")
            continue
        if not isinstance(data, dict):
            problems.append(f"{path}: (top): a catalog is a mapping with 'tables:', got {type(data).__name__}")
            continue
        try:
            parsed = CatalogFile.model_validate(data)
        except ValidationError as err:
            problems.extend(f"{path}: {_message(e)}" for e in err.errors())
            continue
        for i, item in enumerate(parsed.tables):
            where = f"{path}: tables[{i}]"
            table, found = _table(item, where)
            problems.extend(found)
            if table is None:
                continue
            if table.name in files:
                problems.append(f"{where}.name: {table.name!r} is also declared in {files[table.name]}")
            files[table.name] = path
            tables.append(table)
    catalog = Catalog(tuple(tables), files, texts)
    if db is not None:
        problems.extend(_database_problems(catalog, db, catalog.tables))
    if problems:
        raise CatalogError(problems)
    return catalog


def declaration(item: Mapping[str, Any], where: str) -> TableDecl:
    """One table declared as a mapping (the keys of a catalog's ``tables:`` entry), validated as a catalog file's
    table is; every problem is raised together, each prefixed by ``where`` (the dbt materialization passes the
    model's file and name)."""
    table, problems = _table(item, where)
    if problems:
        raise CatalogError(problems)
    assert table is not None
    return table


def _table(item: Mapping[str, Any], where: str) -> tuple[TableDecl | None, list[str]]:
    """The declaration of one table and its problems (types, then method, rules and the rest), each prefixed by
    ``where``; None when the types do not validate."""
    from synthsql.generators import REGISTRY, get_generator

    try:
        table = TableDecl.model_validate(item)
    except ValidationError as err:
        problems = [f"{where}.{_message(e, table=True)}" for e in err.errors()]
        return None, problems + [f"{where}.{p}" for p in _raw_problems(item, REGISTRY)]
    return table, [f"{where}.{p}" for p in _semantic_problems(table, REGISTRY, get_generator)]


def _raw_problems(item: Mapping[str, Any], registry: Mapping[str, type]) -> list[str]:
    """For a table that failed type validation: the method name and the rules, so that no problem hides another."""
    out = []
    method = item.get("method")
    if isinstance(method, str) and method not in registry:
        out.append(f"method: unknown method {method!r}.{did_you_mean(method, registry)} Methods: {', '.join(sorted(registry))}.")
    out += _rule_problems(item.get("rules") if isinstance(item.get("rules"), list) else [])
    return out


def _rule_problems(rules: Sequence[Any]) -> list[str]:
    """Each rule text outside the closed predicate language of :mod:`synthsql.rules` (the one check, also made when
    a :class:`~synthsql.rules.Rule` is built), with its YAML path: ``rules[1].condition: uses the function ...``."""
    from synthsql.rules import RuleError, parse_condition

    out = []
    for j, rule in enumerate(rules):
        name = getattr(rule, "name", None) if not isinstance(rule, Mapping) else rule.get("name")
        for part in ("condition", "when"):
            text = getattr(rule, part, None) if not isinstance(rule, Mapping) else rule.get(part)
            if not isinstance(text, str):
                continue  # a missing or mistyped text is reported by the schema
            try:
                parse_condition(str(name), part, text)
            except RuleError as err:
                out.append(f"rules[{j}].{part}: {err.problem}")
    return out


def _semantic_problems(table: TableDecl, registry: Mapping[str, type], get_generator: Callable[..., Any]) -> list[str]:
    """What YAML types cannot say: known method and parameters, purpose against privacy, rules that parse."""
    out = []
    method = table.method_name
    if method not in registry:
        out.append(f"method: unknown method {method!r}.{did_you_mean(method, registry)} Methods: {', '.join(sorted(registry))}.")
    else:
        try:
            get_generator(method, **table.method_params)
        except SynthsqlError as err:
            out.append(f"params: {err}")
        private = getattr(registry[method], "private", False)
        if table.privacy is not None and (table.privacy.noise == "reproducible") != (table.privacy.noise_seed is not None):
            out.append(
                "privacy.noise_seed: give noise_seed exactly when noise is 'reproducible' (seeded noise, NOT "
                "differentially private); private noise cannot be seeded."
            )
        if table.purpose == "public_use" and table.privacy is not None and table.privacy.noise != "private":
            out.append("privacy.noise: a public_use file must be differentially private: noise must be 'private'.")
        if private and table.privacy is None:
            out.append(f"privacy: method {method!r} is differentially private and needs privacy: {{epsilon: ...}}.")
        if not private and table.privacy is not None:
            out.append(f"privacy: method {method!r} is not differentially private; drop privacy or use mst, aim or privbayes.")
        if table.purpose == "public_use" and not private:
            out.append(f"purpose: public_use needs a differentially private method (mst, aim, privbayes), not {method!r}.")
        inferred = [name for name, col in table.columns.items() if col.inferred and not col.exclude]
        if (private or table.purpose == "public_use") and inferred:
            out.append(
                f"columns: {', '.join(map(repr, inferred))} still carry the domains `synthsql infer` read from the data "
                "(inferred: true); a differentially private release needs public domains: replace them with "
                "categories or bins from a codebook and remove 'inferred', exclude the columns, or drop their domains "
                "and let the fit estimate them with DP (privacy: {domain_share: 0.1})."
            )
        if table.purpose == "structural" and method != "uniform":
            out.append(f"purpose: structural files carry no statistics: method must be 'uniform', not {method!r}.")
    if table.target_name == table.source:
        out.append(f"target: {table.target_name!r} is the source table; synthsql never writes the source.")
    from synthsql.connection import TableRef

    for key, name, check in (("source", table.source, TableRef.parse), ("target", table.target_name, _target)):
        try:
            check(name)
        except SynthsqlError as err:
            out.append(f"{key}: {err}")
    if table.rows is not None and table.rows > table.max_rows:
        out.append(
            f"rows: {table.rows:,} rows is over the cap of {table.max_rows:,} (max_rows); write fewer rows or raise "
            f"max_rows to at least {table.rows}."
        )
    out += _rule_problems(table.rules)
    for name, col in table.columns.items():
        if col.key and col.sensitive:
            out.append(f"columns.{name}: a column cannot be both key and sensitive.")
        if col.exclude and (col.key or col.sensitive):
            out.append(f"columns.{name}: an excluded column cannot be a key or sensitive.")
        if col.edges is not None and col.bins is not None:
            out.append(f"columns.{name}: give edges or bins, not both.")
        out += [f"columns.{name}.{p}" for p in _domain_problems(col)]
    out += _level_problems(table)
    from synthsql.metrics.glm import parse_formula

    for j, formula in enumerate(table.formulas):
        try:
            parse_formula(formula if isinstance(formula, str) else formula.formula)
        except SynthsqlError as err:
            out.append(f"formulas[{j}]: {err}")
    return out


def _level_problems(table: TableDecl) -> list[str]:
    """``exclude_target_levels`` names sensitive columns (the risk targets), with levels among their declared
    categories; values of binned columns and inferred categories are checked against the spec when evaluating."""
    out = []
    sensitive = [n for n, c in table.columns.items() if c.sensitive]
    for name, levels in table.exclude_target_levels.items():
        col = table.columns.get(name)
        if col is None or not col.sensitive:
            out.append(
                f"exclude_target_levels.{name}: not a risk target; the targets are the columns marked "
                f"sensitive: true ({', '.join(sensitive) or 'none'}).{did_you_mean(name, sensitive)}"
            )
            continue
        seen: list[Any] = []
        for i, level in enumerate(levels):
            if level is None:
                out.append(f"exclude_target_levels.{name}[{i}]: NULL cannot be left out; give a category or value.")
            elif col.categories is not None and not any(_same(level, c) for c in col.categories):
                hint = did_you_mean(str(level), [str(c) for c in col.categories])
                if isinstance(level, bool) and not all(isinstance(c, bool) for c in col.categories):
                    hint += ' YAML reads an unquoted no, yes, on, off, true or false as a boolean: quote it, "no".'
                out.append(
                    f"exclude_target_levels.{name}[{i}]: {level!r} is not one of the declared categories of "
                    f"{name!r}.{hint}"
                )
            elif any(_same(level, s) for s in seen):
                out.append(f"exclude_target_levels.{name}[{i}]: {level!r} is listed twice.")
            seen.append(level)
    return out


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same sort: a YAML boolean is not the number 0 or 1."""
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def _domain_problems(col: ColumnDecl) -> list[str]:
    """Bin edges that are not finite and strictly increasing; bins that are not [value] or [low, high] with
    low <= high, in increasing order."""
    from synthsql.schema import Bin

    out = []
    if col.edges is not None:
        if not all(math.isfinite(e) for e in col.edges):
            out.append(f"edges: every edge must be a finite number, got {col.edges}.")
        elif any(b <= a for a, b in zip(col.edges, col.edges[1:])):
            at = next(i for i, (a, b) in enumerate(zip(col.edges, col.edges[1:])) if b <= a)
            out.append(f"edges: edges must increase strictly; {col.edges[at + 1]:g} follows {col.edges[at]:g}.")
    if col.bins is not None:
        bins = []
        for i, value in enumerate(col.bins):
            try:
                bins.append(Bin.from_json(value))
            except SynthsqlError as err:
                out.append(f"bins[{i}]: {err}")
        for i in range(1, len(bins)):
            if bins[i].lo < bins[i - 1].lo:
                out.append(f"bins[{i}]: bins must be in increasing order; {bins[i].to_json()} comes after "
                           f"{bins[i - 1].to_json()}.")
                break
    return out


def _target(name: str) -> Any:
    from synthsql.connection import TableRef

    return TableRef.parse(name).check_target()


def check_database(catalog: Catalog, db: Any, tables: Sequence[TableDecl] | None = None) -> None:
    """Check the selected tables against the database: sources exist, declared columns exist (with suggestions)."""
    problems = _database_problems(catalog, db, tables if tables is not None else catalog.tables)
    if problems:
        raise CatalogError(problems)


def _database_problems(catalog: Catalog, db: Any, tables: Sequence[TableDecl]) -> list[str]:
    from synthsql.connection import TableRef

    problems = []
    for table in tables:
        where = f"{catalog.files.get(table.name, '?')}: tables[{list(catalog.tables).index(table)}]"
        try:
            ref = TableRef.parse(table.source)
            _target(table.target_name)
        except SynthsqlError as err:
            problems.append(f"{where}.source/target: {err}")
            continue
        if not db.exists(ref):
            problems.append(f"{where}.source: table {table.source!r} is not in the database.")
            continue
        schema = db.table(ref).schema()
        names = list(schema.names)
        for name in table.columns:
            if name not in names:
                problems.append(f"{where}.columns.{name}: no such column in {table.source!r}.{did_you_mean(name, names)}")
        problems += [f"{where}.{p}" for p in _columns_used(table, names)]
        if table.privacy is not None and table.privacy.domain_share is None:
            undeclared = [
                name for name, dtype in schema.items()
                if not dtype.is_boolean() and not _declared(table.columns.get(name))
            ]
            if undeclared:
                problems.append(
                    f"{where}.columns: a differentially private release needs public domains, but "
                    f"{', '.join(map(repr, undeclared))} would have theirs read from the data (undeclared): "
                    "declare categories, edges or bins from a codebook, exclude the "
                    "column, or let the fit estimate them with DP (privacy: {domain_share: 0.1})."
                )
    return problems


def _declared(col: ColumnDecl | None) -> bool:
    return col is not None and (col.exclude or col.categories is not None or col.edges is not None
                                or col.bins is not None or col.kind in ("identifier", "excluded"))


def _columns_used(table: TableDecl, names: Sequence[str]) -> list[str]:
    """Rule and formula columns that the source does not have, with their YAML paths."""
    from synthsql.metrics.glm import parse_formula

    out = []
    for j, rule in enumerate(table.edit_rules()):
        for name in rule.columns:
            if name not in names and name.lower() not in {n.lower() for n in names}:
                out.append(f"rules[{j}]: rule {rule.name!r} names the column {name!r}, which is not in "
                           f"{table.source!r}.{did_you_mean(name, names)}")
    for j, formula in enumerate(table.formulas):
        for name in parse_formula(formula if isinstance(formula, str) else formula.formula).columns:
            if name not in names:
                out.append(f"formulas[{j}]: the column {name!r} is not in {table.source!r}.{did_you_mean(name, names)}")
    return out


_SECRET_KEYS = ("noise_seed",)


def withhold_secrets(text: str) -> str:
    """Catalog text with the value of every secret key (a noise seed) replaced, for publishing in a report."""
    import re

    pattern = re.compile(r"(\b(?:" + "|".join(_SECRET_KEYS) + r")\s*:\s*)([^,}\s#]+)")
    return pattern.sub(r"\1(withheld)", text)


def dump_starter(spec: Any, *, source: str, purpose: str = "scientific_use") -> str:
    """A starter catalog for a described table: its columns with the domains found in the data, to be reviewed
    (and, for a DP release, replaced by public domains)."""
    columns: dict[str, Any] = {}
    for col in spec.columns:
        entry: dict[str, Any] = {"kind": col.kind}
        if col.kind == "categorical":
            entry["categories"] = list(col.categories or ())
            entry["inferred"] = True
        elif col.bins:
            entry["bins"] = [b.to_json() for b in col.bins]
            entry["inferred"] = True
        if col.kind in ("identifier", "excluded"):
            entry = {"exclude": True}
        columns[col.name] = entry
    name = source.split(".")[-1]
    document = {
        "version": 1,
        "tables": [
            {
                "name": f"{name}_synth",
                "source": source,
                "purpose": purpose,
                "seed": 1,
                "columns": columns,
                "metrics": ["utility", "risk"],
            }
        ],
    }
    header = (
        f"# Starter catalog for {source}, written by `synthsql infer`.\n"
        "# The domains below were read from the data: review them, mark keys (key: true) and sensitive columns\n"
        "# (sensitive: true), and for a differentially private release (purpose: public_use) replace them by public\n"
        "# domains.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)
