"""Training and evaluation runs: the functions behind ``recsys train`` and ``recsys evaluate``.

- :func:`train` fits the model on everything the database holds and saves it with metrics
  measured on a seeded holdout (model and baselines fitted on the rest), so every artifact
  carries numbers that were not measured on its own training data.
- :func:`evaluate` compares the model with every baseline on k folds or on an explicit
  train/test pair, and can write per-rating predictions and per-user top-k lists.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys import evaluation as ev
from recsys.datasets.tables import Dataset
from recsys.display.progress import Progress, reporter
from recsys.errors import UsageError
from recsys.evaluation.beside import MIN_RATINGS as BESIDE_MIN_RATINGS
from recsys.models import ModelConfig, Recommender, versions
from recsys.models.distribute import Strategy
from recsys.training import registry

BASELINES = registry.BASELINES
#: The holdout's name for the trained model without its rating blend (the model before it).
PREVIOUS = "previous"
QUICK_BASELINES = registry.QUICK


def factories(config: ModelConfig, names: tuple[str, ...] = tuple(registry.SCORERS),
              progress: Progress = False,
              strategy: Strategy | None = None) -> dict[str, Callable[[], ev.Scorer]]:
    """Fresh-scorer factories by name (see :mod:`recsys.training.registry`)."""
    return registry.factories(config, names, progress, strategy)


def train(data: Dataset, model_dir: str | Path, config: ModelConfig | None = None,
          holdout: float = 0.1, k: int = 10, progress: Progress = True,
          names: tuple[str, ...] = QUICK_BASELINES,
          save: bool = True, warm_start: bool = True,
          keep: int | None = None,
          strategy: Strategy | None = None) -> tuple[Recommender, dict[str, Any]]:
    """Fit on all of ``data.scores`` and save; metrics come from a seeded holdout first.

    The holdout's model is the same design fitted on the rest of the ratings; the final
    model then starts from its networks and validates on its validation slice, so the
    ensemble is trained about once and a half, not twice.

    Args:
        data: the tables (usually :func:`recsys.db.read_dataset`).
        model_dir: artifact root (a versioned folder is created inside).
        config: model hyper-parameters.
        holdout: share of ratings held out to measure the model and the quick baselines
            (0 skips it and saves only training figures).
        k: cut-off for ranking metrics.
        progress: progress lines (one per stage, fold and epoch): printed, or handed to a
            callable.
        names: what the holdout compares (add ``reference`` for the original architecture).
        save: write the artifact (a worker of a multi-worker cluster does not).
        warm_start: the final model's networks start from the holdout model's (see
            :meth:`Recommender.fit`); False trains them from scratch.
        keep: after saving, keep only the newest ``keep`` versions (None: all).
        strategy: the ``tf.distribute`` strategy every network trains under (a
            ``TF_CONFIG`` cluster or Ray Train; None: one process).

    Raises:
        ModelError: (before any training) the disk cannot hold one more version.

    Returns:
        (the model trained on everything, the metrics saved with it).
    """
    config = config or ModelConfig()
    if save:
        versions.check_space(Path(model_dir))
    report = reporter(progress) or (lambda line: None)
    metrics: dict[str, Any] = {}
    holdout_model = None
    if holdout > 0:
        metrics["holdout"], holdout_model = _holdout(data, config, names, holdout, k, progress,
                                                     strategy, report)
    # the final model starts from what the holdout model learnt (its networks' weights,
    # validated on the same slice neither trains on): a few epochs, not a second training
    warm = holdout_model if warm_start else None
    report(f"training on all {len(data.scores)} ratings"
           + (", starting from the holdout model" if warm is not None else ""))
    model = Recommender(config, progress=progress, strategy=strategy).fit(
        data.scores, data, warm_start=warm)
    metrics["training"] = _training_metrics(model, len(data.scores))
    if save:
        model.save(model_dir, metrics=metrics, keep=keep)
    else:
        model.metrics = metrics
    return model, metrics


def _training_metrics(model: Recommender, ratings: int) -> dict[str, Any]:
    """What the final fit reports beside the holdout's numbers."""
    return {
        "ratings": ratings,
        "warm_start": model.fitted.warm_started,
        "epochs_per_network": model.history.groupby("network").size().tolist(),
        "fit_seconds": round(model.fit_seconds or 0.0, 2),
        "best_validation_rmse": float(model.history["val_rmse"].min())
        if "val_rmse" in model.history else None,
    }


def _holdout(data: Dataset, config: ModelConfig, names: tuple[str, ...], holdout: float,
             k: int, progress: Progress, strategy: Strategy | None,
             report: Callable[[str], None]) -> tuple[dict[str, Any], Recommender | None]:
    """The model and the baselines ``names`` fitted on a seeded share of the ratings and
    measured on the rest (``holdout``), with the model as it was before this round's
    ensembles (:data:`PREVIOUS`, from the same networks): the metrics saved with the model,
    and the holdout's model (what the final fit starts from)."""
    train_part, test_part = ev.random_holdout(data.scores, holdout, seed=config.seed)
    report(f"holdout evaluation: {len(train_part)} training / {len(test_part)} held-out "
           "ratings")
    previous: dict[str, float] = {}
    fitted: dict[str, Recommender] = {}

    def measure_previous(name: str, fold: int, scorer: ev.Scorer, train: pd.DataFrame,
                         test: pd.DataFrame) -> None:
        if name != "model" or not isinstance(scorer, Recommender):
            return
        fitted["holdout"] = scorer
        # the same networks without the rating blend and the ranking ensemble: the model as
        # it was before them
        if scorer.fitted.blend is not None or scorer.fitted.ials is not None:
            previous.update(ev.evaluate(scorer.previous_model(), train, test, data, k,
                                        fit=False))

    comparison = ev.compare(factories(config, names, progress=progress, strategy=strategy),
                            iter([(train_part, test_part)]), data, k=k, progress=progress,
                            on_fit=measure_previous,
                            beside=_beside(names, len(train_part), strategy))
    results = _records(comparison.summary())
    if previous:
        # derived from the model's own fit, never fitted apart: no time of its own (null in
        # metrics.json rather than the model's time passed off as its own)
        previous["fit_seconds"] = float("nan")
        results = {"model": results["model"],
                   PREVIOUS: _records(pd.DataFrame([previous], index=[PREVIOUS]))[PREVIOUS],
                   **{n: r for n, r in results.items() if n != "model"}}
    return ({"fraction": holdout, "seed": config.seed, "k": k, "results": results},
            fitted.get("holdout"))


def _beside(names: tuple[str, ...], ratings: int,
            strategy: Strategy | None) -> tuple[str, ...]:
    """The scorers fitted in a second process while the model trains here
    (:mod:`recsys.evaluation.beside`): all the others, when the model is among ``names``,
    trains in one process (a distribution strategy cannot be sent to another) and there are
    enough training ratings for a process start to pay."""
    if "model" not in names or strategy is not None or ratings < BESIDE_MIN_RATINGS:
        return ()
    return tuple(name for name in names if name != "model")


def holdout_table(metrics: dict[str, Any], k: int = 10) -> pd.DataFrame:
    """The holdout comparison saved with a model, one row per scorer, the columns a reader
    compares (RMSE and MAE, the ranking metrics at ``k``, coverage, fitting time)."""
    table = pd.DataFrame(metrics["holdout"]["results"]).T
    columns = ["rmse", "mae", f"precision@{k}", f"recall@{k}", f"ndcg@{k}", "coverage",
               "fit_seconds"]
    return table[[c for c in columns if c in table.columns]]


def _records(summary: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    clean = summary.astype(float).round(5)
    return {str(name): {k: (None if np.isnan(v) else v) for k, v in row.items()}
            for name, row in clean.iterrows()}


def evaluate(data: Dataset, config: ModelConfig | None = None, folds: int = 5,
             train_scores: pd.DataFrame | None = None, test_scores: pd.DataFrame | None = None,
             names: tuple[str, ...] = ("model", *BASELINES), k: int = 10,
             predictions_out: str | Path | None = None,
             recommendations_out: str | Path | None = None,
             progress: Progress = True) -> pd.DataFrame:
    """Compare the model with the baselines; return the mean metrics per model.

    With ``train_scores``/``test_scores`` the pair is used as given (one split); otherwise
    ``folds``-fold cross-validation over ``data.scores``. ``predictions_out`` writes
    ``user_id,movie_id,rating,predicted`` for every test row and ``recommendations_out``
    ``user_id,rank,movie_id`` for the top ``k`` unseen movies of every test user (both from
    the model, on the explicit pair; on k folds, from every fold, with a ``fold`` column).
    """
    config = config or ModelConfig()
    if (train_scores is None) != (test_scores is None):
        raise UsageError("give both --train and --test, or neither")
    if train_scores is not None and test_scores is not None:
        splits = [ev.explicit_pair(train_scores, test_scores, data.info.rating_scale)]
    else:
        splits = list(ev.kfold(data.scores, folds, seed=config.seed))
    want_outputs = predictions_out is not None or recommendations_out is not None
    if want_outputs and "model" not in names:
        raise UsageError("--predictions-out and --recommendations-out write the model's "
                         "output: include 'model' in --models")
    predictions: list[pd.DataFrame] = []
    recommendations: list[pd.DataFrame] = []

    def keep_outputs(name: str, fold: int, scorer: ev.Scorer, train_part: pd.DataFrame,
                     test_part: pd.DataFrame) -> None:
        if name != "model" or not want_outputs:
            return
        predictions.append(test_part[["user_id", "movie_id", "rating"]].assign(
            predicted=scorer.predict(test_part["user_id"], test_part["movie_id"],
                                     at=ev.rating_dates(test_part)), fold=fold))
        users = np.sort(test_part["user_id"].unique())
        recommendations.append(ev.top_k(scorer, train_part, users, k).assign(fold=fold))

    comparison = ev.compare(factories(config, names), iter(splits), data, k=k,
                            progress=progress, on_fit=keep_outputs,
                            beside=_beside(names, len(splits[0][0]), None))
    explicit = train_scores is not None
    for frames, path, columns in (
            (predictions, predictions_out, ["user_id", "movie_id", "rating", "predicted"]),
            (recommendations, recommendations_out, ["user_id", "rank", "movie_id"])):
        if path is not None:
            out = pd.concat(frames, ignore_index=True)
            out = out[columns if explicit else ["fold", *columns]]
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            out.to_csv(path, index=False, float_format="%.4f")
    return comparison.summary()
