"""Database ids to the model's row positions and back. Position 0 is the out-of-vocabulary
row (a user or movie the model never saw); known ids start at 1. Positions never leave the
models package: everything outside speaks database ids."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class IdMap:
    """The ids a model knows, in row order (row i + 1 is ``ids[i]``)."""

    ids: np.ndarray
    _index: pd.Series = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ids = np.asarray(self.ids, dtype=np.int64)
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "_index", pd.Series(np.arange(1, len(ids) + 1), index=ids))

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def rows(self) -> int:
        """Rows of a table indexed by position (the known ids plus the unknown row 0)."""
        return len(self.ids) + 1

    def positions(self, ids: Any) -> np.ndarray:
        """Positions of ``ids`` (0 for an id the model does not know)."""
        wanted = np.atleast_1d(np.asarray(ids, dtype=np.int64))
        return self._index.reindex(wanted).fillna(0).to_numpy(dtype=np.int64)

    def position(self, id: int) -> int:
        """The position of one id (0 when unknown)."""
        return int(self.positions([id])[0])
