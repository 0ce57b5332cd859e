"""The pipeline: the numbered notebooks run in order, headlessly, with papermill.

Each run writes ``runs/<timestamp>/``: the executed notebooks, ``metrics/<notebook>.json``
(what each notebook records through :func:`recsys.pipeline.notebook.record`), and a summary
(``summary.json`` and ``summary.md``) with the status and duration of every notebook. The run
stops at the first failure and says which notebook and which cell failed.

The console gets one line when a notebook starts and one when it ends (name, status,
seconds), and, during long cells, a heartbeat: the latest line a notebook sent through
:func:`recsys.pipeline.notebook.heartbeat` (e.g. the epoch and validation loss), at most every
:data:`HEARTBEAT_SECONDS`. Papermill's progress bars and the kernel machinery's log lines stay
out of it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recsys.pipeline.paths import (  # noqa: F401 (DEFAULT_NOTEBOOKS_DIR: part of the runner's face)
    DEFAULT_NOTEBOOKS_DIR,
    NOTEBOOKS,
    PROGRESS_FILE,
    find_notebooks_dir,
)

HEARTBEAT_SECONDS = 20.0
#: The kernel keeps its own log lines (start-up, transport, shutdown) off the console; what a
#: cell prints or raises still goes into the executed notebook.
KERNEL_ARGS = ["--IPKernelApp.log_level=CRITICAL"]
#: Where, in the run folder, the kernels' own process output goes (what a C library or ipykernel
#: writes straight to the process's stdout/stderr, not through a cell): kept off the console
#: and kept for a post-mortem when a kernel dies.
KERNEL_LOG = "kernels.log"
#: How a kernel ends once its notebook has run and been saved: stopped at once. A polite
#: shutdown (interrupt, shutdown request, then SIGTERM after 2.5 s) cost 0.3-3.2 s per
#: notebook, most in 04 (TensorFlow's exit); the notebooks commit what they write in their
#: cells, so nothing waits for an exit handler.
KERNEL_SHUTDOWN = "immediate"
#: Loggers of the machinery under papermill (kernel start-up, transport warnings).
QUIET_LOGGERS = ("papermill", "nbclient", "traitlets", "jupyter_client", "asyncio")
#: Parameters that may carry a secret (a database password), and the environment variable
#: that carries them to the kernels instead: a notebook parameter is written into the executed
#: notebook and the run's summary, an environment variable is not.
SECRET_PARAMETERS = {"database_url": "RECSYS_DATABASE_URL"}


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


def _has_password(value: Any) -> bool:
    from sqlalchemy.engine import make_url

    try:
        return bool(make_url(str(value)).password)
    except Exception:  # noqa: BLE001 - not a URL: nothing to hide
        return False


def split_secrets(parameters: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str],
                                                       dict[str, Any]]:
    """What the notebooks receive, what goes into their kernels' environment, and what the
    run records, from the parameters given.

    A database URL with a password is taken out of the notebook parameters (the notebooks'
    empty ``database_url`` then reads ``RECSYS_DATABASE_URL``, set for the kernels) and is
    recorded with its password masked."""
    from recsys.db.engine import masked

    given, environment, recorded = dict(parameters), {}, dict(parameters)
    for name, variable in SECRET_PARAMETERS.items():
        value = given.get(name)
        if value and _has_password(value):
            environment[variable] = str(value)
            given[name] = ""
            recorded[name] = masked(str(value))
    return given, environment, recorded


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """``os.environ`` with ``values`` set while the kernels run (they inherit it), restored
    afterwards."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in before.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def _scrub(text: str) -> str:
    """``text`` with the password of every secret passed by environment replaced by ***
    (an error message can quote a connection string)."""
    from sqlalchemy.engine import make_url

    for variable in SECRET_PARAMETERS.values():
        value = os.environ.get(variable)
        password = make_url(value).password if value and _has_password(value) else None
        if password:
            text = text.replace(str(password), "***")
    return text


def _parameters_of(path: Path) -> set[str]:
    import papermill

    return set(papermill.inspect_notebook(str(path)).keys())


#: The scorers that are the model itself, not a baseline to compare it with.
NOT_BASELINES = ("model", "previous")


def quality(metrics: dict[str, Any]) -> str | None:
    """One line on the model's quality from 04_training's holdout: its RMSE and NDCG@10 beside
    the best baseline's of each (None when the run measured no holdout)."""
    holdout = metrics.get("04_training", {}).get("holdout")
    if not holdout:
        return None
    results = holdout["results"]
    model = results["model"]
    parts = []
    for metric, label, better in (("rmse", "RMSE", min), ("ndcg@10", "NDCG@10", max)):
        rivals = {name: row[metric] for name, row in results.items()
                  if name not in NOT_BASELINES and row.get(metric) is not None}
        if model.get(metric) is None:
            continue
        text = f"{label} {model[metric]:.4f}"
        if rivals:
            best = better(rivals, key=rivals.__getitem__)
            text += f" (best baseline: {best} {rivals[best]:.4f})"
        parts.append(text)
    share = f"{holdout['fraction']:.0%}"
    return f"Model on a {share} holdout: " + ", ".join(parts) if parts else None


def _summary_markdown(result: RunResult, parameters: dict[str, Any]) -> str:
    lines = [f"# Pipeline run {result.run_dir.name}", "", "| notebook | status | seconds |",
             "|---|---|---|"]
    lines += [f"| {s['notebook']} | {s['status']} | {s['seconds']:.1f} |" for s in result.steps]
    line = quality(result.metrics)
    if line:
        lines += ["", line + "."]
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


class Heartbeat:
    """Prints the newest line of ``progress.log`` while a notebook runs, at most every
    ``every`` seconds (a background thread; :meth:`stop` ends it)."""

    def __init__(self, path: Path, name: str, say: Callable[[str], None],
                 every: float = HEARTBEAT_SECONDS) -> None:
        self.path, self.name, self.say, self.every = path, name, say, every
        self._offset = path.stat().st_size if path.is_file() else 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name=f"heartbeat-{name}")

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def _latest(self) -> str | None:
        if not self.path.is_file():
            return None
        with self.path.open(encoding="utf-8") as lines:
            lines.seek(self._offset)
            fresh = lines.read()
            self._offset = lines.tell()
        messages = [line.split(" ", 1)[1] for line in fresh.splitlines() if " " in line]
        return messages[-1] if messages else None

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            message = self._latest()
            if message:
                self.say(f"  {self.name:<22} … {message}")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _quiet_machinery() -> dict[str, int]:
    """Silence papermill's and the kernel client's log lines; returns the levels to restore."""
    levels = {}
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        levels[name] = logger.level
        logger.setLevel(logging.ERROR)
    return levels


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
        progress: print a line when each notebook starts and ends, and heartbeats.

    Returns:
        The run folder, per-notebook status and durations, and the recorded metrics.

    Raises:
        PipelineError: a notebook failed (the summary is still written).
    """
    def say(line: str) -> None:
        if progress:
            print(line, flush=True)

    source = Path(notebooks_dir) if notebooks_dir else find_notebooks_dir()
    run_dir = _new_run_dir(Path(runs_dir))
    given, environment, recorded = split_secrets(dict(parameters or {}))
    result = RunResult(run_dir.resolve())
    levels = _quiet_machinery()
    try:
        with _environment(environment):
            for name in notebooks:
                _run_one(name, source, given, recorded, result, kernel, say)
    finally:
        for logger_name, level in levels.items():
            logging.getLogger(logger_name).setLevel(level)
    _write_summary(result, recorded)
    return result


def _new_run_dir(runs_dir: Path) -> Path:
    """``runs_dir/<UTC timestamp>`` (with a suffix if taken), created with its metrics/."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    run_dir = runs_dir / stamp
    suffix = 1
    while run_dir.exists():
        run_dir = runs_dir / f"{stamp}-{suffix}"
        suffix += 1
    (run_dir / "metrics").mkdir(parents=True)
    return run_dir


def _kernel_manager_logging_to(path: Path) -> type:
    """A Jupyter kernel manager class whose kernels' process output is appended to ``path``.

    A cell's output reaches the notebook over Jupyter's messages; the kernel process's own
    stdout and stderr (ipykernel's "IOStream.flush timed out", a native library's log lines,
    a crash's last words) would otherwise be inherited from this process and land on the
    console between the pipeline's lines."""
    from jupyter_client.manager import AsyncKernelManager

    class LoggedKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            with path.open("ab") as log:  # the child holds its own copy of the descriptor
                kw.setdefault("stdout", log)
                kw.setdefault("stderr", log)
                await super()._async_launch_kernel(kernel_cmd, **kw)

    return LoggedKernelManager


def _failed(name: str, seconds: float, cell: int | None, error: str, result: RunResult,
            recorded: dict[str, Any], say: Callable[[str], None],
            message: str) -> PipelineError:
    """Record a failed step, write the summary, and return the error to raise."""
    step: dict[str, Any] = {"notebook": name, "status": "failed",
                            "seconds": round(seconds, 2), "error": error}
    if cell is not None:
        step["cell"] = cell
    result.steps.append(step)
    say(f"  {name:<22} failed {seconds:7.1f} s")
    _write_summary(result, recorded)
    return PipelineError(message, result.run_dir)


def _run_one(name: str, source: Path, given: dict[str, Any], recorded: dict[str, Any],
             result: RunResult, kernel: str, say: Callable[[str], None]) -> None:
    """Execute one notebook into the run folder and record its step (or raise)."""
    import papermill
    from nbclient.exceptions import DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    path = source / f"{name}.ipynb"
    if not path.is_file():
        raise PipelineError(f"notebook {path} does not exist", result.run_dir)
    declared = _parameters_of(path)
    values = {k: v for k, v in given.items() if k in declared}
    if "run_dir" in declared:
        values["run_dir"] = str(result.run_dir)
    output = result.run_dir / f"{name}.ipynb"
    say(f"  {name:<22} running")
    beat = Heartbeat(result.run_dir / PROGRESS_FILE, name, say).start()
    start = time.perf_counter()
    try:
        papermill.execute_notebook(str(path), str(output), parameters=values,
                                   kernel_name=kernel, cwd=str(source), progress_bar=False,
                                   log_output=False, extra_arguments=KERNEL_ARGS,
                                   kernel_manager_class=_kernel_manager_logging_to(
                                       result.run_dir / KERNEL_LOG),
                                   shutdown_kernel=KERNEL_SHUTDOWN)
    except DeadKernelError:
        raise _failed(name, time.perf_counter() - start, None, "the kernel died", result,
                      recorded, say,
                      f"notebook {name}: its kernel died (out of memory, or a native crash); "
                      f"its last output is in {result.run_dir / KERNEL_LOG}, the executed "
                      f"copy in {output}") from None
    except PapermillExecutionError as exc:
        error = _scrub(f"{exc.ename}: {exc.evalue}")
        raise _failed(name, time.perf_counter() - start, exc.exec_count, error, result,
                      recorded, say,
                      f"notebook {name} failed in cell {exc.exec_count} ({error}); executed "
                      f"copy: {output}") from None
    finally:
        beat.stop()
    seconds = time.perf_counter() - start
    result.steps.append({"notebook": name, "status": "ok", "seconds": round(seconds, 2)})
    say(f"  {name:<22} ok     {seconds:7.1f} s")
