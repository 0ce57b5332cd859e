"""The ``recsys`` command: one subcommand per pipeline stage, each a thin call into the package.

Commands are grouped in small modules (:mod:`.data`, :mod:`.database`, :mod:`.model`,
:mod:`.vectors`, :mod:`.serving`, :mod:`.pipeline`), each with a ``register`` function that
adds its parsers.
Heavy libraries (pandas, TensorFlow, SQLAlchemy) are imported inside the commands, so
``recsys --help`` and argument errors answer at once.

Problems the user can fix (a :class:`~recsys.errors.RecsysError`, an unreachable database)
print one line on stderr and exit with status 2; anything else is a bug and shows its
traceback. ``--debug`` shows the traceback for everything.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from recsys.cli import data, database, model, pipeline, serving, vectors
from recsys.cli.common import database_problem
from recsys.errors import RecsysError

GROUPS = (data, database, model, vectors, serving, pipeline)


class Parser(argparse.ArgumentParser):
    """argparse, suggesting the nearest subcommand for a mistyped one."""

    def error(self, message: str) -> NoReturn:
        if "invalid choice:" in message and "choose from" in message:
            given = message.split("invalid choice:", 1)[1].split("(", 1)[0].strip(" '")
            options = [o.strip(" ',)") for o in message.split("choose from", 1)[1].split(",")]
            close = difflib.get_close_matches(given, options, n=1)
            if close:
                message += f"; did you mean {close[0]!r}?"
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and documentation)."""
    parser = Parser(prog="recsys",
                    description="Movie recommendation system: data, model, vectors, API.")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of any error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=Parser)
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``recsys`` console script."""
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
        problem = database_problem(exc, args)
        if problem is None or args.debug:
            raise
        print(f"recsys: error: {problem}", file=sys.stderr)
        return 2
