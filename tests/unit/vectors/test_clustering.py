"""k-means of users (recsys/vectors/clustering.py) when OpenSearch's ML Commons answers
badly: its k-means takes no seed, and a draw can leave every user in one cluster."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recsys.vectors import clustering


class FakeMLCommons:
    """An OpenSearch client whose k-means answers the given label lists in turn."""

    def __init__(self, *draws: list[int]) -> None:
        self.draws = list(draws)
        self.calls = 0
        self.transport = self

    def perform_request(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        labels = self.draws[min(self.calls, len(self.draws) - 1)]
        self.calls += 1
        return {"prediction_result": {"rows": [{"values": [{"value": float(c)}]}
                                               for c in labels]}}


def _three_groups() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    centres = np.eye(3) * 5
    points = np.concatenate([c + rng.normal(0, 0.1, (10, 3)) for c in centres])
    return pd.DataFrame(points, index=pd.Index(range(1, 31), name="user_id"))


def test_a_collapsed_draw_is_drawn_again() -> None:
    vectors = _three_groups()
    good = [i // 10 for i in range(30)]
    client = FakeMLCommons([0] * 30, good)
    result = clustering.cluster_users(vectors, k=3, backend="opensearch", client=client)
    assert client.calls == 2
    assert result.backend == "opensearch" and result.k == 3
    assert result.assignments.nunique() == 3


def test_every_draw_collapsed_falls_back_to_scikit_learn_and_says_so() -> None:
    vectors = _three_groups()
    client = FakeMLCommons([0] * 30)
    result = clustering.cluster_users(vectors, k=3, backend="opensearch", client=client)
    assert client.calls == clustering.KMEANS_DRAWS
    assert result.backend == "sklearn" and result.k == 3
    assert result.assignments.nunique() == 3
