"""K-means clusters of users on their embeddings, cluster profiles, and storage in the DB.

- :func:`choose_k` scores k = 2..max_k by silhouette (and records inertia for the elbow plot);
- :func:`cluster_users` fits k-means on L2-normalised user vectors (cosine geometry):
  scikit-learn embedded, or OpenSearch ML Commons (``_train_predict/kmeans``) in the full stack;
- :func:`profiles` describes each cluster from the data: size, age, gender and occupation mix,
  favourite genres and most distinctive movies (lift over everyone), and a one-line
  description generated from those numbers;
- :func:`store` replaces the ``clusters`` and ``user_clusters`` tables in one transaction.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, insert

from recsys.datasets.tables import Dataset
from recsys.db.schema import Cluster, UserCluster
from recsys.errors import UsageError, VectorStoreError
from recsys.rules import LIKED_RATING

if TYPE_CHECKING:  # matplotlib only when a figure is drawn (the API imports this module)
    from matplotlib.figure import Figure

    from recsys.config import Settings

log = logging.getLogger(__name__)
KMEANS_PATH = "/_plugins/_ml/_train_predict/kmeans"


def _normalise(vectors: pd.DataFrame) -> np.ndarray:
    array = vectors.to_numpy(dtype=np.float64)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.where(norms > 0, norms, 1.0)


@dataclass
class Clustering:
    """Result of :func:`cluster_users`.

    Attributes:
        assignments: user id -> cluster id (0..k-1).
        distances: user id -> cosine distance to the cluster centre.
        k: number of clusters.
        selection: per candidate k, inertia and silhouette.
        backend: ``sklearn`` or ``opensearch``.
    """

    assignments: pd.Series
    distances: pd.Series
    k: int
    selection: pd.DataFrame
    backend: str = "sklearn"


def choose_k(vectors: pd.DataFrame, max_k: int = 10, seed: int = 42,
             sample: int = 2000) -> pd.DataFrame:
    """Inertia and silhouette for k = 2..max_k (silhouette on at most ``sample`` users)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    x = _normalise(vectors)
    rows = []
    for k in range(2, min(max_k, len(x) - 1) + 1):
        km = KMeans(n_clusters=k, n_init=5, random_state=seed).fit(x)
        score = silhouette_score(x, km.labels_, metric="cosine",
                                 sample_size=min(sample, len(x)), random_state=seed)
        rows.append({"k": k, "inertia": float(km.inertia_), "silhouette": float(score)})
    return pd.DataFrame(rows)


def selection_figure(selection: pd.DataFrame, chosen: int) -> Figure:
    """Elbow (inertia) and silhouette against k, the chosen k marked."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.5), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.plot(selection["k"], selection["inertia"], marker="o")
    left.set(title="Elbow: inertia by k", xlabel="k", ylabel="inertia")
    right.plot(selection["k"], selection["silhouette"], marker="o", color="#55A868")
    right.set(title="Silhouette (cosine) by k", xlabel="k", ylabel="silhouette")
    for ax in (left, right):
        ax.axvline(chosen, color="#C44E52", linestyle="--", linewidth=1,
                   label=f"chosen: k = {chosen}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
    return fig


def cluster_users(vectors: pd.DataFrame, k: int | None = None, max_k: int = 10,
                  seed: int = 42, backend: str | None = None, client: Any = None,
                  settings: Settings | None = None) -> Clustering:
    """Cluster users (rows of ``vectors``, indexed by user id).

    Args:
        vectors: user embeddings.
        k: number of clusters; ``None`` picks the best silhouette in 2..max_k (the scores of
            every k in 2..max_k are computed either way, for the plot).
        backend: ``sklearn`` (embedded) or ``opensearch`` (ML Commons; needs ``client``);
            default: what ``settings`` choose (OpenSearch with the OpenSearch vector store).
        settings: the deployment's settings (to pick the backend and reach OpenSearch).
    """
    if backend is None:
        backend = ("opensearch" if settings is not None
                   and settings.vector_backend == "opensearch" else "sklearn")
    if backend == "opensearch" and client is None and settings is not None:
        from recsys.vectors.opensearch import client_for

        client = client_for(settings)
    selection = choose_k(vectors, max_k, seed)  # shown in the elbow/silhouette plot
    if k is None:
        k = int(selection.loc[selection["silhouette"].idxmax(), "k"])
    if k < 2 or k >= len(vectors):
        raise UsageError(f"k must be between 2 and {len(vectors) - 1}, got {k}")
    x = _normalise(vectors)
    labels = opensearch_labels(client, vectors, k) if backend == "opensearch" else None
    if labels is None:
        from sklearn.cluster import KMeans

        if backend == "opensearch":
            log.warning("k-means (opensearch) put every user in one cluster %d times; "
                        "clustered with scikit-learn instead", KMEANS_DRAWS)
            backend = "sklearn"
        labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(x)
    labels = _relabel_by_size(np.asarray(labels))
    found = int(labels.max()) + 1
    if found < k:  # ML Commons' k-means can leave a centroid with no member
        log.warning("k-means (%s) returned %d non-empty clusters of the %d asked for",
                    backend, found, k)
        k = found
    centres = np.stack([x[labels == c].mean(axis=0) for c in range(k)])
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    distances = 1.0 - np.einsum("ij,ij->i", x, centres[labels])
    index = vectors.index
    return Clustering(pd.Series(labels, index=index, name="cluster"),
                      pd.Series(distances, index=index, name="distance"), k, selection, backend)


def _relabel_by_size(labels: np.ndarray) -> np.ndarray:
    """Cluster 0 is the largest, and so on (stable, readable ids)."""
    sizes = pd.Series(labels).value_counts()
    order = sorted(sizes.index, key=lambda c: (-sizes[c], c))
    mapping = {old: new for new, old in enumerate(order)}
    return np.array([mapping[c] for c in labels])


def kmeans_request(vectors: pd.DataFrame, k: int, iterations: int = 25) -> dict[str, Any]:
    """The ML Commons train-and-predict body, the vectors sent as DOUBLE columns."""
    columns = [{"name": f"e{i}", "column_type": "DOUBLE"} for i in range(vectors.shape[1])]
    rows = [{"values": [{"column_type": "DOUBLE", "value": float(v)} for v in row]}
            for row in _normalise(vectors)]
    return {"parameters": {"centroids": int(k), "iterations": int(iterations),
                           "distance_type": "COSINE"},
            "input_data": {"column_metas": columns, "rows": rows}}


#: ML Commons' k-means starts from random centroids (it takes no seed): how many draws to try
#: before an answer with fewer non-empty clusters than asked is kept.
KMEANS_DRAWS = 3


def opensearch_labels(client: Any, vectors: pd.DataFrame, k: int) -> np.ndarray | None:
    """Cluster ids from ML Commons: the first of up to :data:`KMEANS_DRAWS` draws that fills
    all ``k`` clusters, else the draw that fills the most; None when every draw put all the
    users in one cluster (nothing to show: the caller clusters another way)."""
    best: np.ndarray | None = None
    for _ in range(KMEANS_DRAWS):
        labels = opensearch_kmeans(client, vectors, k)
        filled = len(np.unique(labels))
        if best is None or filled > len(np.unique(best)):
            best = labels
        if filled == k:
            break
    return best if best is not None and len(np.unique(best)) > 1 else None


def opensearch_kmeans(client: Any, vectors: pd.DataFrame, k: int,
                      iterations: int = 25) -> np.ndarray:
    """Cluster ids from OpenSearch ML Commons k-means (rows come back in input order)."""
    if client is None:
        raise UsageError("the opensearch backend needs an OpenSearch client")
    response = client.transport.perform_request("POST", KMEANS_PATH,
                                                body=kmeans_request(vectors, k, iterations))
    rows = response["prediction_result"]["rows"]
    if len(rows) != len(vectors):
        raise VectorStoreError(f"ML Commons returned {len(rows)} assignments for "
                               f"{len(vectors)} users")
    return np.array([int(r["values"][0]["value"]) for r in rows])


def projection_figure(vectors: pd.DataFrame, clustering: Clustering) -> Figure:
    """Users on the first two principal components, coloured by cluster."""
    from sklearn.decomposition import PCA

    xy = PCA(n_components=2, random_state=0).fit_transform(_normalise(vectors))
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 5), layout="constrained")
    ax = fig.add_subplot()
    labels = clustering.assignments.reindex(vectors.index).to_numpy()
    for c in range(clustering.k):
        mask = labels == c
        ax.scatter(xy[mask, 0], xy[mask, 1], s=8, alpha=0.7, label=f"cluster {c}")
    ax.set(title="Users, 2-D projection (PCA), coloured by cluster", xlabel="PC1", ylabel="PC2")
    ax.legend(markerscale=2, fontsize=8)
    return fig


def verdict(result: Clustering) -> str:
    """One line: the k chosen, by which backend, and what its silhouette says."""
    scores = result.selection.set_index("k")["silhouette"]
    if result.k not in scores.index:
        return f"k = {result.k} (k-means by {result.backend})"
    return (f"k = {result.k} (k-means by {result.backend}): "
            + interpret_silhouette(float(scores[result.k])))


def _lifts(values: dict[str, float] | None) -> str:
    """A {name: lift} mapping as text, strongest first ("technician x2.1, writer x1.8")."""
    ranked = sorted((values or {}).items(), key=lambda kv: -kv[1])
    return ", ".join(f"{name} x{lift:.1f}" for name, lift in ranked) or "none"


def profile_table(profiles: pd.DataFrame) -> pd.DataFrame:
    """Who is in each cluster: size, age, gender, activity, and the occupations and genres
    over-represented (as text, strongest first: how many times their share among everyone)."""
    table = profiles[["cluster", "size", "median_age", "female_share", "ratings_per_user",
                      "mean_rating"]].copy()
    table["occupations over-represented"] = profiles["occupations_over_represented"].map(_lifts)
    table["favourite genres"] = profiles["favourite_genres"].map(_lifts)
    return table


def summary(result: Clustering, profiles: pd.DataFrame) -> dict[str, Any]:
    """What a run records: k, the cluster sizes and the silhouette of every k tried."""
    return {"k": result.k, "sizes": profiles["size"].tolist(),
            "silhouette": result.selection.set_index("k")["silhouette"].round(4).to_dict()}


def descriptions(profiles: pd.DataFrame) -> pd.DataFrame:
    """Each cluster's size and one-line description, as a table."""
    return profiles[["cluster", "size", "description"]]


def everyone(profiles: pd.DataFrame) -> pd.DataFrame:
    """The profile of all users together (what each cluster is compared with), as a
    one-row table."""
    return pd.DataFrame([profiles["everyone"].iloc[0]], index=["everyone"])


def interpret_silhouette(score: float) -> str:
    """What a mean silhouette says about the structure (Kaufman and Rousseeuw's rule of
    thumb: above 0.70 strong, 0.51-0.70 reasonable, 0.26-0.50 weak, below that none)."""
    if score > 0.70:
        verdict = "strong structure: the clusters are well separated"
    elif score > 0.50:
        verdict = "reasonable structure"
    elif score > 0.25:
        verdict = "weak structure: the clusters overlap, read them as tendencies"
    else:
        verdict = ("no substantial structure: users form a continuum, and the clusters are "
                   "a convenient partition of it rather than natural groups")
    return f"silhouette {score:.2f}: {verdict}"


def _shares(values: pd.Series) -> pd.Series:
    return values.value_counts(normalize=True)


def profiles(data: Dataset, clustering: Clustering, top: int = 3,
             min_support: int = 5) -> pd.DataFrame:
    """One row per cluster: what distinguishes it from all users (age, gender, occupations,
    genres liked, activity, signature movies), each figure beside the same figure for
    everyone, and a one-line description generated from the strongest differences."""
    people = data.users.merge(data.persons, on="id")
    people["cluster"] = people["id"].map(clustering.assignments)
    reference_year = int(data.scores["rated_at"].dt.year.max()) if len(data.scores) else 1998
    people["age"] = reference_year - people["birth_year"]
    scores = data.scores.assign(cluster=data.scores["user_id"].map(clustering.assignments))
    liked = scores[scores["rating"] >= LIKED_RATING]
    genres = data.movies.set_index("id")["genres"]
    liked_genres = liked.assign(genre=liked["movie_id"].map(genres)).explode("genre")
    overall_genre = _shares(liked_genres["genre"])
    overall_occupation = _shares(people["occupation"])
    titles = data.movies.set_index("id")["title"]
    overall_movie = liked.groupby("movie_id")["user_id"].nunique() / max(len(people), 1)
    everyone = {"median_age": float(people["age"].median()),
                "female_share": round(float((people["gender"] == "F").mean()), 3),
                "ratings_per_user": round(len(scores) / max(len(people), 1), 1),
                "mean_rating": round(float(scores["rating"].mean()), 3)}
    rows = []
    for c in range(clustering.k):
        members = people[people["cluster"] == c]
        size = len(members)
        mine = _shares(liked_genres[liked_genres["cluster"] == c]["genre"])
        genre_lift = (mine / overall_genre.reindex(mine.index)).dropna()
        genre_lift = genre_lift[mine.reindex(genre_lift.index) >= 0.02]
        occupation_lift = (_shares(members["occupation"])
                           / overall_occupation.reindex(members["occupation"].unique()))
        occupation_lift = occupation_lift[members["occupation"].value_counts()
                                          .reindex(occupation_lift.index) >= 3]
        in_cluster = liked[liked["cluster"] == c].groupby("movie_id")["user_id"].nunique()
        supported = in_cluster[in_cluster >= min(min_support, max(size // 4, 1))]
        movie_lift = (supported / max(size, 1)) / overall_movie.reindex(supported.index)
        top_movies = (movie_lift * np.log1p(supported)).sort_values(ascending=False).head(top)
        cluster_scores = scores[scores["cluster"] == c]
        profile = {
            "cluster": c, "size": size, "share_of_users": round(size / max(len(people), 1), 3),
            "median_age": float(members["age"].median()),
            "female_share": round(float((members["gender"] == "F").mean()), 3) if size else 0.0,
            "top_occupations": {k: round(float(v), 3) for k, v in
                                _shares(members["occupation"]).head(top).items()},
            "occupations_over_represented": {
                k: round(float(v), 2) for k, v in
                occupation_lift.sort_values(ascending=False).head(top).items() if v > 1.0},
            "favourite_genres": {k: round(float(v), 2) for k, v in
                                 genre_lift.sort_values(ascending=False).head(top).items()},
            "top_movies": [{"movie_id": int(m), "title": str(titles.get(m, m)),
                            "lift": round(float(movie_lift[m]), 2)} for m in top_movies.index],
            "mean_rating": round(float(cluster_scores["rating"].mean()), 3)
            if len(cluster_scores) else None,
            "ratings_per_user": round(len(cluster_scores) / size, 1) if size else 0.0,
            "everyone": everyone,
        }
        profile["description"] = describe(profile)
        rows.append(profile)
    return pd.DataFrame(rows)


def describe(profile: dict[str, Any]) -> str:
    """A one-line description from a profile's strongest differences with everyone
    ("1.3x" means: as often as all users, times 1.3)."""
    everyone = profile.get("everyone") or {}
    parts: list[str] = []
    age, age_all = profile["median_age"], everyone.get("median_age")
    if age_all is not None and abs(age - age_all) >= 3:
        parts.append(f"{'younger' if age < age_all else 'older'} (median age {age:.0f} vs "
                     f"{age_all:.0f})")
    women, women_all = profile["female_share"], everyone.get("female_share")
    if women_all is not None and abs(women - women_all) >= 0.08:
        parts.append(f"{'more' if women > women_all else 'fewer'} women ({women:.0%} vs "
                     f"{women_all:.0%})")
    over = profile.get("occupations_over_represented") or {}
    if over:
        job, lift = next(iter(over.items()))
        if lift >= 1.3:
            parts.append(f"occupation '{job}' {lift:.1f}x as common")
    per_user, per_user_all = profile["ratings_per_user"], everyone.get("ratings_per_user")
    if per_user_all and abs(per_user / per_user_all - 1) >= 0.2:
        parts.append(f"{'more' if per_user > per_user_all else 'less'} active "
                     f"({per_user:.0f} vs {per_user_all:.0f} ratings each)")
    genres = [(g, lift) for g, lift in (profile["favourite_genres"] or {}).items() if lift > 1.05]
    if genres:
        named = " and ".join(g for g, _ in genres[:2])
        parts.append(f"like {named} {genres[0][1]:.1f}x as often as everyone")
    movie = profile["top_movies"][0]["title"] if profile["top_movies"] else None
    line = f"{profile['size']} users: " + ("; ".join(parts) if parts else
                                           "close to the average user")
    return line + (f"; signature pick: {movie}." if movie else ".")


def store(engine: Engine, clustering: Clustering, table: pd.DataFrame,
          model_version: str) -> None:
    """Replace cluster profiles and assignments in one transaction."""
    with engine.begin() as conn:
        conn.execute(delete(UserCluster))
        conn.execute(delete(Cluster))
        conn.execute(insert(Cluster), [
            {"id": int(row["cluster"]), "size": int(row["size"]),
             "description": str(row["description"])[:500],
             "profile": json.dumps({k: v for k, v in row.items()}, default=str),
             "model_version": model_version} for row in table.to_dict(orient="records")])
        conn.execute(insert(UserCluster), [
            {"user_id": int(u), "cluster_id": int(c),
             "distance": float(clustering.distances[u])}
            for u, c in clustering.assignments.items()])


def stored(session: Any) -> list[dict[str, Any]]:
    """The clusters in the database with their profiles, in id order."""
    from sqlalchemy import select

    return [{"id": c.id, "size": c.size, "description": c.description,
             "profile": json.loads(c.profile), "model_version": c.model_version}
            for c in session.execute(select(Cluster).order_by(Cluster.id)).scalars()]
