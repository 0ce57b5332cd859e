"""Benchmark: 5-fold evaluation of the model and every baseline on the real data, training
time on all 100,000 ratings, and the latency of `recommend` for one user once loaded.

Usage: RECSYS_DATA_DIR=../shared/datasets .venv/bin/python bench/model.py [--folds 5]
Prints markdown tables; paste them into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from recsys import datasets, training
from recsys.models import ModelConfig, Recommender


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--skip-folds", action="store_true", help="only time training/serving")
    args = parser.parse_args()
    data = datasets.load(Path(os.environ.get("RECSYS_DATA_DIR", "datasets"))).dataset
    config = ModelConfig()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; config: {config}\n")
    if not args.skip_folds:
        summary = training.evaluate(data, config, folds=args.folds, progress=True)
        cols = ["rmse", "rmse_std", "mae", "precision@10", "recall@10", "ndcg@10", "ndcg@10_std",
                "hit_rate@10", "coverage", "fit_seconds"]
        print(f"\n{args.folds}-fold means (same folds for every model, seed {config.seed}):\n")
        print("| model | " + " | ".join(cols) + " |")
        print("|---" * (len(cols) + 1) + "|")
        for name, row in summary.iterrows():
            cells = ["-" if np.isnan(row[c]) else f"{row[c]:.4f}" for c in cols]
            print(f"| {name} | " + " | ".join(cells) + " |")

    start = time.perf_counter()
    model = Recommender(config).fit(data.scores, data)
    train_seconds = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        model.save(tmp)
        start = time.perf_counter()
        loaded = Recommender.load(tmp, data=data)
        load_seconds = time.perf_counter() - start
    users = data.users["id"].to_numpy()
    for user in users[:20]:  # warm-up
        loaded.recommend(int(user), k=10)
    latencies = []
    for user in users:
        t0 = time.perf_counter()
        loaded.recommend(int(user), k=10)
        latencies.append((time.perf_counter() - t0) * 1000)
    latencies.sort()
    print("\n| measure | value |\n|---|---|")
    print(f"| training on all {len(data.scores)} ratings ({config.ensemble} networks, "
          f"epochs {model.history.groupby('network').size().tolist()}) | "
          f"{train_seconds:.1f} s |")
    print(f"| load a saved model | {load_seconds:.2f} s |")
    print(f"| recommend(user, k=10), median over {len(users)} users | "
          f"{statistics.median(latencies):.2f} ms |")
    print(f"| recommend(user, k=10), p99 | {latencies[int(0.99 * len(latencies))]:.2f} ms |")


if __name__ == "__main__":
    main()
