"""Scorers fitted in a second process while this one fits the others
(recsys/evaluation/beside.py): the same numbers, in the same order, and a fallback that is
slower but never different."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from recsys import datasets
from recsys import evaluation as ev
from recsys.evaluation import beside
from recsys.training.runs import _beside


def where(tag: str) -> list[tuple[str, dict[str, float]]]:
    """What a second process reports: its pid."""
    return [(tag, {"pid": float(os.getpid())})]


def test_start_runs_in_another_process_and_falls_back_here() -> None:
    (tag, got), = beside.start(where, "there")()
    assert tag == "there" and got["pid"] != os.getpid()
    # a lambda cannot be sent to another process: it runs here, with a warning
    with pytest.warns(RuntimeWarning, match="in this process instead"):
        (_, here), = beside.start(lambda tag: where(tag), "here")()  # noqa: PLW0108
    assert here["pid"] == os.getpid()


def test_compare_beside_gives_the_same_rows_in_the_same_order(
        synthetic: datasets.Dataset) -> None:
    factories = {"popularity": ev.Popularity, "ease": ev.EASE, "biases": ev.Biases}
    splits = list(ev.kfold(synthetic.scores, k=2, seed=0))
    seen: list[str] = []
    alone = ev.compare(factories, splits, synthetic, progress=False)
    apart = ev.compare(factories, splits, synthetic, progress=False, beside=("ease", "biases"),
                       on_fit=lambda name, *_: seen.append(name))
    columns = [c for c in alone.per_fold.columns if c != "fit_seconds"]
    pd.testing.assert_frame_equal(alone.per_fold[columns], apart.per_fold[columns])
    assert apart.per_fold["model"].tolist() == ["popularity", "ease", "biases"] * 2
    assert seen == ["popularity", "popularity"]  # on_fit: the scorers fitted here only
    assert np.isfinite(apart.per_fold["ndcg@10"]).all()


def test_the_model_trains_beside_the_others_only_where_it_pays() -> None:
    names = ("model", "ease", "multvae")
    assert _beside(names, beside.MIN_RATINGS, None) == ("ease", "multvae")
    assert _beside(names, beside.MIN_RATINGS - 1, None) == ()  # too small to pay a start
    assert _beside(("ease", "multvae"), 10**6, None) == ()  # nothing to overlap with
    assert _beside(names, 10**6, object()) == ()  # type: ignore[arg-type]  # a strategy
