"""Saving and loading a trained recommender as a versioned artifact, atomically.

Layout: ``root/<version>/`` holding ``network_<i>.keras`` (the Keras networks), ``arrays.npz``
(ids, side features, factors, training ratings, the rating blend, the iALS factors),
``meta.json`` (config, vocabularies, metrics, data fingerprint, training history);
``root/LATEST`` names the newest version. The folder is written under a temporary name and
renamed into place, so a reader never sees a half-written model; any damage found when
loading is a :class:`~recsys.errors.ModelError`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import pandas as pd

from recsys.errors import ModelError, ModelNotFound
from recsys.models.blend import Blend, DayTable
from recsys.models.config import ModelConfig
from recsys.models.features import FeatureEncoder
from recsys.models.ials import ImplicitFactors
from recsys.models.ids import IdMap
from recsys.models.ranker import Ranker
from recsys.models.state import FittedModel, Seen, catalogue_fingerprint

if TYPE_CHECKING:
    from recsys.models.recommender import Recommender

FORMAT_VERSION = 1
FACTORS = ("user_vectors", "user_bias", "movie_vectors", "movie_bias")


def _arrays(state: FittedModel) -> dict[str, np.ndarray]:
    arrays = {"user_ids": state.users.ids, "movie_ids": state.movies.ids,
              "user_side": state.user_side, "movie_side": state.movie_side,
              "seen_users": state.seen.users, "seen_movies": state.seen.movies,
              "seen_ratings": state.seen.ratings}
    if state.factors is not None:
        arrays.update(state.factors.as_arrays())
    arrays["ranker_items"] = state.ranker.items
    arrays["ranker_weights"] = state.ranker.weights
    if state.blend is not None:
        arrays.update(blend_correction=state.blend.correction,
                      blend_day_keys=state.blend.days.keys,
                      blend_day_values=state.blend.days.values,
                      blend_day_weights=state.blend.day_weights,
                      blend_weights=state.blend.weights)
    if state.ials is not None:
        arrays.update(ials_users=state.ials.users, ials_movies=state.ials.movies)
    return arrays


def _blend(arrays: dict[str, np.ndarray]) -> Blend | None:
    if "blend_correction" not in arrays:
        return None
    return Blend(arrays["blend_correction"],
                 DayTable(arrays["blend_day_keys"], arrays["blend_day_values"]),
                 arrays["blend_day_weights"], arrays["blend_weights"])


def _meta(model: Recommender, state: FittedModel, created: str) -> dict[str, Any]:
    from recsys.models import networks

    return {
        "format": FORMAT_VERSION, "version": model.version, "created_utc": created,
        "keras_version": networks.version(), "config": dataclasses.asdict(state.config),
        "global_mean": state.global_mean, "encoder": state.encoder.to_dict(),
        "fingerprint": state.fingerprint,
        "catalogue_fingerprint": catalogue_fingerprint(state.movies.ids),
        "n_users": len(state.users), "n_movies": len(state.movies),
        "n_ratings": int(len(state.seen.ratings)), "fit_seconds": state.fit_seconds,
        "rating_range": list(state.rating_range),
        "metrics": model.metrics, "history": state.history.to_dict(orient="list")}


def save(model: Recommender, root: Path, metrics: dict[str, Any] | None = None,
         keep: int | None = None) -> Path:
    """Write ``model`` under ``root`` as a new version and mark it the latest; returns the
    version folder (``model.version`` is set). ``keep``: then delete all but the newest
    ``keep`` versions (:func:`recsys.models.versions.prune`). A disk that fills up is a
    one-line :class:`ModelError`, with nothing half-written left behind."""
    from recsys.models import networks, versions

    state = model.fitted
    root.mkdir(parents=True, exist_ok=True)
    created = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    model.version = f"{created}-{state.fingerprint[:8]}"
    if metrics is not None:
        model.metrics = dict(metrics)
    final = root / model.version
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        networks.save(list(state.networks), tmp)
        store: Any = np.savez_compressed  # numpy's stubs do not type **arrays
        store(tmp / "arrays.npz", **_arrays(state))
        meta = _meta(model, state, created)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=float))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        latest = root / ".LATEST.tmp"
        latest.write_text(model.version + "\n")
        os.replace(latest, root / "LATEST")
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        full = versions.no_space(exc, root)
        if full is None:
            raise
        raise full from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    model.meta = meta
    if keep is not None:
        versions.prune(root, keep)
    return final


def _read_meta(path: Path) -> dict[str, Any]:
    if not (path / "meta.json").is_file():
        raise ModelNotFound(f"no trained model at {path}: run `recsys train` first")
    meta = json.loads((path / "meta.json").read_text())
    if not isinstance(meta, dict):
        raise ModelError(f"{path / 'meta.json'} does not hold a model description")
    if meta.get("format") != FORMAT_VERSION:
        raise ModelError(f"{path} has model format {meta.get('format')}, this code reads "
                         f"{FORMAT_VERSION}: retrain with `recsys train`")
    return meta


class SavedNetworks(Sequence[Any]):
    """An artifact's Keras networks, read from their ``network_<i>.keras`` files on first
    use. A hybrid model predicts, recommends and gives its embeddings from its factors
    (NumPy arrays in ``arrays.npz``), so loading one to serve or to predict in batch imports
    no TensorFlow: the API's workers answer seconds sooner."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.paths = sorted(folder.glob("network_*.keras"),
                            key=lambda p: int(p.stem.split("_")[1]))
        self._networks: tuple[Any, ...] | None = None

    def load(self) -> tuple[Any, ...]:
        """Every network, read now if not yet."""
        if self._networks is None:
            from recsys.models import networks

            self._networks = tuple(networks.load(self.folder))
        return self._networks

    def __len__(self) -> int:
        return len(self.paths)

    @overload
    def __getitem__(self, index: int) -> Any: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Any]: ...

    def __getitem__(self, index: int | slice) -> Any:
        return self.load()[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.load())


def _state(path: Path, meta: dict[str, Any]) -> FittedModel:
    from recsys.models.factors import Factors

    config = ModelConfig(**meta["config"])
    with np.load(path / "arrays.npz") as npz:
        arrays = {name: npz[name] for name in npz.files}
    trained = SavedNetworks(path)
    if not len(trained):
        raise ModelError(f"the model at {path} has no network_*.keras file: retrain with "
                         "`recsys train`")
    if "user_vectors" not in arrays:  # the reference model predicts through its network
        trained.load()
    users, movies = IdMap(arrays["user_ids"]), IdMap(arrays["movie_ids"])
    seen = Seen(arrays["seen_users"], arrays["seen_movies"], arrays["seen_ratings"])
    factors = (Factors(**{k: arrays[k] for k in FACTORS})
               if "user_vectors" in arrays else None)
    ratings = seen.ratings.astype(np.float32)
    if "ranker_weights" in arrays:
        ranker = Ranker.restore(seen.users, seen.movies, ratings, users.rows, movies.rows,
                                config.ranker_rating_weight, arrays["ranker_items"],
                                arrays["ranker_weights"])
    else:  # artifacts written before the weights were saved
        ranker = Ranker.fit(seen.users, seen.movies, ratings, users.rows, movies.rows,
                            config.ranker_l2, config.ranker_rating_weight,
                            config.ranker_max_items)
    return FittedModel(
        config=config, users=users, movies=movies,
        encoder=FeatureEncoder.from_dict(meta["encoder"]),
        global_mean=float(meta["global_mean"]), user_side=arrays["user_side"],
        movie_side=arrays["movie_side"], seen=seen, networks=trained, factors=factors,
        ranker=ranker, fingerprint=meta["fingerprint"],
        history=pd.DataFrame(meta.get("history", {})), fit_seconds=meta.get("fit_seconds"),
        rating_range=tuple(meta.get("rating_range", (1.0, 5.0))), blend=_blend(arrays),
        ials=ImplicitFactors(arrays["ials_users"], arrays["ials_movies"])
        if "ials_users" in arrays else None)


def load(cls: type, path: Path) -> Any:
    """The model saved at ``path`` (a version folder, or a root holding ``LATEST``)."""
    try:
        if (path / "LATEST").is_file():
            path = path / (path / "LATEST").read_text().strip()
        meta = _read_meta(path)
        state = _state(path, meta)
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - any damage to an artifact is a ModelError
        raise ModelError(f"cannot read the model at {path}: {type(exc).__name__}: {exc} "
                         "(retrain with `recsys train`)") from exc
    model = cls(state.config)
    model.state = state
    model.version = meta["version"]
    model.metrics = meta.get("metrics", {})
    model.meta = meta
    return model
