"""Benchmark: API throughput and latency under load, with wrk (Debian package) at 32
concurrent connections for 20 s per endpoint, against `recsys serve` (default: gunicorn,
2 worker processes) on the embedded default (SQLite + local vector index) with the real data.

The endpoints: /recommendations (random user), /similar_movies (random movie), /movies/{id}
(random movie) and /ping (trivial: touches no backing service, measured first and last; the
better run is the baseline), each for 20 s after a warm-up.

With ``--writer``, /recommendations is measured a second time while one other process posts
new ratings as fast as the API takes them (random user and movie; a pair already rated is a
409 and counts as a write attempt), to check that reads do not slow down under writes
(target: p99 with the writer at most 2x p99 without it, at 64 connections).

Usage: RECSYS_DATA_DIR=../shared/datasets .venv/bin/python bench/api.py [--duration 20]
       [--var-dir DIR]   (reuse a prepared var dir: ingested, trained, indexed, predicted)
       [--writer --connections 64]
       [--postgres]   (a throwaway PostgreSQL 15: ingest, predict and cluster into it;
                       the model of --var-dir is reused when given)
       [--opensearch] (a local OpenSearch 2.19.1 node for the vectors: with --postgres this is
                       the full stack of docker-compose.yml, minus the containers)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from recsys.testing.ports import free_port

HERE = Path(__file__).resolve().parent
ENDPOINTS = [
    ("/ping (trivial)", "/ping", 1),
    ("/recommendations", "/recommendations?user_id={id}&k=10", 943),
    ("/similar_movies", "/similar_movies?movie_id={id}&k=10", 1682),
    ("/movies/{id}", "/movies/{id}", 1682),
    ("/ping (trivial, again)", "/ping", 1),
]


def recsys(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "recsys.cli", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL)


def prepare(env: dict[str, str]) -> None:
    for step in (["ingest"], ["train", "--quiet", "--holdout", "0"], ["index"], ["predict"],
                 ["cluster", "--k", "4"]):
        print("recsys " + " ".join(step), flush=True)
        recsys(*step, env=env)


def parse_wrk(text: str) -> dict[str, float]:
    def ms(value: str) -> float:
        number, unit = re.match(r"([\d.]+)(us|ms|s)", value).groups()
        return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    out = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
           "p50": ms(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1)),
           "p99": ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1)),
           "requests": float(re.search(r"(\d+) requests in", text).group(1))}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                              r"timeout (\d+)", text)
    out["errors"] = float(non2xx.group(1)) if non2xx else 0.0
    if socket_errors:
        out["errors"] += sum(float(g) for g in socket_errors.groups())
    return out


def write_loop(base: str, seconds: float, seed: int = 7) -> None:
    """Post random new ratings for ``seconds`` (one client, no pause); print the counts."""
    import random
    import urllib.error

    rng = random.Random(seed)
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        body = json.dumps({"user_id": rng.randint(1, 943), "movie_id": rng.randint(1, 1682),
                           "rating": rng.randint(1, 5)}).encode()
        request = urllib.request.Request(base + "/scores", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        statuses[status] = statuses.get(status, 0) + 1
    print(json.dumps({str(k): v for k, v in sorted(statuses.items())}), flush=True)


def wait_until_answers(base: str, tries: int = 300) -> None:
    """Wait (up to a minute) until the server at ``base`` answers /health."""
    for _ in range(tries):
        try:
            urllib.request.urlopen(base + "/health", timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)


def run_wrk(base: str, path: str, max_id: int, connections: int, duration: int,
            warmup: int) -> dict[str, float]:
    """A warm-up, then a measured wrk run on ``path``."""
    wrk_env = dict(os.environ, WRK_PATH=path, WRK_MAX_ID=str(max_id))
    subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{warmup}s", "-s",
                    str(HERE / "random_ids.lua"), base], env=wrk_env,
                   capture_output=True, check=True)  # warm-up
    done = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency",
                           "-s", str(HERE / "random_ids.lua"), base], env=wrk_env,
                          capture_output=True, text=True, check=True)
    return parse_wrk(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=10,
                        help="seconds of load before each measured run (fills each worker's "
                             "response cache: steady state is what is measured)")
    parser.add_argument("--var-dir", help="a prepared RECSYS_VAR_DIR to reuse")
    parser.add_argument("--server", default="--server gunicorn --workers 2 --no-access-log",
                        help="arguments of `recsys serve` (e.g. '--server waitress --threads 8')")
    parser.add_argument("--writer", action="store_true",
                        help="measure /recommendations again beside a process posting ratings")
    parser.add_argument("--postgres", action="store_true",
                        help="serve from a throwaway PostgreSQL instead of SQLite")
    parser.add_argument("--opensearch", action="store_true",
                        help="vectors in a local OpenSearch node instead of the local index")
    parser.add_argument("--write-loop", nargs=2, metavar=("BASE", "SECONDS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_loop:
        write_loop(args.write_loop[0], float(args.write_loop[1]))
        return
    if not shutil.which("wrk"):
        sys.exit("wrk is required: apt-get install wrk")
    tmp = tempfile.mkdtemp(prefix="recsys-bench-api-")
    env = dict(os.environ, RECSYS_VAR_DIR=args.var_dir or tmp)
    for name in ("RECSYS_DATABASE_URL", "RECSYS_VECTOR_BACKEND", "RECSYS_OPENSEARCH_URL"):
        env.pop(name, None)
    services = ExitStack()
    if args.postgres:
        from recsys.testing.postgres import TemporaryPostgres

        env["RECSYS_DATABASE_URL"] = services.enter_context(TemporaryPostgres()).url
    if args.opensearch:
        from recsys.testing.opensearch import OpenSearchNode

        node = services.enter_context(OpenSearchNode(heap_mb=1024))
        env.update(RECSYS_VECTOR_BACKEND="opensearch", RECSYS_OPENSEARCH_URL=node.url)
    if args.var_dir and (args.postgres or args.opensearch):
        steps = ([["ingest"]] if args.postgres else []) + [["index"]] + \
            ([["predict"], ["cluster", "--k", "4"]] if args.postgres else [])
        for step in steps:
            recsys(*step, env=env)
    if not args.var_dir:
        prepare(env)
    port = free_port()
    log = open(Path(env["RECSYS_VAR_DIR"]) / "bench-server.log", "w")  # noqa: SIM115
    server = subprocess.Popen([sys.executable, "-m", "recsys.cli", "serve", "--port",
                               str(port), *args.server.split()], env=env,
                              stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(base)
        time.sleep(10)  # every worker has booted (each loads the model) before any load
        results = []
        endpoints = ENDPOINTS if not args.writer else [ENDPOINTS[0], ENDPOINTS[1]]
        for label, path, max_id in endpoints:
            results.append((label, run_wrk(base, path, max_id, args.connections,
                                           args.duration, args.warmup)))
        if args.writer:
            writer = subprocess.Popen([sys.executable, __file__, "--write-loop", base,
                                       str(args.warmup + args.duration + 2)],
                                      stdout=subprocess.PIPE, text=True)
            label, path, max_id = ENDPOINTS[1]
            results.append((label + " + 1 writer", run_wrk(base, path, max_id,
                                                           args.connections, args.duration,
                                                           args.warmup)))
            written = writer.communicate(timeout=120)[0].strip()
            seconds = args.warmup + args.duration + 2
            posts = sum(json.loads(written).values()) if written else 0
            print(f"writer: {written} in {seconds} s ({posts / seconds:.0f} posts/s)")
            results.append(ENDPOINTS[-1][:1] + (run_wrk(base, "/ping", 1, args.connections,
                                                        args.duration, args.warmup),))
    finally:
        server.terminate()
        server.wait(timeout=10)
        if not args.var_dir:
            shutil.rmtree(tmp, ignore_errors=True)
        services.close()
    # the baseline is the better of the two /ping runs (first and last): conservative
    trivial = max(r["rps"] for label, r in results if label.startswith("/ping"))
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores (wrk and the server share "
          f"them); wrk -t2 -c{args.connections} -d{args.duration}s after {args.warmup} s of "
          f"warm-up, random ids; server: "
          f"recsys serve {args.server}; "
          f"{'PostgreSQL 15' if args.postgres else 'SQLite'} + "
          f"{'OpenSearch 2.19.1' if args.opensearch else 'local vector index'}\n")
    print("| endpoint | requests | req/s | % of trivial | p50 (ms) | p99 (ms) | errors |")
    print("|---|---|---|---|---|---|---|")
    for label, r in results:
        print(f"| {label} | {r['requests']:.0f} | {r['rps']:.0f} | {100 * r['rps'] / trivial:.0f}%"
              f" | {r['p50']:.2f} | {r['p99']:.2f} | {r['errors']:.0f} |")


if __name__ == "__main__":
    main()
