"""Fitting some scorers in a second process while this one fits the others.

Over a holdout fit on MovieLens 100K the model's networks keep about 1.3 of this machine's 2
cores busy. The baselines and ranking peers, fitted meanwhile in a spawned process, use the
rest: notebook 04's holdout comparison takes 52 s instead of 60 s, with the same numbers
(bench/RESULTS.md, issue 26). A process start costs 2-3 s (TensorFlow's import), more than
small data saves, so callers use it from :data:`MIN_RATINGS` training ratings on.

When no second process can be had (a platform without ``spawn``, a scorer that cannot be
sent to it), the scorers are fitted here after the others, with a warning: slower, never
different.
"""

from __future__ import annotations

import multiprocessing
import pickle
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

#: Below this many training ratings everything is fitted in this process.
MIN_RATINGS = 50_000

#: What cannot cross to the second process (or broke it); the scorers are then fitted here.
UNSENDABLE = (BrokenProcessPool, pickle.PicklingError, TypeError, AttributeError, OSError)

Results = list[tuple[str, dict[str, float]]]


def start(measure: Callable[..., Results], *args: Any) -> Callable[[], Results]:
    """Begin ``measure(*args)`` in a spawned process; the function returned waits for its
    results (``measure`` must be importable: a module-level function)."""
    try:
        pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        future = pool.submit(measure, *args)
    except UNSENDABLE as error:
        return _here(measure, args, error)

    def wait() -> Results:
        try:
            return future.result()
        except UNSENDABLE as error:
            return _here(measure, args, error)()
        finally:
            pool.shutdown()

    return wait


def _here(measure: Callable[..., Results], args: tuple[Any, ...],
          error: BaseException) -> Callable[[], Results]:
    warnings.warn(f"fitting the baselines in this process instead of a second one ({error!r})",
                  RuntimeWarning, stacklevel=3)
    return lambda: measure(*args)
