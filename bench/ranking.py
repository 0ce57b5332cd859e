"""Benchmark: the ranking on Liang et al. (2018)'s strong-generalisation protocol, beside the
random folds of bench/model.py, so the numbers can be placed next to published ones.

Whole users are held out: the ratings are binarised (4 stars or more), every other user's
ratings are training, and each held-out user's are split 80/20 into a fold-in part (given to
the scorers) and a part to find. Measured: NDCG@100, Recall@20, Recall@50 (the paper's
columns) and NDCG@10 and coverage@10 (this project's). Every scorer is fitted with the
fold-in part in its training data (the networks have no fold-in step of their own; see
:func:`recsys.evaluation.strong_generalisation`).

Usage:
    RECSYS_DATA_DIR=../shared/datasets .venv/bin/python bench/ranking.py [--folds 5]
    .venv/bin/python bench/ranking.py --synthetic 6040,3706,1000209 --heldout-users 1000

``--synthetic U,M,R`` generates a MovieLens-shaped synthetic set of that size (MovieLens 1M's:
6,040 users, 3,706 movies, 1,000,209 ratings) in a temporary folder instead of reading the
course data. Prints markdown tables; paste them into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import pandas as pd

from recsys import datasets
from recsys import evaluation as ev
from recsys.models import ModelConfig
from recsys.training import registry

#: What the protocol compares: the model, the peers and the classic baselines.
NAMES = ("model", *registry.PEERS, "ease", "popularity")
COLUMNS = ("ndcg@100", "recall@20", "recall@50", "ndcg@10", "coverage", "fit_seconds")


def load(synthetic: str | None, work: Path) -> datasets.Dataset:
    """The course data (``RECSYS_DATA_DIR``) or a synthetic set of ``U,M,R``."""
    if synthetic is None:
        return datasets.load(Path(os.environ.get("RECSYS_DATA_DIR", "datasets"))).dataset
    from recsys.datasets.generate import generate

    users, movies, ratings = (int(x) for x in synthetic.split(","))
    generate(work / "data", users, movies, ratings, seed=0)
    return datasets.load(work / "data").dataset


def run(data: datasets.Dataset, names: tuple[str, ...], folds: int,
        heldout_users: int | None, seed: int) -> pd.DataFrame:
    """Per-split metrics of every scorer (one row per scorer and split)."""
    factories = registry.factories(ModelConfig(), names)
    splits = ev.strong_generalisation(data.scores, folds=folds, heldout_users=heldout_users,
                                      seed=seed)
    rows = []
    for split, (train, test) in enumerate(splits):
        print(f"split {split}: {len(train)} training ratings, "
              f"{test['user_id'].nunique()} held-out users, {len(test)} ratings to find",
              flush=True)
        for name, factory in factories.items():
            metrics = ev.evaluate_heldout_users(factory(), train, test, data)
            rows.append({"model": name, "split": split, **metrics})
            print(f"  {name:<11} NDCG@100 {metrics['ndcg@100']:.4f} "
                  f"Recall@20 {metrics['recall@20']:.4f} ({metrics['fit_seconds']:.1f} s)",
                  flush=True)
    return pd.DataFrame(rows)


def report(per_split: pd.DataFrame) -> None:
    """Means (and standard deviations over splits when there are several) and the model's
    paired differences to each scorer."""
    numeric = per_split.drop(columns=["split"])
    mean = numeric.groupby("model", sort=False).mean()
    std = numeric.groupby("model", sort=False).std()
    several = per_split["split"].nunique() > 1
    print("\n| model | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for name, row in mean.iterrows():
        cells = [f"{row[c]:.4f}" + (f" +- {std.loc[name, c]:.4f}" if several
                                    and c.startswith("ndcg") else "") for c in COLUMNS]
        print(f"| {name} | " + " | ".join(cells) + " |")
    if not several or "model" not in mean.index:
        return
    print("\nPaired per-split differences of NDCG@100 and NDCG@10 (model minus other):\n")
    print("| metric | versus | mean +- std | model ahead |\n|---|---|---|---|")
    model = per_split[per_split["model"] == "model"].set_index("split")
    for metric in ("ndcg@100", "ndcg@10"):
        for other in mean.index.drop("model", errors="ignore"):
            theirs = per_split[per_split["model"] == other].set_index("split")
            diff = (model[metric] - theirs[metric]).to_numpy()
            print(f"| {metric} | {other} | {diff.mean():+.4f} +- {diff.std(ddof=1):.4f} | "
                  f"{int((diff > 0).sum())}/{len(diff)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, default=5, help="user folds (each user held "
                        "out once)")
    parser.add_argument("--heldout-users", type=int, default=None,
                        help="one split with this many held-out users instead of folds")
    parser.add_argument("--synthetic", default=None, metavar="U,M,R")
    parser.add_argument("--models", default=",".join(NAMES))
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        data = load(args.synthetic, Path(tmp))
        names = registry.check(tuple(args.models.split(",")))
        per_split = run(data, names, args.folds, args.heldout_users, args.seed)
    label = "course" if args.synthetic is None else "synthetic-" + args.synthetic.replace(",", "x")
    if names != NAMES:
        label += "-" + "-".join(names)
    per_split.to_csv(Path(tempfile.gettempdir()) / f"recsys-bench-ranking-{label}.csv",
                     index=False)
    print(f"\n{len(data.scores)} ratings; {time.perf_counter() - started:.0f} s in all")
    report(per_split)


if __name__ == "__main__":
    main()
