"""One registry of every model the evaluation compares: the recommender and the baselines.

The command line (its help and ``--models``), training's holdout comparison, the benchmark
and the notebooks all read it, so adding a baseline is one entry here (and its class). Entries
name where the scorer lives; nothing heavy is imported until a scorer is built.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from recsys.errors import UsageError

if TYPE_CHECKING:
    from recsys.display.progress import Progress
    from recsys.evaluation import Scorer
    from recsys.models import ModelConfig
    from recsys.models.distribute import Strategy


@dataclass(frozen=True)
class Entry:
    """A scorer: where its class lives, and what it is."""

    module: str
    name: str
    summary: str
    #: built from the run's model configuration (the Keras models), else with no argument
    configured: bool = False
    #: the configuration changes it needs (e.g. the original architecture)
    changes: tuple[tuple[str, Any], ...] = ()


SCORERS: dict[str, Entry] = {
    "model": Entry("recsys.models", "Recommender", "the recommender (predict and recommend)",
                   configured=True),
    "global_mean": Entry("recsys.evaluation", "GlobalMean", "the mean rating for everything"),
    "biases": Entry("recsys.evaluation", "Biases", "user and movie biases"),
    "popularity": Entry("recsys.evaluation", "Popularity", "the most rated movies"),
    "ease": Entry("recsys.evaluation", "EASE", "EASE item-item model (Steck, 2019)"),
    "ease_tuned": Entry("recsys.peers.ease", "tuned",
                        "EASE, lambda chosen on a validation slice of the training data"),
    "rp3beta": Entry("recsys.peers.rp3beta", "tuned",
                     "RP3beta random walk (Paudel et al., 2017), tuned on a validation slice"),
    "ials": Entry("recsys.peers.ials", "tuned",
                  "iALS alone (Rendle et al., 2022), tuned on a validation slice"),
    "multvae": Entry("recsys.peers.multvae", "MultVAE",
                     "Mult-VAE in Keras (Liang et al., 2018), epochs chosen on a validation "
                     "slice"),
    "reference": Entry("recsys.models", "Recommender",
                       "the original course architecture (4*sigmoid output)",
                       configured=True, changes=(("kind", "reference"),)),
}
#: The baselines (every scorer but the model itself).
BASELINES = tuple(name for name in SCORERS if name != "model")
#: The ranking peers (each tuned on a validation slice of its training data).
PEERS = ("ease_tuned", "rp3beta", "ials", "multvae")
#: What training's holdout compares by default (the slower reference model left out).
QUICK = ("model", "global_mean", "biases", "popularity", "ease")


def check(names: tuple[str, ...]) -> tuple[str, ...]:
    """``names`` if every one is registered, else a :class:`UsageError` listing the choices."""
    unknown = [n for n in names if n not in SCORERS]
    if unknown:
        raise UsageError(f"unknown model(s) {unknown}; choose from {list(SCORERS)}")
    return names


def factories(config: ModelConfig, names: tuple[str, ...] = tuple(SCORERS),
              progress: Progress = False,
              strategy: Strategy | None = None) -> dict[str, Callable[[], Scorer]]:
    """Fresh-scorer factories by name, in the order given (``progress`` gets the model's
    epoch lines; the other Keras model trains quietly; both train under ``strategy``)."""
    out: dict[str, Callable[[], Scorer]] = {}
    for name in check(names):
        entry = SCORERS[name]
        cls = getattr(importlib.import_module(entry.module), entry.name)
        if entry.configured:
            own = dataclasses.replace(config, **dict(entry.changes))
            out[name] = functools.partial(cls, own, progress=False if entry.changes
                                          else progress, strategy=strategy)
        else:
            out[name] = cls
    return out
