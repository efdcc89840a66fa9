"""Errors on console pages are pages (a person reads them), while the API keeps its JSON."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException

from fte.console.templates_env import templates
from fte.errors import FteError, error_json, validation_detail

_MESSAGES = {
    403: "You are signed in, but this page needs another role. Ask an admin.",
    404: "There is no such page here: it may have been deleted, or the link is wrong.",
    500: "Something went wrong on our side. Nothing you did caused it; try again.",
    503: "The database cannot be reached right now. Try again in a moment.",
}
# The API's handlers for these answer JSON; a console page gets a page with the same status.
_API_ANSWERED = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    ConnectionError,
    asyncpg.CharacterNotInRepertoireError,
    asyncpg.UntranslatableCharacterError,
)
Handler = Callable[[Request, Any], Response | Awaitable[Response]]


def is_console_page(request: Request) -> bool:
    """A console URL, not its static files."""
    path = request.url.path
    return (path == "/console" or path.startswith("/console/")) and not path.startswith(
        "/console/static/"
    )


def error_page(
    request: Request, status: int, message: str | None, fields: list[dict[str, Any]] | None = None
) -> HTMLResponse:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return templates.TemplateResponse(
        request,
        "error.html",
        {
            "status": status,
            "phrase": phrase,
            "message": message,
            "explanation": _MESSAGES.get(status),
            "fields": fields or [],
        },
        status_code=status,
    )


def install(app: FastAPI) -> None:
    """Replace the JSON handlers with ones that answer console pages in HTML."""
    # The API's own handler for bad input (errors.py), kept for non-console paths.
    api_invalid = app.exception_handlers.get(
        RequestValidationError, request_validation_exception_handler
    )

    @app.exception_handler(FteError)
    async def _fte_error(request: Request, exc: FteError) -> Response:
        if is_console_page(request):
            fields = exc.detail if isinstance(exc.detail, list) else None
            return error_page(request, exc.status_code, exc.message, fields)
        return error_json(exc)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        if is_console_page(request):
            return error_page(request, exc.status_code, None)
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if is_console_page(request) and request.method == "GET":
            # A malformed id in a console URL names no page.
            return error_page(request, 404, None)
        if is_console_page(request):
            return error_page(request, 422, "The form was not accepted.", validation_detail(exc))
        return await api_invalid(request, exc)  # type: ignore[misc]

    for kind in _API_ANSWERED:
        api_handler = app.exception_handlers.get(kind)
        if api_handler is not None:
            app.add_exception_handler(kind, _page_or(api_handler))

    @app.exception_handler(Exception)
    async def _crashed(request: Request, exc: Exception) -> Response:
        # Starlette logs the traceback and re-raises after this answer: a person sees a page.
        if is_console_page(request):
            return error_page(request, 500, None)
        return PlainTextResponse("Internal Server Error", status_code=500)


def _page_or(api_handler: Handler) -> Callable[[Request, Any], Awaitable[Response]]:
    """The API's handler, answered as a page on console paths (same status)."""

    async def handle(request: Request, exc: Any) -> Response:
        answered = api_handler(request, exc)
        response = answered if isinstance(answered, Response) else await answered
        if not is_console_page(request):
            return response
        message = (
            "The text contains a character that cannot be stored."
            if (response.status_code == 422)
            else None
        )
        return error_page(request, response.status_code, message)

    return handle
