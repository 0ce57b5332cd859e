"""Benchmark: reads and writes together for minutes, with one change made behind the API's back.

The audit behind issue "Reliability, round 3" found that one change made outside the API
while ratings kept arriving made every worker reload its whole read model on every refresh
(47 reloads in 5 minutes, read p99 124 -> 541 ms on PostgreSQL). This runs the same load
twice against `recsys serve` (gunicorn, 2 workers) on the course data:

- reads: wrk at 32 connections on /recommendations (random users) for the whole run;
- writes: one process posting new ratings at 50 per second (random pairs not yet rated);
- once with an out-of-band change at minute 1 (in one SQL transaction: a new person and
  user, and a movie's title changed), once without.

Targets: at most one full reload per worker after the change (counted from the server log's
"read model loaded" lines); /recommendations p99 with the change within 1.5x of the run
without it; every 201 stored exactly once (its id holds its pair, no pair twice).

Usage: RECSYS_DATA_DIR=../shared/datasets .venv/bin/python bench/mixed_load.py
       --var-dir VAR   (a prepared var folder: ingested, trained, indexed, predicted; copied
                        for each run, never changed)
       [--postgres] [--minutes 5] [--change-at 60] [--rate 50] [--connections 32]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from api import parse_wrk, recsys, wait_until_answers  # noqa: E402 - bench/api.py

from recsys.testing.ports import free_port  # noqa: E402

RELOADED = "read model loaded"


def write_at_rate(base: str, rate: float, seconds: float, rated: set[tuple[int, int]],
                  seed: int, out: list[dict[str, Any]]) -> None:
    """Post ratings of pairs nobody has rated, ``rate`` per second, for ``seconds``; each
    201's body goes to ``out`` (other statuses as ``{"status": N}``)."""
    rng = random.Random(seed)
    start = time.monotonic()
    sent = 0
    while (now := time.monotonic()) - start < seconds:
        due = start + sent / rate
        if now < due:
            time.sleep(due - now)
        while True:
            pair = (rng.randint(1, 943), rng.randint(1, 1682))
            if pair not in rated:
                rated.add(pair)
                break
        body = json.dumps({"user_id": pair[0], "movie_id": pair[1],
                           "rating": rng.randint(1, 5)}).encode()
        request = urllib.request.Request(base + "/scores", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                out.append(json.loads(response.read()))
        except urllib.error.HTTPError as exc:
            out.append({"status": exc.code})
        sent += 1


def out_of_band_change(url: str) -> None:
    """What a person with SQL (or pgAdmin) might do: a new person and user, and a movie's
    title corrected, in one transaction."""
    import datetime as dt

    from sqlalchemy import func, select, update

    from recsys import db
    from recsys.db.schema import Movie, Person, User

    engine = db.make_engine(url)
    try:
        with engine.begin() as conn:
            new_id = conn.execute(select(func.max(Person.id))).scalar_one() + 1
            conn.execute(Person.__table__.insert().values(
                id=new_id, full_name="Out Of Band", birth_year=1980, gender="F",
                zip_code="00000"))
            conn.execute(User.__table__.insert().values(
                id=new_id, occupation="other", active_since=dt.datetime(1998, 1, 1)))
            conn.execute(update(Movie).where(Movie.id == 1)
                         .values(title=Movie.title + " [corrected]"))
    finally:
        engine.dispose()


def stored_once(url: str, created: list[dict[str, Any]]) -> tuple[int, int]:
    """How many 201s are in the database with their own pair, and how many pairs are there
    more than once (the unique constraint says none can be)."""
    from sqlalchemy import func, select

    from recsys import db
    from recsys.db.schema import Score

    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            rows = {r.id: (r.user_id, r.movie_id) for r in conn.execute(
                select(Score.id, Score.user_id, Score.movie_id)
                .where(Score.id.in_([c["id"] for c in created])))}
            twice = conn.execute(select(func.count()).select_from(
                select(Score.user_id, Score.movie_id).group_by(Score.user_id, Score.movie_id)
                .having(func.count() > 1).subquery())).scalar_one()
    finally:
        engine.dispose()
    good = sum(1 for c in created if rows.get(c["id"]) == (c["user_id"], c["movie_id"]))
    return good, int(twice)


def reload_times(log: Path) -> list[float]:
    """Wall-clock times of the server log's full reloads."""
    import datetime as dt

    times = []
    for line in log.read_text().splitlines():
        if RELOADED in line:
            stamp = line.split(" ", 2)[:2]
            parsed = dt.datetime.strptime(" ".join(stamp), "%Y-%m-%d %H:%M:%S,%f")
            times.append(parsed.timestamp())
    return times


def one_run(prepared: Path, postgres_url: str | None, change_at: float | None,
            args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="recsys-mixed-"))
    var = work / "var"
    shutil.copytree(prepared, var)
    env = dict(os.environ, RECSYS_VAR_DIR=str(var))
    for name in ("RECSYS_DATABASE_URL", "RECSYS_VECTOR_BACKEND", "RECSYS_OPENSEARCH_URL"):
        env.pop(name, None)
    url = postgres_url or f"sqlite:///{var / 'recsys.db'}"
    if postgres_url:  # the same starting point every run: the course data, fresh predictions
        env["RECSYS_DATABASE_URL"] = postgres_url
        recsys("ingest", "--replace", "--yes", "--force", env=env)
        recsys("predict", env=env)
    from recsys import datasets

    rated = {(int(u), int(m)) for u, m in zip(*[
        datasets.load(os.environ["RECSYS_DATA_DIR"]).dataset.scores[c]
        for c in ("user_id", "movie_id")])}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = work / "server.log"
    with open(log, "w") as stream:
        server = subprocess.Popen([sys.executable, "-m", "recsys.cli", "serve", "--port",
                                   str(port), "--server", "gunicorn", "--workers", "2",
                                   "--no-access-log"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=stream)
    seconds = int(args.minutes * 60)
    created: list[dict[str, Any]] = []
    try:
        wait_until_answers(base)
        time.sleep(5)  # both workers up
        wrk_env = dict(os.environ, WRK_PATH="/recommendations?user_id={id}&k=10",
                       WRK_MAX_ID="943")
        reads = subprocess.Popen(["wrk", "-t2", f"-c{args.connections}", f"-d{seconds}s",
                                  "--latency", "-s", str(HERE / "random_ids.lua"), base],
                                 env=wrk_env, stdout=subprocess.PIPE, text=True)
        writer = threading.Thread(target=write_at_rate, args=(base, args.rate, seconds - 2,
                                                              rated, 7, created))
        started = time.time()
        writer.start()
        changed_at = None
        if change_at is not None:
            time.sleep(change_at)
            changed_at = time.time()
            out_of_band_change(url)
        writer.join()
        wrk = parse_wrk(reads.communicate(timeout=seconds + 60)[0])
    finally:
        server.terminate()
        server.wait(timeout=30)
    reloads = reload_times(log)
    ok = [c for c in created if "id" in c]
    good, twice = stored_once(url, ok)
    statuses: dict[str, int] = {}
    for c in created:
        key = "201" if "id" in c else str(c["status"])
        statuses[key] = statuses.get(key, 0) + 1
    result = {"wrk": wrk, "writes": statuses, "write_rate": len(created) / (seconds - 2),
              "stored_once": good, "pairs_twice": twice,
              "reloads_total": len(reloads),
              "reloads_after_change": (sum(1 for t in reloads if t >= changed_at)
                                       if changed_at else None),
              "reloads_after_start": sum(1 for t in reloads if t >= started)}
    if postgres_url is None:
        shutil.rmtree(work, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--var-dir", required=True, help="a prepared var folder (copied)")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--change-at", type=float, default=60)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is required: apt-get install wrk")
    with ExitStack() as services:
        postgres_url = None
        if args.postgres:
            from recsys.testing.postgres import TemporaryPostgres

            postgres_url = services.enter_context(TemporaryPostgres()).url
        results = {}
        for name, change_at in (("without the change", None),
                                ("with the change", args.change_at)):
            print(f"run {name} ({args.minutes:g} min)...", flush=True)
            results[name] = one_run(Path(args.var_dir), postgres_url, change_at, args)
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores; "
          f"{'PostgreSQL 15' if args.postgres else 'SQLite'}; gunicorn, 2 workers; wrk -t2 "
          f"-c{args.connections} for {args.minutes:g} min on /recommendations; "
          f"{args.rate:g} writes/s; change at {args.change_at:g} s\n")
    print("| run | req/s | p50 (ms) | p99 (ms) | read errors | writes (status: count) | "
          "writes/s | 201s stored once | reloads after start | after the change |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        w = r["wrk"]
        print(f"| {name} | {w['rps']:.0f} | {w['p50']:.1f} | {w['p99']:.1f} | "
              f"{w['errors']:.0f} | {json.dumps(r['writes'])} | {r['write_rate']:.1f} | "
              f"{r['stored_once']} of {r['writes'].get('201', 0)} "
              f"({r['pairs_twice']} pairs twice) | {r['reloads_after_start']} | "
              f"{r['reloads_after_change'] if r['reloads_after_change'] is not None else '-'} |")
    ratio = (results["with the change"]["wrk"]["p99"]
             / results["without the change"]["wrk"]["p99"])
    print(f"\np99 with / without the change: {ratio:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
