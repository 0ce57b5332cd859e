"""Benchmark: the whole system end to end at a size, with wall time and peak memory per stage.

Each stage is the `recsys` command a user runs, in its own process, timed, with its peak
resident memory read from the kernel (``os.wait4``: ``ru_maxrss``):

1. ``ingest`` into a throwaway PostgreSQL 15 (COPY in chunks);
2. ``train --holdout 0`` (the networks and the ranker, scale rules applied);
3. ``predict`` (batch top-100 of every user into the database);
4. ``index`` (movie and user vectors, content and learned; local index, or ``--opensearch``);
5. the API (``recsys serve``, gunicorn, 2 workers) under wrk at 32 connections on
   /recommendations (random user) and /similar_movies (random movie); its memory is the sum of
   the peak of the master and the workers (``VmHWM``), an upper bound since the workers
   share the read model's pages with the master; the largest sum of their PSS (shared pages
   counted once), sampled every second, is reported beside it.

"End to end" is the sum of 1-4 plus the API's start-up; making the data (``recsys data
synthetic``) is excluded and reported apart. ``--quality`` then measures, apart, the model
against the biases and popularity baselines on a seeded 10 % holdout (``recsys train
--holdout 0.1``, which also fits on everything).

Usage: .venv/bin/python bench/scale.py --shape 1m [--quality] [--opensearch]
       .venv/bin/python bench/scale.py --shape 100k   (the course data, RECSYS_DATA_DIR)
       .venv/bin/python bench/scale.py --users 2000 --movies 1500 --ratings 200000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from api import run_wrk  # bench/api.py: warm-up, then a measured wrk run

from recsys.testing.ports import free_port

SHAPES = {  # users, movies, ratings: the MovieLens releases' shapes
    "1m": (6_040, 3_706, 1_000_209),
    "10m": (69_878, 10_677, 10_000_054),
    "25m": (162_541, 62_423, 25_000_095),
}


def stage(name: str, argv: list[str], env: dict[str, str], log: Path) -> dict[str, Any]:
    """Run one command to completion; its wall time and peak resident memory."""
    print(f"{name}: {' '.join(argv[2:])}", flush=True)
    start = time.perf_counter()
    with open(log, "a") as out:
        out.write(f"\n=== {name}\n")
        out.flush()
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{name} failed (exit {os.waitstatus_to_exitcode(status)}); see {log}")
    result = {"stage": name, "seconds": round(seconds, 1),
              "peak_mb": round(usage.ru_maxrss / 1024)}
    print(f"  {result['seconds']} s, peak {result['peak_mb']} MB", flush=True)
    return result


def _tree(pid: int) -> list[int]:
    """A process and its children (gunicorn's master and its workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [pid, *(int(p) for p in children.read_text().split())] if children.exists() \
        else [pid]


def _sum_field(pids: list[int], name: str, file: str) -> int:
    total = 0
    for each in pids:
        try:
            for line in Path(f"/proc/{each}/{file}").read_text().splitlines():
                if line.startswith(name):
                    total += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return round(total / 1024)


def tree_peak_mb(pid: int) -> int:
    """Sum of VmHWM (peak resident memory) of a process and its children. An upper bound:
    pages the workers share with the master (copy-on-write) count once per process."""
    return _sum_field(_tree(pid), "VmHWM:", "status")


def tree_pss_mb(pid: int) -> int:
    """Memory the process tree holds now, shared pages split between their sharers (sum of
    PSS): what the machine actually gives it."""
    return _sum_field(_tree(pid), "Pss:", "smaps_rollup")


def serve_and_load(env: dict[str, str], users: int, movies: int, log: Path,
                   duration: int, warmup: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Start the API, wait until it answers, load it with wrk; its start-up and memory."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    start = time.perf_counter()
    with open(log, "a") as out:
        out.write("\n=== serve\n")
        out.flush()
        server = subprocess.Popen(
            [sys.executable, "-m", "recsys.cli", "serve", "--port", str(port), "--server",
             "gunicorn", "--workers", "2", "--no-access-log"], env=env, stdout=out,
            stderr=subprocess.STDOUT)
    held = 0  # the largest sum of PSS seen, sampled every second and after each load
    try:
        deadline = time.monotonic() + 1800
        while True:
            held = max(held, tree_pss_mb(server.pid))
            try:
                with urllib.request.urlopen(base + "/recommendations?user_id=1&k=10",
                                            timeout=120) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"the API did not start; see {log}")
            time.sleep(1)
        started = round(time.perf_counter() - start, 1)
        print(f"serve: answering after {started} s", flush=True)
        loads = []
        for label, path, top in (
                ("/recommendations", "/recommendations?user_id={id}&k=10", users),
                ("/similar_movies", "/similar_movies?movie_id={id}&k=10", movies)):
            measured = run_wrk(base, path, top, 32, duration, warmup)
            loads.append({"endpoint": label, **measured})
            held = max(held, tree_pss_mb(server.pid))
            print(f"  {label}: p50 {measured['p50']:.1f} ms, p99 {measured['p99']:.1f} ms, "
                  f"{measured['rps']:.0f} req/s, {measured['errors']:.0f} errors", flush=True)
        peak = tree_peak_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(f"  memory: sum of the processes' peaks {peak} MB (shared pages once per process); "
          f"largest sum of PSS sampled {held} MB (shared pages once)", flush=True)
    return {"stage": "serve (start-up)", "seconds": started, "peak_mb": peak,
            "pss_mb": held}, loads


def quality(env: dict[str, str], log: Path, work: Path) -> dict[str, Any]:
    """Holdout metrics of the model and the baselines (``recsys train --holdout 0.1``)."""
    argv = [sys.executable, "-m", "recsys.cli", "train", "--quiet", "--holdout", "0.1",
            "--model-dir", str(work / "quality-model")]
    print("quality: recsys train --holdout 0.1", flush=True)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    with open(log, "a") as out:
        out.write("\n=== quality\n" + done.stdout + done.stderr)
    if done.returncode != 0:
        sys.exit(f"quality failed; see {log}")
    text = done.stdout
    metrics = json.loads(text[text.index("{"):text.rindex("}") + 1])
    results = metrics["holdout"]["results"]
    return {"seconds": round(time.perf_counter() - start, 1),
            "models": {name: {"rmse": r["rmse"], "ndcg@10": r["ndcg@10"]}
                       for name, r in results.items() if name != "global_mean"}}


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=["100k", *SHAPES])
    parser.add_argument("--users", type=int)
    parser.add_argument("--movies", type=int)
    parser.add_argument("--ratings", type=int)
    parser.add_argument("--scale", default=None, help="synthetic rating scale (default: "
                                                      "half-stars from 10M up, as MovieLens)")
    parser.add_argument("--quality", action="store_true", help="also the holdout comparison")
    parser.add_argument("--opensearch", action="store_true", help="vectors in a local node")
    parser.add_argument("--duration", type=int, default=20, help="wrk seconds per endpoint")
    parser.add_argument("--warmup", type=int, default=5, help="wrk warm-up seconds")
    parser.add_argument("--work", help="working folder (default: a temporary one)")
    args = parser.parse_args()
    # a SIGTERM (timeout, kill) unwinds like Ctrl-C: the throwaway PostgreSQL and OpenSearch
    # are stopped and their folders removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))
    if not shutil.which("wrk"):
        sys.exit("wrk is required: apt-get install wrk")

    with ExitStack() as stack:
        work = Path(args.work) if args.work else Path(stack.enter_context(
            tempfile.TemporaryDirectory(prefix="recsys-scale-")))
        work.mkdir(parents=True, exist_ok=True)
        log = work / "scale.log"
        env = dict(os.environ, RECSYS_VAR_DIR=str(work / "var"), TF_CPP_MIN_LOG_LEVEL="3")
        made: dict[str, Any] | None = None
        if args.shape == "100k":
            users, movies = 943, 1682
            env["RECSYS_DATA_DIR"] = os.environ.get("RECSYS_DATA_DIR", "../shared/datasets")
            label = "MovieLens 100K (course data)"
        else:
            users, movies, ratings = SHAPES.get(args.shape or "", (args.users, args.movies,
                                                                   args.ratings))
            if not (users and movies and ratings):
                sys.exit("give --shape or all of --users, --movies and --ratings")
            scale = args.scale or ("half-stars" if ratings >= 10_000_000 else "stars")
            env["RECSYS_DATA_DIR"] = str(work / "data")
            made = stage("synthetic (excluded)", [
                sys.executable, "-m", "recsys.cli", "data", "synthetic", str(work / "data"),
                "--users", str(users), "--movies", str(movies), "--ratings", str(ratings),
                "--scale", scale, "--seed", "0"], env, log)
            label = f"synthetic {users:,} users x {movies:,} movies x {ratings:,} ratings " \
                    f"({scale})"
        from recsys.testing.postgres import TemporaryPostgres

        env["RECSYS_DATABASE_URL"] = stack.enter_context(TemporaryPostgres()).url
        if args.opensearch:
            from recsys.testing.opensearch import OpenSearchNode

            node = stack.enter_context(OpenSearchNode())
            env.update(RECSYS_VECTOR_BACKEND="opensearch", RECSYS_OPENSEARCH_URL=node.url)
        cli = [sys.executable, "-m", "recsys.cli"]
        stages = [stage("ingest", [*cli, "ingest"], env, log),
                  stage("train", [*cli, "train", "--quiet", "--holdout", "0"], env, log),
                  stage("predict", [*cli, "predict"], env, log),
                  stage("index", [*cli, "index"], env, log)]
        served, loads = serve_and_load(env, users, movies, log, args.duration, args.warmup)
        stages.append(served)
        measured = quality(env, log, work) if args.quality else None

    total = sum(s["seconds"] for s in stages)
    print(f"\n## {label}\n")
    print(f"Command: `{' '.join(['.venv/bin/python', 'bench/scale.py', *sys.argv[1:]])}` "
          f"({time.strftime('%Y-%m-%d')}; {platform.machine()}, {os.cpu_count()} cores, "
          f"vectors: {'OpenSearch' if args.opensearch else 'local index'})\n")
    if made:
        print(f"Making the data (excluded): {made['seconds']} s, peak {made['peak_mb']} MB\n")
    print("| stage | seconds | peak memory (MB) |\n|---|---|---|")
    for s in stages:
        print(f"| {s['stage']} | {s['seconds']} | {s['peak_mb']} |")
    print(f"| **end to end** | **{total:.1f}** ({total / 60:.1f} min) | "
          f"**{max(s['peak_mb'] for s in stages)}** (largest stage) |\n")
    print(f"The API's memory: {served['peak_mb']} MB is the sum of its processes' peaks "
          f"(shared pages once per process); the largest sum of PSS sampled (shared pages "
          f"once) was {served['pss_mb']} MB.\n")
    print("| endpoint (32 connections) | p50 (ms) | p99 (ms) | req/s | errors |\n"
          "|---|---|---|---|---|")
    for row in loads:
        print(f"| {row['endpoint']} | {row['p50']:.1f} | {row['p99']:.1f} | {row['rps']:.0f} | "
              f"{row['errors']:.0f} |")
    if measured:
        print(f"\nQuality on a seeded 10 % holdout ({measured['seconds']} s, apart):\n")
        print("| model | RMSE | NDCG@10 |\n|---|---|---|")
        for name, m in measured["models"].items():
            print(f"| {name} | {_number(m['rmse'])} | {_number(m['ndcg@10'])} |")
    print(f"\nself (bench driver) peak: "
          f"{round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)} MB")


if __name__ == "__main__":
    main()
