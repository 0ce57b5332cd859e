"""The newcomer's path: notebooks that stand alone on a fresh var folder, one-line stops, a quiet
console (one state after the pipeline, and serving from it: test_runner.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from support import NOTEBOOK_NAMES

from recsys import datasets
from recsys.pipeline import runner as pipeline
from recsys.testing.ports import free_port


def _run_alone(name: str, folder: Path, data_dir: Path, **parameters: object) -> Path:
    import papermill

    output = folder / f"{name}.ipynb"
    papermill.execute_notebook(str(pipeline.DEFAULT_NOTEBOOKS_DIR / f"{name}.ipynb"),
                               str(output), kernel_name="python3", progress_bar=False,
                               cwd=str(pipeline.DEFAULT_NOTEBOOKS_DIR),
                               extra_arguments=pipeline.KERNEL_ARGS,
                               parameters={"data_dir": str(data_dir),
                                           "var_dir": str(folder / "var"),
                                           "epochs": 3, "ensemble": 1, **parameters})
    return output


@pytest.mark.training
@pytest.mark.server
@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOK_NAMES)
def test_every_notebook_stands_alone_on_a_fresh_var_folder(name: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    datasets.save(datasets.synthetic(n_users=40, n_movies=50, ratings_per_user=12, seed=2),
                  data_dir)
    executed = nbformat.read(_run_alone(name, tmp_path, data_dir), as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors
    streams = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code"
                      for o in c.outputs if o.output_type == "stream")
    assert "Traceback" not in streams and "WARNING: All log messages" not in streams


@pytest.mark.server
@pytest.mark.slow
def test_a_notebook_that_cannot_go_on_stops_with_one_line(tmp_path: Path) -> None:
    import papermill

    port = free_port()  # nothing listens there
    with pytest.raises(papermill.PapermillExecutionError) as failed:
        _run_alone("02_entities", tmp_path, tmp_path / "data",
                   database_url=f"postgresql+psycopg2://nobody@127.0.0.1:{port}/none",
                   synthetic=True)
    assert failed.value.ename == "Stop"
    executed = nbformat.read(tmp_path / "02_entities.ipynb", as_version=4)
    error = next(o for c in executed.cells if c.cell_type == "code" for o in c.outputs
                 if o.output_type == "error")
    assert len(error.traceback) == 1 and "cannot connect" in error.traceback[0]


@pytest.mark.server
def test_the_pipeline_console_is_short_and_quiet(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "recsys.cli", "pipeline", "--synthetic", "--runs-dir",
         str(tmp_path / "runs"), "--notebooks", "01_ingestion,03_embeddings"],
        env={**os.environ, "RECSYS_VAR_DIR": str(tmp_path / "var")}, capture_output=True,
        text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert lines[0].startswith("Pipeline: 2 notebooks")
    assert any("01_ingestion" in line and "running" in line for line in lines)
    assert any("03_embeddings" in line and " ok " in line for line in lines)
    assert len(lines) <= 12, "\n".join(lines)
    assert not any(word in done.stdout + done.stderr
                   for word in ("WARNING", "Executing", "absl", "cuda", "Traceback"))
