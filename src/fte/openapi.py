"""The OpenAPI document says what the API really answers.

FastAPI advertises its own 422 body (`{"detail": [{"loc", "msg", "type"}]}`); ours is
`{"error", "detail": [{"loc", "field", "reason"}]}` (fte.errors), so its two schemas are
replaced by ours. It also knows nothing of what middleware and dependencies answer: a body
over FTE_MAX_BODY_BYTES (413), a request sent too slowly (408), a rate limit (429), an
unknown id (404), a bad admin key (401/403), a malformed body (400), a database that went
away (503). Each operation gets the codes that apply to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from fte.auth.dependencies import SCOPE_CHECKS, require_admin
from fte.auth.rate_limit import form_limit, webhook_limit

_ERROR = {"$ref": "#/components/schemas/ErrorResponse"}
_SCHEMAS: dict[str, Any] = {
    "ErrorResponse": {
        "title": "ErrorResponse",
        "type": "object",
        "required": ["error", "detail"],
        "properties": {
            "error": {"type": "string", "title": "Error"},
            "detail": {"title": "Detail"},
        },
    },
    # The names FastAPI's own 422 responses refer to, with our content.
    "HTTPValidationError": {
        "title": "HTTPValidationError",
        "type": "object",
        "required": ["error", "detail"],
        "properties": {
            "error": {"type": "string", "title": "Error"},
            "detail": {
                "type": "array",
                "title": "Detail",
                "items": {"$ref": "#/components/schemas/ValidationError"},
            },
        },
    },
    "ValidationError": {
        "title": "ValidationError",
        "type": "object",
        "required": ["loc", "field", "reason"],
        "properties": {
            "loc": {
                "type": "array",
                "title": "Location",
                "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            },
            "field": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Field"},
            "reason": {"type": "string", "title": "Reason"},
        },
    },
}
# Answers whose body is the route's own, not an error: /health's 503 is its full report.
_OWN_BODY = {("/health", "503")}
_RATE_LIMITS: set[Callable[..., Any]] = {form_limit, webhook_limit}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _has_params(dependant: Dependant) -> bool:
    own = dependant.query_params or dependant.path_params or dependant.header_params
    return bool(own) or any(_has_params(sub) for sub in dependant.dependencies)


def _codes(route: Any, method: str, has_body: bool) -> dict[str, str]:
    """`route`: an APIRoute, or FastAPI's context of one in an included router (same fields)."""
    calls = set(_calls(route.dependant))
    codes = {"503": "Database unavailable"}
    if route.path_format == "/health":
        codes["503"] = "Database unreachable: the same report, with its state"
    if method in ("post", "put", "patch"):
        codes["400"] = "Malformed request body"
        codes["408"] = "Request sent too slowly (FTE_REQUEST_BODY_TIMEOUT_SECONDS)"
        codes["413"] = "Body too large (FTE_MAX_BODY_BYTES)"
    if "{" in route.path_format:
        codes["404"] = "Not found"
    elif route.endpoint.__module__.startswith("fte.channels."):
        codes["404"] = "This channel is not configured"
    if calls & _RATE_LIMITS:
        codes["429"] = "Too many requests from this address (Retry-After)"
    if require_admin in calls:
        codes["401"] = "Missing or invalid API key or session"
        codes["403"] = "Not an admin, or a session without its CSRF token"
    scopes = sorted(SCOPE_CHECKS[c] for c in calls if c in SCOPE_CHECKS)
    if scopes:
        codes["401"] = "Missing or invalid API key (X-API-Key) or session"
        codes["403"] = f"The key lacks the {', '.join(scopes)} scope (named in `detail`)"
        codes["429"] = (
            "Past this API key's requests a minute (Retry-After, RateLimit-Limit, "
            "RateLimit-Remaining, RateLimit-Reset)"
        )
    if method != "get" or has_body or _has_params(route.dependant):
        codes["422"] = "Invalid field"
    return codes


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document with our error bodies and the status codes each route can answer."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
    doc.setdefault("components", {}).setdefault("schemas", {}).update(_SCHEMAS)
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        for method, operation in doc["paths"].get(route.path_format, {}).items():
            responses = operation.setdefault("responses", {})
            for code, description in _codes(route, method, "requestBody" in operation).items():
                entry = responses.setdefault(code, {"description": description})
                if (route.path_format, code) in _OWN_BODY:
                    continue
                schema = {"$ref": "#/components/schemas/HTTPValidationError"}
                content = {"application/json": {"schema": schema if code == "422" else _ERROR}}
                entry.setdefault("content", content)
    app.openapi_schema = doc
    return doc


def install(app: FastAPI) -> None:
    """Serve `build_openapi` at /openapi.json (and to /docs)."""
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
