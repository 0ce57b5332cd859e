"""Training and comparing: the stage behind ``recsys train`` and ``recsys evaluate``.

- :mod:`recsys.training.registry`: every scorer the comparison knows (the model and the
  baselines), read by the command line, training's holdout and the benchmark;
- :mod:`recsys.training.runs`: :func:`train` (holdout comparison, then the model on
  everything, saved with its metrics) and :func:`evaluate` (k folds or an explicit pair).
"""

from recsys.training.runs import (
    BASELINES,
    PREVIOUS,
    QUICK_BASELINES,
    evaluate,
    factories,
    train,
)

__all__ = ["BASELINES", "PREVIOUS", "QUICK_BASELINES", "evaluate", "factories", "train"]
