"""Benchmark: full batch prediction on the real data, from loading the saved model to
committed rows (943 users x 1682 movies scored, top 100 per user stored), on SQLite and on
PostgreSQL 15 (a throwaway cluster this script starts).

Usage: RECSYS_DATA_DIR=../shared/datasets .venv/bin/python bench/batch.py [--repeat 3]
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
from recsys.models import ModelConfig, Recommender
from recsys.predictions import batch
from recsys.testing.postgres import TemporaryPostgres


def timed_runs(url: str, data: datasets.Dataset, model_dir: Path, repeat: int) -> list[float]:
    engine = db.make_engine(url)
    db.ingest(data, engine)
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        model = Recommender.load(model_dir, data=data)
        result = batch.run(engine, model, top_n=100)
        seconds.append(time.perf_counter() - start)
    assert result["rows"] == 94300, result
    engine.dispose()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = datasets.load(Path(os.environ.get("RECSYS_DATA_DIR", "datasets"))).dataset
    with tempfile.TemporaryDirectory() as tmp:
        Recommender(ModelConfig()).fit(data.scores, data).save(Path(tmp) / "model")
        rows = [("SQLite (file)", timed_runs(f"sqlite:///{tmp}/bench.db", data,
                                             Path(tmp) / "model", args.repeat))]
        with TemporaryPostgres() as pg:
            rows.append(("PostgreSQL 15", timed_runs(pg.url, data, Path(tmp) / "model",
                                                     args.repeat)))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; {args.repeat} runs each, top 100 per user "
          "(94,300 rows)\n")
    print("| database | model load -> committed rows, median (s) | max (s) |")
    print("|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {statistics.median(seconds):.2f} | {max(seconds):.2f} |")


if __name__ == "__main__":
    main()
