"""``recsys train`` and ``recsys evaluate``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recsys.cli.common import command, in_range, ray_address, ray_options, settings_for
from recsys.config import Settings
from recsys.errors import UsageError

if TYPE_CHECKING:
    from recsys.models import ModelConfig


def model_config(args: argparse.Namespace, settings: Settings) -> ModelConfig:
    """The model configuration: defaults, the settings' seed, and the options given."""
    from recsys.models import ModelConfig

    config = ModelConfig(seed=settings.seed)
    if getattr(args, "epochs", None):
        config.max_epochs = args.epochs
    if getattr(args, "seed", None) is not None:
        config.seed = args.seed
    if getattr(args, "ensemble", None) is not None:
        in_range("--ensemble", args.ensemble, 1, 10)
        config.ensemble = args.ensemble
    return config


def cmd_train(args: argparse.Namespace) -> int:
    from recsys import db, training
    from recsys.models import distribute

    settings = settings_for(args)
    address = ray_address(args, settings)
    if address is not None:
        from recsys.distributed import ray_train

        model_dir = Path(args.model_dir) if args.model_dir else settings.model_dir
        version, metrics = ray_train.train(settings, address, model_config(args, settings),
                                           model_dir, workers=args.workers,
                                           holdout=args.holdout, k=args.k, say=print)
        print(json.dumps(metrics, indent=2))
        print(f"Saved model {version} to {model_dir / version} (trained on Ray)")
        return 0

    # TF_CONFIG with several workers: TensorFlow wants the strategy before any other work
    strategy = distribute.multi_worker() if distribute.cluster() else None
    engine = db.make_engine(settings.database_url)
    try:
        data = db.read_dataset(engine)
    finally:
        engine.dispose()
    model_dir = Path(args.model_dir) if args.model_dir else settings.model_dir
    chief = distribute.is_chief()
    model, metrics = training.train(data, model_dir, model_config(args, settings),
                                    holdout=args.holdout, k=args.k,
                                    progress=not args.quiet and chief, save=chief,
                                    keep=settings.keep_versions, strategy=strategy)
    if not chief:
        print("Trained as a worker of the TF_CONFIG cluster; the chief saved the model.")
        return 0
    print(json.dumps(metrics, indent=2))
    print(f"Saved model {model.version} to {model_dir / model.version} "
          f"(trained in {model.fit_seconds:.1f} s)")
    return 0


def _explicit_pair(args: argparse.Namespace, data: Any) -> tuple[Any, Any]:
    from recsys import datasets

    if not (args.train and args.test):
        raise UsageError("give both --train and --test, or neither")
    train_scores, train_report = datasets.load_scores(args.train, data)
    test_scores, test_report = datasets.load_scores(args.test, data)
    for name, report in ((args.train, train_report), (args.test, test_report)):
        rejected = report[report["severity"] == "rejected"]
        if len(rejected):
            print(f"{name}: {len(rejected)} row(s) rejected, e.g. line "
                  f"{rejected.iloc[0]['line']}: {rejected.iloc[0]['reason']}", file=sys.stderr)
    return train_scores, test_scores


def cmd_evaluate(args: argparse.Namespace) -> int:
    from recsys import datasets, training

    settings = settings_for(args)
    data = datasets.load(settings.data_dir).dataset
    train_scores = test_scores = None
    if args.train or args.test:
        train_scores, test_scores = _explicit_pair(args, data)
    elif args.predictions_out or args.recommendations_out:
        print("note: on k folds the output files carry a fold column", file=sys.stderr)
    names = tuple(n.strip() for n in args.models.split(",")) if args.models else (
        "model", *training.BASELINES)
    summary = training.evaluate(
        data, model_config(args, settings), folds=args.folds, train_scores=train_scores,
        test_scores=test_scores, names=names, k=args.k, predictions_out=args.predictions_out,
        recommendations_out=args.recommendations_out, progress=not args.quiet)
    table = {str(name): {metric: (None if value != value else round(float(value), 5))
                         for metric, value in row.items()}
             for name, row in summary.iterrows()}
    print(json.dumps(table, indent=2))
    return 0


def register(sub: Any) -> None:
    from recsys.training.registry import SCORERS

    train = command(sub, "train", "train the model on the ingested data and save a versioned "
                    "artifact with holdout metrics", database=True)
    train.add_argument("--model-dir", help="artifact root (default: <RECSYS_VAR_DIR>/model)")
    train.add_argument("--epochs", type=int, help="maximum epochs per network (early stopping "
                       "may end sooner; default: the model's, 30)")
    train.add_argument("--seed", type=int, help="random seed (default: RECSYS_SEED)")
    train.add_argument("--ensemble", type=int,
                       help="how many networks are averaged (1-10; default: the model's, 3; "
                            "1 trains about three times faster, a little less accurate)")
    train.add_argument("--holdout", type=float, default=0.1,
                       help="share of ratings held out for the saved metrics (0 skips it)")
    train.add_argument("--k", type=int, default=10, help="cut-off of the ranking metrics")
    train.add_argument("--quiet", action="store_true", help="no progress lines")
    ray_options(train, "train under Ray Train (--workers processes, gradients all-reduced, "
                       "the chief saves the model)",
                ("--workers", "how many training workers (default: one per node)"))
    train.set_defaults(func=cmd_train)

    evaluate = command(
        sub, "evaluate", "compare the model with every baseline on k folds, or on an explicit "
        "train/test pair",
        description="Compare the model with every baseline under one protocol: RMSE and MAE on "
                    "every held-out rating; precision, recall, NDCG and hit rate at k per test "
                    "user (relevant: held-out ratings of 4 or more; candidates: every movie "
                    "the user did not rate in training); catalogue coverage. The same folds "
                    "for every model.", data=True)
    evaluate.add_argument("--folds", type=int, default=5, help="number of random folds")
    evaluate.add_argument("--train", help="CSV shaped like scores.csv to train on")
    evaluate.add_argument("--test", help="CSV shaped like scores.csv to evaluate on")
    evaluate.add_argument("--predictions-out",
                          help="write user_id,movie_id,rating,predicted for every test rating")
    evaluate.add_argument("--recommendations-out",
                          help="write user_id,rank,movie_id: the top k of every test user")
    evaluate.add_argument("--k", type=int, default=10, help="cut-off of the ranking metrics")
    evaluate.add_argument("--models", help="comma-separated subset of: "
                          + "; ".join(f"{n} ({e.summary})" for n, e in SCORERS.items())
                          + " (default: all)")
    evaluate.add_argument("--epochs", type=int, help="maximum epochs of the model's networks "
                          "(and the reference model's; Mult-VAE chooses its own)")
    evaluate.add_argument("--seed", type=int, help="random seed (default: RECSYS_SEED)")
    evaluate.add_argument("--quiet", action="store_true", help="no progress lines")
    evaluate.set_defaults(func=cmd_evaluate)
