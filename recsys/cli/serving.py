"""``recsys predict`` (batch predictions) and ``recsys serve`` (the API)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from recsys.cli.common import command, in_range, ray_address, ray_options, settings_for
from recsys.errors import UsageError


def cmd_predict(args: argparse.Namespace) -> int:
    from recsys.sharding import Shard

    settings = settings_for(args)
    in_range("--top-n", args.top_n, 1)
    shard = Shard.parse(args.shard)
    address = ray_address(args, settings)
    start = time.perf_counter()
    if address is not None:
        from recsys.distributed import ray_jobs

        if not shard.whole:
            raise UsageError("--ray splits the work into --shards itself: give no --shard")
        result = ray_jobs.predict(settings, address, top_n=args.top_n, shards=args.shards,
                                  say=print)
    else:
        from recsys import batch

        result = batch.run_from_settings(settings, top_n=args.top_n, shard=shard)
    result["seconds_with_model_load"] = round(time.perf_counter() - start, 3)
    print(json.dumps(result, indent=2))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import logging

    from recsys.api import server

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.no_access_log:
        logging.getLogger("recsys.api.access").setLevel(logging.WARNING)
    settings = settings_for(args)
    if args.server == "gunicorn":
        server.run_gunicorn(settings, host=args.host, port=args.port, workers=args.workers)
    else:
        from recsys.api import create_app

        server.run(create_app(settings), host=args.host, port=args.port, threads=args.threads)
    return 0


def register(sub: Any) -> None:
    predict = command(sub, "predict", "store every user's top-N unseen movies in the database "
                      "(batch prediction)", database=True)
    predict.add_argument("--top-n", type=int, default=100, help="movies stored per user")
    predict.add_argument("--shard", default="0/1", metavar="I/N",
                         help="score only the users with id %% N == I and replace only their "
                              "rows (N machines, one database; docs/SCALING.md)")
    ray_options(predict)
    predict.set_defaults(func=cmd_predict)

    default = "waitress" if sys.platform == "win32" else "gunicorn"
    serve = command(sub, "serve", f"run the API ({default} by default; Swagger UI at /swagger)",
                    database=True)
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument("--server", choices=["gunicorn", "waitress"], default=default,
                       help="gunicorn: worker processes; waitress: one process with threads "
                            "(also on Windows)")
    serve.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    serve.add_argument("--threads", type=int, default=8, help="waitress threads")
    serve.add_argument("--no-access-log", action="store_true",
                       help="do not log one line per request (benchmarks)")
    serve.set_defaults(func=cmd_serve)
