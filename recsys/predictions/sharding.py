"""Sharding work across machines: ``--shard I/N`` on ``recsys predict`` and ``recsys index``.

Shard ``I`` of ``N`` owns every id with ``id % N == I``: each of N machines runs the same
command with its own ``I`` against one database and one vector store, and together they cover
every user (and movie) exactly once, with no coordination beyond the numbers. Ids are spread
evenly because MovieLens ids are dense. See docs/SCALING.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from recsys.errors import UsageError

_PATTERN = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (0-based) of ``count``."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1:
            raise UsageError(f"a shard count must be at least 1, got {self.count}")
        if not 0 <= self.index < self.count:
            raise UsageError(f"shard {self.index}/{self.count}: the index must be between 0 "
                             f"and {self.count - 1}")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"I/N"`` (e.g. ``"0/4"``) as a shard, or a :class:`UsageError` naming the text."""
        match = _PATTERN.fullmatch(text or "")
        if match is None:
            raise UsageError(f"--shard wants I/N (e.g. 0/4: the first of four), got {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    @property
    def whole(self) -> bool:
        """True for 0/1: all the work on one machine."""
        return self.count == 1

    def mask(self, ids: Any) -> np.ndarray:
        """Which of ``ids`` this shard owns."""
        return np.asarray(ids, dtype=np.int64) % self.count == self.index

    def where(self, column: Any) -> Any:
        """A SQL condition selecting the rows whose ``column`` this shard owns (bound
        parameters, never formatted text)."""
        return column % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


WHOLE = Shard(0, 1)
