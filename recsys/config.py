"""Settings from environment variables (``RECSYS_*``) and an optional ``.env`` file.

Every deployment choice lives here so that code never changes between the embedded default
(SQLite + a local vector index under ``var/``) and the full stack (PostgreSQL + OpenSearch).
Values already present in the environment win over the ``.env`` file.

Paths are resolved once, here, to absolute ones: the data folder, the var folder and a SQLite
file named by a relative URL are taken relative to ``base`` (the working folder of a command;
the repository root for a notebook), so a notebook running in ``notebooks/`` and a command
running at the root agree on one ``var/``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

from recsys.errors import ConfigError

#: Every variable the project reads, with its default and meaning (a test checks that the
#: README's table lists each of them).
VARIABLES: dict[str, tuple[str, str]] = {
    "RECSYS_DATA_DIR": ("./datasets", "folder holding the five course CSVs"),
    "RECSYS_VAR_DIR": ("./var", "folder for local state: SQLite DB, model, vector index, reports"),
    "RECSYS_DATABASE_URL": (
        "sqlite:///<RECSYS_VAR_DIR>/recsys.db",
        "SQLAlchemy URL; postgresql+psycopg2://user:pass@host:5432/db for PostgreSQL",
    ),
    "RECSYS_VECTOR_BACKEND": ("local", "vector store backend: local or opensearch"),
    "RECSYS_OPENSEARCH_URL": ("", "OpenSearch URL, e.g. https://localhost:9200; a cluster's "
                              "nodes separated by commas"),
    "RECSYS_OPENSEARCH_USER": ("admin", "OpenSearch user"),
    "RECSYS_OPENSEARCH_PASSWORD": ("", "OpenSearch password (never commit it)"),
    "RECSYS_OPENSEARCH_VERIFY_CERTS": ("true", "verify OpenSearch TLS certificates"),
    "RECSYS_SEED": ("42", "seed for every random choice (splits, initialisation, sampling)"),
    "RECSYS_API_REFRESH_SECONDS": ("2", "how often the API's read model checks for changes"),
    "RECSYS_API_MEMORY_RATINGS": ("100000000", "up to this many ratings the API holds every "
                                  "user's ratings and stored predictions in memory (flat "
                                  "arrays above 2M: 8 bytes per rating); above, it reads them "
                                  "per request (memory bounded by the catalogue)"),
    "RECSYS_KEEP_VERSIONS": ("5", "how many model versions (var/model) and backups taken "
                             "before `ingest --replace` (var/backups) are kept; older ones are "
                             "deleted"),
    "RECSYS_RAY_ADDRESS": ("", "Ray cluster for `recsys train/predict/index --ray` when --ray "
                           "gives no address (`auto`: the cluster this machine belongs to)"),
    "RECSYS_NOTEBOOKS_DIR": ("<repo>/notebooks", "where `recsys pipeline` finds the notebooks"),
    "RECSYS_PG_BIN": ("Debian layout", "(tests, benchmarks) folder with initdb and pg_ctl"),
}


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else None


def _value(name: str) -> str:
    """A variable's value, else its documented default (:data:`VARIABLES`)."""
    return _env(name) or VARIABLES[name][0]


def _truthy(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Resolved configuration.

    Attributes:
        data_dir: folder with the course CSVs.
        var_dir: folder for local state (databases, artifacts, reports).
        database_url: SQLAlchemy URL of the relational store.
        vector_backend: ``local`` or ``opensearch``.
        opensearch_url / opensearch_user / opensearch_password / opensearch_verify_certs:
            connection to OpenSearch when that backend is chosen.
        seed: global random seed.
        api_refresh_seconds: how often the API's read model looks for changes.
        api_memory_ratings: above this many ratings the read model keeps no per-user rows
            (they are read per request).
        ray_address: the Ray cluster ``--ray`` joins when given no address.
        keep_versions: model versions and replace backups kept (at least 1).
    """

    data_dir: Path
    var_dir: Path
    database_url: str
    vector_backend: str = VARIABLES["RECSYS_VECTOR_BACKEND"][0]
    opensearch_url: str = VARIABLES["RECSYS_OPENSEARCH_URL"][0]
    opensearch_user: str = VARIABLES["RECSYS_OPENSEARCH_USER"][0]
    opensearch_password: str = field(default=VARIABLES["RECSYS_OPENSEARCH_PASSWORD"][0],
                                     repr=False)
    opensearch_verify_certs: bool = True
    seed: int = int(VARIABLES["RECSYS_SEED"][0])
    api_refresh_seconds: float = float(VARIABLES["RECSYS_API_REFRESH_SECONDS"][0])
    api_memory_ratings: int = int(VARIABLES["RECSYS_API_MEMORY_RATINGS"][0])
    ray_address: str = VARIABLES["RECSYS_RAY_ADDRESS"][0]
    keep_versions: int = int(VARIABLES["RECSYS_KEEP_VERSIONS"][0])

    @property
    def reports_dir(self) -> Path:
        """Where data-quality reports are written."""
        return self.var_dir / "reports"

    @property
    def model_dir(self) -> Path:
        """Where trained model artifacts are written."""
        return self.var_dir / "model"

    @property
    def backups_dir(self) -> Path:
        """Where ``ingest --replace`` keeps a copy of what it replaced."""
        return self.var_dir / "backups"

    @property
    def vectors_dir(self) -> Path:
        """Where the local vector index is persisted."""
        return self.var_dir / "vectors"

    def replace(self, **changes: object) -> Settings:
        """Return a copy with some fields changed (handy in tests and notebooks)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Settings(**values)


def absolute(path: str | os.PathLike[str], base: Path) -> Path:
    """``path`` made absolute against ``base`` (``~`` expanded)."""
    chosen = Path(path).expanduser()
    return chosen if chosen.is_absolute() else (base / chosen).resolve()


def absolute_sqlite_url(url: str, base: Path) -> str:
    """A SQLite URL whose file path is relative, rewritten with an absolute path; any other
    URL unchanged."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url.startswith(prefix + "/"):
        return url
    rest = url[len(prefix):]
    if not rest or rest.startswith(":memory:") or rest.startswith("file:"):
        return url
    path, _, query = rest.partition("?")
    return prefix + str(absolute(path, base)) + (f"?{query}" if query else "")


def get_settings(env_file: str | os.PathLike[str] | None = ".env",
                 base: str | os.PathLike[str] | None = None) -> Settings:
    """Read settings from the environment, after loading ``env_file`` if it exists.

    Args:
        env_file: a dotenv file whose values fill in variables not already set; ``None`` skips
            it. A relative name is looked up in ``base``.
        base: folder relative paths are taken from (default: the working folder).

    Returns:
        The resolved :class:`Settings`, with absolute paths.
    """
    root = Path(base).resolve() if base is not None else Path.cwd()
    if env_file is not None and absolute(env_file, root).is_file():
        load_dotenv(absolute(env_file, root), override=False)
    var_dir = absolute(_value("RECSYS_VAR_DIR"), root)
    data_dir = absolute(_value("RECSYS_DATA_DIR"), root)
    database_url = absolute_sqlite_url(
        _env("RECSYS_DATABASE_URL") or f"sqlite:///{var_dir / 'recsys.db'}", root)
    backend = _value("RECSYS_VECTOR_BACKEND").lower()
    if backend not in {"local", "opensearch"}:
        raise ConfigError(
            f"RECSYS_VECTOR_BACKEND must be 'local' or 'opensearch', got {backend!r}")
    return Settings(
        data_dir=data_dir,
        var_dir=var_dir,
        database_url=database_url,
        vector_backend=backend,
        opensearch_url=_value("RECSYS_OPENSEARCH_URL"),
        opensearch_user=_value("RECSYS_OPENSEARCH_USER"),
        opensearch_password=_value("RECSYS_OPENSEARCH_PASSWORD"),
        opensearch_verify_certs=_truthy(_value("RECSYS_OPENSEARCH_VERIFY_CERTS")),
        seed=_number("RECSYS_SEED", int),
        api_refresh_seconds=_number("RECSYS_API_REFRESH_SECONDS", float),
        api_memory_ratings=_number("RECSYS_API_MEMORY_RATINGS", int),
        ray_address=_value("RECSYS_RAY_ADDRESS"),
        keep_versions=_at_least_one("RECSYS_KEEP_VERSIONS"),
    )


def _at_least_one(name: str) -> int:
    value = int(_number(name, int))
    if value < 1:
        raise ConfigError(f"{name} must be at least 1 (the version in use is always kept), "
                          f"got {value}")
    return value


def _number(name: str, kind: type) -> Any:
    text = _value(name)
    try:
        return kind(text)
    except ValueError:
        raise ConfigError(f"{name} must be a {kind.__name__}, got {text!r}") from None
