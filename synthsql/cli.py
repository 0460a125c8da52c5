"""Command line: ``synthsql demo`` (the other commands come with the catalogs)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from synthsql.errors import SynthsqlError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="synthsql", description="Synthetic data generated inside the database.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="synthesize a shipped real dataset with every method and compare")
    demo.add_argument("--db", default="duckdb:///demo.duckdb", help="database URL (default: %(default)s)")
    demo.add_argument("--dataset", default="cps1988", help="shipped dataset (cps1988, eusilc, ses)")
    demo.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            from synthsql.demo import print_demo, run_demo

            print_demo(run_demo(args.db, args.dataset, seed=args.seed), dataset=args.dataset, url=args.db)
    except SynthsqlError as err:
        print(f"synthsql: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
