"""Movie titles: MovieLens writes the year of first release in the title ("Return of the Jedi
(1983)") while the release date is often that of a re-release (1997-03-14 for that one).
What the system shows as a movie's year is the title's year when there is one."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

TITLE_YEAR_RE = re.compile(r"\((\d{4})(?:[-\u2013]\d{0,4})?\)\s*$")


def title_year(title: str | None) -> int | None:
    """The year in parentheses at the end of a title, if any."""
    match = TITLE_YEAR_RE.search(title or "")
    return int(match.group(1)) if match else None


def display_year(title: str | None, release_date: Any) -> int | None:
    """The year to show for a movie: from its title, else from its release date."""
    year = title_year(title)
    if year is not None:
        return year
    if release_date is None or (isinstance(release_date, float) or release_date is pd.NaT):
        return None
    try:
        return int(pd.Timestamp(release_date).year)
    except (TypeError, ValueError):
        return None
