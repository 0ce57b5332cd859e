"""Benchmark: what the engines past one machine cost on one machine.

1. **Ray's overhead**: on the 1M-rating synthetic set (6,040 users, 3,706 movies), in a
   throwaway PostgreSQL with the vectors in a local OpenSearch node, `recsys train`,
   `recsys predict` and `recsys index` plain, then with `--ray` on a one-node Ray cluster
   started here (`ray start --head --num-cpus 2`; train with 2 workers, predict and index
   with 2 shards). On one machine Ray cannot be faster: this is the price of the scheduling,
   the worker processes and (for training) the gradient all-reduce.
2. **The OpenSearch cluster's search latency**: the learned movie vectors of that model in
   one node, then in a 3-node cluster on the same machine (a replica per shard); 8 threads
   ask for the 10 nearest movies of random movies for 30 s, as /similar_movies does
   (`embeddings.similar_records`); p50, p99 and searches per second.

Usage: .venv/bin/python bench/ray_cluster.py [--work DIR] [--skip-ray] [--skip-search]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

RECSYS = [sys.executable, "-m", "recsys.cli"]
LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def timed(args: list[str], env: dict[str, str], limit: float | None = None) -> float:
    """Seconds ``args`` took; with ``limit``, ``inf`` when it had not finished by then (it is
    stopped)."""
    started = time.perf_counter()
    try:
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return float("inf")
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    return time.perf_counter() - started


def args_limit(alone: float) -> float:
    """How long a --ray run may take before it is reported as "more than" (10x plain, at
    least 2 minutes): on two shared cores the all-reduce of every training step can make
    the distributed fit far slower than the plain one."""
    return max(120.0, 10 * alone)


def ray_overhead(work: Path, env: dict[str, str], stages: set[str]
                 ) -> list[tuple[str, float, float]]:
    """(stage, plain seconds, --ray seconds) for train, predict and index (``--ray`` only for
    the ``stages`` named; the others run plain, NaN for --ray)."""
    ray_bin = str(Path(sys.executable).with_name("ray"))
    port = 6390
    started = subprocess.run([ray_bin, "start", "--head", "--num-cpus", "2",
                              "--port", str(port), "--include-dashboard", "false"],
                             env=env, capture_output=True, text=True)
    if started.returncode != 0:
        raise SystemExit(f"ray start failed: {started.stderr[-2000:]}")
    address = f"127.0.0.1:{port}"
    rows = []
    try:
        for stage, plain, distributed in (
                ("train", ["train", "--quiet"],
                 ["train", "--quiet", "--ray", address, "--workers", "2"]),
                ("predict", ["predict"], ["predict", "--ray", address, "--shards", "2"]),
                ("index", ["index"], ["index", "--ray", address, "--shards", "2"])):
            print(f"{stage}: plain...", flush=True)
            alone = timed([*RECSYS, *plain], env)
            if stage not in stages:
                rows.append((stage, alone, float("nan")))
                continue
            print(f"{stage}: --ray...", flush=True)
            on_ray = timed([*RECSYS, *distributed], env, limit=args_limit(alone))
            rows.append((stage, alone, on_ray))
    finally:
        subprocess.run([ray_bin, "stop", "--force"], env=env, capture_output=True)
    return rows


def search_latency(url: str, env: dict[str, str], seconds: float = 30.0,
                   threads: int = 8) -> dict[str, float]:
    """Index the learned vectors into ``url`` and measure /similar_movies' searches."""
    from recsys import db
    from recsys.config import get_settings
    from recsys.models import Recommender
    from recsys.vectors import embeddings
    from recsys.vectors.opensearch import OpenSearchVectorStore, make_client

    settings = get_settings(env_file=None).replace(database_url=env["RECSYS_DATABASE_URL"],
                                                   var_dir=Path(env["RECSYS_VAR_DIR"]))
    engine = db.make_engine(settings.database_url)
    data = db.read_dataset(engine)
    engine.dispose()
    model = Recommender.load(settings.model_dir, data=data)
    store = OpenSearchVectorStore(make_client(url, timeout=30), prefix="recsys-bench-",
                                  url=url)
    embeddings.write_index(store, "movies_learned", model.movie_embeddings(),
                           embeddings.movie_metadata(data))
    movies = [int(m) for m in data.movies["id"]]
    times: list[float] = []
    stop = threading.Event()

    def ask(seed: int) -> None:
        rng = random.Random(seed)
        mine = []
        while not stop.is_set():
            movie = rng.choice(movies)
            started = time.perf_counter()
            embeddings.similar_records(store, movie, 10)
            mine.append(time.perf_counter() - started)
        times.extend(mine)

    workers = [threading.Thread(target=ask, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    time.sleep(seconds)
    stop.set()
    for worker in workers:
        worker.join()
    store.drop_index("movies_learned")
    ordered = sorted(times)
    return {"p50": 1000 * ordered[len(ordered) // 2],
            "p99": 1000 * ordered[int(len(ordered) * 0.99)],
            "per_second": len(ordered) / seconds, "searches": len(ordered)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", help="keeps the 1M CSVs and the var folder (reused)")
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--ray-stages", default="train,predict,index",
                        help="which stages also run with --ray (all run plain)")
    args = parser.parse_args()
    from recsys.testing.opensearch import OpenSearchNode
    from recsys.testing.opensearch_cluster import OpenSearchCluster
    from recsys.testing.postgres import TemporaryPostgres

    work = Path(args.work or tempfile.mkdtemp(prefix="recsys-bench-ray-"))
    data = work / "synthetic-1m"
    if not (data / "scores.csv").is_file():
        timed([*RECSYS, "data", "synthetic", str(data), "--users", "6040", "--movies", "3706",
               "--ratings", "1000000", "--seed", "1"], dict(os.environ))
    var = work / "var"
    shutil.rmtree(var, ignore_errors=True)
    with TemporaryPostgres() as pg, OpenSearchNode(heap_mb=1024) as node:
        env = {**os.environ, **LOOPBACK, "RECSYS_DATA_DIR": str(data),
               "RECSYS_VAR_DIR": str(var), "RECSYS_DATABASE_URL": pg.url,
               "RECSYS_VECTOR_BACKEND": "opensearch", "RECSYS_OPENSEARCH_URL": node.url}
        env.pop("RECSYS_RAY_ADDRESS", None)
        print("ingest...", flush=True)
        timed([*RECSYS, "ingest"], env)
        rows = [] if args.skip_ray else ray_overhead(work, env, set(args.ray_stages.split(",")))
        searches = {}
        if not args.skip_search:
            if not (var / "model" / "LATEST").is_file():
                timed([*RECSYS, "train", "--quiet"], env)
            print("search: one node...", flush=True)
            searches["one node (1 GB heap)"] = search_latency(node.url, env)
    if not args.skip_search:
        with TemporaryPostgres() as pg, OpenSearchCluster(nodes=3, heap_mb=512) as cluster:
            env["RECSYS_DATABASE_URL"] = pg.url
            timed([*RECSYS, "ingest"], env)
            print("search: three nodes...", flush=True)
            searches["3-node cluster (512 MB heap each, 1 replica)"] = search_latency(
                cluster.url, env)
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores; 1M synthetic ratings "
          "(6,040 users x 3,706 movies); PostgreSQL 15, OpenSearch 2.19.1\n")
    if rows:
        print("| stage | plain (s) | --ray on one node (s) | overhead |")
        print("|---|---|---|---|")
        for stage, alone, on_ray in rows:
            if on_ray != on_ray:  # NaN: not run with --ray
                print(f"| {stage} | {alone:.1f} | (not run) | |")
            elif on_ray == float("inf"):
                print(f"| {stage} | {alone:.1f} | more than {args_limit(alone):.0f} (stopped) | "
                      f"more than {args_limit(alone) / alone:.0f}x |")
            else:
                print(f"| {stage} | {alone:.1f} | {on_ray:.1f} | {on_ray / alone:.2f}x |")
    if searches:
        print("\n| vector store | searches/s | p50 (ms) | p99 (ms) |")
        print("|---|---|---|---|")
        for name, r in searches.items():
            print(f"| {name} | {r['per_second']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} |")


if __name__ == "__main__":
    main()
