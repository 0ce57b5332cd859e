"""The ``recsys`` command: one subcommand per pipeline stage, each a thin call into the package.

Errors a user can fix (missing data, invalid input) print one clear line to stderr and exit
with status 2; nothing prints a traceback for them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

from recsys.config import Settings, get_settings
from recsys.errors import RecsysError


class UserError(RecsysError):
    """A problem with the command line the user can fix; printed without a traceback."""


def _settings(args: argparse.Namespace) -> Settings:
    settings = get_settings()
    changes: dict[str, object] = {}
    if getattr(args, "data_dir", None):
        changes["data_dir"] = Path(args.data_dir)
    if getattr(args, "database_url", None):
        changes["database_url"] = args.database_url
    return settings.replace(**changes) if changes else settings


# -- data ---------------------------------------------------------------------------------------
def cmd_data_fetch(args: argparse.Namespace) -> int:
    from recsys import datasets

    settings = _settings(args)
    missing = datasets.missing_files(settings.data_dir)
    if not missing:
        print(f"The five CSVs are already in {settings.data_dir}; nothing to fetch.")
        return 0
    print(f"Fetching MovieLens 100K into {settings.data_dir} (missing: {', '.join(missing)})")
    paths = datasets.fetch(settings.data_dir, seed=settings.seed)
    print("Wrote " + ", ".join(str(p) for p in paths))
    return 0


def cmd_data_validate(args: argparse.Namespace) -> int:
    from recsys import datasets

    settings = _settings(args)
    result = datasets.load(settings.data_dir, report_dir=settings.reports_dir)
    _print_load(result, settings)
    return 0


def cmd_data_synthetic(args: argparse.Namespace) -> int:
    from recsys import datasets

    data = datasets.synthetic(n_users=args.users, n_movies=args.movies,
                              ratings_per_user=args.ratings_per_user, seed=args.seed)
    paths = datasets.save(data, args.out_dir)
    print(f"Wrote a synthetic dataset ({data.counts()}) to {args.out_dir}: "
          + ", ".join(p.name for p in paths))
    return 0


def _print_load(result: object, settings: Settings) -> None:
    from recsys.datasets import LoadResult

    assert isinstance(result, LoadResult)
    print(f"Data from {settings.data_dir}:")
    print(result.summary.to_string(index=False))
    if not result.report.empty:
        print("\nReported rows by reason:")
        print(result.reasons().to_string(index=False))
    print(f"\nFull report: {settings.reports_dir / 'load_report.csv'}")


# -- ingest -------------------------------------------------------------------------------------
def cmd_ingest(args: argparse.Namespace) -> int:
    from recsys import datasets, db

    settings = _settings(args)
    result = datasets.load(settings.data_dir, report_dir=settings.reports_dir)
    _print_load(result, settings)
    engine = db.make_engine(settings.database_url)
    try:
        db.check_connection(engine)
        report = db.ingest(result.dataset, engine, replace=args.replace, force=args.force)
        dangling = db.dangling_references(engine)
    finally:
        engine.dispose()
    print(f"\nIngested ({report.mode}) into {db.masked(engine.url)} in {report.seconds:.2f} s:")
    print(report.table().rename(columns={"table": ""}).to_string(index=False))
    broken = {k: v for k, v in dangling.items() if v}
    print("Dangling references: " + (json.dumps(broken) if broken else "none"))
    return 0 if not broken else 1


# -- model --------------------------------------------------------------------------------------
def _model_config(args: argparse.Namespace, settings: Settings) -> object:
    from recsys.model import ModelConfig

    changes: dict[str, object] = {"seed": settings.seed}
    if getattr(args, "epochs", None):
        changes["max_epochs"] = args.epochs
    if getattr(args, "seed", None) is not None:
        changes["seed"] = args.seed
    return ModelConfig(**changes)  # type: ignore[arg-type]


def cmd_train(args: argparse.Namespace) -> int:
    from recsys import db, training

    settings = _settings(args)
    engine = db.make_engine(settings.database_url)
    try:
        data = db.read_dataset(engine)
    finally:
        engine.dispose()
    model_dir = Path(args.model_dir) if args.model_dir else settings.model_dir
    model, metrics = training.train(data, model_dir, _model_config(args, settings),
                                    holdout=args.holdout, k=args.k, progress=not args.quiet)
    print(json.dumps(metrics, indent=2))
    print(f"Saved model {model.version} to {model_dir / model.version} "
          f"(trained in {model.fit_seconds:.1f} s)")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from recsys import datasets, training

    settings = _settings(args)
    data = datasets.load(settings.data_dir).dataset
    train_scores = test_scores = None
    if args.train or args.test:
        if not (args.train and args.test):
            raise UserError("give both --train and --test, or neither")
        train_scores, train_report = datasets.load_scores(args.train, data)
        test_scores, test_report = datasets.load_scores(args.test, data)
        for name, report in ((args.train, train_report), (args.test, test_report)):
            rejected = report[report["severity"] == "rejected"]
            if len(rejected):
                print(f"{name}: {len(rejected)} row(s) rejected, e.g. line "
                      f"{rejected.iloc[0]['line']}: {rejected.iloc[0]['reason']}",
                      file=sys.stderr)
    if args.predictions_out and not (args.train and args.test):
        print("note: on k folds the output files carry a fold column", file=sys.stderr)
    names = tuple(n.strip() for n in args.models.split(",")) if args.models else (
        "model", *training.BASELINES)
    summary = training.evaluate(
        data, _model_config(args, settings), folds=args.folds, train_scores=train_scores,
        test_scores=test_scores, names=names, k=args.k, predictions_out=args.predictions_out,
        recommendations_out=args.recommendations_out, progress=not args.quiet)
    table = {str(model): {metric: (None if value != value else round(float(value), 5))
                          for metric, value in row.items()}
             for model, row in summary.iterrows()}
    print(json.dumps(table, indent=2))
    return 0


# -- vectors and clusters -----------------------------------------------------------------------
def _data_and_model(settings: Settings, required: bool) -> tuple[object, object]:
    """The database contents, and the latest trained model (None when absent and optional)."""
    from recsys import db
    from recsys.model import ModelError, Recommender

    engine = db.make_engine(settings.database_url)
    try:
        data = db.read_dataset(engine)
    finally:
        engine.dispose()
    try:
        model = Recommender.load(settings.model_dir, data=data)
    except ModelError:
        if required:
            raise
        model = None
    return data, model


def cmd_index(args: argparse.Namespace) -> int:
    from recsys import embeddings
    from recsys.vectors import open_store

    settings = _settings(args)
    data, model = _data_and_model(settings, required=False)
    if model is None:
        print("No trained model yet: indexing content vectors only (run `recsys train`, then "
              "`recsys index` again for learned vectors).")
    counts = embeddings.index_all(data, open_store(settings), model)
    for name, count in counts.items():
        print(f"  {name:<16} {count:>6} vectors")
    return 0


def cmd_similar(args: argparse.Namespace) -> int:
    from recsys import embeddings
    from recsys.vectors import open_store

    settings = _settings(args)
    if args.k < 1 or args.k > 100:
        raise UserError(f"--k must be between 1 and 100, got {args.k}")
    try:
        table = embeddings.similar_movies(open_store(settings), args.movie_id, args.k,
                                          args.kind)
    except embeddings.MovieNotIndexed as exc:
        raise UserError(str(exc)) from None
    if args.json:
        print(table.to_json(orient="records", indent=2))
    else:
        print(table.to_string(index=False))
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    from recsys import clustering, db

    settings = _settings(args)
    data, model = _data_and_model(settings, required=True)
    client = None
    backend = "sklearn"
    if settings.vector_backend == "opensearch":
        from recsys.vectors.opensearch import make_client

        backend = "opensearch"
        client = make_client(settings.opensearch_url, settings.opensearch_user,
                             settings.opensearch_password, settings.opensearch_verify_certs)
    vectors = model.user_embeddings()  # type: ignore[attr-defined]
    result = clustering.cluster_users(vectors, k=args.k, max_k=args.max_k, seed=settings.seed,
                                      backend=backend, client=client)
    table = clustering.profiles(data, result)  # type: ignore[arg-type]
    engine = db.make_engine(settings.database_url)
    try:
        clustering.store(engine, result, table, model.version)  # type: ignore[attr-defined]
    finally:
        engine.dispose()
    if not result.selection.empty:
        print(result.selection.to_string(index=False))
    print(f"\n{result.k} clusters ({backend}), stored in the database:")
    for row in table.itertuples():
        print(f"  {row.cluster}: {row.description}")
    return 0


# -- batch and API ------------------------------------------------------------------------------
def cmd_predict(args: argparse.Namespace) -> int:
    from recsys import batch, db
    from recsys.model import Recommender

    settings = _settings(args)
    if args.top_n < 1:
        raise UserError(f"--top-n must be at least 1, got {args.top_n}")
    start = time.perf_counter()
    engine = db.make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            from sqlalchemy import select

            from recsys.schema import Movie

            movie_ids = conn.execute(select(Movie.id)).scalars().all()
        model = Recommender.load(settings.model_dir, movie_ids=movie_ids)
        result = batch.run(engine, model, top_n=args.top_n)
    finally:
        engine.dispose()
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
    settings = _settings(args)
    if args.server == "gunicorn":
        server.run_gunicorn(settings, host=args.host, port=args.port, workers=args.workers)
    else:
        from recsys.api import create_app

        server.run(create_app(settings), host=args.host, port=args.port, threads=args.threads)
    return 0


# -- pipeline -----------------------------------------------------------------------------------
def _parse_value(text: str) -> object:
    """A -p value as papermill would take it: JSON when it parses (numbers, booleans), else text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def cmd_pipeline(args: argparse.Namespace) -> int:
    from recsys import pipeline

    settings = _settings(args)
    parameters: dict[str, object] = {
        "data_dir": str(settings.data_dir.resolve()),
        "var_dir": str(settings.var_dir.resolve()),
        "database_url": settings.database_url,
        "vector_backend": settings.vector_backend,
        "synthetic": bool(args.synthetic),
    }
    for key, value in args.parameter or []:
        parameters[key] = _parse_value(value)
    names = tuple(n.strip() for n in args.notebooks.split(",")) if args.notebooks else (
        pipeline.NOTEBOOKS)
    unknown = [n for n in names if n not in pipeline.NOTEBOOKS]
    if unknown:
        raise UserError(f"unknown notebook(s) {unknown}; choose from {list(pipeline.NOTEBOOKS)}")
    start = time.perf_counter()
    try:
        result = pipeline.run(parameters, names, runs_dir=args.runs_dir,
                              progress=not args.quiet)
    except pipeline.PipelineError as exc:
        print(f"recsys: pipeline failed: {exc}", file=sys.stderr)
        print(f"summary: {exc.run_dir / 'summary.md'}", file=sys.stderr)
        return 1
    for step in result.steps:
        print(f"  {step['notebook']:<22} {step['status']:<6} {step['seconds']:>7.1f} s")
    print(f"Pipeline finished in {time.perf_counter() - start:.0f} s: executed notebooks and "
          f"summary in {result.run_dir}")
    return 0


# -- parser -------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and documentation)."""
    parser = argparse.ArgumentParser(
        prog="recsys", description="Movie recommendation system: data, model, vectors, API.")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of any error")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_data(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--data-dir", help="folder with the five CSVs (RECSYS_DATA_DIR)")
        return p

    def with_db(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--database-url", help="SQLAlchemy URL (RECSYS_DATABASE_URL)")
        return p

    data = sub.add_parser("data", help="obtain, validate or synthesise the CSVs")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    with_data(data_sub.add_parser("fetch", help="download MovieLens 100K as the five CSVs")
              ).set_defaults(func=cmd_data_fetch)
    with_data(data_sub.add_parser("validate", help="load, validate and report")
              ).set_defaults(func=cmd_data_validate)
    syn = data_sub.add_parser("synthetic", help="write a small synthetic dataset")
    syn.add_argument("out_dir")
    syn.add_argument("--users", type=int, default=60)
    syn.add_argument("--movies", type=int, default=120)
    syn.add_argument("--ratings-per-user", type=int, default=25)
    syn.add_argument("--seed", type=int, default=0)
    syn.set_defaults(func=cmd_data_synthetic)

    ingest = with_db(with_data(sub.add_parser(
        "ingest", help="validate the CSVs and merge them into the database (idempotent)",
        description="Validate the CSVs and load them into the database in one transaction. "
                    "By default rows are merged by key: CSV rows are inserted or updated and "
                    "rows that exist only in the database (ratings posted through the API) "
                    "are kept. Ingest refuses, changing nothing, when a required file yields "
                    "no valid row or a table would lose more than half of its rows.")))
    ingest.add_argument("--replace", action="store_true",
                        help="make the tables exactly the CSVs (drops rows that exist only in "
                             "the database, clears predictions and clusters)")
    ingest.add_argument("--force", action="store_true",
                        help="load even when a file yields no valid row or a table would "
                             "lose more than half of its rows")
    ingest.set_defaults(func=cmd_ingest)

    train = with_db(sub.add_parser("train", help="train the model on the ingested data"))
    train.add_argument("--model-dir", help="artifact root (default: <RECSYS_VAR_DIR>/model)")
    train.add_argument("--epochs", type=int, help="maximum epochs (early stopping may end "
                       "sooner)")
    train.add_argument("--seed", type=int, help="random seed (default: RECSYS_SEED)")
    train.add_argument("--holdout", type=float, default=0.1,
                       help="share of ratings held out for the saved metrics (0 skips)")
    train.add_argument("--k", type=int, default=10, help="cut-off of ranking metrics")
    train.add_argument("--quiet", action="store_true")
    train.set_defaults(func=cmd_train)

    evaluate = with_data(sub.add_parser(
        "evaluate", help="k-fold (or explicit train/test) comparison with the baselines"))
    evaluate.add_argument("--folds", type=int, default=5)
    evaluate.add_argument("--train", help="CSV shaped like scores.csv to train on")
    evaluate.add_argument("--test", help="CSV shaped like scores.csv to evaluate on")
    evaluate.add_argument("--predictions-out", help="write user_id,movie_id,rating,predicted")
    evaluate.add_argument("--recommendations-out", help="write user_id,rank,movie_id")
    evaluate.add_argument("--k", type=int, default=10)
    evaluate.add_argument("--models", help="comma-separated subset of: model, global_mean, "
                          "biases, popularity, ease, reference")
    evaluate.add_argument("--epochs", type=int, help="maximum epochs of the Keras models")
    evaluate.add_argument("--seed", type=int)
    evaluate.add_argument("--quiet", action="store_true")
    evaluate.set_defaults(func=cmd_evaluate)

    with_db(sub.add_parser("index", help="write movie and user vectors to the vector store")
            ).set_defaults(func=cmd_index)

    similar = sub.add_parser("similar", help="movies similar to one movie")
    similar.add_argument("movie_id", type=int)
    similar.add_argument("--k", type=int, default=10)
    similar.add_argument("--kind", choices=["learned", "content"], default="learned")
    similar.add_argument("--json", action="store_true", help="print JSON records")
    similar.set_defaults(func=cmd_similar)

    cluster = with_db(sub.add_parser("cluster", help="k-means clusters of users, stored in "
                                                     "the database"))
    cluster.add_argument("--k", type=int, help="number of clusters (default: best silhouette)")
    cluster.add_argument("--max-k", type=int, default=10)
    cluster.set_defaults(func=cmd_cluster)

    predict = with_db(sub.add_parser("predict", help="store every user's top-N unseen movies "
                                                     "(batch prediction)"))
    predict.add_argument("--top-n", type=int, default=100)
    predict.set_defaults(func=cmd_predict)

    serve = with_db(sub.add_parser("serve", help="run the API on waitress"))
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--server", choices=["gunicorn", "waitress"],
                       default="waitress" if sys.platform == "win32" else "gunicorn",
                       help="gunicorn: worker processes (default); waitress: threads")
    serve.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    serve.add_argument("--threads", type=int, default=8, help="waitress threads")
    serve.add_argument("--no-access-log", action="store_true",
                       help="do not log one line per request (benchmarks)")
    serve.set_defaults(func=cmd_serve)

    pipe = with_db(with_data(sub.add_parser(
        "pipeline", help="run the notebooks in order with papermill (runs/<timestamp>/)")))
    pipe.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                      help="notebook parameter override, e.g. -p epochs 5 (repeatable)")
    pipe.add_argument("--synthetic", action="store_true",
                      help="run on a small synthetic dataset instead of the course CSVs")
    pipe.add_argument("--notebooks", help="comma-separated subset, in order")
    pipe.add_argument("--runs-dir", default="runs")
    pipe.add_argument("--quiet", action="store_true", help="no per-cell progress bars")
    pipe.set_defaults(func=cmd_pipeline)
    return parser


def _database_problem(exc: BaseException, args: argparse.Namespace) -> str | None:
    """One line for a database that cannot be reached (driver errors are long)."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    if not isinstance(exc, (OperationalError, InterfaceError)):
        return None
    from recsys.db.engine import connection_problem, masked

    url = getattr(args, "database_url", None) or get_settings().database_url
    return f"cannot use the database at {masked(url)}: {connection_problem(exc)}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``recsys`` console script.

    Problems the user can fix (:class:`~recsys.errors.RecsysError`, an unreachable database)
    print one line and exit with status 2; anything else is a bug and shows its traceback.
    ``--debug`` shows the traceback for everything.
    """
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except RecsysError as exc:
        if args.debug:
            raise
        print(f"recsys: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("recsys: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        problem = _database_problem(exc, args)
        if problem is None or args.debug:
            raise
        print(f"recsys: error: {problem}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
