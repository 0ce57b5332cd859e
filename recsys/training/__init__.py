"""Training and comparing: the stage behind ``recsys train`` and ``recsys evaluate``.

- :mod:`recsys.training.registry`: every scorer the comparison knows (the model and the
  baselines), read by the command line, training's holdout and the benchmark;
- :mod:`recsys.training.runs`: :func:`train` (holdout comparison, then the model on
  everything, saved with its metrics) and :func:`evaluate` (k folds or an explicit pair).

The names below are resolved on first use, so the command line's help can read the registry
without importing NumPy, pandas and the model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["BASELINES", "PREVIOUS", "QUICK_BASELINES", "evaluate", "factories",
           "holdout_table", "train"]

if TYPE_CHECKING:
    from recsys.training.runs import (
        BASELINES,
        PREVIOUS,
        QUICK_BASELINES,
        evaluate,
        factories,
        holdout_table,
        train,
    )


def __getattr__(name: str) -> Any:
    """Import :mod:`recsys.training.runs` on first use of one of its names (PEP 562)."""
    if name not in __all__:
        raise AttributeError(f"module 'recsys.training' has no attribute {name!r}")
    value = getattr(importlib.import_module("recsys.training.runs"), name)
    globals()[name] = value
    return value
