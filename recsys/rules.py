"""Domain rules: one home for the constants, patterns and messages that every validator shares.

The CSV validator (vectorised, :mod:`recsys.datasets.validate`), the entity layer (one row at a
time), the API schemas and the model all read these, so a rule and its wording change in one
place. Functions here check one value and raise :class:`RuleError` with the message the user
sees; vectorised callers use the same constants and ``*_message`` helpers.

Time rule (one for the whole system): timezone-aware input is converted to UTC, naive input is
read as UTC, and accepted instants lie between :data:`EARLIEST_TIMESTAMP` and now + one day.
The database stores naive UTC; everything that leaves the system carries an explicit offset.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from recsys.errors import RecsysError

T = TypeVar("T")

#: A rating at least this high means "liked": relevant in ranking metrics, the movies behind
#: an explanation, the taste in content vectors and cluster profiles.
LIKED_RATING = 4

#: Ratings of the course data: whole stars from 1 to 5.
RATING_MIN, RATING_MAX = 1, 5

#: A rating that says "it was OK": the ranker weighs ratings around it (both scales).
NEUTRAL_RATING = 3.0

#: Ids are positive and fit PostgreSQL's ``integer`` (and therefore SQLite's 64-bit integer).
MIN_ID, MAX_ID = 1, 2**31 - 1

#: Birth years from this year on are accepted (up to the current year).
MIN_BIRTH_YEAR = 1900

#: Earliest accepted rating or sign-up instant (MovieLens starts in 1995, the course in 1997).
EARLIEST_TIMESTAMP = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)

#: Earliest accepted start date of a worker (contracts can predate the service).
EARLIEST_DATE = dt.date(1900, 1, 1)

#: Working hours look like ``9 - 18`` (overnight shifts such as ``20 - 04`` are fine).
WORKING_HOURS_RE = re.compile(r"^\s*(\d{1,2})\s*-\s*(\d{1,2})\s*$")
WORKING_HOURS_MESSAGE = "working_hours must look like '9 - 18' with hours from 0 to 24"

#: Zip codes: US digits or Canadian letters and digits, 2-10 characters.
ZIP_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 -]{1,9}$")
ZIP_MESSAGE = "zip_code must be 2-10 letters, digits, spaces or dashes"

GENDERS = ("M", "F")
GENDER_MESSAGE = "gender must be M or F"

#: Control characters (NUL included) are refused in every text a client or a file sends.
CONTROL_CHARS_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
CONTROL_CHARS_MESSAGE = "must not contain control characters"

#: Whole numbers written as digits only (``196``, ``-3``); ``196.0`` and ``1e3`` are not.
INTEGER_RE = re.compile(r"^[+-]?\d+$")
#: Decimal numbers written plainly (``3``, ``3.5``, ``.5``); not ``1e3``, ``nan`` or ``inf``.
DECIMAL_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)$")


class RuleError(RecsysError, ValueError):
    """A value breaks a domain rule; the message names the field and the rule."""


@dataclass(frozen=True)
class RatingScale:
    """The ratings a dataset allows: ``low`` to ``high`` in steps of ``step``.

    The course data (and MovieLens 100K and 1M) use whole stars, 1..5; MovieLens 10M and
    later use half stars, 0.5..5. A dataset says which (``DATASET.json``, the database's
    ``dataset_info`` table); every check of a rating goes through its scale.
    """

    name: str
    low: float
    high: float
    step: float

    @property
    def whole(self) -> bool:
        """Whole numbers only. A number with no fraction (``4.0``) is a whole number (JSON
        does not tell them apart); text (``"3"``) is refused, and the CSV loader refuses the
        text ``3.0`` in a whole-star file (:mod:`recsys.datasets.validate`)."""
        return self.step == 1

    def describe(self) -> str:
        if self.whole:
            return f"a whole number from {self.low:g} to {self.high:g}"
        return f"a number from {self.low:g} to {self.high:g} in steps of {self.step:g}"

    def message(self) -> str:
        """How a rating off the scale is reported."""
        return f"rating must be {self.describe()}"

    def valid(self, values: Any) -> Any:
        """Vectorised: which values (a NumPy array or pandas Series of numbers) lie on the
        scale (missing values are not)."""
        import numpy as np

        v = np.asarray(values, dtype=np.float64)
        steps = (v - self.low) / self.step
        with np.errstate(invalid="ignore"):
            return (np.isfinite(v) & (v >= self.low) & (v <= self.high)
                    & (np.abs(steps - np.rint(steps)) < 1e-9))

    def check(self, value: Any) -> float | int:
        """One rating on this scale (bools and strings refused; whole scales take ints
        only); returned as an ``int`` on whole scales, else a ``float``."""
        ok = not isinstance(value, bool) and isinstance(value, int | float)
        if ok and self.whole and isinstance(value, float) and not value.is_integer():
            ok = False
        if not ok or not bool(self.valid([value])[0]):
            raise RuleError(f"{self.message()}, got {value!r}")
        return int(value) if self.whole else float(value)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "low": self.low, "high": self.high, "step": self.step}


#: Whole stars, 1..5 (the course data, MovieLens 100K and 1M).
STARS = RatingScale("stars", 1.0, 5.0, 1.0)
#: Half stars, 0.5..5 (MovieLens 10M, 20M, 25M, 32M).
HALF_STARS = RatingScale("half-stars", 0.5, 5.0, 0.5)
SCALES = {scale.name: scale for scale in (STARS, HALF_STARS)}


def one_of(known: Mapping[str, T], name: str, what: str, error: type[Exception]) -> T:
    """``known[name]``, or ``error`` saying the ``what`` is unknown and listing the names."""
    try:
        return known[name]
    except KeyError:
        raise error(f"unknown {what} {name!r}; expected one of {', '.join(known)}") from None


def scale_named(name: str) -> RatingScale:
    """A known scale by name (``stars`` or ``half-stars``)."""
    return one_of(SCALES, name, "rating scale", RuleError)


def timestamp_range_message(field: str) -> str:
    """How an instant out of range is reported."""
    return (f"{field} must lie between {EARLIEST_TIMESTAMP:%Y-%m-%d} and one day from now "
            "(UTC)")


# -- one value at a time --------------------------------------------------------------------


def check_id(value: Any, field: str = "id", low: int = MIN_ID) -> int:
    """A database id: a whole number in ``low..MAX_ID`` (bools and floats refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        text = str(value).strip()
        if not INTEGER_RE.match(text):
            raise RuleError(f"{field}: {value!r} is not an integer")
        value = int(text)
    if not low <= value <= MAX_ID:
        raise RuleError(f"{field} must be between {low} and {MAX_ID}, got {value}")
    return value


def check_text(value: Any, field: str, max_length: int | None = None) -> str:
    """Stripped, non-empty text without control characters."""
    text = str(value).strip() if value is not None else ""
    if not text:
        raise RuleError(f"{field} is empty")
    if CONTROL_CHARS_RE.search(text):
        raise RuleError(f"{field} {CONTROL_CHARS_MESSAGE}")
    if max_length is not None and len(text) > max_length:
        raise RuleError(f"{field} is longer than {max_length} characters")
    return text


def check_rating(value: Any, scale: RatingScale = STARS) -> float | int:
    """A rating on ``scale`` (whole stars: ``3``, not ``3.0``, ``"3"`` or ``True``)."""
    return scale.check(value)


def check_gender(value: Any) -> str:
    """``M`` or ``F`` (case and surrounding spaces ignored)."""
    gender = str(value).strip().upper()
    if gender not in GENDERS:
        raise RuleError(f"{GENDER_MESSAGE}, got {value!r}")
    return gender


def check_zip(value: Any) -> str:
    """A zip code (see :data:`ZIP_RE`)."""
    zip_code = str(value).strip()
    if not ZIP_RE.match(zip_code):
        raise RuleError(f"{ZIP_MESSAGE}, got {zip_code!r}")
    return zip_code


def check_working_hours(value: Any) -> str:
    """Working hours such as ``9 - 18`` with both hours in 0..24."""
    hours = str(value).strip()
    match = WORKING_HOURS_RE.match(hours)
    if not match or any(int(h) > 24 for h in match.groups()):
        raise RuleError(f"{WORKING_HOURS_MESSAGE}, got {hours!r}")
    return hours


def check_birth_year(value: Any) -> int:
    """A birth year from :data:`MIN_BIRTH_YEAR` to this year."""
    if isinstance(value, bool):
        raise RuleError(f"birth_year: {value!r} is not an integer")
    try:
        year = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise RuleError(f"birth_year: {value!r} is not an integer") from None
    if not MIN_BIRTH_YEAR <= year <= dt.date.today().year:
        raise RuleError(f"birth_year must be between {MIN_BIRTH_YEAR} and this year, "
                        f"got {year}")
    return year


def latest_timestamp() -> dt.datetime:
    """The latest accepted instant: one day from now (clocks disagree a little)."""
    return dt.datetime.now(dt.UTC) + dt.timedelta(days=1)


def to_utc(value: dt.datetime) -> dt.datetime:
    """Aware datetimes converted to UTC, naive ones read as UTC; returned aware (UTC)."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def check_timestamp(value: Any, field: str) -> dt.datetime:
    """An instant within the accepted range, returned as **naive UTC** (how it is stored).

    Accepts a ``datetime`` (aware or naive), a ``date``, a pandas ``Timestamp`` or an ISO 8601
    string; anything else, or an instant outside the range, raises :class:`RuleError`.
    """
    if isinstance(value, str):
        if any(ord(c) < 32 or ord(c) == 127 for c in value.strip()):
            # Python's parser ignores a trailing NUL ("...T00:00:00\x00" reads as a date)
            raise RuleError(f"{field}: {value!r} contains a control character")
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise RuleError(f"{field}: {value!r} is not an ISO 8601 date and time") from None
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if not isinstance(value, dt.datetime):
        raise RuleError(f"{field}: {value!r} is not a date and time")
    try:
        instant = to_utc(value)
    except (OverflowError, ValueError):
        raise RuleError(timestamp_range_message(field)) from None
    if not EARLIEST_TIMESTAMP <= instant <= latest_timestamp():
        raise RuleError(f"{timestamp_range_message(field)}, got {value.isoformat()}")
    return instant.replace(tzinfo=None)


def check_date(value: Any, field: str) -> dt.date:
    """A calendar date from :data:`EARLIEST_DATE` to one day from now."""
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            raise RuleError(f"{field}: {value!r} is not a date (YYYY-MM-DD)") from None
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        raise RuleError(f"{field}: {value!r} is not a date")
    if not EARLIEST_DATE <= value <= latest_timestamp().date():
        raise RuleError(f"{field} must lie between {EARLIEST_DATE} and tomorrow, got {value}")
    return value


def as_utc_iso(value: dt.datetime | None) -> str | None:
    """A stored (naive UTC) or aware datetime as ISO 8601 with its offset (``+00:00``)."""
    if value is None:
        return None
    return to_utc(value).isoformat()
