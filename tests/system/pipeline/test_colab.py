"""The notebooks' setup cell in Google Colab: its Colab branch run here, with stand-ins for
``google.colab`` and for pip (which records the request and installs with the real pip, without
dependencies, into a folder). A placeholder ``repo_url`` stops with one line saying what to set;
a folder holding the repository (an uploaded zip, Google Drive) installs the package; an
address pip cannot install from stops with one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from support import fresh_clone

from recsys.pipeline import runner as pipeline

pytestmark = pytest.mark.slow

#: pip's stand-in: it records its arguments, then runs the real pip (isolated from this
#: folder) without dependencies into a target folder.
FAKE_PIP = '''import json, os, subprocess, sys
args = sys.argv[1:]
with open(os.environ["RECSYS_TEST_PIP_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
done = subprocess.run([sys.executable, "-I", "-m", "pip", args[0], "--no-deps",
                       "--no-build-isolation", "--target", os.environ["RECSYS_TEST_PIP_DIR"],
                       *args[1:]])
sys.exit(done.returncode)
'''


def colab_branch() -> str:
    """The setup cell of the first notebook up to the package's first import: what runs
    before recsys exists (every notebook has the same cell)."""
    cell = nbformat.read(pipeline.DEFAULT_NOTEBOOKS_DIR / "01_ingestion.ipynb",
                         as_version=4).cells[2].source
    return cell[:cell.index("from recsys.pipeline import notebook")]


def run_in_colab(repo_url: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str],
                                                          list[list[str]]]:
    fakes = tmp_path / "fakes"
    (fakes / "google" / "colab").mkdir(parents=True, exist_ok=True)
    (fakes / "google" / "__init__.py").write_text("")
    (fakes / "google" / "colab" / "__init__.py").write_text("")
    (fakes / "pip").mkdir(exist_ok=True)
    (fakes / "pip" / "__init__.py").write_text("")
    (fakes / "pip" / "__main__.py").write_text(FAKE_PIP)
    log = tmp_path / "pip.log"
    log.unlink(missing_ok=True)
    script = f"import google.colab\nrepo_url = {repo_url!r}\n" + colab_branch()
    env = {**os.environ, "PYTHONPATH": str(fakes), "RECSYS_TEST_PIP_LOG": str(log),
           "RECSYS_TEST_PIP_DIR": str(tmp_path / "installed")}
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return done, calls


def test_the_placeholder_address_stops_with_one_line_saying_what_to_set(tmp_path: Path) -> None:
    done, calls = run_in_colab("https://github.com/your-org/recsys", tmp_path)
    assert done.returncode != 0 and calls == []
    last = done.stderr.strip().splitlines()[-1]
    assert "Set repo_url in the first code cell" in last and "/content/recsys" in last
    assert "Traceback" not in done.stderr


def test_a_folder_holding_the_repository_installs_the_package(tmp_path: Path) -> None:
    folder = fresh_clone(tmp_path / "recsys")  # as an unzipped upload of the repository
    done, calls = run_in_colab(str(folder), tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert calls == [["install", "-q", f"recsys[ml,api,notebooks] @ file://{folder}"]]
    installed = tmp_path / "installed" / "recsys"
    assert (installed / "__init__.py").is_file()
    assert (installed / "pipeline" / "notebook.py").is_file()
    assert not (installed / "testing").exists()


def test_an_address_pip_cannot_install_from_stops_with_one_line(tmp_path: Path) -> None:
    done, calls = run_in_colab(str(tmp_path / "no-such-folder"), tmp_path)
    assert done.returncode != 0 and len(calls) == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("\u26d4 pip could not install recsys from") and "repo_url" in last
