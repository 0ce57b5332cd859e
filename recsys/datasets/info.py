"""What a dataset is: its name, rating scale, which optional parts it has, where it comes from.

The five CSVs have one layout for every dataset; what differs travels beside them in
``DATASET.json`` (written by ``recsys data fetch`` and ``recsys data synthetic``) and, once
ingested, in the database's ``dataset_info`` table:

- ``rating_scale``: whole stars 1..5 (the course data, MovieLens 100K and 1M) or half stars
  0.5..5 (MovieLens 10M and later);
- ``names``: whether persons have names (only the course data does; MovieLens has none);
- ``demographics``: whether persons have birth year, gender and zip code, and users an
  occupation (MovieLens 10M and later have none: those fields are then empty, never invented);
- ``release_dates``: whether movies have release dates (only the 100K data does; elsewhere
  the year is in the title, and an empty date is expected rather than a warning);
- ``workers``: whether the course's workers table is meant to have rows.

A folder without ``DATASET.json`` holds the course data (:data:`COURSE`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from recsys.datasets.files import atomic_write_text
from recsys.errors import DataError
from recsys.rules import STARS, RatingScale, RuleError, scale_named

DATASET_FILE = "DATASET.json"
#: The official MovieLens archives ``recsys data fetch --dataset`` knows
#: (:mod:`recsys.datasets.movielens` holds their checksums and converters).
MOVIELENS = ("ml-100k", "ml-1m", "ml-10m", "ml-20m", "ml-25m", "ml-32m")
#: The name of the note the first version wrote beside fetched CSVs (still read).
LEGACY_PROVENANCE_FILE = "PROVENANCE.json"


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset's name, scale and shape (see the module docstring)."""

    name: str = "course"
    rating_scale: RatingScale = STARS
    names: bool = True
    demographics: bool = True
    release_dates: bool = True
    workers: bool = True
    source: str = "the course CSVs (MovieLens 100K plus the course's additions)"
    synthesised: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["rating_scale"] = self.rating_scale.as_dict()
        out["synthesised"] = list(self.synthesised)
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> DatasetInfo:
        """Parse what :meth:`as_dict` wrote (unknown keys are ignored)."""
        try:
            scale_raw = raw.get("rating_scale", "stars")
            scale = scale_named(scale_raw["name"] if isinstance(scale_raw, dict)
                                else str(scale_raw))
            return cls(name=str(raw.get("name", "course")), rating_scale=scale,
                       names=bool(raw.get("names", True)),
                       demographics=bool(raw.get("demographics", True)),
                       release_dates=bool(raw.get("release_dates", True)),
                       workers=bool(raw.get("workers", True)),
                       source=str(raw.get("source", COURSE.source)),
                       synthesised=tuple(str(s) for s in raw.get("synthesised", ())))
        except (RuleError, TypeError, KeyError, AttributeError) as exc:
            raise DataError(f"dataset description is not valid: {exc}") from None

    def with_(self, **changes: Any) -> DatasetInfo:
        return replace(self, **changes)

    def provenance(self) -> str:
        """One line: where the data comes from and what in it is synthesised."""
        if not self.synthesised:
            return self.source
        return f"{self.source}; synthesised, not real: {', '.join(self.synthesised)}"


#: The course data: whole stars, demographics, release dates, workers.
COURSE = DatasetInfo()
#: MovieLens 100K as ``recsys data fetch`` converts it (the course's additions synthesised).
ML100K_INFO = DatasetInfo(
    name="ml-100k", source="MovieLens 100K (GroupLens Research), downloaded and converted by "
    "`recsys data fetch`", synthesised=(
        "person names (personas.csv, Full Name)",
        "the workers table (trabajadores.csv) and their occupation ITBA",
        "birth years (1998 minus the MovieLens age)"))


def read_info(data_dir: str | Path) -> DatasetInfo:
    """The description beside the CSVs in ``data_dir`` (:data:`COURSE` when there is none)."""
    data_dir = Path(data_dir)
    for name in (DATASET_FILE, LEGACY_PROVENANCE_FILE):
        path = data_dir / name
        if not path.is_file():
            continue
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(f"{path} cannot be read as JSON ({exc})") from None
        if not isinstance(raw, dict):
            raise DataError(f"{path} must hold a JSON object")
        return DatasetInfo.from_dict(raw)
    return COURSE


def write_info(data_dir: str | Path, info: DatasetInfo) -> Path:
    """Write ``DATASET.json`` into ``data_dir`` atomically."""

    path = Path(data_dir) / DATASET_FILE
    atomic_write_text(path, json.dumps(info.as_dict(), indent=2) + "\n")
    return path
