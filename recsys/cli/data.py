"""``recsys data fetch|validate|synthetic`` and ``recsys ingest``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from recsys.cli.common import command, settings_for
from recsys.datasets.info import MOVIELENS
from recsys.errors import UsageError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from recsys.config import Settings
    from recsys.datasets.tables import Dataset


def cmd_fetch(args: argparse.Namespace) -> int:
    from recsys import datasets

    settings = settings_for(args)
    missing = datasets.missing_files(settings.data_dir)
    if not missing:
        datasets.fetch(settings.data_dir, dataset=args.dataset)  # says if it is another one
        print(f"The five CSVs are already in {settings.data_dir}; nothing to fetch.")
        return 0
    from recsys.datasets.movielens import ARCHIVES

    archive = ARCHIVES[args.dataset]
    invented = (f"; synthesised: {', '.join(archive.info.synthesised)}"
                if archive.info.synthesised else "")
    print(f"Fetching {args.dataset} ({archive.ratings} ratings) into {settings.data_dir}"
          f"{invented}")
    paths = datasets.fetch(settings.data_dir, dataset=args.dataset, seed=settings.seed)
    print("Wrote " + ", ".join(str(p) for p in paths))
    return 0


def print_load(result: Any, data_dir: Any, reports_dir: Any) -> None:
    """The validation summary, the reasons of reported rows, and where the report is."""
    print(f"Data from {data_dir}:")
    print(result.summary.to_string(index=False))
    if not result.report.empty:
        print("\nReported rows by reason:")
        print(result.reasons().to_string(index=False))
    print(f"\nFull report: {reports_dir / 'load_report.csv'}")


def cmd_validate(args: argparse.Namespace) -> int:
    from recsys import datasets

    settings = settings_for(args)
    result = datasets.load(settings.data_dir, report_dir=settings.reports_dir)
    print_load(result, settings.data_dir, settings.reports_dir)
    return 0


def cmd_synthetic(args: argparse.Namespace) -> int:
    import time

    from recsys.datasets.generate import generate
    from recsys.display.progress import bar
    from recsys.rules import scale_named

    ratings = args.ratings if args.ratings is not None else 25 * args.users
    start = time.perf_counter()
    with bar(total=args.users, desc="users", unit="user") as progress:
        paths = generate(args.out_dir, args.users, args.movies, ratings, seed=args.seed,
                         scale=scale_named(args.scale), clusters=args.clusters,
                         progress=lambda done, _total: progress.update(done - progress.n))
    print(f"Wrote a synthetic dataset ({args.users} users, {args.movies} movies, {ratings} "
          f"{args.scale} ratings, seed {args.seed}) to {args.out_dir} in "
          f"{time.perf_counter() - start:.1f} s: " + ", ".join(p.name for p in paths))
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from recsys import datasets, db

    settings = settings_for(args)
    result = datasets.load(settings.data_dir, report_dir=settings.reports_dir)
    print_load(result, settings.data_dir, settings.reports_dir)
    engine = db.make_engine(settings.database_url)
    try:
        db.check_connection(engine)
        if args.replace:
            _replace_with_a_net(engine, result.dataset, settings, args)
        report = db.ingest(result.dataset, engine, replace=args.replace, force=args.force)
        dangling = db.dangling_references(engine)
    finally:
        engine.dispose()
    print(f"\nIngested ({report.mode}) into {db.masked(engine.url)} in {report.seconds:.2f} s:")
    print(report.table().to_string(index=False))
    broken = {k: v for k, v in dangling.items() if v}
    print("Dangling references: " + (json.dumps(broken) if broken else "none"))
    return 0 if not broken else 1


def _replace_with_a_net(engine: Engine, dataset: Dataset, settings: Settings,
                        args: argparse.Namespace) -> None:
    """Before ``ingest --replace``: say what it deletes for good, ask (refuse without
    ``--yes`` when no one can answer), and keep a copy to restore."""
    from recsys.db import backup
    from recsys.db.loading import check_sources, frames_for

    check_sources(frames_for(dataset), args.force)  # an empty file is refused first, as ever
    losses = backup.replace_losses(engine, dataset)
    if not losses:
        return
    print(f"`ingest --replace` will delete {backup.describe_losses(losses)}.")
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("refusing to delete them without a yes: nothing changed (pass "
                             "--yes to replace anyway, or drop --replace to merge)")
        if input("Replace them? [y/N] ").strip().lower() not in {"y", "yes"}:
            raise UsageError("not replaced: nothing changed")
    folder = backup.backup(engine, settings.backups_dir, settings.keep_versions)
    print(f"A copy of the tables is in {folder} (`recsys ingest --replace --data-dir "
          f"{folder}` restores it).")


def register(sub: Any) -> None:
    data = sub.add_parser("data", help="obtain, validate or synthesise the CSVs",
                          description="Obtain, validate or synthesise the five CSVs.")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    fetch = command(data_sub, "fetch", "download a MovieLens dataset (default ml-100k, the "
                    "course data's source) as the five CSVs; offline it says where to put "
                    "the files", data=True)
    fetch.add_argument("--dataset", default="ml-100k", choices=MOVIELENS,
                       help="which MovieLens archive (checksum pinned)")
    fetch.set_defaults(func=cmd_fetch)
    command(data_sub, "validate", "load and validate the CSVs, write the report of rejected "
            "rows, print the summary", data=True).set_defaults(func=cmd_validate)
    syn = command(data_sub, "synthetic", "write a MovieLens-shaped synthetic dataset of any "
                  "size (power-law popularity and activity, taste clusters), streamed")
    syn.add_argument("out_dir", help="folder to write the five CSVs to")
    syn.add_argument("--users", type=int, default=1000, help="number of users")
    syn.add_argument("--movies", type=int, default=1700, help="number of movies")
    syn.add_argument("--ratings", type=int, default=None,
                     help="number of ratings (default: 25 per user; 20 to movies/2 per user)")
    syn.add_argument("--scale", default="stars", choices=["stars", "half-stars"],
                     help="whole stars 1-5 or half stars 0.5-5")
    syn.add_argument("--clusters", type=int, default=16, help="taste clusters")
    syn.add_argument("--seed", type=int, default=0, help="random seed")
    syn.set_defaults(func=cmd_synthetic)

    ingest = command(
        sub, "ingest", "validate the CSVs and merge them into the database (idempotent)",
        description="Validate the CSVs and load them into the database in one transaction. "
                    "By default rows are merged by key: CSV rows are inserted or updated and "
                    "rows that exist only in the database (ratings posted through the API) "
                    "are kept. Ingest refuses, changing nothing, when a required file yields "
                    "no valid row or a table would lose more than half of its rows.",
        data=True, database=True)
    ingest.add_argument("--replace", action="store_true",
                        help="make the tables exactly the CSVs (drops rows that exist only in "
                             "the database, clears predictions and clusters)")
    ingest.add_argument("--yes", action="store_true",
                        help="with --replace: delete what the CSVs lack without asking (a copy "
                             "is kept under var/backups all the same)")
    ingest.add_argument("--force", action="store_true",
                        help="load even when a file yields no valid row or a table would "
                             "lose more than half of its rows")
    ingest.set_defaults(func=cmd_ingest)
