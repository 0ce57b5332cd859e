"""The ``recsys`` command: one subcommand per pipeline stage, each a thin call into the package.

Errors a user can fix (missing data, invalid input) print one clear line to stderr and exit
with status 2; nothing prints a traceback for them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

from recsys.config import Settings, get_settings


class UserError(Exception):
    """A problem the user can fix; printed without a traceback."""


def _settings(args: argparse.Namespace) -> Settings:
    settings = get_settings()
    changes: dict[str, object] = {}
    if getattr(args, "data_dir", None):
        changes["data_dir"] = Path(args.data_dir)
    if getattr(args, "database_url", None):
        changes["database_url"] = args.database_url
    return settings.replace(**changes) if changes else settings


# -- data ---------------------------------------------------------------------------------------
def cmd_data_fetch(args: argparse.Namespace) -> int:
    from recsys import datasets

    settings = _settings(args)
    missing = datasets.missing_files(settings.data_dir)
    if not missing:
        print(f"The five CSVs are already in {settings.data_dir}; nothing to fetch.")
        return 0
    print(f"Fetching MovieLens 100K into {settings.data_dir} (missing: {', '.join(missing)})")
    paths = datasets.fetch(settings.data_dir, seed=settings.seed)
    print("Wrote " + ", ".join(str(p) for p in paths))
    return 0


def cmd_data_validate(args: argparse.Namespace) -> int:
    from recsys import datasets

    settings = _settings(args)
    result = datasets.load(settings.data_dir, report_dir=settings.reports_dir)
    _print_load(result, settings)
    return 0


def cmd_data_synthetic(args: argparse.Namespace) -> int:
    from recsys import datasets

    data = datasets.synthetic(n_users=args.users, n_movies=args.movies,
                              ratings_per_user=args.ratings_per_user, seed=args.seed)
    paths = datasets.save(data, args.out_dir)
    print(f"Wrote a synthetic dataset ({data.counts()}) to {args.out_dir}: "
          + ", ".join(p.name for p in paths))
    return 0


def _print_load(result: object, settings: Settings) -> None:
    from recsys.datasets import LoadResult

    assert isinstance(result, LoadResult)
    print(f"Data from {settings.data_dir}:")
    print(result.summary.to_string(index=False))
    if not result.report.empty:
        print("\nReported rows by reason:")
        print(result.reasons().to_string(index=False))
    print(f"\nFull report: {settings.reports_dir / 'load_report.csv'}")


# -- ingest -------------------------------------------------------------------------------------
def cmd_ingest(args: argparse.Namespace) -> int:
    from recsys import datasets, db

    settings = _settings(args)
    start = time.perf_counter()
    result = datasets.load(settings.data_dir, report_dir=settings.reports_dir)
    _print_load(result, settings)
    engine = db.make_engine(settings.database_url)
    try:
        counts = db.ingest(result.dataset, engine)
        dangling = db.dangling_references(engine)
    finally:
        engine.dispose()
    elapsed = time.perf_counter() - start
    print(f"\nIngested into {engine.url.render_as_string(hide_password=True)} "
          f"in {elapsed:.2f} s:")
    for table, count in counts.items():
        print(f"  {table:<13} {count:>7}")
    broken = {k: v for k, v in dangling.items() if v}
    print("Dangling references: " + (json.dumps(broken) if broken else "none"))
    return 0 if not broken else 1


# -- parser -------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and documentation)."""
    parser = argparse.ArgumentParser(
        prog="recsys", description="Movie recommendation system: data, model, vectors, API.")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_data(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--data-dir", help="folder with the five CSVs (RECSYS_DATA_DIR)")
        return p

    def with_db(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--database-url", help="SQLAlchemy URL (RECSYS_DATABASE_URL)")
        return p

    data = sub.add_parser("data", help="obtain, validate or synthesise the CSVs")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    with_data(data_sub.add_parser("fetch", help="download MovieLens 100K as the five CSVs")
              ).set_defaults(func=cmd_data_fetch)
    with_data(data_sub.add_parser("validate", help="load, validate and report")
              ).set_defaults(func=cmd_data_validate)
    syn = data_sub.add_parser("synthetic", help="write a small synthetic dataset")
    syn.add_argument("out_dir")
    syn.add_argument("--users", type=int, default=60)
    syn.add_argument("--movies", type=int, default=120)
    syn.add_argument("--ratings-per-user", type=int, default=25)
    syn.add_argument("--seed", type=int, default=0)
    syn.set_defaults(func=cmd_data_synthetic)

    with_db(with_data(sub.add_parser(
        "ingest", help="validate the CSVs and load them into the database (idempotent)"))
    ).set_defaults(func=cmd_ingest)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``recsys`` console script."""
    from recsys.datasets import DataError
    from recsys.entities import EntityError

    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (UserError, DataError, EntityError, ValueError) as exc:
        print(f"recsys: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
