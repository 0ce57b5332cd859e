"""How long-running functions report progress: not at all, printed lines, or lines handed to a
callable (the pipeline's heartbeat, a notebook's own display)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Union

#: ``False`` (quiet), ``True`` (print each line) or a callable receiving each line.
Progress = Union[bool, Callable[[str], None]]


def reporter(progress: Progress) -> Callable[[str], None] | None:
    """The function to call with each progress line, or None when quiet."""
    if callable(progress):
        return progress
    if progress:
        return lambda line: print(line, flush=True)
    return None
