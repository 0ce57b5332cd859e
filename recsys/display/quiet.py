"""Keeping the console for the user: native libraries' start-up chatter silenced.

TensorFlow prints absl and CUDA lines ("All log messages before absl::InitializeLog() ...",
"Could not find cuda drivers ...") from C++ straight to file descriptor 2 when it is first
imported, whatever ``TF_CPP_MIN_LOG_LEVEL`` says; none of it is the user's business on a CPU
machine. :func:`import_keras` imports Keras (and TensorFlow under it) with that descriptor
pointed at ``/dev/null`` for the duration of the import only: Python exceptions still
propagate, and anything printed afterwards is shown as usual. TensorFlow's Python logger is
kept to errors: its warnings (e.g. "triggered tf.function retracing" when each freshly trained
network traces its own prediction function) are about TensorFlow's internals, not the user's
work.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null while the block runs."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2 (embedded interpreters)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_keras() -> Any:
    """Keras 3 on the TensorFlow backend, imported without native log lines."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if "keras" not in sys.modules:
        with native_stderr_silenced():
            import keras  # noqa: F401
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
    import keras

    return keras
