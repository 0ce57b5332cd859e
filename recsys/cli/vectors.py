"""``recsys index``, ``recsys similar`` and ``recsys cluster``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from recsys.cli.common import command, in_range, ray_address, ray_options, settings_for
from recsys.errors import RecsysError, UsageError

if TYPE_CHECKING:  # the command line imports pandas and TensorFlow only when a command runs
    pass


def cmd_index(args: argparse.Namespace) -> int:
    from recsys.predictions.sharding import Shard
    from recsys.vectors import embeddings

    settings = settings_for(args)
    shard = Shard.parse(args.shard)
    if (args.prepare or args.publish) and not shard.whole:
        raise UsageError("--prepare and --publish act on every shard: run each once, "
                         "without --shard")
    if args.prepare and args.publish:
        raise UsageError("--prepare stages empty indexes and --publish serves them: run "
                         "--prepare, then the shards, then --publish")
    if args.publish:
        for name, count in embeddings.publish_from_settings(settings).items():
            print(f"  {name:<16} {count:>6} vectors, now served")
        return 0
    address = ray_address(args, settings)
    if address is not None:
        from recsys.distributed import ray_jobs

        if not shard.whole or args.prepare:
            raise UsageError("--ray prepares the indexes and splits the work into --shards "
                             "itself: give neither --shard nor --prepare")
        counts, trained = ray_jobs.index(settings, address, shards=args.shards, say=print)
    else:
        counts, trained = embeddings.index_from_settings(settings, shard=shard,
                                                         prepare=args.prepare)
    if not trained:
        print("No trained model yet: indexed content vectors only (run `recsys train`, then "
              "`recsys index` again for learned vectors).")
    if args.prepare:
        print("Staged empty indexes " + ", ".join(counts) + " (the current ones are still "
              "served): now run `recsys index --shard I/N` on each machine, then `recsys "
              "index --publish` once.")
        return 0
    label = "" if shard.whole else f" (shard {shard}; `recsys index --publish` after the last)"
    for name, count in counts.items():
        print(f"  {name:<16} {count:>6} vectors{label}")
    return 0


def cmd_similar(args: argparse.Namespace) -> int:
    from recsys.vectors import embeddings, open_store
    from recsys.vectors.base import IndexNotFound

    settings = settings_for(args)
    in_range("--k", args.k, 1, 100)
    store = open_store(settings)
    try:
        title, table = embeddings.similar_to(store, args.movie_id, args.k, args.kind)
    except IndexNotFound:
        if args.kind == "learned":
            raise RecsysError(
                "no learned vectors yet: they come from a trained model (`recsys train`, then "
                "`recsys index`); content vectors need no model: add --kind content") from None
        raise RecsysError("no content vectors yet: run `recsys index`") from None
    except embeddings.MovieNotIndexed as exc:
        raise RecsysError(f"{exc}: is the id right? (`recsys index` indexes every movie of "
                          "the database)") from None
    if args.json:
        print(table.to_json(orient="records", indent=2))
    else:
        print(f"Movies most similar to {title} (movie {args.movie_id}), {args.kind} vectors:")
        print(table.to_string(index=False))
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    from recsys import db
    from recsys.vectors import clustering, embeddings

    settings = settings_for(args)
    data, model = embeddings.data_and_model(settings, required=True)
    assert model is not None  # required=True raised otherwise
    result = clustering.cluster_users(model.user_embeddings(), k=args.k, max_k=args.max_k,
                                      seed=settings.seed, settings=settings)
    table = clustering.profiles(data, result)
    engine = db.make_engine(settings.database_url)
    try:
        clustering.store(engine, result, table, model.version)
    finally:
        engine.dispose()
    if not result.selection.empty:
        print(result.selection.to_string(index=False))
    best = result.selection.set_index("k")["silhouette"].get(result.k)
    if best is not None:
        print(clustering.interpret_silhouette(float(best)))
    print(f"\n{result.k} clusters ({result.backend}), stored in the database:")
    for row in table.itertuples():
        print(f"  {row.cluster}: {row.description}")
    return 0


def register(sub: Any) -> None:
    index = command(sub, "index", "write movie and user vectors to the vector store (content, "
                    "and learned when a model exists)", database=True)
    index.add_argument("--shard", default="0/1", metavar="I/N",
                       help="write only the ids with id %% N == I into the staged indexes "
                            "(N machines, one vector store; docs/SCALING.md)")
    index.add_argument("--prepare", action="store_true",
                       help="stage the indexes empty, once, before sharded runs (the current "
                            "ones stay served)")
    index.add_argument("--publish", action="store_true",
                       help="serve the staged indexes, once, after the last shard")
    ray_options(index)
    index.set_defaults(func=cmd_index)

    similar = command(sub, "similar", "movies similar to one movie (never the movie itself)")
    similar.add_argument("movie_id", type=int, help="the movie's id")
    similar.add_argument("--k", type=int, default=10, help="how many movies (1-100)")
    similar.add_argument("--kind", choices=["learned", "content"], default="learned",
                         help="learned vectors (need a trained model) or content vectors "
                              "(genres and year)")
    similar.add_argument("--json", action="store_true", help="print JSON records")
    similar.set_defaults(func=cmd_similar)

    cluster = command(sub, "cluster", "k-means clusters of users on their learned vectors, "
                      "profiles stored in the database", database=True)
    cluster.add_argument("--k", type=int, help="number of clusters (default: the best "
                                               "silhouette in 2..--max-k)")
    cluster.add_argument("--max-k", type=int, default=10, help="largest k considered")
    cluster.set_defaults(func=cmd_cluster)
