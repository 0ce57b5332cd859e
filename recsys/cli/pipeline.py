"""``recsys pipeline``: the notebooks in order, with papermill."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from recsys.cli.common import command, settings_for
from recsys.errors import UsageError


def parse_value(text: str) -> Any:
    """A -p value as papermill would take it: JSON when it parses (numbers, booleans), else
    text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def cmd_pipeline(args: argparse.Namespace) -> int:
    from recsys.pipeline import runner as pipeline

    settings = settings_for(args)
    parameters: dict[str, Any] = {  # absolute paths: the notebooks run in notebooks/
        "data_dir": str(settings.data_dir), "var_dir": str(settings.var_dir),
        "database_url": settings.database_url, "vector_backend": settings.vector_backend,
        "synthetic": bool(args.synthetic)}
    for key, value in args.parameter or []:
        parameters[key] = parse_value(value)
    names = tuple(n.strip() for n in args.notebooks.split(",")) if args.notebooks else (
        pipeline.NOTEBOOKS)
    unknown = [n for n in names if n not in pipeline.NOTEBOOKS]
    if unknown:
        raise UsageError(f"unknown notebook(s) {unknown}; choose from {list(pipeline.NOTEBOOKS)}")
    if not args.quiet:
        from recsys.db.engine import masked

        source = "a synthetic dataset" if args.synthetic else str(settings.data_dir)
        count = f"{len(names)} notebook{'s' if len(names) != 1 else ''}"
        print(f"Pipeline: {count} on {source}, database "
              f"{masked(settings.database_url)}, vectors {settings.vector_backend}", flush=True)
    start = time.perf_counter()
    try:
        result = pipeline.run(parameters, names, runs_dir=args.runs_dir,
                              progress=not args.quiet)
    except pipeline.PipelineError as exc:
        print(f"recsys: pipeline failed: {exc}", file=sys.stderr)
        print(f"summary: {exc.run_dir / 'summary.md'}", file=sys.stderr)
        return 1
    print(f"\n  {'notebook':<22} {'status':<6} {'seconds':>9}")
    for step in result.steps:
        print(f"  {step['notebook']:<22} {step['status']:<6} {step['seconds']:>9.1f}")
    line = pipeline.quality(result.metrics)
    if line:
        print(line)
    print(f"Pipeline finished in {time.perf_counter() - start:.0f} s: executed notebooks and "
          f"summary in {result.run_dir}")
    return 0


def register(sub: Any) -> None:
    pipe = command(sub, "pipeline", "run the notebooks in order with papermill "
                   "(runs/<timestamp>/ holds the executed notebooks and a summary)",
                   data=True, database=True)
    pipe.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                      help="notebook parameter override, e.g. -p epochs 5 (repeatable)")
    pipe.add_argument("--synthetic", action="store_true",
                      help="run on a small synthetic dataset instead of the course CSVs")
    pipe.add_argument("--notebooks", help="comma-separated subset, in order (default: all)")
    pipe.add_argument("--runs-dir", default="runs", help="where run folders are written")
    pipe.add_argument("--quiet", action="store_true",
                      help="only the final table (no start, end and heartbeat lines)")
    pipe.set_defaults(func=cmd_pipeline)
