"""Content negotiation for views that answer something other than a DRF rendering."""

from __future__ import annotations

from rest_framework.negotiation import BaseContentNegotiation


class JsonErrorNegotiation(BaseContentNegotiation):
    """EventSource sends `Accept: text/event-stream`; the stream is not a DRF rendering, and
    errors before it starts are JSON whatever the client accepts."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
