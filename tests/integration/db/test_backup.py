"""The net under ``recsys ingest --replace`` (issue "Reliability, round 3" #9), on SQLite and
PostgreSQL: it says what it will delete for good, refuses without a yes when no one can
answer, keeps a copy that ``ingest --replace --data-dir COPY`` restores, keeps only the newest
copies; and /health says so when a table it serves from is empty."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, delete, func, select

from recsys import datasets
from recsys.db import backup
from recsys.db.schema import Prediction, Score

REPO = Path(__file__).resolve().parents[3]


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recsys.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300, cwd=REPO,
                          stdin=subprocess.DEVNULL)


def _add_rows_only_the_database_has(engine: Engine, data: datasets.Dataset) -> int:
    """Three ratings posted since the CSVs were written, and two stored predictions."""
    rated = set(zip(data.scores["user_id"], data.scores["movie_id"]))
    pairs = [(int(u), int(m)) for u in data.users["id"] for m in data.movies["id"]
             if (u, m) not in rated][:3]
    with engine.begin() as conn:
        for user, movie in pairs:
            conn.execute(Score.__table__.insert().values(
                user_id=user, movie_id=movie, rating=5,
                rated_at=pd.Timestamp("2001-01-01").to_pydatetime()))
        for rank, (user, movie) in enumerate(pairs[:2], start=1):
            conn.execute(Prediction.__table__.insert().values(
                user_id=user, movie_id=movie, predicted_rating=4.5, rank=rank, score=0.9,
                model_version="v"))
    return len(pairs)


def _scores(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Score)).scalar_one())


def test_replace_says_what_it_deletes_asks_and_keeps_a_copy_to_restore(
        loaded: Engine, synthetic: datasets.Dataset, tmp_path: Path) -> None:
    posted = _add_rows_only_the_database_has(loaded, synthetic)
    assert backup.replace_losses(loaded, synthetic) == {"scores": posted, "predictions": 2}
    csvs = tmp_path / "csv"
    datasets.save(synthetic, csvs)
    env = {"RECSYS_DATA_DIR": str(csvs), "RECSYS_VAR_DIR": str(tmp_path / "var"),
           "RECSYS_DATABASE_URL": loaded.url.render_as_string(hide_password=False),
           "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    before = _scores(loaded)

    refused = _cli("ingest", "--replace", env=env)  # no terminal to ask, no --yes
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert (f"will delete {posted} ratings the CSVs do not have" in refused.stdout
            and "2 stored predictions" in refused.stdout)
    assert "--yes" in refused.stderr and "nothing changed" in refused.stderr
    assert _scores(loaded) == before and not (tmp_path / "var" / "backups").exists()

    done = _cli("ingest", "--replace", "--yes", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _scores(loaded) == before - posted
    copies = list((tmp_path / "var" / "backups").iterdir())
    assert len(copies) == 1 and copies[0].name.endswith("-before-replace")
    assert str(copies[0]) in done.stdout
    assert len(pd.read_csv(copies[0] / "predictions.csv")) == 2

    restored = _cli("ingest", "--replace", "--yes", "--data-dir", str(copies[0]), env=env)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert _scores(loaded) == before  # the posted ratings are back


def test_backups_beyond_the_newest_are_pruned(loaded: Engine, tmp_path: Path) -> None:
    root = tmp_path / "backups"
    made = [backup.backup(loaded, root, keep=2) for _ in range(3)]
    assert sorted(p.name for p in root.iterdir()) == [p.name for p in made[1:]]
    assert (made[2] / "scores.csv").is_file() and (made[2] / "personas.csv").is_file()


def test_health_checks_every_table_it_serves_from(client: object, loaded: Engine) -> None:
    with loaded.begin() as conn:
        conn.execute(delete(Prediction))
    body = client.get("/health").get_json()  # type: ignore[attr-defined]
    assert body["status"] == "ok" and body["database"]["empty"] == ["predictions"]
    with loaded.begin() as conn:
        conn.execute(delete(Score))
    answer = client.get("/health")  # type: ignore[attr-defined]
    body = answer.get_json()
    assert answer.status_code == 503 and body["database"]["status"] == "down"
    assert "no scores" in body["database"]["error"]
