"""The ranking peers (recsys/peers/): what each recommends on a world with two kinds of users,
RP3beta's popularity correction, and settings chosen on a validation slice only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from support import assert_recommends_own_kind, two_kinds

from recsys import datasets
from recsys.datasets.tables import Dataset
from recsys.peers.ials import IALS
from recsys.peers.rp3beta import RP3beta, keep_strongest
from recsys.peers.tuning import Tuned, choose
from recsys.training import registry


@pytest.mark.parametrize("make", [lambda: RP3beta(alpha=1.0, beta=0.3),
                                  lambda: IALS(factors=8, iterations=4)],
                         ids=["rp3beta", "ials"])
def test_a_peer_recommends_each_user_their_own_kind(synthetic: datasets.Dataset,
                                                    make: object) -> None:
    train = two_kinds(synthetic)
    scorer = make().fit(train, synthetic)  # type: ignore[operator]
    assert_recommends_own_kind(scorer, train, synthetic)


def test_rp3beta_beta_pushes_popular_movies_down(synthetic: datasets.Dataset) -> None:
    train = two_kinds(synthetic)
    popular = train["movie_id"].value_counts().index[0]
    catalogue = np.sort(synthetic.movies["id"].to_numpy())
    column = int(np.flatnonzero(catalogue == popular)[0])
    users = np.sort(train["user_id"].unique())
    kind = users[:len(users) // 2] if popular in catalogue[:20] else users[len(users) // 2:]
    plain = RP3beta(beta=0.0).fit(train, synthetic).score_items(kind)
    corrected = RP3beta(beta=0.8).fit(train, synthetic).score_items(kind)

    def rank_of_popular(scores: np.ndarray) -> float:
        return float(np.mean((scores > scores[:, [column]]).sum(axis=1)))

    assert rank_of_popular(corrected) > rank_of_popular(plain)


def test_keep_strongest_keeps_each_rows_largest() -> None:
    weights = np.array([[0.1, 0.5, 0.3, 0.0], [0.9, 0.2, 0.4, 0.8]])
    kept = keep_strongest(weights, 2)
    assert kept.tolist() == [[0.0, 0.5, 0.3, 0.0], [0.9, 0.0, 0.0, 0.8]]
    assert keep_strongest(weights, 10) is weights


class Shuffled:
    """A scorer family for the tuning test: ``sign`` +1 ranks by training popularity (good on
    this data), -1 against it."""

    name = "shuffled"
    fitted_on: list[int] = []

    def __init__(self, sign: float) -> None:
        self.sign = sign

    def fit(self, train: pd.DataFrame, data: Dataset) -> Shuffled:
        self._movie_ids = np.sort(data.movies["id"].to_numpy())
        counts = train["movie_id"].value_counts().reindex(self._movie_ids, fill_value=0)
        self.scores = self.sign * counts.to_numpy(dtype=float)
        Shuffled.fitted_on.append(len(train))
        return self

    @property
    def movie_ids(self) -> np.ndarray:
        return self._movie_ids

    def predict(self, user_ids: np.ndarray, movie_ids: np.ndarray, at: object = None) -> None:
        return None

    def score_items(self, user_ids: np.ndarray) -> np.ndarray:
        return np.tile(self.scores, (len(user_ids), 1))


def popular_few(data: Dataset, seed: int = 0) -> pd.DataFrame:
    """Every user rates (and likes) 12 movies drawn with a steep popularity: ranking by
    popularity finds held-out movies, ranking against it does not."""
    movies = np.sort(data.movies["id"].to_numpy())
    chance = 1.0 / np.arange(1, len(movies) + 1) ** 1.5
    rng = np.random.default_rng(seed)
    rows = [(user, movie, 5) for user in np.sort(data.users["id"].to_numpy())
            for movie in rng.choice(movies, 12, replace=False, p=chance / chance.sum())]
    frame = pd.DataFrame(rows, columns=["user_id", "movie_id", "rating"])
    return frame.assign(id=np.arange(1, len(frame) + 1))


def test_tuning_chooses_on_a_validation_slice_of_the_training_data(
        synthetic: datasets.Dataset) -> None:
    train = popular_few(synthetic)
    Shuffled.fitted_on = []
    best, table = choose(Shuffled, [{"sign": -1.0}, {"sign": 1.0}], train, synthetic)
    assert best == {"sign": 1.0}
    assert table["sign"].tolist() == [-1.0, 1.0]
    assert table.loc[1, "ndcg@10"] > table.loc[0, "ndcg@10"]
    # both settings were fitted on the training data minus the slice, never on all of it
    assert len(set(Shuffled.fitted_on)) == 1 and Shuffled.fitted_on[0] < len(train)

    Shuffled.fitted_on = []
    tuned = Tuned("shuffled", Shuffled, [{"sign": -1.0}, {"sign": 1.0}]).fit(train, synthetic)
    assert tuned.chosen == {"sign": 1.0}
    # the chosen setting is then fitted on the whole training set
    assert Shuffled.fitted_on[-1] == len(train)
    assert tuned.score_items(np.array([1])).shape == (1, len(tuned.movie_ids))
    with pytest.raises(ValueError, match="at least one setting"):
        Tuned("none", Shuffled, [])


def test_every_peer_is_registered_and_built_without_training(
        synthetic: datasets.Dataset) -> None:
    from recsys.models import ModelConfig

    built = registry.factories(ModelConfig(), registry.PEERS)
    assert list(built) == list(registry.PEERS)
    for name, factory in built.items():
        scorer = factory()
        assert scorer.name == name
        assert not isinstance(scorer, Tuned) or len(scorer.grid) > 1
        assert name in registry.BASELINES
