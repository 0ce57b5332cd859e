"""The CSV layout written back and read again (recsys/datasets/write.py), and the small synthetic
dataset's determinism (small.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from recsys import datasets


def test_synthetic_round_trip_and_determinism(synthetic: datasets.Dataset,
                                              tmp_path: Path) -> None:
    datasets.save(synthetic, tmp_path)
    again = datasets.load(tmp_path)
    assert again.report.empty
    for name, table in synthetic.tables().items():
        pd.testing.assert_frame_equal(table, getattr(again.dataset, name), obj=name)
    same = datasets.synthetic(n_users=40, n_movies=60, ratings_per_user=15, seed=3)
    other = datasets.synthetic(n_users=40, n_movies=60, ratings_per_user=15, seed=4)
    pd.testing.assert_frame_equal(same.scores, synthetic.scores)
    assert not other.scores[["user_id", "movie_id"]].equals(synthetic.scores[["user_id",
                                                                                "movie_id"]])
    assert synthetic.counts() == {"persons": 40, "users": 40, "workers": 5, "movies": 60,
                                  "scores": 600}
