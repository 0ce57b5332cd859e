"""Algorithms the model and the evaluation share, on NumPy, SciPy and pandas only: top-k
selection (:mod:`~recsys.algorithms.topk`), EASE's closed form
(:mod:`~recsys.algorithms.ease`), rating biases (:mod:`~recsys.algorithms.biases`), the
metrics and their column names (:mod:`~recsys.algorithms.metrics`,
:mod:`~recsys.algorithms.columns`). A leaf: it imports nothing else of the package but
``rules``, so ``models`` and ``evaluation`` both build on it without importing each other.
"""
