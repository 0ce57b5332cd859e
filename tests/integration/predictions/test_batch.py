"""Batch prediction into the database (recsys/predictions/batch.py): every user covered without
seen movies, the model's own lists, shards that add up to the whole run."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from recsys import datasets, db
from recsys.db.schema import Prediction
from recsys.models import Recommender
from recsys.predictions import batch
from recsys.predictions.sharding import Shard


def _predictions(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(select(Prediction.user_id, Prediction.rank, Prediction.movie_id,
                                   Prediction.predicted_rating).order_by(
            Prediction.user_id, Prediction.rank)).all()
    return pd.DataFrame(rows, columns=["user_id", "rank", "movie_id", "predicted_rating"])


def test_batch_predictions_cover_every_user_without_seen_movies(
        loaded: Engine, api_data: datasets.Dataset, api_model: Recommender) -> None:
    from recsys.models import ModelError

    with pytest.raises(ModelError, match="trained on 70 movies but the data has 60"):
        batch.run(loaded, api_model, top_n=15)  # the fixture holds another dataset
    db.ingest(api_data, loaded, replace=True)
    result = batch.run(loaded, api_model, top_n=15)
    with loaded.connect() as conn:
        rows = pd.DataFrame(conn.execute(select(Prediction.user_id, Prediction.movie_id,
                                                Prediction.rank, Prediction.model_version)
                                         ).all())
    assert result["rows"] == len(rows) == 15 * len(api_data.users)
    assert set(rows["user_id"]) == set(api_data.users["id"])
    assert (rows.groupby("user_id")["rank"].apply(sorted).map(list)
            == [list(range(1, 16))] * len(api_data.users)).all()
    assert rows.merge(api_data.scores, on=["user_id", "movie_id"]).empty
    assert set(rows["model_version"]) == {api_model.version}
    again = batch.run(loaded, api_model, top_n=5)  # replaces, never appends
    with loaded.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Prediction)).scalar_one() == \
            again["rows"] == 5 * len(api_data.users)


def test_batch_predictions_match_the_model(api_data: datasets.Dataset,
                                           api_model: Recommender) -> None:
    rated = api_data.scores[["user_id", "movie_id"]]
    frame = batch.predict_all(api_model, np.array([3]), rated, top_n=10)
    direct = api_model.recommend(3, k=10)
    assert frame["movie_id"].tolist() == direct["movie_id"].tolist()
    np.testing.assert_allclose(frame["predicted_rating"], direct["predicted_rating"], atol=1e-4)


def test_sharded_batch_prediction_equals_the_whole_run(loaded: Engine,
                                                       api_data: datasets.Dataset,
                                                       api_model: Any) -> None:
    db.ingest(api_data, loaded, replace=True, force=True)
    batch.run(loaded, api_model, top_n=7)
    whole = _predictions(loaded)
    with loaded.begin() as conn:
        conn.execute(Prediction.__table__.delete())
    results = [batch.run(loaded, api_model, top_n=7, shard=Shard(i, 3)) for i in range(3)]
    assert sum(r["users"] for r in results) == len(api_data.users)
    pd.testing.assert_frame_equal(_predictions(loaded), whole)
    # a shard run again replaces its own users' rows and leaves the others alone
    again = batch.run(loaded, api_model, top_n=3, shard=Shard(1, 3))
    after = _predictions(loaded)
    mine = Shard(1, 3).mask(after["user_id"])
    assert after[mine].groupby("user_id").size().max() == 3 == again["rows"] / again["users"]
    pd.testing.assert_frame_equal(after[~mine].reset_index(drop=True),
                                  whole[~Shard(1, 3).mask(whole["user_id"])]
                                  .reset_index(drop=True))
