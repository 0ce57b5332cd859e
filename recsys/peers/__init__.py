"""Ranking peers: published top-N recommenders the model is measured against, each tuned on a
validation slice of its own training data (never on the test fold).

- :mod:`.tuning`: the validation slice and the choice of settings on it (:class:`Tuned`);
- :mod:`.rp3beta`: RP3beta, a random walk on the user-movie graph (Paudel et al., 2017);
- :mod:`.ials`: implicit ALS on its own (Hu et al., 2008; Rendle et al., 2022);
- :mod:`.multvae`: Mult-VAE, a variational autoencoder of who watched what, in Keras
  (Liang et al., 2018).

Every peer is a :class:`recsys.evaluation.Scorer` registered in
:mod:`recsys.training.registry`, so ``recsys evaluate --models`` and ``bench/ranking.py``
compare them with the model on the same splits.
"""
