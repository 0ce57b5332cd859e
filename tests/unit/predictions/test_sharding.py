"""Shards (recsys/predictions/sharding.py): ``I/N`` parsed or refused with the text named, and N
shards cover every id exactly once."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.errors import UsageError
from recsys.predictions.sharding import Shard


@pytest.mark.parametrize("text, expected", [("0/1", Shard(0, 1)), ("3/4", Shard(3, 4)),
                                            (" 1 / 2 ", Shard(1, 2))])
def test_shard_parses_i_of_n(text: str, expected: Shard) -> None:
    assert Shard.parse(text) == expected


@pytest.mark.parametrize("text", ["4/4", "1/0", "-1/2", "a/b", "1", "", "1/2/3"])
def test_bad_shards_are_usage_errors_naming_the_text(text: str) -> None:
    with pytest.raises(UsageError, match="shard"):
        Shard.parse(text)


def test_shards_partition_the_ids() -> None:
    ids = np.arange(1, 1000)
    owners = np.stack([Shard(i, 3).mask(ids) for i in range(3)])
    assert (owners.sum(axis=0) == 1).all()
