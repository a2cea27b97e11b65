"""JSON answers rendered without a DRF `Response`: the bytes DRF's JSONRenderer would write.

A `Response` is rendered late (content negotiation, renderer context, a template-response
render pass in Django's handler); the API answers that are JSON whatever the client asks
render here, once, with JSONRenderer's own settings (compact, strict, no ASCII escaping,
U+2028/U+2029 escaped) and its content type, so a client sees the same bytes either way.
The one difference: DRF pretty-prints for `Accept: application/json; indent=N`; these do not.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponse
from rest_framework.renderers import JSONRenderer

_SEPARATORS = (",", ":") if JSONRenderer.compact else (", ", ": ")


def json_bytes(data: Any) -> bytes:
    """`data` as JSONRenderer renders it for a client that asks for no indent."""
    text = json.dumps(
        data,
        cls=JSONRenderer.encoder_class,
        ensure_ascii=JSONRenderer.ensure_ascii,
        allow_nan=not JSONRenderer.strict,
        separators=_SEPARATORS,
    )
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


def json_response(data: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(json_bytes(data), status=status, content_type=JSONRenderer.media_type)
