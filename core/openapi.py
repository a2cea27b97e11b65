"""The OpenAPI description of both dialects (drf-spectacular): served at /api/schema, browsable
at /api/docs for admins (core/apidocs.py), committed as docs/openapi.yaml (`make openapi`, checked
by tests/production/test_openapi.py).

drf-spectacular reads the DRF views. What it cannot see is said here: our two authentication
classes, and the one API route that is a plain Django view (/health)."""

from __future__ import annotations

import re
from typing import Any, Literal

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes

from core.errors import FLEET, dialect_for_path

_BODY_METHODS = ("POST", "PUT", "PATCH")


class DialectAutoSchema(AutoSchema):
    """Our views are thin APIViews that parse with a nested `InputSerializer` (when they take a
    body) and answer with plain dicts: the request body is that serializer, the answer a JSON
    object in the route's dialect (docs/api.md lists the fields), the description the view's
    docstring."""

    def _get_serializer(self) -> Any:
        nested = getattr(self.view, "InputSerializer", None)
        if nested is not None:
            return nested()
        if any(
            callable(getattr(self.view, name, None))
            for name in ("get_serializer", "get_serializer_class")
        ) or hasattr(self.view, "serializer_class"):
            return super()._get_serializer()  # type: ignore[no-untyped-call]
        return None

    def get_request_serializer(self) -> Any:
        if self.method not in _BODY_METHODS:
            return None
        serializer = self._get_serializer()
        return OpenApiTypes.OBJECT if serializer is None else serializer

    def get_response_serializers(self) -> Any:
        return OpenApiTypes.OBJECT

    def get_serializer_name(
        self, serializer: Any, direction: Literal["request", "response"]
    ) -> str:
        # `HostRegisterApi.InputSerializer` → `HostRegisterInput`: every view's is its own.
        cls = serializer if isinstance(serializer, type) else type(serializer)
        outer, _, inner = cls.__qualname__.rpartition(".")
        if outer:
            return outer.removesuffix("Api") + inner.removesuffix("Serializer")
        return str(super().get_serializer_name(serializer, direction))

    def get_operation_id(self) -> str:
        # The whole path, parameters included, so /admin/hosts and /admin/hosts/{host_id} differ.
        words = re.findall(r"[A-Za-z0-9]+", self.path)
        return "_".join([*words, self.method.lower()])

    def get_tags(self) -> list[str]:
        return ["fleet" if dialect_for_path(self.path) == FLEET else "usage"]


class ApiTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]  # its __init_subclass__
    target_class = "accounts.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A scoped API token (wa_ admin, wi_ ingest, wr_ read, we_ embed).",
        }


class QueryTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]  # its __init_subclass__
    target_class = "accounts.authentication.QueryTokenAuthentication"
    name = "queryToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "query",
            "name": "token",
            "description": "An embed or read token in the query (EventSource sends no header); "
            "`Authorization: Bearer` works as well.",
        }


class HostKeyScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]  # its __init_subclass__
    target_class = "hosts.authentication.HostKeyAuthentication"
    name = "hostKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": "A host's API key (also accepted as `Authorization: Bearer`).",
        }


HEALTH = {
    "get": {
        "operationId": "health",
        "summary": "Liveness and database check (usage dialect).",
        "tags": ["health"],
        "security": [{}],
        "responses": {
            "200": {"description": '`{"ok": true, "database": "ok"}`'},
            "503": {"description": '`{"ok": false, "database": "unreachable"}`'},
        },
    }
}


def add_plain_routes(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: the API routes that are not DRF views."""
    result.setdefault("paths", {})["/health"] = HEALTH
    result["paths"] = dict(sorted(result["paths"].items()))
    return result
