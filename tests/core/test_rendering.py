"""core.rendering answers the bytes and content type DRF's JSONRenderer gives the same data,
so fleet envelopes (hosts.api_base.ok) and usage reads (usage.api.json_ok) rendered without a
DRF Response read the same to clients."""

from __future__ import annotations

import datetime
import decimal
import uuid

import pytest
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from core.rendering import json_bytes, json_response
from hosts.api_base import ok

AWKWARD = {
    "text": "ünïcødé — 名前 \u2028 line \u2029 paragraph </script>",
    "numbers": [0, -1, 2**63, 1.5, 1e-7],
    "nested": {"empty": {}, "list": [], "none": None, "flags": [True, False]},
    "when": datetime.datetime(2026, 11, 29, 17, 0, 0, 123456, tzinfo=datetime.UTC),
    "day": datetime.date(2026, 11, 29),
    "money": decimal.Decimal("12.3400"),
    "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
}


def _drf(data, status: int = 200) -> Response:
    response = Response(data, status=status)
    response.accepted_renderer = JSONRenderer()
    response.accepted_media_type = "application/json"
    response.renderer_context = {}  # type: ignore[attr-defined]  # as finalize_response sets it
    return response.render()


def test_it_writes_the_bytes_drf_writes():
    assert json_bytes(AWKWARD) == JSONRenderer().render(AWKWARD, "application/json")
    assert b"\\u2028" in json_bytes(AWKWARD) and "\u2028".encode() not in json_bytes(AWKWARD)


def test_it_answers_the_fleet_envelope_as_drf_did():
    mine = ok(AWKWARD, status=201)
    theirs = _drf({"status": "ok", "data": AWKWARD}, status=201)

    assert mine.content == theirs.content
    assert mine.status_code == theirs.status_code == 201
    assert mine["Content-Type"] == theirs["Content-Type"] == "application/json"


def test_it_keeps_extra_headers_of_the_envelope():
    response = ok({"a": 1}, Content_Disposition="attachment")

    assert response["Content-Disposition"] == "attachment"


def test_it_refuses_what_drf_refuses():
    with pytest.raises(ValueError):
        json_response({"nan": float("nan")})
    with pytest.raises(ValueError):
        JSONRenderer().render({"nan": float("nan")})
