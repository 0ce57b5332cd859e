"""A throwaway PostgreSQL cluster for tests and benchmarks.

Starts the installed server binaries (Debian's ``postgresql-15``: ``initdb`` and ``pg_ctl``) in
a temporary directory on a free loopback port, creates a database, and removes everything on
stop. ``initdb`` refuses to run as root, so as root the commands run as the ``postgres`` user.

Example::

    with TemporaryPostgres() as pg:
        engine = make_engine(pg.url)
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from recsys.testing import as_root
from recsys.testing.ports import free_port


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are missing or the cluster could not start."""


def find_bin_dir() -> Path:
    """Folder holding ``initdb`` and ``pg_ctl`` (``RECSYS_PG_BIN``, Debian's layout, or PATH)."""
    candidates: list[Path] = []
    if os.environ.get("RECSYS_PG_BIN"):
        candidates.append(Path(os.environ["RECSYS_PG_BIN"]))
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    which = shutil.which("pg_ctl")
    if which:
        candidates.append(Path(which).parent)
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's postgresql-15 "
        "(apt-get install postgresql-15) or set RECSYS_PG_BIN to their folder"
    )


class TemporaryPostgres:
    """A PostgreSQL cluster that lives as long as this object is started.

    Attributes:
        url: SQLAlchemy URL of the created database (set by :meth:`start`).
    """

    def __init__(self, database: str = "recsys", user: str = "recsys") -> None:
        self.database = database
        self.user = user
        self.url = ""
        self._dir: Path | None = None
        self._bin = find_bin_dir()
        self._as_root = as_root()

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(a) for a in args]
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise PostgresUnavailable(
                f"{' '.join(command)} failed ({result.returncode}): "
                f"{result.stderr or result.stdout}"
            )
        return result

    def start(self) -> str:
        """Create and start the cluster; return the SQLAlchemy URL of a fresh database."""
        self._dir = Path(tempfile.mkdtemp(prefix="recsys-pg-"))
        if self._as_root:
            shutil.chown(self._dir, user="postgres", group="postgres")
        data, socket_dir, log = self._dir / "data", self._dir, self._dir / "server.log"
        port = free_port()
        self._run(str(self._bin / "initdb"), "-D", str(data), "-U", self.user, "-A", "trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        options = (f"-p {port} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off")
        self._run(str(self._bin / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log),
                  "-w", "-t", "60", "start")
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=port, user=self.user, dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{self.database}"')  # our own constant name
        conn.close()
        self.url = f"postgresql+psycopg2://{self.user}@127.0.0.1:{port}/{self.database}"
        return self.url

    def stop(self) -> None:
        """Stop the server and delete its files (safe to call twice)."""
        if self._dir is None:
            return
        try:
            self._run(str(self._bin / "pg_ctl"), "-D", str(self._dir / "data"), "-m",
                      "immediate", "-w", "stop")
        except PostgresUnavailable:
            pass
        shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None

    def __enter__(self) -> TemporaryPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
