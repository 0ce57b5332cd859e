"""The pipeline: the numbered notebooks run in order, headlessly, with papermill.

Each run writes ``runs/<timestamp>/``: the executed notebooks, ``metrics/<notebook>.json``
(what each notebook records through :func:`recsys.notebook.record`), and a summary
(``summary.json`` and ``summary.md``) with the status and duration of every notebook. The run
stops at the first failure and says which notebook and which cell failed.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NOTEBOOKS = ("01_ingestion", "02_entities", "03_embeddings", "04_training",
             "05_batch_prediction", "06_kmeans", "07_api_smoke")
DEFAULT_NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"


def find_notebooks_dir() -> Path:
    """``RECSYS_NOTEBOOKS_DIR``, else the source checkout's ``notebooks/``, else ``./notebooks``
    (an installed package, as in the Docker image, whose working folder holds them)."""
    if os.environ.get("RECSYS_NOTEBOOKS_DIR"):
        return Path(os.environ["RECSYS_NOTEBOOKS_DIR"])
    if DEFAULT_NOTEBOOKS_DIR.is_dir():
        return DEFAULT_NOTEBOOKS_DIR
    return Path.cwd() / "notebooks"


class PipelineError(RuntimeError):
    """A notebook failed; the message names the notebook and the cell."""

    def __init__(self, message: str, run_dir: Path) -> None:
        super().__init__(message)
        self.run_dir = run_dir


@dataclass
class RunResult:
    """What a pipeline run produced."""

    run_dir: Path
    steps: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)


def _parameters_of(path: Path) -> set[str]:
    import papermill

    return set(papermill.inspect_notebook(str(path)).keys())


def _summary_markdown(result: RunResult, parameters: dict[str, Any]) -> str:
    lines = [f"# Pipeline run {result.run_dir.name}", "", "| notebook | status | seconds |",
             "|---|---|---|"]
    lines += [f"| {s['notebook']} | {s['status']} | {s['seconds']:.1f} |" for s in result.steps]
    lines += ["", "## Parameters", "", "```json", json.dumps(parameters, indent=2, default=str),
              "```", "", "## Metrics", ""]
    for notebook, values in result.metrics.items():
        lines += [f"### {notebook}", "", "```json", json.dumps(values, indent=2, default=str),
                  "```", ""]
    return "\n".join(lines)


def _write_summary(result: RunResult, parameters: dict[str, Any]) -> None:
    metrics_dir = result.run_dir / "metrics"
    if metrics_dir.is_dir():
        for path in sorted(metrics_dir.glob("*.json")):
            result.metrics[path.stem] = json.loads(path.read_text())
    summary = {"run": result.run_dir.name, "parameters": parameters, "steps": result.steps,
               "metrics": result.metrics}
    (result.run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    (result.run_dir / "summary.md").write_text(_summary_markdown(result, parameters))


def run(parameters: dict[str, Any] | None = None, notebooks: tuple[str, ...] = NOTEBOOKS,
        notebooks_dir: str | os.PathLike[str] | None = None,
        runs_dir: str | os.PathLike[str] = "runs", kernel: str = "python3",
        progress: bool = True) -> RunResult:
    """Execute ``notebooks`` in order.

    Args:
        parameters: overrides for the notebooks' ``parameters`` cells; each notebook receives
            the ones it declares (plus ``run_dir``, where it records metrics).
        notebooks: names (without ``.ipynb``) in execution order.
        notebooks_dir: where the notebooks are (default: the repository's ``notebooks/``).
        runs_dir: parent of the per-run folder.
        kernel: Jupyter kernel name.
        progress: show papermill's per-cell progress bar.

    Returns:
        The run folder, per-notebook status and durations, and the recorded metrics.

    Raises:
        PipelineError: a notebook failed (the summary is still written).
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    source = Path(notebooks_dir) if notebooks_dir else find_notebooks_dir()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    run_dir = Path(runs_dir) / stamp
    suffix = 1
    while run_dir.exists():
        run_dir = Path(runs_dir) / f"{stamp}-{suffix}"
        suffix += 1
    (run_dir / "metrics").mkdir(parents=True)
    given = dict(parameters or {})
    result = RunResult(run_dir.resolve())
    for name in notebooks:
        path = source / f"{name}.ipynb"
        if not path.is_file():
            raise PipelineError(f"notebook {path} does not exist", result.run_dir)
        declared = _parameters_of(path)
        values = {k: v for k, v in given.items() if k in declared}
        if "run_dir" in declared:
            values["run_dir"] = str(result.run_dir)
        start = time.perf_counter()
        try:
            papermill.execute_notebook(str(path), str(run_dir / f"{name}.ipynb"),
                                       parameters=values, kernel_name=kernel,
                                       cwd=str(source), progress_bar=progress)
        except PapermillExecutionError as exc:
            result.steps.append({"notebook": name, "status": "failed",
                                 "seconds": time.perf_counter() - start,
                                 "cell": exc.exec_count, "error": f"{exc.ename}: {exc.evalue}"})
            _write_summary(result, given)
            raise PipelineError(
                f"notebook {name} failed in cell {exc.exec_count} "
                f"({exc.ename}: {exc.evalue}); executed copy: {run_dir / (name + '.ipynb')}",
                result.run_dir) from None
        result.steps.append({"notebook": name, "status": "ok",
                             "seconds": round(time.perf_counter() - start, 2)})
    _write_summary(result, given)
    return result
