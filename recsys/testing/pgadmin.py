"""pgAdmin 4 from PyPI, in a virtualenv of its own, for checking the compose file's
pre-registered server (``docker/pgadmin/servers.json``) without Docker.

- :func:`ensure_venv` installs ``pgadmin4`` once into the cache (beside the OpenSearch node);
- :func:`load_servers` runs pgAdmin's own ``setup.py load-servers`` on a servers file, in
  desktop mode with a data folder of its own, and returns the servers pgAdmin stored;
- :func:`connect` asks pgAdmin (its web application, through a test client) to connect to a
  stored server, as the browser does when the server is opened in the tree;
- :func:`serve` runs the pgAdmin web application (for a screenshot of the server tree).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from recsys.testing.opensearch_dist import cache_dir

PACKAGE = "pgadmin4==9.18"  # the version docker-compose.yml runs

CONFIG = """SERVER_MODE = False
MASTER_PASSWORD_REQUIRED = False
DATA_DIR = {data!r}
WTF_CSRF_ENABLED = False
UPGRADE_CHECK_ENABLED = False
"""

#: Run with pgAdmin's interpreter: connect to stored server ``sid`` through the web app.
CONNECT = """
import json, sys
sys.path.insert(0, {root!r})
import builtins
import config  # pgAdmin's own: must come before its package (as its setup.py does)
builtins.SERVER_MODE = None
from pgadmin import create_app
from pgadmin.model import Server
app = create_app("pgadmin-connect-check")
app.config["WTF_CSRF_ENABLED"] = False
app.PGADMIN_INT_KEY = ""  # desktop mode without a launcher key, as pgAdmin4.py sets it
client = app.test_client()
with app.app_context():
    server = Server.query.filter_by(id={sid}).one()
    gid = server.servergroup_id
response = client.post(f"/browser/server/connect/{{gid}}/{sid}", json={{"password": ""}})
print(json.dumps({{"status": response.status_code, "body": response.get_json()}}))
"""


class PgAdminUnavailable(RuntimeError):
    """pgAdmin could not be installed or run; the message says why."""


def venv_dir() -> Path:
    return cache_dir().parent / "pgadmin-venv"


def ensure_venv() -> Path:
    """The interpreter of a virtualenv holding pgAdmin 4 (created once)."""
    python = venv_dir() / "bin" / "python"
    if python.is_file() and _installed(python):
        return python
    subprocess.run([sys.executable, "-m", "venv", str(venv_dir())], check=True)
    done = subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                           "--disable-pip-version-check", PACKAGE], capture_output=True,
                          text=True, timeout=1800)
    if done.returncode != 0:
        raise PgAdminUnavailable(f"pip install {PACKAGE} failed: {done.stderr[-500:]}")
    return python


def _installed(python: Path) -> bool:
    wanted = PACKAGE.split("==")[1]
    check = f"from importlib.metadata import version; assert version('pgadmin4') == {wanted!r}"
    return subprocess.run([str(python), "-c", check], capture_output=True).returncode == 0


def package_root(python: Path) -> Path:
    """The folder holding pgAdmin's ``setup.py`` and ``pgadmin`` package."""
    out = subprocess.run([str(python), "-c", "import pgadmin4; "
                          "print(list(pgadmin4.__path__)[0])"],
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def _env(data: Path) -> dict[str, str]:
    data.mkdir(parents=True, exist_ok=True)
    config = data / "config_distro.py"
    config.write_text(CONFIG.format(data=str(data)))
    return {**os.environ, "CONFIG_DISTRO_FILE_PATH": str(config)}


def load_servers(servers: Path, data: Path) -> list[dict[str, Any]]:
    """Load ``servers`` with pgAdmin's ``setup.py load-servers``; the servers it stored."""
    python = ensure_venv()
    root = package_root(python)
    env = _env(data)
    if not (data / "pgadmin4.db").is_file():
        done = subprocess.run([str(python), str(root / "setup.py"), "setup-db"], env=env,
                              cwd=root, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise PgAdminUnavailable(f"setup-db failed: {(done.stdout + done.stderr)[-800:]}")
    done = subprocess.run([str(python), str(root / "setup.py"), "load-servers", str(servers)],
                          env=env, cwd=root, capture_output=True, text=True, timeout=300)
    if done.returncode != 0 or "Added" not in done.stdout:
        raise PgAdminUnavailable(f"load-servers failed: {(done.stdout + done.stderr)[-800:]}")
    dump = data / "dumped.json"
    done = subprocess.run([str(python), str(root / "setup.py"), "dump-servers", str(dump)],
                          env=env, cwd=root, capture_output=True, text=True, timeout=300)
    if done.returncode != 0 or not dump.is_file():
        raise PgAdminUnavailable(f"dump-servers failed: {(done.stdout + done.stderr)[-800:]}")
    stored = json.loads(dump.read_text())["Servers"]
    return [dict(server, id=int(key)) for key, server in stored.items()]


def connect(server_id: int, data: Path) -> dict[str, Any]:
    """Connect to a stored server through pgAdmin's web application; its JSON answer."""
    python = ensure_venv()
    root = package_root(python)
    done = subprocess.run([str(python), "-c", CONNECT.format(root=str(root), sid=server_id)],
                          env=_env(data), cwd=root, capture_output=True, text=True,
                          timeout=300)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise PgAdminUnavailable(f"connecting through pgAdmin failed: "
                                 f"{(done.stdout + done.stderr)[-800:]}")
    return dict(json.loads(lines[-1]))


def serve(data: Path, port: int) -> subprocess.Popen[bytes]:
    """pgAdmin's web application on 127.0.0.1:``port`` (desktop mode: no login)."""
    python = ensure_venv()
    root = package_root(python)
    env = {**_env(data), "PGADMIN_SERVER_MODE": "OFF"}
    config = data / "config_distro.py"
    config.write_text(config.read_text() + f"DEFAULT_SERVER_PORT = {port}\n")
    return subprocess.Popen([str(python), str(root / "pgAdmin4.py")], env=env, cwd=root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    """``prepare`` installs pgAdmin into the cache; ``serve`` runs it with a servers file."""
    import argparse
    import time

    parser = argparse.ArgumentParser(prog="python -m recsys.testing.pgadmin",
                                     description="pgAdmin 4 without Docker, for checks.")
    parser.add_argument("action", choices=["prepare", "serve"])
    parser.add_argument("--servers", type=Path, help="servers.json to load before serving")
    parser.add_argument("--data", type=Path, default=cache_dir().parent / "pgadmin-data")
    parser.add_argument("--port", type=int, default=5050)
    args = parser.parse_args(argv)
    process: subprocess.Popen[bytes] | None = None
    try:
        python = ensure_venv()
        if args.action == "prepare":
            print(package_root(python))
            return 0
        if args.servers:
            load_servers(args.servers, args.data)
        process = serve(args.data, args.port)
        print(f"pgAdmin on http://127.0.0.1:{args.port} (Ctrl-C stops it)")
        while process.poll() is None:
            time.sleep(1)
    except PgAdminUnavailable as exc:
        print(f"pgadmin: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if process is not None:
            process.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
