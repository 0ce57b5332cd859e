"""Mult-VAE in Keras (recsys/peers/multvae.py): it learns who watches what, its epochs are
chosen on a validation slice, and the same seed gives the same scores."""

from __future__ import annotations

import numpy as np
import pytest
from support import two_kinds

from recsys import datasets
from recsys.peers.multvae import MultVAE
from recsys.peers.tuning import Tuned

pytestmark = pytest.mark.training


def test_multvae_recommends_each_user_their_own_kind(synthetic: datasets.Dataset) -> None:
    train = two_kinds(synthetic)
    vae = MultVAE(epochs=60, hidden=32, latent=8).fit(train, synthetic)
    users = np.sort(synthetic.users["id"].to_numpy())
    scores = vae.score_items(np.array([users[0], users[-1]]))
    catalogue = vae.movie_ids
    seen = train.groupby("user_id")["movie_id"].agg(set)
    for row, user, kind in ((0, users[0], set(catalogue[:20])),
                            (1, users[-1], set(catalogue[20:40]))):
        ranked = [m for m in catalogue[np.argsort(-scores[row], kind="stable")]
                  if m not in seen[user]]
        assert set(ranked[:5]) <= kind
    again = MultVAE(epochs=60, hidden=32, latent=8).fit(train, synthetic)
    np.testing.assert_allclose(again.score_items(users[:3]), vae.score_items(users[:3]),
                               rtol=1e-4, atol=1e-4)
    assert not vae.score_items(np.array([10_000_000])).any()


def test_tuned_multvae_records_each_epoch_count(synthetic: datasets.Dataset) -> None:
    make = lambda epochs: MultVAE(epochs=epochs, hidden=16, latent=4)  # noqa: E731
    tuned = Tuned("multvae", make, [{"epochs": 1}, {"epochs": 40}]).fit(
        two_kinds(synthetic), synthetic)
    assert tuned.tuning["epochs"].tolist() == [1, 40]
    assert tuned.chosen == {"epochs": int(tuned.tuning.loc[
        tuned.tuning["ndcg@10"].idxmax(), "epochs"])}
