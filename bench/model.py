"""Benchmark: 5-fold evaluation of the model, its ablations, every baseline and every ranking
peer (each tuned on a validation slice of its training folds) on the real data (the same
folds for all), paired per-fold differences, training time on all 100,000 ratings, and the
latency of `recommend` for one user once loaded.

Usage: RECSYS_DATA_DIR=../shared/datasets .venv/bin/python bench/model.py [--folds 5]
       [--no-refit] [--split-seed 7] [--skip-folds | --skip-training]
Prints markdown tables; paste them into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from recsys import datasets
from recsys import evaluation as ev
from recsys.models import ModelConfig, Recommender
from recsys.models.config import PREVIOUS, PREVIOUS_RANKING
from recsys.training import registry

#: Ablations trained apart: the model with one part taken away (``--no-refit`` skips them).
ABLATIONS = {
    "no_autorec": {"autorec": False},
    "no_day_effects": {"blend_days": False},
    "one_network": {"ensemble": 1},
}
#: Ablations read off each fold's trained model (``Recommender.derived``, no training):
#: ``previous`` is the model before the rating blend and the ranking ensemble, what this
#: benchmark measured as ``model`` until then.
DERIVED = {
    "previous": PREVIOUS,
    "no_ials": {"ials": 0},
    # the rating part as before (0.3 x rating), iALS kept
    "rating_not_liking": {k: v for k, v in PREVIOUS_RANKING.items() if k != "ials"},
    "no_blend": {"blend": False},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--skip-folds", action="store_true", help="only time training/serving")
    parser.add_argument("--skip-training", action="store_true",
                        help="only the folds (time training on a quiet machine apart)")
    parser.add_argument("--split-seed", type=int, default=None,
                        help="seed of the folds (default: the model's seed, 42); another seed "
                             "checks that choices made on the usual folds carry over")
    parser.add_argument("--no-refit", action="store_true",
                        help="leave out the ablations that need training of their own")
    args = parser.parse_args()
    data = datasets.load(Path(os.environ.get("RECSYS_DATA_DIR", "datasets"))).dataset
    config = ModelConfig()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; config: {config}\n")
    if not args.skip_folds:
        split_seed = config.seed if args.split_seed is None else args.split_seed
        folds(data, config, args.folds, split_seed, refit=not args.no_refit)
    if args.skip_training:
        return

    # the previous model first (same run, same machine state): what the ensembles cost
    start = time.perf_counter()
    Recommender(dataclasses.replace(config, **PREVIOUS)).fit(data.scores, data)
    previous_seconds = time.perf_counter() - start
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
    print(f"| the previous model (no rating blend, no iALS) | {previous_seconds:.1f} s |")
    print(f"| load a saved model | {load_seconds:.2f} s |")
    print(f"| recommend(user, k=10), median over {len(users)} users | "
          f"{statistics.median(latencies):.2f} ms |")
    print(f"| recommend(user, k=10), p99 | {latencies[int(0.99 * len(latencies))]:.2f} ms |")


def folds(data: datasets.Dataset, config: ModelConfig, k: int, split_seed: int,
          refit: bool = True) -> None:
    """Every scorer and ablation on the same k folds: means, standard deviations and paired
    per-fold differences of the model to the previous model and to the best baseline."""
    factories = registry.factories(config, tuple(registry.SCORERS))
    ablations = ABLATIONS if refit else {}
    for name, changes in ablations.items():
        factories[name] = functools.partial(Recommender, dataclasses.replace(config, **changes))
    derived: list[dict[str, object]] = []

    def read_off(name: str, fold: int, scorer: ev.Scorer, train: pd.DataFrame,
                 test: pd.DataFrame) -> None:
        if name == "model" and isinstance(scorer, Recommender):
            for other, changes in DERIVED.items():
                metrics = ev.evaluate(scorer.derived(**changes), train, test, data, fit=False)
                derived.append({"model": other, "fold": fold, **metrics})

    comparison = ev.compare(factories, ev.kfold(data.scores, k, seed=split_seed), data,
                            progress=True, on_fit=read_off)
    per_fold = pd.concat([comparison.per_fold, pd.DataFrame(derived)], ignore_index=True)
    comparison = ev.Comparison(per_fold)
    per_fold.to_csv(Path(tempfile.gettempdir()) / f"recsys-bench-model-folds-{split_seed}.csv",
                    index=False)
    summary = comparison.summary()
    cols = ["rmse", "rmse_std", "mae", "precision@10", "recall@10", "ndcg@10", "ndcg@10_std",
            "hit_rate@10", "coverage", "fit_seconds"]
    print(f"\n{k}-fold means (same folds for every model, split seed {split_seed}):\n")
    print("| model | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for name, row in summary.iterrows():
        cells = ["-" if np.isnan(row[c]) else f"{row[c]:.4f}" for c in cols]
        print(f"| {name} | " + " | ".join(cells) + " |")
    baselines = summary.loc[list(registry.BASELINES)]
    best = {"rmse": baselines["rmse"].idxmin(), "ndcg@10": baselines["ndcg@10"].idxmax()}
    print("\nPaired per-fold differences (model minus other; RMSE lower is better, NDCG higher;"
          " mean +- std over folds, and the folds where the model is ahead):\n")
    print("| metric | versus | per-fold differences | mean +- std | model ahead |")
    print("|---|---|---|---|---|")
    model = per_fold[per_fold["model"] == "model"].set_index("fold")
    for metric, sign in (("rmse", -1), ("ndcg@10", 1), ("coverage", 1)):
        peers = registry.PEERS if metric != "rmse" else ()
        for other in dict.fromkeys((*DERIVED, *ablations, *peers,
                                    best.get(metric, best["ndcg@10"]))):
            theirs = per_fold[per_fold["model"] == other].set_index("fold")
            diff = (model[metric] - theirs[metric]).to_numpy()
            ahead = int((sign * diff > 0).sum())
            print(f"| {metric} | {other} | {', '.join(f'{d:+.4f}' for d in diff)} | "
                  f"{diff.mean():+.4f} +- {diff.std(ddof=1):.4f} | {ahead}/{len(diff)} |")


if __name__ == "__main__":
    main()
