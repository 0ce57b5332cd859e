"""The parts of the OpenAPI document that depend on the data being served.

A rating is valid on the dataset's own scale: whole stars 1-5 for the course data (and
MovieLens 100K and 1M), half stars 0.5-5 from MovieLens 10M on. The request schema alone
cannot know which, so the app states the scale of the database it serves when it starts:
``integer`` 1..5, or ``number`` 0.5..5 in steps of 0.5. A request valid by the document is
then never refused for its rating (schemathesis' positive-data check holds this).
"""

from __future__ import annotations

from typing import Any

from recsys.rules import RatingScale

#: The request schema whose ``rating`` property is stated per dataset.
RATED_SCHEMAS = ("NewScore",)


def rating_property(scale: RatingScale) -> dict[str, Any]:
    """The JSON Schema of a rating on ``scale``."""
    described = f"{scale.describe()} ({scale.name}: the scale of the data served; GET " \
                "/health: rating_scale)"
    if scale.whole:
        return {"type": "integer", "minimum": int(scale.low), "maximum": int(scale.high),
                "description": described + "; 4.0 is read as 4", "example": 4}
    return {"type": "number", "minimum": scale.low, "maximum": scale.high,
            "multipleOf": scale.step, "description": described, "example": 4.5}


def state_rating_scale(spec: Any, scale: RatingScale) -> None:
    """Write ``scale`` into the registered request schemas of ``spec`` (an apispec APISpec
    whose marshmallow schemas are registered as components)."""
    schemas = spec.components.schemas
    for name in RATED_SCHEMAS:
        if name in schemas and "rating" in schemas[name].get("properties", {}):
            schemas[name]["properties"]["rating"] = rating_property(scale)
