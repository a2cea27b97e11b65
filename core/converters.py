"""Path converters. `<id:...>`: a database id, at most 18 digits, so it always fits a bigint
(a longer number is simply not found: 404, never an overflow in the query)."""

from __future__ import annotations

from django.urls import register_converter


class IdConverter:
    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


def register() -> None:
    register_converter(IdConverter, "id")
