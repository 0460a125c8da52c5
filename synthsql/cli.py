"""The ``synthsql`` command: infer, validate, build, evaluate, report, compile and demo.

Exit codes scripts can rely on:

* 0: success;
* 1: a step failed while running (fit, write, a metric); the database is as it was before the run;
* 2: the command line is wrong (argparse's own code);
* 3: the catalog does not validate (every problem is printed, with its file and YAML path);
* 4: the database cannot be reached, or a table it should hold is missing.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from synthsql.engines import ENGINES
from synthsql.errors import ConnectionError, SynthsqlError, TableNotFoundError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CATALOG, EXIT_DATABASE = 0, 1, 2, 3, 4


class UsageError(SynthsqlError):
    """A command-line argument that cannot be used (an unknown template, an output file that cannot be written)."""

EPILOG = "Exit codes: 0 success, 1 a step failed (nothing changed), 2 bad command line, 3 invalid catalog, 4 database."


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synthsql", description="Synthetic data generated inside the database.", epilog=EPILOG
    )
    from synthsql import __version__

    parser.add_argument("--version", action="version", version=f"synthsql {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help, description=help, epilog=EPILOG)

    infer = command("infer", "write a starter catalog for a table of the database")
    infer.add_argument("table", help="the source table (table or schema.table)")
    infer.add_argument("--db", required=True, help="database URL, e.g. duckdb:///warehouse.duckdb")
    infer.add_argument("-o", "--output", help="catalog file to write (default: print it)")
    infer.add_argument("--purpose", default="scientific_use", choices=["structural", "scientific_use", "twin"])

    validate = command("validate", "check catalogs without building (with --db, against the database too)")
    validate.add_argument("paths", nargs="*", default=["catalogs"], help="catalog files or folders (default: catalogs)")
    validate.add_argument("--db", help="database URL: also check sources and columns")

    build = command("build", "build the tables a catalog declares: synthetic table, utility, risk and privacy tables")
    build.add_argument("paths", nargs="*", default=["catalogs"], help="catalog files or folders (default: catalogs)")
    build.add_argument("--db", required=True, help="database URL")
    build.add_argument("--select", action="append", metavar="NAME", help="build only this table (repeatable)")
    build.add_argument("--quiet", action="store_true", help="no progress bar")

    evaluate = command("evaluate", "measure a synthetic table against its source; writes <synthetic>__utility")
    evaluate.add_argument("--db", required=True, help="database URL")
    evaluate.add_argument("--real", help="the source table (or take it from --catalog)")
    evaluate.add_argument("--synthetic", help="the synthetic table (or take it from --catalog)")
    evaluate.add_argument("--catalog", nargs="+", metavar="PATH",
                          help="catalog files or folders: measure the --select table with its keys, rules and formulas")
    evaluate.add_argument("--select", metavar="NAME", help="the catalog table to measure (with --catalog)")
    evaluate.add_argument("--no-write", action="store_true", help="print only; write no table")
    evaluate.add_argument("--replace", action="store_true", help="replace results stored earlier (e.g. by build)")

    report = command("report", "write a self-contained HTML report of a built catalog table")
    report.add_argument("paths", nargs="*", default=["catalogs"], help="catalog files or folders (default: catalogs)")
    report.add_argument("--db", required=True, help="database URL")
    report.add_argument("--select", required=True, metavar="NAME", help="the catalog table to report on")
    report.add_argument("-o", "--output", help="HTML file (default: <target>.html)")

    sources = command("sources", "write a dbt sources.yml for built catalog tables (dbt models then source() them)")
    sources.add_argument("paths", nargs="*", default=["catalogs"], help="catalog files or folders (default: catalogs)")
    sources.add_argument("--db", required=True, help="database URL")
    sources.add_argument("--select", action="append", metavar="NAME", help="only this table (repeatable)")
    sources.add_argument("--name", default="synthsql", help="the dbt source's name (default: %(default)s)")
    sources.add_argument("-o", "--output", help="file to write, e.g. models/synthsql_sources.yml (default: print it)")

    compile_ = command("compile", "print the SQL of a template (sql/*.sql) rendered for a dialect")
    compile_.add_argument("template", nargs="?", help="template name (default: list them)")
    compile_.add_argument("--dialect", default="duckdb", choices=sorted(e.dialect for e in ENGINES.values()))

    demo = command("demo", "synthesize a shipped real dataset with every method and compare")
    demo.add_argument("--db", default="duckdb:///demo.duckdb", help="database URL (default: %(default)s)")
    demo.add_argument("--dataset", default="cps1988", help="shipped dataset (cps1988, eusilc, ses)")
    demo.add_argument("--seed", type=int, default=1)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from synthsql.catalog import CatalogError
    from synthsql.pipeline import BuildError

    try:
        return _run(args)
    except CatalogError as err:
        print(f"synthsql: {err}", file=sys.stderr)
        return EXIT_CATALOG
    except BuildError as err:
        print(f"synthsql: error: {err}", file=sys.stderr)
        return EXIT_FAILED
    except (ConnectionError, TableNotFoundError) as err:
        print(f"synthsql: database error: {err}", file=sys.stderr)
        return EXIT_DATABASE
    except UsageError as err:
        print(f"synthsql {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except SynthsqlError as err:
        print(f"synthsql: error: {err}", file=sys.stderr)
        return EXIT_FAILED


def _connect(url: str):  # type: ignore[no-untyped-def]
    from synthsql.connection import connect

    return connect(url)


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console

    console = Console(stderr=False)
    if args.command == "demo":
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        from synthsql.demo import print_demo, run_demo

        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("demo", total=None)

            def shown(step: str, done: int, total: int) -> None:
                bar.update(task, description=step, completed=done, total=total)

            rows = run_demo(args.db, args.dataset, seed=args.seed, progress=shown)
        print_demo(rows, dataset=args.dataset, url=args.db, console=console)
    elif args.command == "infer":
        from synthsql.catalog import dump_starter
        from synthsql.schema import describe

        db = _connect(args.db)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spec = describe(db, args.table)
        text = dump_starter(spec, source=args.table, purpose=args.purpose)
        if args.output:
            Path(args.output).write_text(text)
            console.print(f"wrote {args.output}: review the domains, keys and sensitive columns, then build it")
        else:
            print(text, end="")
    elif args.command == "validate":
        from synthsql.catalog import load

        catalog = load(args.paths, _connect(args.db) if args.db else None)  # the files' problems and the database's
        console.print(f"{len(catalog.tables)} table(s) valid: {', '.join(t.name for t in catalog.tables)}")
    elif args.command == "build":
        _build(args, console)
    elif args.command == "evaluate":
        _evaluate(args, console)
    elif args.command == "report":
        _report(args, console)
    elif args.command == "sources":
        from synthsql.catalog import check_database, load
        from synthsql.dbt_sources import sources_yaml

        catalog = load(args.paths)
        db = _connect(args.db)
        check_database(catalog, db, catalog.select(args.select))
        text = sources_yaml(catalog, db, select=args.select, name=args.name)
        if args.output:
            Path(args.output).write_text(text)
            console.print(f"wrote {args.output}", markup=False)
        else:
            print(text, end="")
    elif args.command == "compile":
        from synthsql import templates

        if not args.template:
            print("\n".join(templates.names()))
        else:
            if args.template not in templates.names():
                from synthsql.errors import did_you_mean

                raise UsageError(
                    f"No template {args.template!r}.{did_you_mean(args.template, templates.names())} "
                    f"Templates: {', '.join(templates.names())}."
                )
            print(templates.load(args.template).sql(args.dialect, pretty=True) + ";")
    return EXIT_OK


def _build(args: argparse.Namespace, console) -> None:  # type: ignore[no-untyped-def]
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from synthsql.catalog import load
    from synthsql.pipeline import build

    catalog = load(args.paths)
    db = _connect(args.db)
    chosen = catalog.select(args.select)
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console, disable=args.quiet,
        transient=True,
    ) as progress:
        task = progress.add_task("build", total=len(chosen))
        seen: set[str] = set()

        def report(table: str, step: str) -> None:
            if table not in seen and seen:
                progress.advance(task)
            seen.add(table)
            progress.update(task, description=f"{table}: {step}")

        built = build(catalog, db, select=args.select, progress=report)
    for item in built:
        timing = ", ".join(f"{k} {v:.1f}s" for k, v in item.seconds.items())
        console.print(f"built {item.name}: {', '.join(item.tables)} ({item.rows:,} rows; {timing})")


def _evaluate(args: argparse.Namespace, console) -> None:  # type: ignore[no-untyped-def]
    import synthsql as ss
    from synthsql.pipeline import evaluate

    thresholds = None
    if args.catalog:
        from synthsql.catalog import check_database, load

        if not args.select or args.real or args.synthetic:
            raise UsageError("with --catalog, name the catalog table with --select (its source and target are the "
                             "catalog's; leave out --real and --synthetic).")
        catalog = load(args.catalog)
        (table,) = catalog.select([args.select])
        db = _connect(args.db)
        check_database(catalog, db, [table])
        spec = ss.describe(db, table.source, **table.describe_args())
        request = {**table.evaluate_args(), "spec": spec}
        thresholds = table.thresholds
    else:
        if not (args.real and args.synthetic) or args.select:
            raise UsageError("name the tables with --real and --synthetic, or a catalog table with --catalog and "
                             "--select.")
        db = _connect(args.db)
        request = {"real": args.real, "synthetic": args.synthetic}
    with console.status(f"evaluating {request['synthetic']} against {request['real']} in the database"):
        result = evaluate(db, write=not args.no_write, replace=args.replace, **request)
    console.print(result.utility.to_string(index=False), markup=False)
    if len(result.risk):
        console.print(result.risk.to_string(index=False), markup=False)
    _print_verdict(console, result.verdict(thresholds))


def _report(args: argparse.Namespace, console) -> None:  # type: ignore[no-untyped-def]
    import synthsql as ss
    from synthsql.catalog import check_database, load
    from synthsql.report import write_report

    path = _writable(Path(args.output) if args.output else None)  # before minutes of evaluation, not after
    catalog = load(args.paths)
    (table,) = catalog.select([args.select])
    db = _connect(args.db)
    check_database(catalog, db, [table])

    from synthsql.connection import TableRef

    spec = ss.describe(db, table.source, **table.describe_args())
    if not db.exists(TableRef.parse(table.target_name)):
        raise TableNotFoundError(f"Table {table.target_name!r} is not built yet: run `synthsql build --select {table.name}`.")
    saved = TableRef.parse(f"{table.target_name}__model")
    model = None
    if db.exists(saved):
        record = db.table(saved).to_pandas().iloc[0]
        model = ss.Model.from_json(record["model"])
        model.rows_drawn, model.rows_kept = int(record.get("rows_drawn", 0)), int(record.get("rows_kept", 0))
    path = path or _writable(Path(f"{table.target_name}.html"))
    text = catalog.texts.get(catalog.files[table.name])
    from synthsql.pipeline import stored_evaluation

    evaluation, why = stored_evaluation(db, spec=spec, **table.evaluate_args())
    if evaluation is not None:
        console.print(f"reporting from the {why} (both tables unchanged since)", markup=False)
    else:
        console.print(f"measuring {table.target_name} again: {why}", markup=False)
        with console.status(f"measuring {table.target_name} for the report"):
            evaluation = ss.evaluate(db, spec=spec, write=False, **table.evaluate_args())
    with console.status(f"drawing the report {path}"):
        write_report(
            path, db, real=table.source, synthetic=table.target_name, spec=spec, evaluation=evaluation, model=model,
            catalog=text, thresholds=table.thresholds, rules=table.edit_rules(),
        )
    console.print(f"wrote {path}")


def _print_verdict(console, verdict) -> None:  # type: ignore[no-untyped-def]
    from synthsql.metrics.registry import GROUPS

    groups = ", ".join(f"{label.lower()}: {verdict.groups[g]}" for g, label in GROUPS.items())
    console.print(f"verdict: {verdict.overall.upper()} ({groups})", markup=False)
    for note in verdict.notes:
        console.print(f"  {note}", markup=False)
    for r in verdict.problems().itertuples(index=False):
        console.print(f"  {r.level}: {r.metric} [{r.scope}] {r.why}", markup=False)


def _writable(path: Path | None) -> Path | None:
    """``path`` if a file can be written there (checked by creating it, empty, when it does not exist yet)."""
    if path is None:
        return None
    if path.is_dir():
        raise UsageError(f"cannot write the report to {str(path)!r}: it is a directory.")
    existed = path.exists()
    try:
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as err:
        raise UsageError(f"cannot write the report to {str(path)!r}: {err.strerror or err}.") from None
    if not existed:
        path.unlink()
    return path


if __name__ == "__main__":
    raise SystemExit(main())
