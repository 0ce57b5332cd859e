"""Benchmark: is the warm-started final model (what `recsys train` saves since the weight
issue) as good as one trained from scratch, and how much sooner is it there?

`recsys train` first fits the model on 90 % of the ratings to measure it on the other 10 %,
then fits the model it saves on all of them. The second fit starts from the first one's
networks and validates on its validation slice (ratings neither ever trains on). To compare
that with a fit from scratch on ratings neither has seen, the whole procedure is nested in an
outer split: per seed, a test 10 % is set aside; on the remaining 90 % ("all ratings" for
this purpose) the holdout model is fitted on 90 % of it, then the final model is fitted
twice, warm-started and from scratch, and both are measured on the outer test ratings
(RMSE on every one, NDCG@10 and coverage@10 over the test users, as `recsys evaluate`).

Usage: RECSYS_DATA_DIR=../shared/datasets .venv/bin/python bench/warm_start.py
       [--seeds 42,7] [--epochs 30] [--ensemble 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from recsys import datasets
from recsys import evaluation as ev
from recsys.config import get_settings
from recsys.models import ModelConfig, Recommender


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="42,7", help="outer split seeds")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--ensemble", type=int, default=3)
    args = parser.parse_args()
    data = datasets.load(get_settings().data_dir).dataset
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        config = ModelConfig(seed=seed, max_epochs=args.epochs, ensemble=args.ensemble)
        everything, test = ev.random_holdout(data.scores, 0.1, seed=seed + 1000)
        inner, _ = ev.random_holdout(everything, 0.1, seed=config.seed)  # as train() does
        holdout_model = Recommender(config).fit(inner, data)
        for label, warm in (("warm start", holdout_model), ("from scratch", None)):
            started = time.perf_counter()
            model = Recommender(config).fit(everything, data, warm_start=warm)
            seconds = time.perf_counter() - started
            measured = ev.evaluate(model, everything, test, data, k=10, fit=False)
            epochs = model.history.groupby("network").size().tolist()
            rows.append((seed, label, seconds, epochs, measured))
            print(f"seed {seed} {label}: {seconds:.1f} s, epochs {epochs}, RMSE "
                  f"{measured['rmse']:.4f}, NDCG@10 {measured['ndcg@10']:.4f}", flush=True)
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores; {args.ensemble} "
          f"networks, up to {args.epochs} epochs\n")
    print("| outer seed | final model | fit seconds | epochs per network | RMSE | NDCG@10 | "
          "coverage@10 |")
    print("|---|---|---|---|---|---|---|")
    for seed, label, seconds, epochs, m in rows:
        print(f"| {seed} | {label} | {seconds:.1f} | {', '.join(map(str, epochs))} | "
              f"{m['rmse']:.4f} | {m['ndcg@10']:.4f} | {m['coverage']:.4f} |")


if __name__ == "__main__":
    main()
