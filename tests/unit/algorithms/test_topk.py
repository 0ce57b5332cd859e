"""Top-k selection, standardisation and pair masking (recsys/algorithms/topk.py)."""

from __future__ import annotations

from recsys.algorithms.topk import first_kept


def test_first_kept_asks_for_more_until_enough_are_kept_or_the_source_ends() -> None:
    source = list(range(100))
    asked: list[int] = []

    def fetch(n: int) -> list[int]:
        asked.append(n)
        return source[:n]

    odd = lambda items: [i for i in items if i % 3 == 0]  # noqa: E731 - a third survive
    assert first_kept(fetch, odd, 5) == [0, 3, 6, 9, 12]
    assert asked == [5, 20]  # not enough in 5, enough in 20
    asked.clear()
    assert first_kept(fetch, lambda items: [i for i in items if i > 97], 5) == [98, 99]
    assert asked == [5, 20, 80, 320]  # the source ran out (100 < 320)
    asked.clear()
    assert first_kept(fetch, lambda items: [], 5, limit=30) == []
    assert asked == [5, 20, 30]  # never past the limit
