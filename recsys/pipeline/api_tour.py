"""Notebook 07's tour of the API: every endpoint called for real through a running server, the
statuses kept, the error cases shown as a table, a rating written by a scratch user and
removed afterwards. The notebook only calls these (no logic of its own); a failed check
stops it with one line (:class:`~recsys.pipeline.notebook.Stop`)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from recsys.config import Settings
from recsys.pipeline.notebook import Stop

#: The requests of the error table: a missing, a mistyped and an out-of-range parameter,
#: unknown ids.
BAD_REQUESTS = ("/recommendations?k=5", "/recommendations?user_id=1&k=abc",
                "/recommendations?user_id=1&k=0", "/recommendations?user_id=999999&k=5",
                "/movies/999999", "/similar_movies?movie_id=999999&k=5")


@dataclass
class Answer:
    """An API answer: status code and parsed JSON body, shown as both."""

    status: int
    body: Any

    def __iter__(self) -> Any:  # ``status, body = call(...)`` keeps working
        return iter((self.status, self.body))

    def _repr_markdown_(self) -> str:
        text = json.dumps(self.body, indent=2, ensure_ascii=False)
        if len(text) > 4000:
            text = text[:4000] + "\n... (cut)"
        return f"**HTTP {self.status}**\n```json\n{text}\n```"

    def __repr__(self) -> str:
        return f"HTTP {self.status}\n{json.dumps(self.body, indent=2, ensure_ascii=False)}"


def call(url: str, method: str = "GET", body: dict[str, Any] | None = None,
         timeout: float = 30.0) -> Answer:
    """One HTTP request to the API: status and parsed JSON body, error statuses included."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(response.status, json.loads(response.read() or b"null"))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, json.loads(exc.read() or b"null"))


@dataclass
class Tour:
    """Calls to the API at ``base``, each kept under a name with its status."""

    base: str
    statuses: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    def get(self, name: str, path: str) -> Answer:
        """``GET path``, its status kept as ``name``."""
        answer = call(self.base + path)
        self.statuses[name] = answer.status
        return answer

    def first_scores(self, user_id: int, shown: int = 3) -> Answer:
        """A user's ratings: how many, and the first ``shown``."""
        answer = self.get("scores", f"/scores/{user_id}")
        return Answer(answer.status, {"count": answer.body["count"],
                                      f"first {shown}": answer.body["scores"][:shown]})

    def cluster_descriptions(self) -> pd.DataFrame:
        """Every cluster's one-line description, as a table."""
        answer = self.get("clusters", "/clusters")
        # no clusters stored yet (06_kmeans not run): an empty table with the same columns
        return pd.DataFrame(answer.body["clusters"], columns=["id", "size", "description"])

    def rate_the_first_recommendation(self, user_id: int, rating: int = 5) -> Answer:
        """Post ``rating`` for the first movie recommended to ``user_id``; stop unless it is
        stored (201) and gone from the user's list at once."""
        path = f"/recommendations?user_id={user_id}&k=5"
        first = call(self.base + path).body["recommendations"][0]["movie_id"]
        answer = call(self.base + "/scores", "POST",
                      {"user_id": user_id, "movie_id": first, "rating": rating})
        self.statuses["post_score"] = answer.status
        after = {r["movie_id"] for r in call(self.base + path).body["recommendations"]}
        if answer.status != 201 or first in after:
            raise Stop(f"posting a rating of movie {first} answered {answer.status} and the "
                       f"movie {'is still' if first in after else 'left'} the list: {answer}")
        return answer

    def bad_requests(self, paths: tuple[str, ...] = BAD_REQUESTS) -> pd.DataFrame:
        """Each bad request's status and detail; stop if any is not a 400 or a 404."""
        rows = []
        for path in paths:
            answer = call(self.base + path)
            self.errors[path] = answer.status
            rows.append({"request": path, "status": answer.status,
                         "detail": answer.body.get("detail")})
        table = pd.DataFrame(rows)
        wrong = table[~table["status"].isin((400, 404))]
        if len(wrong):
            raise Stop(f"bad requests not answered 400 or 404: {wrong.to_dict('records')}")
        return table

    def summary(self) -> pd.DataFrame:
        """Every call's status; stop if any is not a 200 or a 201."""
        table = pd.DataFrame({"call": list(self.statuses),
                              "status": list(self.statuses.values())})
        failed = table[~table["status"].isin((200, 201))]
        if len(failed):
            raise Stop(f"calls that failed: {failed.to_dict('records')}")
        return table


def scratch_user(settings: Settings) -> int:
    """A throwaway user (and person) to write through the API without touching real users;
    remove it with :func:`remove_scratch_user`."""
    from recsys import db
    from recsys.entities import Entities

    engine = db.make_engine(settings.database_url)
    try:
        with db.session_scope(engine) as session:
            entities = Entities(session)
            person = entities.persons.add("Notebook Scratch User", 1990, "F", "00000")
            entities.users.add(id=person, occupation="other")
    finally:
        engine.dispose()
    return person


def remove_scratch_user(settings: Settings, user_id: int) -> None:
    """Delete the scratch user, its person and everything it wrote."""
    from recsys import db
    from recsys.entities import Entities

    engine = db.make_engine(settings.database_url)
    try:
        with db.session_scope(engine) as session:
            entities = Entities(session)
            person = {k: v for k, v in entities.persons.get(user_id).items() if k != "id"}
            entities.persons.remove(user_id, cascade=True, **person)
    finally:
        engine.dispose()
