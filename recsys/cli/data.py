"""``recsys data fetch|validate|synthetic`` and ``recsys ingest``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from recsys.cli.common import command, settings_for


def cmd_fetch(args: argparse.Namespace) -> int:
    from recsys import datasets

    settings = settings_for(args)
    missing = datasets.missing_files(settings.data_dir)
    if not missing:
        print(f"The five CSVs are already in {settings.data_dir}; nothing to fetch.")
        return 0
    print(f"Fetching MovieLens 100K into {settings.data_dir} (missing: {', '.join(missing)}); "
          "person names and the workers table are synthesised")
    paths = datasets.fetch(settings.data_dir, seed=settings.seed)
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
    from recsys import datasets

    data = datasets.synthetic(n_users=args.users, n_movies=args.movies,
                              ratings_per_user=args.ratings_per_user, seed=args.seed)
    paths = datasets.save(data, args.out_dir)
    print(f"Wrote a synthetic dataset ({data.counts()}) to {args.out_dir}: "
          + ", ".join(p.name for p in paths))
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from recsys import datasets, db

    settings = settings_for(args)
    result = datasets.load(settings.data_dir, report_dir=settings.reports_dir)
    print_load(result, settings.data_dir, settings.reports_dir)
    engine = db.make_engine(settings.database_url)
    try:
        db.check_connection(engine)
        report = db.ingest(result.dataset, engine, replace=args.replace, force=args.force)
        dangling = db.dangling_references(engine)
    finally:
        engine.dispose()
    print(f"\nIngested ({report.mode}) into {db.masked(engine.url)} in {report.seconds:.2f} s:")
    print(report.table().to_string(index=False))
    broken = {k: v for k, v in dangling.items() if v}
    print("Dangling references: " + (json.dumps(broken) if broken else "none"))
    return 0 if not broken else 1


def register(sub: Any) -> None:
    data = sub.add_parser("data", help="obtain, validate or synthesise the CSVs",
                          description="Obtain, validate or synthesise the five CSVs.")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    command(data_sub, "fetch", "download MovieLens 100K as the five CSVs (names and workers "
            "synthesised); offline it says where to put the files", data=True
            ).set_defaults(func=cmd_fetch)
    command(data_sub, "validate", "load and validate the CSVs, write the report of rejected "
            "rows, print the summary", data=True).set_defaults(func=cmd_validate)
    syn = command(data_sub, "synthetic", "write a small synthetic dataset with the same schema")
    syn.add_argument("out_dir", help="folder to write the five CSVs to")
    syn.add_argument("--users", type=int, default=60, help="number of users")
    syn.add_argument("--movies", type=int, default=120, help="number of movies")
    syn.add_argument("--ratings-per-user", type=int, default=25, help="ratings per user")
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
    ingest.add_argument("--force", action="store_true",
                        help="load even when a file yields no valid row or a table would "
                             "lose more than half of its rows")
    ingest.set_defaults(func=cmd_ingest)
