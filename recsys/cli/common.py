"""What the command modules share: settings from options, common options, help formatting."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from recsys.config import Settings, get_settings
from recsys.errors import UsageError


class HELP(argparse.HelpFormatter):
    """Help that shows an option's default when it has a meaningful one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (action.default not in (None, False, argparse.SUPPRESS)
                and "default" not in text and action.option_strings):
            text += " (default: %(default)s)"
        return text


def command(sub: Any, name: str, summary: str, description: str | None = None,
            data: bool = False, database: bool = False) -> argparse.ArgumentParser:
    """A subcommand parser showing defaults in its help, with the usual options."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=summary, description=description or summary[:1].upper() + summary[1:] + ".",
        formatter_class=HELP)
    if data:
        parser.add_argument("--data-dir", help="folder with the five CSVs (default: "
                                               "RECSYS_DATA_DIR)")
    if database:
        parser.add_argument("--database-url", help="SQLAlchemy URL (default: "
                                                   "RECSYS_DATABASE_URL)")
    return parser


def settings_for(args: argparse.Namespace) -> Settings:
    """Settings from the environment, with the command's options on top (paths absolute)."""
    from recsys.config import absolute, absolute_sqlite_url

    settings = get_settings()
    changes: dict[str, Any] = {}
    if getattr(args, "data_dir", None):
        changes["data_dir"] = absolute(args.data_dir, Path.cwd())
    if getattr(args, "database_url", None):
        changes["database_url"] = absolute_sqlite_url(args.database_url, Path.cwd())
    return settings.replace(**changes) if changes else settings


def ray_options(parser: argparse.ArgumentParser,
                what: str = "run the shards as retried tasks",
                count: tuple[str, str] = ("--shards", "how many tasks (default: the cluster's "
                                                      "CPUs)")) -> None:
    """``--ray [ADDRESS]`` and a count option (``--shards N`` by default): the command's work
    on a Ray cluster (:mod:`recsys.distributed`)."""
    parser.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                        help=f"{what} on the Ray cluster at ADDRESS (host:port, or auto: the "
                             "cluster this machine belongs to; without ADDRESS: "
                             "RECSYS_RAY_ADDRESS)")
    parser.add_argument(count[0], type=int, default=None, help=f"with --ray: {count[1]}")


def ray_address(args: argparse.Namespace, settings: Settings) -> str | None:
    """The Ray cluster the command runs on (``--ray``, else nothing: one process), or a
    :class:`UsageError` when ``--ray`` names none and ``RECSYS_RAY_ADDRESS`` is unset."""
    given = getattr(args, "ray", None)
    if given is None:
        for option in ("shards", "workers"):
            if getattr(args, option, None) is not None:
                raise UsageError(f"--{option} goes with --ray")
        return None
    address = given or settings.ray_address
    if not address:
        raise UsageError("--ray needs an address (host:port, or auto): give one or set "
                         "RECSYS_RAY_ADDRESS")
    for option in ("shards", "workers"):
        if getattr(args, option, None) is not None:
            in_range(f"--{option}", getattr(args, option), 1)
    return str(address)


def in_range(name: str, value: int, low: int, high: int | None = None) -> int:
    """An option's value checked against its range (a :class:`UsageError` otherwise)."""
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise UsageError(f"{name} must be {bounds}, got {value}")
    return value


def database_problem(exc: BaseException, args: argparse.Namespace) -> str | None:
    """One line for a database that cannot be reached (driver errors are long)."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    if not isinstance(exc, (OperationalError, InterfaceError)):
        return None
    from recsys.db.engine import connection_problem, masked

    url = getattr(args, "database_url", None) or get_settings().database_url
    return f"cannot use the database at {masked(url)}: {connection_problem(exc)}"
