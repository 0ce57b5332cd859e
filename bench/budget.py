"""Benchmark: what a user waits for every day, each row against its budget, in one table.

The rows (issue "Fast by default"): the main job (`recsys pipeline` on the real data, default
model, from an empty var folder), `recsys ingest` and `recsys --help` wall clock with start-up,
the test suite (whole, and the `make test-fast` lane), the 1M-rating synthetic set through
ingest + train + predict + index with defaults (time and peak memory), /recommendations at 32
connections against /ping (wrk), and `recsys serve` from launch to the first answer and to
its exit after SIGTERM. Every row runs the commands as a user runs them (subprocesses, the
installed `recsys`), never an in-process shortcut.

Usage: RECSYS_DATA_DIR=../shared/datasets .venv/bin/python bench/budget.py
       [--rows pipeline,ingest,help,tests,fast,1m,api,serve]   (default: all)
       [--work DIR]   (keeps the pipeline's var folder and the 1M set there)

Check the machine is quiet first (`uptime`: load average under 0.3 with nothing else
running); the table says the load average at the start and the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
RECSYS = [sys.executable, "-m", "recsys.cli"]
GB = 1024 ** 3


@dataclass
class Row:
    """One line of the table."""

    what: str
    measured: str
    target: str
    met: bool
    note: str = ""


def clean_env(var_dir: Path) -> dict[str, str]:
    """The embedded defaults in ``var_dir``, whatever the caller's environment says."""
    env = dict(os.environ, RECSYS_VAR_DIR=str(var_dir))
    for name in ("RECSYS_DATABASE_URL", "RECSYS_VECTOR_BACKEND", "RECSYS_OPENSEARCH_URL"):
        env.pop(name, None)
    return env


def timed(command: list[str], env: dict[str, str] | None = None,
          cwd: Path | None = None) -> tuple[float, float, str]:
    """Run ``command``; (wall seconds, peak resident set of it and its children in bytes,
    output). Fails loudly when the command fails."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    output, _ = process.communicate()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n"
                         f"{output[-3000:]}")
    return seconds, peak, output


def peak_of(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and the peak resident set of one command (its own process tree), read
    in a child so earlier commands' peaks do not count."""
    probe = ("import json, resource, subprocess, sys, time\n"
             "start = time.perf_counter()\n"
             "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, "
             "stderr=subprocess.PIPE, text=True)\n"
             "seconds = time.perf_counter() - start\n"
             "if done.returncode: sys.exit(done.stderr[-3000:])\n"
             "print(json.dumps([seconds, resource.getrusage(resource.RUSAGE_CHILDREN)"
             ".ru_maxrss * 1024]))\n")
    done = subprocess.run([sys.executable, "-c", probe, *command], env=env,
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    seconds, peak = json.loads(done.stdout.strip().splitlines()[-1])
    return float(seconds), float(peak)


# -- the rows -----------------------------------------------------------------------------------


def row_pipeline(work: Path) -> Row:
    var = work / "pipeline-var"
    shutil.rmtree(var, ignore_errors=True)
    seconds, _, _ = timed([*RECSYS, "pipeline", "--quiet", "--runs-dir", str(work / "runs")],
                          env=clean_env(var))
    summary = json.loads(sorted((work / "runs").glob("*/summary.json"))[-1].read_text())
    parts = ", ".join(f"{s['notebook'][:2]} {s['seconds']:.0f}" for s in summary["steps"])
    return Row("`recsys pipeline`, real data, default model", f"{seconds:.0f} s", "<= 180 s",
               seconds <= 180, parts)


def row_ingest(work: Path) -> Row:
    times = []
    for attempt in range(3):
        var = work / f"ingest-var-{attempt}"
        shutil.rmtree(var, ignore_errors=True)
        times.append(timed([*RECSYS, "ingest"], env=clean_env(var))[0])
    median = statistics.median(times)
    return Row("`recsys ingest`, course data, new SQLite file", f"{median:.2f} s",
               "<= 2.0 s", median <= 2.0,
               "median of 3: " + ", ".join(f"{t:.2f}" for t in times))


def row_help(work: Path) -> Row:
    times = [timed([str(Path(sys.executable).parent / "recsys"), "--help"])[0]
             for _ in range(5)]
    median = statistics.median(times)
    return Row("`recsys --help`", f"{median:.2f} s", "<= 0.3 s", median <= 0.3,
               "median of 5: " + ", ".join(f"{t:.2f}" for t in times))


def _pytest(args: list[str], work: Path, label: str, budget: float) -> Row:
    report = work / f"durations-{label}.txt"
    seconds, _, output = timed([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                "--durations=25", *args], cwd=REPO)
    report.write_text(output)
    counts = re.findall(r"(\d+) (passed|failed|skipped|errors?)", output.splitlines()[-1])
    files: dict[str, float] = {}
    for match in re.finditer(r"^\s*([\d.]+)s (?:call|setup|teardown)\s+tests/(\S+?)\.py",
                             output, re.M):
        files[match.group(2)] = files.get(match.group(2), 0.0) + float(match.group(1))
    slowest = ", ".join(f"{name} {total:.0f}" for name, total in
                        sorted(files.items(), key=lambda kv: -kv[1])[:4])
    return Row(f"`{label}`", f"{seconds / 60:.1f} min", f"<= {budget / 60:.0f} min",
               seconds <= budget, " ".join(f"{n} {w}" for n, w in counts)
               + (f"; slowest files (s, of the 25 slowest tests): {slowest}" if slowest else "")
               + f"; durations in {report}")


def row_tests(work: Path) -> Row:
    return _pytest(["-n", "2", "--dist", "loadfile"], work, "make test (pytest)", 12 * 60)


def row_fast(work: Path) -> Row:
    return _pytest(["-m", "fast"], work, "make test-fast", 2 * 60)


def row_1m(work: Path) -> Row:
    data = work / "synthetic-1m"
    if not (data / "scores.csv").is_file():
        timed([*RECSYS, "data", "synthetic", str(data), "--users", "6040", "--movies", "3706",
               "--ratings", "1000000", "--seed", "1"])
    var = work / "1m-var"
    shutil.rmtree(var, ignore_errors=True)
    env = dict(clean_env(var), RECSYS_DATA_DIR=str(data))
    stages = {}
    for stage in (["ingest"], ["train", "--quiet"], ["predict"], ["index"]):
        stages[stage[0]] = peak_of([*RECSYS, *stage], env)
    total = sum(s for s, _ in stages.values())
    peak = max(p for _, p in stages.values())
    return Row("1M synthetic: ingest + train + predict + index", f"{total:.0f} s, "
               f"{peak / GB:.1f} GB", "<= 300 s, <= 4 GB", total <= 300 and peak <= 4 * GB,
               ", ".join(f"{n} {s:.0f} s / {p / GB:.1f} GB" for n, (s, p) in stages.items()))


class Server:
    """`recsys serve` on a prepared var folder, as a user starts it."""

    def __init__(self, var: Path, args: tuple[str, ...] = ()) -> None:
        from recsys.testing.ports import free_port

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(var / "budget-server.log", "w")  # noqa: SIM115
        self.started = time.perf_counter()
        self.process = subprocess.Popen([*RECSYS, "serve", "--port", str(self.port), *args],
                                        env=clean_env(var), stdout=subprocess.DEVNULL,
                                        stderr=self.log)

    def first_answer(self, path: str, limit: float = 300) -> float:
        """Seconds from launch until ``path`` answers 200."""
        while time.perf_counter() - self.started < limit:
            try:
                with urllib.request.urlopen(self.base + path, timeout=5) as response:
                    if response.status == 200:
                        return time.perf_counter() - self.started
            except (OSError, urllib.error.HTTPError):
                pass
            if self.process.poll() is not None:
                raise SystemExit(f"recsys serve exited ({self.process.returncode})")
            time.sleep(0.05)
        raise SystemExit(f"recsys serve did not answer {path} within {limit} s")

    def stop(self) -> float:
        """Seconds from SIGTERM to the process's exit."""
        start = time.perf_counter()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        finally:
            self.log.close()
        return time.perf_counter() - start


def _prepared(work: Path) -> Path:
    var = work / "pipeline-var"
    if not (var / "model" / "LATEST").is_file():
        raise SystemExit("the api and serve rows serve the pipeline row's var folder: run "
                         "--rows pipeline first (with the same --work)")
    return var


def row_serve(work: Path) -> Row:
    var = _prepared(work)
    starts, stops = [], []
    for _ in range(3):
        server = Server(var)
        starts.append(server.first_answer("/recommendations?user_id=1&k=10"))
        stops.append(server.stop())
    start, stop = statistics.median(starts), statistics.median(stops)
    return Row("`recsys serve`, course data: launch to first answer / stop",
               f"{start:.1f} s / {stop:.1f} s", "<= 5 s / <= 2 s", start <= 5 and stop <= 2,
               "median of 3: " + ", ".join(f"{a:.1f}/{b:.1f}" for a, b in zip(starts, stops)))


def row_api(work: Path) -> Row:
    from api import run_wrk  # bench/api.py

    if not shutil.which("wrk"):
        raise SystemExit("wrk is required: apt-get install wrk")
    var = _prepared(work)
    server = Server(var, ("--no-access-log",))
    try:
        server.first_answer("/recommendations?user_id=1&k=10")
        ping = run_wrk(server.base, "/ping", 1, 32, 10, 5)
        recs = run_wrk(server.base, "/recommendations?user_id={id}&k=10", 943, 32, 10, 5)
        ping_again = run_wrk(server.base, "/ping", 1, 32, 10, 5)
    finally:
        server.stop()
    share = recs["rps"] / max(ping["rps"], ping_again["rps"])
    return Row("/recommendations at 32 connections (wrk, 10 s)",
               f"{100 * share:.0f}% of /ping, p99 {recs['p99']:.0f} ms", ">= 85%, p99 <= 20 ms",
               share >= 0.85 and recs["p99"] <= 20,
               f"{recs['rps']:.0f} req/s, p50 {recs['p50']:.1f} ms, {recs['errors']:.0f} errors;"
               f" /ping {max(ping['rps'], ping_again['rps']):.0f} req/s")


ROWS: dict[str, Callable[[Path], Row]] = {
    "pipeline": row_pipeline, "ingest": row_ingest, "help": row_help, "tests": row_tests,
    "fast": row_fast, "1m": row_1m, "api": row_api, "serve": row_serve}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default=",".join(ROWS),
                        help="comma-separated subset of: " + ", ".join(ROWS))
    parser.add_argument("--work", help="folder for the runs (default: a temporary one)")
    args = parser.parse_args()
    names = [n.strip() for n in args.rows.split(",") if n.strip()]
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; choose from {list(ROWS)}")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="recsys-budget-"))
    work.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    rows = []
    for name in names:
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        rows.append(ROWS[name](work))
    load_after = os.getloadavg()[0]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                            capture_output=True, text=True).stdout.strip()
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; commit {commit}; load average {load_before:.2f} at "
          f"the start, {load_after:.2f} at the end\n")
    print("| what a user waits for | measured | target | met | detail |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(f"| {row.what} | {row.measured} | {row.target} | {'yes' if row.met else '**no**'}"
              f" | {row.note} |")


if __name__ == "__main__":
    main()
