"""Benchmark: full ingest of the real data (CSV load + validation + bulk load) into SQLite and
into PostgreSQL 15 (a throwaway cluster this script starts and stops).

Usage: RECSYS_DATA_DIR=../shared/datasets .venv/bin/python bench/ingest.py [--repeat 5]
Prints a markdown table; paste it into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from recsys import datasets, db
from recsys.testing.postgres import TemporaryPostgres


def run(url: str, data_dir: Path, repeat: int) -> tuple[list[float], list[float], dict[str, int]]:
    """Time `repeat` full ingests (load+validate+load into the DB) and the DB part alone."""
    engine = db.make_engine(url)
    totals, db_only, counts = [], [], {}
    for _ in range(repeat):
        start = time.perf_counter()
        result = datasets.load(data_dir)
        middle = time.perf_counter()
        counts = db.ingest(result.dataset, engine)
        end = time.perf_counter()
        totals.append(end - start)
        db_only.append(end - middle)
    engine.dispose()
    return totals, db_only, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    data_dir = Path(os.environ.get("RECSYS_DATA_DIR", "datasets"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(("SQLite (file)",) + run(f"sqlite:///{tmp}/bench.db", data_dir, args.repeat))
    with TemporaryPostgres() as pg:
        rows.append(("PostgreSQL 15 (COPY)",) + run(pg.url, data_dir, args.repeat))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; {args.repeat} runs each (the first on an empty DB, "
          "the rest replacing the data)\n")
    print("| database | full ingest median (s) | max (s) | DB load only median (s) | rows |")
    print("|---|---|---|---|---|")
    for name, totals, db_only, counts in rows:
        print(f"| {name} | {statistics.median(totals):.2f} | {max(totals):.2f} | "
              f"{statistics.median(db_only):.2f} | {sum(counts.values())} |")


if __name__ == "__main__":
    main()
