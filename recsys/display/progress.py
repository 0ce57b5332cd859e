"""How long-running functions report progress: not at all, printed lines, or lines handed to a
callable (the pipeline's heartbeat, a notebook's own display)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

#: ``False`` (quiet), ``True`` (print each line) or a callable receiving each line.
Progress = Union[bool, Callable[[str], None]]


def reporter(progress: Progress) -> Callable[[str], None] | None:
    """The function to call with each progress line, or None when quiet."""
    if callable(progress):
        return progress
    if progress:
        return lambda line: print(line, flush=True)
    return None


def bar(total: int, desc: str, unit: str = "it") -> Any:
    """A tqdm progress bar on the terminal (stderr); silent when stderr is not a terminal
    (CI logs, the pipeline), so long commands show progress without filling logs."""
    import sys

    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=False,
                disable=not sys.stderr.isatty(), dynamic_ncols=True)
