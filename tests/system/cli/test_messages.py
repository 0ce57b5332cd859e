"""What the command line says when it cannot go on: one line naming the problem and what to do,
never a traceback; help at once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import cli_env, file_lines, run_cli, write_csvs

from recsys import datasets
from recsys.api import create_app


def test_cli_errors_are_one_line(tmp_path: Path, synthetic: datasets.Dataset) -> None:
    folder = write_csvs(tmp_path, synthetic)
    (folder / "scores.csv").write_bytes(b"")
    done = run_cli("ingest", env=cli_env(tmp_path, folder, f"sqlite:///{tmp_path / 'x.db'}"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "scores.csv is empty" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    folder = write_csvs(tmp_path, synthetic)
    path = folder / "scores.csv"
    lines = file_lines(path)
    lines[1] = lines[1].replace(b",", b",1180591620717411303424,", 1)
    path.write_bytes(b"\n".join(lines))
    done = run_cli("data", "validate", env=cli_env(tmp_path, folder, "sqlite://"))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.postgres
def test_a_wrong_postgres_role_is_one_line(postgres_url: str, tmp_path: Path,
                                           synthetic: datasets.Dataset) -> None:
    folder = write_csvs(tmp_path, synthetic)
    wrong = postgres_url.replace("recsys@", "nobody:secret@")
    done = run_cli("ingest", env=cli_env(tmp_path, folder, wrong))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert 'role "nobody" does not exist' in lines[0] and "***" in lines[0]
    assert "secret" not in done.stderr


def test_an_empty_database_says_to_run_ingest(tmp_path: Path) -> None:
    from recsys.config import Settings

    settings = Settings(data_dir=tmp_path, var_dir=tmp_path,
                        database_url=f"sqlite:///{tmp_path / 'empty.db'}")
    app = create_app(settings)
    app.extensions["recsys"].cache.stop()
    client = app.test_client()
    health = client.get("/health")
    assert health.status_code == 503
    assert "recsys ingest" in health.get_json()["database"]["error"]
    answer = client.get("/movies/1")
    assert answer.status_code == 503 and "recsys ingest" in answer.get_json()["detail"]


def test_help_and_argument_errors_are_fast_and_helpful() -> None:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", "import sys; from recsys.cli import main; "
                           "sys.exit(main(['--help']))"], capture_output=True, text=True)
    assert done.returncode == 0 and "pipeline" in done.stdout
    loaded = subprocess.run([sys.executable, "-c", "import sys, recsys.cli; "
                             "print(sorted(m for m in sys.modules if m.split('.')[0] in "
                             "('pandas', 'sqlalchemy', 'matplotlib', 'tensorflow', 'numpy')))"],
                            capture_output=True, text=True)
    assert loaded.stdout.strip() == "[]", "heavy libraries imported before parsing"
    typo = subprocess.run([sys.executable, "-m", "recsys.cli", "ingset"], capture_output=True,
                          text=True)
    assert typo.returncode == 2 and "did you mean 'ingest'" in typo.stderr
    assert time.perf_counter() - start < 30  # generous: a sanity bound, not a benchmark


def test_similar_says_what_is_missing(tmp_path: Path, synthetic: datasets.Dataset) -> None:
    data_dir = tmp_path / "data"
    datasets.save(synthetic, data_dir)
    env = {**os.environ, "RECSYS_DATA_DIR": str(data_dir),
           "RECSYS_VAR_DIR": str(tmp_path / "var")}
    env.pop("RECSYS_DATABASE_URL", None)
    for step in (["ingest"], ["index"]):
        assert subprocess.run([sys.executable, "-m", "recsys.cli", *step], env=env,
                              capture_output=True).returncode == 0
    learned = subprocess.run([sys.executable, "-m", "recsys.cli", "similar", "5"], env=env,
                             capture_output=True, text=True)
    assert learned.returncode == 2
    assert "recsys train" in learned.stderr and "--kind content" in learned.stderr
    content = subprocess.run([sys.executable, "-m", "recsys.cli", "similar", "5", "--kind",
                              "content"], env=env, capture_output=True, text=True)
    title = synthetic.movies.set_index("id").loc[5, "title"]
    assert content.returncode == 0 and f"similar to {title} (movie 5)" in content.stdout
