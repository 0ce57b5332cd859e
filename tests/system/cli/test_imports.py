"""What each command imports (not how long it takes): a command pays only for the libraries
its work needs. `recsys --help` and argument errors import no third-party library but
python-dotenv; data and database commands import no TensorFlow, matplotlib, Flask or
papermill; serving a trained hybrid model (`predict`, `similar`, the API) imports no
TensorFlow: its factors are NumPy arrays."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from recsys import datasets

HEAVY = ("tensorflow", "keras", "matplotlib", "flask", "papermill", "sklearn", "scipy",
         "pandas", "sqlalchemy", "numpy", "opensearchpy", "faiss")


DATA_ONLY = {"tensorflow", "keras", "matplotlib", "flask", "papermill", "sklearn"}


PROBE = """
import json, sys
from recsys.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:  # argparse's --help and usage errors
    code = exc.code
heavy = sorted({m.split('.')[0] for m in sys.modules} & set(HEAVY))
print("IMPORTED " + json.dumps({"code": code, "heavy": heavy}))
"""


def imported(args: list[str], env: dict[str, str], code: int = 0) -> set[str]:
    """The heavy libraries a real run of ``recsys ARGS`` imported (it must exit with
    ``code``)."""
    probe = f"HEAVY = {HEAVY!r}\n{PROBE}"
    done = subprocess.run([sys.executable, "-c", probe, *args], env=env, capture_output=True,
                          text=True, timeout=300)
    lines = [line for line in done.stdout.splitlines() if line.startswith("IMPORTED ")]
    assert lines, done.stderr[-2000:]
    result = json.loads(lines[-1].removeprefix("IMPORTED "))
    assert (result["code"] or 0) == code, (args, done.stderr[-2000:])
    return set(result["heavy"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, api_data: datasets.Dataset,
          api_model: Any, api_model_root: Path) -> dict[str, str]:
    """A data folder, a var folder with the data ingested, the model saved and indexed."""
    root = tmp_path_factory.mktemp("cli-imports")
    datasets.save(api_data, root / "data")
    shutil.copytree(api_model_root, root / "var" / "model")
    env = {**os.environ, "RECSYS_DATA_DIR": str(root / "data"),
           "RECSYS_VAR_DIR": str(root / "var")}
    for name in ("RECSYS_DATABASE_URL", "RECSYS_VECTOR_BACKEND", "RECSYS_OPENSEARCH_URL"):
        env.pop(name, None)
    for step in (["ingest"], ["index"]):
        subprocess.run([sys.executable, "-m", "recsys.cli", *step], env=env, check=True,
                       capture_output=True, timeout=300)
    return env


def test_help_and_usage_errors_import_nothing_heavy(world: dict[str, str]) -> None:
    assert imported(["--help"], world) == set()
    assert imported(["ingest", "--help"], world) == set()
    assert imported(["trian"], world, code=2) == set()  # a usage error: nothing loaded


@pytest.mark.parametrize("args", [["ingest"], ["data", "validate"]], ids=" ".join)
def test_data_commands_import_no_model_plotting_or_api(world: dict[str, str],
                                                       args: list[str]) -> None:
    heavy = imported(args, world)
    assert heavy & DATA_ONLY == set(), heavy
    assert "pandas" in heavy  # the probe sees real work


@pytest.mark.parametrize("args", [["predict", "--top-n", "5"], ["similar", "7", "--k", "3"]],
                         ids=" ".join)
def test_serving_a_trained_model_imports_no_tensorflow(world: dict[str, str],
                                                       args: list[str]) -> None:
    heavy = imported(args, world)
    assert heavy & {"tensorflow", "keras", "matplotlib", "flask", "papermill"} == set(), heavy
    assert "numpy" in heavy


def test_the_api_answers_without_tensorflow_or_matplotlib(world: dict[str, str]) -> None:
    probe = ("import json, sys\nfrom recsys.api import create_app\napp = create_app()\n"
             "client = app.test_client()\n"
             "statuses = [client.get(p).status_code for p in ('/recommendations?user_id=3&k=5',"
             " '/similar_movies?movie_id=7&k=5', '/health')]\n"
             "app.extensions['recsys'].cache.stop()\n"
             "print('IMPORTED ' + json.dumps({'statuses': statuses, 'heavy': sorted("
             "{m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'matplotlib',"
             " 'papermill', 'sklearn'})}))\n")
    done = subprocess.run([sys.executable, "-c", probe], env=world, capture_output=True,
                          text=True, timeout=300)
    line = [x for x in done.stdout.splitlines() if x.startswith("IMPORTED ")]
    assert line, done.stderr[-2000:]
    result = json.loads(line[-1].removeprefix("IMPORTED "))
    assert result == {"statuses": [200, 200, 200], "heavy": []}
