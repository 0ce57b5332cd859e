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
    from recsys.predictions.sharding import Shard

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
        from recsys.predictions import batch

        result = batch.run_from_settings(settings, top_n=args.top_n, shard=shard)
    result["seconds_with_model_load"] = round(time.perf_counter() - start, 3)
    print(json.dumps(result, indent=2))
    return 0


#: The user id a ``--rated`` list is scored as: no database id (they start at 1), so the
#: model treats it as a new user.
NEW_USER = 0


def parse_rated(text: str, scale: Any) -> list[tuple[int, float]]:
    """``"50:5,172:4"`` as (movie id, rating) pairs on the data's rating scale, or a
    :class:`UsageError` naming the item that is wrong."""
    pairs: dict[int, float] = {}
    for item in (part.strip() for part in text.split(",")):
        movie, colon, rating = item.partition(":")
        try:
            if not colon:
                raise ValueError
            movie_id, value = int(movie), float(rating)
        except ValueError:
            raise UsageError(f"--rated wants MOVIE:RATING pairs separated by commas (e.g. "
                             f"50:5,172:4), got {item!r}") from None
        if not bool(scale.valid([value])[0]):
            raise UsageError(f"--rated {item}: {scale.message()}")
        pairs[movie_id] = int(value) if scale.whole else value
    return list(pairs.items())


def cmd_recommend(args: argparse.Namespace) -> int:
    from recsys import db
    from recsys.api.recommendations import Explainer, NoModelToScore, recommendations
    from recsys.db import info as described
    from recsys.models import Recommender
    from recsys.readmodel.queries import movie_infos, user_snapshot
    from recsys.readmodel.snapshot import Snapshot
    from recsys.rules import LIKED_RATING

    settings = settings_for(args)
    in_range("--k", args.k, 1, 100)
    if (args.user_id is None) == (args.rated is None):
        raise UsageError("give a USER_ID, or --rated MOVIE:RATING,... for a new user")
    engine = db.make_engine(settings.database_url)
    try:
        model = Recommender.load(settings.model_dir)
        with engine.connect() as conn:
            if args.rated is not None:
                rated = parse_rated(args.rated, described.read(conn).rating_scale)
                known = movie_infos(conn, [m for m, _ in rated])
                unknown = [m for m, _ in rated if m not in known]
                if unknown:
                    raise UsageError(f"--rated: no movie {unknown[0]} in the database")
                user = NEW_USER
                snap = Snapshot(users={user}, rated={user: {m for m, _ in rated}},
                                liked={user: sorted(((m, r) for m, r in rated
                                                     if r >= LIKED_RATING),
                                                    key=lambda pair: -pair[1])})
            else:
                user = args.user_id
                snap = user_snapshot(conn, user)
                if user not in snap.users:
                    raise UsageError(f"user {user} does not exist (`recsys recommend --rated "
                                     "MOVIE:RATING,...` recommends for someone new)")
            try:
                payload = recommendations(snap, user, args.k, model, Explainer(), {},
                                          lambda ids: movie_infos(conn, ids))
            except NoModelToScore as exc:
                raise UsageError(str(exc)) from None
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps(payload, indent=2, default=str))
        return 0
    who = "a new user" if args.rated is not None else f"user {user}"
    print(f"Top {len(payload['recommendations'])} for {who} ({payload['source']}, model "
          f"{payload['model_version']}):")
    for rec in payload["recommendations"]:
        print(f"  {rec['rank']:>2}. {rec['title']}  (movie {rec['movie_id']}; predicted "
              f"{rec['predicted_rating']:.2f}, score {rec['score']:.2f}): {rec['reason']['text']}")
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

    recommend = command(sub, "recommend", "one user's top movies with a reason for each, as "
                        "the API gives them (or a new user's, from ratings given here)",
                        database=True)
    recommend.add_argument("user_id", type=int, nargs="?", help="a user's database id")
    recommend.add_argument("--rated", metavar="MOVIE:RATING,...",
                           help="instead of a user: the ratings of someone new, e.g. "
                                "50:5,172:4,1:3")
    recommend.add_argument("--k", type=int, default=10, help="how many movies (1-100)")
    recommend.add_argument("--json", action="store_true", help="print the API's JSON answer")
    recommend.set_defaults(func=cmd_recommend)

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
