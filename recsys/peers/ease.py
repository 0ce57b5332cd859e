"""EASE with its lambda chosen on the validation slice, beside the evaluation's EASE baseline
(:class:`recsys.evaluation.EASE`, lambda fixed at 500): Steck tunes lambda per dataset, so the
peers' table gives EASE the same chance as every other peer."""

from __future__ import annotations

from recsys.evaluation.baselines import EASE
from recsys.peers.tuning import Tuned

#: Lambdas tried (Steck: 500 on MovieLens-20M-sized data; smaller sets want less).
GRID = tuple({"l2": l2} for l2 in (100.0, 250.0, 500.0, 1000.0, 2000.0))


def tuned() -> Tuned:
    """EASE with lambda chosen on the validation slice (:data:`GRID`)."""
    return Tuned("ease_tuned", EASE, GRID)
