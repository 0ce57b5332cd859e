"""Mult-VAE in Keras (recsys/peers/multvae.py): it learns who watches what, keeps the
weights of its best check on a validation slice, and the same seed gives the same scores."""

from __future__ import annotations

import numpy as np
import pytest
from support import assert_recommends_own_kind, two_kinds

from recsys import datasets
from recsys.peers.multvae import MultVAE

pytestmark = pytest.mark.training


def test_multvae_recommends_each_user_their_own_kind(synthetic: datasets.Dataset) -> None:
    train = two_kinds(synthetic)
    vae = MultVAE(max_epochs=60, check_every=20, hidden=32, latent=8).fit(train, synthetic)
    # measured every 20 epochs on the slice; the weights kept are the best check's
    assert vae.tuning["epochs"].tolist() == [20, 40, 60]
    best = vae.tuning.loc[vae.tuning["ndcg@10"].idxmax(), "epochs"]
    assert vae.chosen == {"epochs": int(best)}
    assert_recommends_own_kind(vae, train, synthetic)
    # scoring reads the whole training history (the validation slice included)
    assert vae.X.nnz == len(train)
    users = np.sort(synthetic.users["id"].to_numpy())
    again = MultVAE(max_epochs=60, check_every=20, hidden=32, latent=8).fit(train, synthetic)
    np.testing.assert_allclose(again.score_items(users[:3]), vae.score_items(users[:3]),
                               rtol=1e-4, atol=1e-4)
