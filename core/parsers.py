"""The one JSON parser of every DRF route: JSON, nested at most JSON_MAX_DEPTH levels."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rest_framework.parsers import JSONParser

from core.errors import ApplicationError
from core.validation import JSON_MAX_DEPTH, json_depth


def _too_deep() -> ApplicationError:
    return ApplicationError(
        "Invalid request.", fields={"body": f"JSON nested more than {JSON_MAX_DEPTH} levels deep."}
    )


class BoundedJSONParser(JSONParser):
    """DRF's strict JSON parser (no NaN/Infinity), refusing deep nesting with a 400.

    Python's decoder raises RecursionError somewhere past ~1,000 levels, and a body just under
    that would still overflow later walks over it (audit scrubbing, serialisation)."""

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise _too_deep() from None
        if json_depth(data, limit=JSON_MAX_DEPTH) > JSON_MAX_DEPTH:
            raise _too_deep()
        return data
