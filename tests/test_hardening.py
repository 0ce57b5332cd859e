"""Hostile but realistic use: every fault found by fuzzing, load, killed processes, corrupt
artifacts and damaged files has a test here (issue 9), on SQLite and on the real PostgreSQL
the suite starts.

The schemathesis run over the whole OpenAPI document is in ``test_api_fuzz.py``; the
read-latency-under-writes target is a benchmark (``bench/api.py --writer``)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import REPO, free_pairs, serve_world, served
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select, text

from recsys import datasets, db
from recsys.api import create_app
from recsys.api.server import BackgroundServer
from recsys.db.schema import Score
from recsys.errors import DataError, IngestRefused, ModelError
from recsys.models import Recommender

HUGE = [2**31, 2**63, 2**64, 10**30]
ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def problem(response: Any, status: int) -> dict[str, Any]:
    """Assert a problem+json answer with ``status`` that names the problem."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == body["code"] == status
    assert body["detail"] and body["detail"] == body["message"]
    return body


# -- 1, 2: ids beyond the integer range, control characters ------------------------------------


@pytest.mark.parametrize("huge", HUGE)
def test_ids_beyond_the_database_range_are_client_errors(client: FlaskClient, huge: int) -> None:
    for url in (f"/movies/{huge}", f"/scores/{huge}", f"/users/{huge}"):
        assert "does not exist" in problem(client.get(url), 404)["detail"]
    for url in (f"/recommendations?user_id={huge}&k=5", f"/similar_movies?movie_id={huge}"):
        body = problem(client.get(url), 400)
        assert set(body["errors"]["query"]) & {"user_id", "movie_id"}
    posted = client.post("/scores", json={"user_id": huge, "movie_id": 1, "rating": 3})
    assert "user_id" in problem(posted, 400)["errors"]["json"]


@pytest.mark.parametrize("query", ["title=%00", "genre=%00", "title=a%01b", "genre=Drama%1f"])
def test_control_characters_are_refused(client: FlaskClient, query: str) -> None:
    body = problem(client.get(f"/movies?{query}"), 400)
    assert "control characters" in json.dumps(body["errors"])


# -- 3, 4: one time rule; date-times with offsets ----------------------------------------------


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00",
                                  "1989-12-31T23:59:59+00:00", "2999-01-01T00:00:00"])
def test_out_of_range_instants_are_refused_before_the_database(
        client: FlaskClient, loaded: Engine, when: str) -> None:
    before = db.table_counts(loaded)["scores"]
    body = problem(client.post("/scores", json={"user_id": 4, "movie_id": 1, "rating": 4,
                                                "rated_at": when}), 400)
    assert "rated_at" in body["errors"]["json"]
    assert db.table_counts(loaded)["scores"] == before
    assert client.get("/scores/4").status_code == 200


def test_offsets_are_converted_to_utc_and_returned_with_an_offset(
        client: FlaskClient, api_data: datasets.Dataset) -> None:
    (user, movie), (user2, movie2) = free_pairs(api_data, 2)
    odd = client.post("/scores", json={"user_id": user, "movie_id": movie, "rating": 4,
                                       "rated_at": "2000-01-01T00:00:00+16:19"})
    assert odd.status_code == 201, odd.get_data(as_text=True)
    assert odd.get_json()["rated_at"] == "1999-12-31T07:41:00+00:00"
    naive = client.post("/scores", json={"user_id": user2, "movie_id": movie2, "rating": 2,
                                         "rated_at": "2001-02-03T04:05:06"})
    assert naive.get_json()["rated_at"] == "2001-02-03T04:05:06+00:00"  # naive is UTC
    listed = client.get(f"/scores/{user}").get_json()["scores"]
    assert any(s["rated_at"] == "1999-12-31T07:41:00+00:00" for s in listed)
    assert all(ISO_WITH_OFFSET.match(s["rated_at"]) for s in listed)
    assert ISO_WITH_OFFSET.match(client.get(f"/users/{user}").get_json()["active_since"])


def test_the_database_stores_utc(loaded: Engine, client: FlaskClient,
                                 api_data: datasets.Dataset) -> None:
    ((user, movie),) = free_pairs(api_data, 1)
    client.post("/scores", json={"user_id": user, "movie_id": movie, "rating": 5,
                                 "rated_at": "1998-06-01T12:00:00-03:00"})
    with loaded.connect() as conn:
        stored = conn.execute(select(Score.rated_at).where(
            Score.user_id == user, Score.movie_id == movie)).scalar_one()
    assert pd.Timestamp(stored) == pd.Timestamp("1998-06-01 15:00:00")


# -- 5: every 4xx is JSON naming the problem ---------------------------------------------------


def test_oversized_and_mistyped_requests_are_json(client: FlaskClient) -> None:
    assert "query string" in problem(client.get("/movies?title=" + "a" * 100_000),
                                     414)["detail"]
    assert "headers" in problem(client.get("/ping", headers={"X-Big": "a" * 100_000}),
                                431)["detail"]
    assert "Content-Type" in problem(client.post("/scores", data="x",
                                                 content_type="text/plain"), 415)["detail"]
    problem(client.post("/scores", data={"user_id": "1"}), 415)
    big = json.dumps({"user_id": 1, "movie_id": 1, "rating": 3, "pad": "x" * 200_000})
    assert "larger than" in problem(client.post("/scores", data=big,
                                                content_type="application/json"),
                                    413)["detail"]
    problem(client.get("/no/such/path"), 404)
    not_allowed = client.delete("/scores")
    problem(not_allowed, 405)
    assert "POST" in not_allowed.headers["Allow"]


def test_k_defaults_to_ten_and_invalid_k_is_still_400(client: FlaskClient) -> None:
    body = client.get("/recommendations?user_id=4").get_json()
    assert body["k"] == 10 and len(body["recommendations"]) == 10
    assert "k" in problem(client.get("/recommendations?user_id=4&k=0"), 400)["errors"]["query"]


# -- 6: concurrent writers -------------------------------------------------------------------


def _post(url: str, body: dict[str, Any]) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_concurrent_new_ratings_all_succeed(app: Flask, loaded: Engine,
                                            api_data: datasets.Dataset) -> None:
    pairs = free_pairs(api_data, 600)
    before = db.table_counts(loaded)["scores"]
    statuses: list[int] = []
    lock = threading.Lock()
    with BackgroundServer(app, threads=8) as server:
        def worker(chunk: list[tuple[int, int]]) -> None:
            for user, movie in chunk:
                status = _post(server.url + "/scores",
                               {"user_id": user, "movie_id": movie, "rating": 3})
                with lock:
                    statuses.append(status)
        threads = [threading.Thread(target=worker, args=(pairs[i::8],)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert statuses.count(201) == 600, {s: statuses.count(s) for s in set(statuses)}
    assert db.table_counts(loaded)["scores"] == before + 600


def test_the_same_rating_twice_at_once_is_one_201_and_one_409(
        app: Flask, api_data: datasets.Dataset) -> None:
    pairs = free_pairs(api_data, 20)
    with BackgroundServer(app, threads=8) as server:
        for user, movie in pairs:
            barrier = threading.Barrier(2)
            out: list[int] = []

            def race() -> None:
                barrier.wait()
                out.append(_post(server.url + "/scores",
                                 {"user_id": user, "movie_id": movie, "rating": 4}))
            threads = [threading.Thread(target=race) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sorted(out) == [201, 409], (user, movie, out)


def test_entities_take_ids_from_the_database(loaded: Engine) -> None:
    from recsys.entities import Entities

    with db.session_scope(loaded) as session:
        e = Entities(session)
        first = e.persons.add("Ada Lovelace", 1915, "F", "T8H1N")
        explicit = e.persons.add("Alan Turing", 1912, "M", "12345", id=first + 50)
        after = e.persons.add("Grace Hopper", 1906, "F", "10001")
        movie = e.movies.add("A new film", "1999-01-01", genres=["Drama"])
    assert explicit == first + 50 and after > explicit  # the sequence moved past it
    assert movie > 0


# -- 7: the read model refreshes incrementally ---------------------------------------------------


def test_ratings_from_elsewhere_are_applied_incrementally(app: Flask, loaded: Engine) -> None:
    cache = app.extensions["recsys"].cache
    cache.stop()
    snapshot = cache.snapshot
    movie = next(iter(snapshot.movies))
    before = snapshot.movies[movie].ratings
    user = next(u for u in sorted(snapshot.users) if movie not in snapshot.rated.get(u, ()))
    with loaded.begin() as conn:
        conn.execute(Score.__table__.insert().values(
            user_id=user, movie_id=movie, rating=5,
            rated_at=pd.Timestamp("1998-05-01").to_pydatetime()))
    assert cache.refresh() is True
    assert cache.snapshot is snapshot  # applied in place, not reloaded
    assert snapshot.movies[movie].ratings == before + 1
    assert movie in snapshot.rated[user]
    assert cache.refresh() is False  # nothing new


# -- 8: a corrupt model artifact ---------------------------------------------------------------


def _damage(version_dir: Path, how: str) -> None:
    meta = version_dir / "meta.json"
    if how == "garbage meta":
        meta.write_text("{not json")
    elif how == "empty meta":
        meta.write_text("")
    elif how == "missing key":
        state = json.loads(meta.read_text())
        del state["encoder"]
        meta.write_text(json.dumps(state))
    elif how == "truncated arrays":
        arrays = version_dir / "arrays.npz"
        arrays.write_bytes(arrays.read_bytes()[:200])


@pytest.mark.parametrize("how", ["garbage meta", "empty meta", "missing key",
                                 "truncated arrays"])
def test_a_corrupt_model_is_a_model_error_and_the_api_still_serves(
        how: str, loaded: Engine, api_data: datasets.Dataset, api_model: Recommender,
        tmp_path: Path) -> None:
    world = serve_world(loaded, api_data, api_model, tmp_path)
    model_dir = world["settings"].model_dir
    api_model.save(model_dir)
    _damage(model_dir / api_model.version, how)
    with pytest.raises(ModelError):
        Recommender.load(model_dir)
    with loaded.begin() as conn:  # one user with nothing stored: needs the model
        conn.execute(text("DELETE FROM predictions WHERE user_id = 6"))
    app = create_app(world["settings"], engine=loaded, store=world["store"])
    app.extensions["recsys"].cache.stop()
    client = app.test_client()
    health = client.get("/health")
    assert health.status_code == 503
    error = health.get_json()["model"]["error"]
    assert "recsys train" in error and str(tmp_path) not in error
    assert "recsys train" in problem(client.get("/recommendations?user_id=6&k=3"),
                                     503)["detail"]
    assert client.get("/recommendations?user_id=4&k=3").status_code == 200  # stored
    assert client.get("/movies/1").status_code == 200
    assert app.extensions["recsys"].cache.refresh() in (True, False)  # the tick survives


# -- 9: damaged CSVs ----------------------------------------------------------------------------


def _write(tmp_path: Path, data: datasets.Dataset) -> Path:
    folder = tmp_path / "csv"
    datasets.save(data, folder)
    return folder


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")


def test_damaged_lines_are_reported_with_their_number_and_good_rows_kept(
        tmp_path: Path, synthetic: datasets.Dataset) -> None:
    folder = _write(tmp_path, synthetic)
    path = folder / "scores.csv"
    lines = _lines(path)
    lines[2] += b",extra"                         # line 3: too many fields
    lines[3] = lines[3].replace(b",", b',"', 1)  # line 4: unclosed quote
    lines[4] = lines[4][:-2] + b"\xff\xfe"         # line 5: not UTF-8
    lines[5] = lines[5].split(b",", 1)[0]          # line 6: too few fields
    path.write_bytes(b"\n".join(lines))
    result = datasets.load(folder)
    report = result.report.set_index("line")
    assert "6 fields, expected 5" in report.loc[3, "reason"]
    assert "unclosed quote" in report.loc[4, "reason"]
    assert "not valid UTF-8" in report.loc[5, "reason"] and "0xff" in report.loc[5, "reason"]
    assert "1 fields, expected 5" in report.loc[6, "reason"]
    assert len(result.dataset.scores) == len(synthetic.scores) - 4
    summary = result.summary.set_index("table").loc["scores"]
    assert summary["rows_read"] == len(synthetic.scores) and summary["rejected"] == 4


def test_latin1_file_keeps_its_ascii_rows(tmp_path: Path, synthetic: datasets.Dataset) -> None:
    data = datasets.Dataset(**synthetic.tables())
    data.movies = synthetic.movies.assign(title=synthetic.movies["title"].where(
        synthetic.movies["id"] != 3, "Amélie (2001)"))
    folder = _write(tmp_path, data)
    path = folder / "peliculas.csv"
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))
    result = datasets.load(folder)
    assert 3 not in set(result.dataset.movies["id"])
    assert len(result.dataset.movies) == len(synthetic.movies) - 1
    bad = result.report[result.report["table"] == "movies"]
    assert bad["reason"].str.contains("UTF-8").any() and (bad["line"] == 4).any()


@pytest.mark.parametrize("value,reason", [("1180591620717411303424", "must be between"),
                                          ("196.0", "is not an integer"),
                                          ("1e3", "is not an integer")])
def test_user_ids_that_are_not_integers_in_range_are_rejected(
        tmp_path: Path, synthetic: datasets.Dataset, value: str, reason: str) -> None:
    folder = _write(tmp_path, synthetic)
    path = folder / "scores.csv"
    lines = _lines(path)
    fields = lines[1].split(b",")
    fields[1] = value.encode()
    lines[1] = b",".join(fields)
    path.write_bytes(b"\n".join(lines))
    result = datasets.load(folder)
    row = result.report[(result.report["line"] == 2) & (result.report["field"] == "user_id")]
    assert row["reason"].str.contains(reason).all() and len(row) == 1


def test_non_integer_ratings_are_rejected(tmp_path: Path, synthetic: datasets.Dataset) -> None:
    data = datasets.Dataset(**synthetic.tables())
    folder = _write(tmp_path, data)
    path = folder / "scores.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[0, "rating"] = "3.0"
    frame.to_csv(path, index=False)
    report = datasets.load(folder).report
    assert ((report["line"] == 2) & (report["field"] == "rating")
            & report["reason"].str.contains("not an integer")).any()


def test_an_empty_file_is_named(tmp_path: Path, synthetic: datasets.Dataset) -> None:
    folder = _write(tmp_path, synthetic)
    (folder / "scores.csv").write_bytes(b"")
    with pytest.raises(DataError, match=r"scores\.csv is empty"):
        datasets.load(folder)


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recsys.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300, cwd=REPO)


def _env(tmp_path: Path, data_dir: Path, url: str) -> dict[str, str]:
    return {"RECSYS_DATA_DIR": str(data_dir), "RECSYS_VAR_DIR": str(tmp_path / "var"),
            "RECSYS_DATABASE_URL": url, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def test_cli_errors_are_one_line(tmp_path: Path, synthetic: datasets.Dataset) -> None:
    folder = _write(tmp_path, synthetic)
    (folder / "scores.csv").write_bytes(b"")
    done = _cli("ingest", env=_env(tmp_path, folder, f"sqlite:///{tmp_path / 'x.db'}"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "scores.csv is empty" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    folder = _write(tmp_path, synthetic)
    path = folder / "scores.csv"
    lines = _lines(path)
    lines[1] = lines[1].replace(b",", b",1180591620717411303424,", 1)
    path.write_bytes(b"\n".join(lines))
    done = _cli("data", "validate", env=_env(tmp_path, folder, "sqlite://"))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


def test_a_header_only_file_never_empties_the_database(
        loaded: Engine, tmp_path: Path, synthetic: datasets.Dataset) -> None:
    folder = _write(tmp_path, synthetic)
    persons = folder / "personas.csv"
    persons.write_bytes(_lines(persons)[0] + b"\n")
    before = db.table_counts(loaded)
    url = loaded.url.render_as_string(hide_password=False)
    for flags in ((), ("--replace",)):
        done = _cli("ingest", *flags, env=_env(tmp_path, folder, url))
        assert done.returncode == 2, done.stdout + done.stderr
        assert "personas.csv" in done.stderr and "nothing changed" in done.stderr
        assert db.table_counts(loaded) == before


# -- 10: ingest merges; replacing is explicit and guarded ----------------------------------------


def test_ingest_keeps_ratings_posted_since(client: FlaskClient, loaded: Engine,
                                           api_data: datasets.Dataset) -> None:
    pairs = free_pairs(api_data, 5)
    for user, movie in pairs:
        assert client.post("/scores", json={"user_id": user, "movie_id": movie,
                                            "rating": 4}).status_code == 201
    edited = datasets.Dataset(**api_data.tables())
    edited.scores = api_data.scores.assign(rating=api_data.scores["rating"].where(
        api_data.scores.index != 0, 6 - api_data.scores["rating"].iloc[0]))
    report = db.ingest(edited, loaded)
    scores = report.changes["scores"]
    assert (scores.inserted, scores.updated, scores.kept) == (0, 1, 5)
    assert scores.after == len(api_data.scores) + 5
    with loaded.connect() as conn:
        found = conn.execute(select(func.count()).select_from(Score).where(
            Score.rating == 4, Score.user_id.in_([u for u, _ in pairs]),
            Score.movie_id.in_([m for _, m in pairs]))).scalar_one()
    assert found >= 5


def test_replace_is_explicit_and_refuses_to_halve_a_table(loaded: Engine,
                                                          synthetic: datasets.Dataset) -> None:
    smaller = datasets.Dataset(**synthetic.tables())
    smaller.scores = synthetic.scores.iloc[: len(synthetic.scores) // 3]
    before = db.table_counts(loaded)
    with pytest.raises(IngestRefused, match="scores from"):
        db.ingest(smaller, loaded, replace=True)
    assert db.table_counts(loaded) == before
    report = db.ingest(smaller, loaded, replace=True, force=True)
    assert report.counts["scores"] == len(smaller.scores)
    assert db.ingest(synthetic, loaded).changes["scores"].inserted == (
        len(synthetic.scores) - len(smaller.scores))


# -- 11: ingest against a running API ------------------------------------------------------------


@pytest.mark.postgres
def test_ingest_beside_a_busy_api_never_deadlocks(postgres_url: str, tmp_path: Path,
                                                  api_data: datasets.Dataset,
                                                  api_model: Recommender) -> None:
    engine = db.make_engine(postgres_url)
    from recsys.db.schema import Base

    Base.metadata.drop_all(engine)
    world = serve_world(engine, api_data, api_model, tmp_path)
    app = create_app(**world)
    cache = app.extensions["recsys"].cache
    cache.refresh_seconds = 0.05
    stop = threading.Event()
    failures: list[str] = []

    def hammer() -> None:
        client = app.test_client()
        while not stop.is_set():
            for url in ("/recommendations?user_id=4&k=5", "/movies/3", "/scores/4",
                        "/users/4"):
                status = client.get(url).status_code
                if status >= 500 and status != 503:
                    failures.append(f"{url}: {status}")
            cache.refresh()

    readers = [threading.Thread(target=hammer) for _ in range(3)]
    for t in readers:
        t.start()
    try:
        for i in range(6):
            report = db.ingest(api_data, engine, replace=bool(i % 2), force=True)
            assert report.counts["scores"] == len(api_data.scores)
    finally:
        stop.set()
        for t in readers:
            t.join()
        cache.stop()
        engine.dispose()
    assert not failures


# -- 12, 13: one-line connection errors; nothing private in public answers -----------------------


@pytest.mark.postgres
def test_a_wrong_postgres_role_is_one_line(postgres_url: str, tmp_path: Path,
                                           synthetic: datasets.Dataset) -> None:
    folder = _write(tmp_path, synthetic)
    wrong = postgres_url.replace("recsys@", "nobody:secret@")
    done = _cli("ingest", env=_env(tmp_path, folder, wrong))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert 'role "nobody" does not exist' in lines[0] and "***" in lines[0]
    assert "secret" not in done.stderr


def test_public_answers_hide_paths_and_exception_names(client: FlaskClient, app: Flask,
                                                      tmp_path: Path) -> None:
    health = client.get("/health").get_data(as_text=True)
    assert str(tmp_path) not in health and "Error" not in health

    class Down:
        def ping(self) -> bool:
            return False

        def exists(self, name: str) -> bool:
            return False

        def version(self) -> Any:
            return ("down",)

        def problem(self) -> str:
            return "OpenSearch unreachable"

        def get(self, *args: Any, **kwargs: Any) -> Any:
            from recsys.vectors.base import VectorStoreUnavailable

            raise VectorStoreUnavailable("OpenSearch unreachable: ConnectionError(secret)")

    app.extensions["recsys"].store = Down()
    body = problem(client.get("/similar_movies?movie_id=3&k=3&kind=content"), 503)
    assert "secret" not in json.dumps(body) and "ConnectionError" not in json.dumps(body)


def test_compose_publishes_ports_on_loopback_only() -> None:
    import yaml

    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith(("127.0.0.1:", "${RECSYS_BIND:-127.0.0.1}:")), (
                name, port)


def test_gunicorn_shares_one_read_model_and_answers_its_errors_as_json(
        api_data: datasets.Dataset, api_model: Recommender, tmp_path: Path) -> None:
    loaded = db.make_engine(f"sqlite:///{tmp_path / 'api.db'}")  # the framing is the server's
    world = serve_world(loaded, api_data, api_model, tmp_path)
    settings = world["settings"]
    api_model.save(settings.model_dir)
    env = {**_env(tmp_path, tmp_path, str(loaded.url)), "RECSYS_VAR_DIR": str(tmp_path)}
    console = tmp_path / "serve.log"
    with served(REPO, env, workers=2, log=console) as base:
        for url, headers, status in ((base + "/movies?title=" + "a" * 100_000, {}, 414),
                                     (base + "/ping", {"X-Big": "b" * 100_000}, 431)):
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10)
            assert caught.value.code == status
            assert caught.value.headers["Content-Type"] == "application/problem+json"
            assert json.loads(caught.value.read())["status"] == status
        for _ in range(2):  # both workers answer from the read model
            with urllib.request.urlopen(base + "/recommendations?user_id=1&k=3") as answer:
                assert answer.status == 200
    # the master read the ratings once; the workers started from its copy, not reading again
    lines = console.read_text().splitlines()
    assert sum("read model loaded for the workers" in line for line in lines) == 1, lines
    assert not [line for line in lines if "read model loaded:" in line], lines
