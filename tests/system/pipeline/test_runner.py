"""``recsys pipeline`` (recsys/pipeline/runner.py): every notebook on synthetic data, one state
left in var/ and served from the root, the executed notebooks as a student sees them (nbconvert
and headless Chromium: a failed, traceback-printing or empty page fails, the screenshots stay in
the run folder to be looked at), a failure named with its cell, no password in the run folder.
The tests that read the one synthetic run (``synthetic_pipeline``) share this file, so a
parallel test run builds it once."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbconvert import HTMLExporter
from PIL import Image
from support import served

from recsys.pipeline import runner as pipeline
from recsys.testing import browser


@pytest.mark.training
@pytest.mark.server
def test_pipeline_runs_every_notebook_on_synthetic_data(
        synthetic_pipeline: dict[str, Any]) -> None:
    done = synthetic_pipeline["done"]
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = next(synthetic_pipeline["runs"].iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [s["notebook"] for s in summary["steps"]] == list(pipeline.NOTEBOOKS)
    assert all(s["status"] == "ok" for s in summary["steps"])
    assert summary["parameters"]["epochs"] == 4 and summary["parameters"]["synthetic"] is True
    metrics = summary["metrics"]
    assert metrics["01_ingestion"]["counts"]["scores"] > 0
    assert metrics["04_training"]["holdout"]["results"]["model"]["rmse"] > 0
    assert "Model on a 20% holdout: RMSE " in done.stdout and "NDCG@10 " in done.stdout
    assert metrics["04_training"]["holdout"]["results"]["previous"]["rmse"] > 0
    assert metrics["05_batch_prediction"]["rows"] > 0
    assert set(metrics["07_api_smoke"]["statuses"].values()) <= {200, 201}
    assert set(metrics["07_api_smoke"]["errors"].values()) <= {400, 404}
    assert (run_dir / "summary.md").read_text().startswith("# Pipeline run")
    executed = nbformat.read(run_dir / "04_training.ipynb", as_version=4)
    images = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {})]
    assert len(images) >= 3, "figures are rendered as images"


def _write_notebook(path: Path, *cells: str) -> None:
    """A notebook at ``path``: a parameters cell (``run_dir``, ``value``), then ``cells``."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("run_dir = ''\nvalue = 1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, *(nbformat.v4.new_code_cell(source) for source in cells)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)


@pytest.mark.server
def test_a_failing_notebook_is_named_with_its_cell(tmp_path: Path) -> None:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name in ("01_ok", "02_broken"):
        _write_notebook(folder / f"{name}.ipynb", "x = value + 1",
                        "raise ValueError('planted failure')")
    with pytest.raises(pipeline.PipelineError,
                       match=r"notebook 01_ok failed in cell \d+ \(ValueError: planted failure\)"):
        pipeline.run({"value": 5}, ("01_ok", "02_broken"), notebooks_dir=folder,
                     runs_dir=tmp_path / "runs", progress=False)
    summary = json.loads(next((tmp_path / "runs").iterdir()).joinpath("summary.json")
                         .read_text())
    assert summary["steps"][0]["status"] == "failed" and len(summary["steps"]) == 1


@pytest.mark.server
def test_a_kernels_own_output_goes_to_the_run_log_and_a_dead_kernel_is_named(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """What a kernel process writes past its cells (a native library's stderr, ipykernel's
    own warnings) stays off the console, in the run's kernels.log; a kernel is stopped once its
    notebook is done (no exit handler runs); a kernel that dies (as when the system kills it
    for memory) fails its notebook with a message naming that log."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    _write_notebook(folder / "01_chatter.ipynb",
                    "import os, sys\nos.write(2, b'native chatter\\n')\n"
                    "print('dunder chatter', file=sys.__stderr__, flush=True)\n"
                    "print('cell output')\n"
                    "import atexit, pathlib\n"
                    "atexit.register(pathlib.Path('exit-handler-ran').write_text, 'yes')")
    _write_notebook(folder / "02_dies.ipynb",
                    "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    with pytest.raises(pipeline.PipelineError,
                       match=r"notebook 02_dies: its kernel died .*kernels\.log"):
        pipeline.run({}, ("01_chatter", "02_dies"), notebooks_dir=folder,
                     runs_dir=tmp_path / "runs", progress=False)
    console = "".join(capfd.readouterr())
    assert "chatter" not in console
    # a kernel is stopped at once once its notebook is saved, not asked to exit politely
    assert not (folder / "exit-handler-ran").exists()
    run_dir = next((tmp_path / "runs").iterdir())
    log = (run_dir / pipeline.KERNEL_LOG).read_text()
    assert "native chatter" in log and "dunder chatter" in log
    executed = nbformat.read(run_dir / "01_chatter.ipynb", as_version=4)
    assert "cell output" in executed.cells[-1].outputs[0]["text"]
    steps = json.loads((run_dir / "summary.json").read_text())["steps"]
    assert [(s["notebook"], s["status"]) for s in steps] == [("01_chatter", "ok"),
                                                            ("02_dies", "failed")]
    assert steps[1]["error"] == "the kernel died"


@pytest.mark.postgres
def test_a_database_password_never_reaches_the_run_folder(tmp_path: Path,
                                                          postgres_url: str) -> None:
    """The URL reaches the kernels by environment: the notebook connects with it, and neither
    the executed notebook, its metrics nor the summary contain the password."""
    import hashlib

    from sqlalchemy.engine import make_url

    password = "n0t-0n-d1sk-7f3a"  # the throwaway cluster trusts loopback: any password works
    url = make_url(postgres_url).set(password=password).render_as_string(hide_password=False)
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("run_dir = ''\ndatabase_url = ''\nexpected = ''")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        "import hashlib\nfrom recsys import db\nfrom recsys.pipeline import notebook\n"
        "settings = notebook.setup(database_url=database_url, fetch=False)\n"
        "assert hashlib.sha256(settings.database_url.encode()).hexdigest() == expected\n"
        "db.check_connection(db.make_engine(settings.database_url))\n"
        "notebook.record(run_dir, '01_connect', database=str(settings.database_url))")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, folder / "01_connect.ipynb")
    result = pipeline.run({"database_url": url,
                           "expected": hashlib.sha256(url.encode()).hexdigest()},
                          ("01_connect",), notebooks_dir=folder, runs_dir=tmp_path / "runs",
                          progress=False)
    assert result.steps[0]["status"] == "ok"
    written = [p for p in result.run_dir.rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"01_connect.ipynb", "summary.json", "summary.md"}
    leaks = [p.name for p in written if password in p.read_text(errors="replace")]
    assert leaks == [], f"the password is written to {leaks}"
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["parameters"]["database_url"] == make_url(url).render_as_string()


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.training
@pytest.mark.server
@pytest.mark.slow
def test_one_state_after_the_pipeline_and_serve_from_the_root(
        synthetic_pipeline: dict[str, Any]) -> None:
    clone, env, done = (synthetic_pipeline[k] for k in ("clone", "env", "done"))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert (clone / "var" / "recsys.db").is_file() and (clone / "var" / "model").is_dir()
    assert not (clone / "notebooks" / "var").exists(), "state split between var/ folders"
    with served(clone, env) as base:
        status, health = get(base + "/health")
        assert status == 200, health
        status, recs = get(base + "/recommendations?user_id=1&k=5")
        assert status == 200 and len(recs["recommendations"]) == 5


@pytest.mark.training
@pytest.mark.server
def test_every_executed_notebook_renders_as_a_page_with_its_figures(
        synthetic_pipeline: dict[str, Any]) -> None:
    run_dir = next(synthetic_pipeline["runs"].iterdir())
    exporter = HTMLExporter()
    for name in pipeline.NOTEBOOKS:
        executed = nbformat.read(run_dir / f"{name}.ipynb", as_version=4)
        outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
        assert not [o for o in outputs if o.output_type == "error"], name
        html, _ = exporter.from_notebook_node(executed)
        shown = " ".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                         for o in outputs)
        assert "Traceback" not in shown and "⛔" not in shown, name
        assert "WARNING" not in shown, f"{name} prints a library's warnings"
        # every figure carries alternative text: its titles and axis labels
        assert "No description has been provided" not in html, name
        page = run_dir / f"{name}.html"
        page.write_text(html, encoding="utf-8")
        shot = browser.screenshot(page.as_uri(), run_dir / f"{name}.png")
        image = Image.open(shot).convert("RGB")
        assert image.size == (1200, 4000), name
        colours = image.getcolors(maxcolors=1_000_000) or []
        assert len(colours) > 20, f"{name} draws an empty page"
    figures = sum(1 for name in pipeline.NOTEBOOKS for c in nbformat.read(
        run_dir / f"{name}.ipynb", as_version=4).cells if c.cell_type == "code"
        for o in c.outputs if "image/png" in o.get("data", {}))
    assert figures >= 15, "the figures are drawn as images"


@pytest.mark.server
def test_the_browser_helper_sees_a_blank_page_as_blank(tmp_path: Path) -> None:
    """A test of the check above: an empty page has (almost) one colour."""
    page = tmp_path / "blank.html"
    page.write_text("<html><body></body></html>")
    shot = browser.screenshot(page.as_uri(), tmp_path / "blank.png", height=400)
    assert len(Image.open(shot).convert("RGB").getcolors(maxcolors=1_000_000) or []) <= 20
