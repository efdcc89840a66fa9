"""One error base that carries its HTTP status, and the one handler that renders it."""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


class FteError(Exception):
    """An expected failure: the message is safe to show to the caller."""

    status_code = 400
    # Sent with the answer (e.g. `Retry-After` on a 429).
    headers: dict[str, str] | None = None

    def __init__(self, message: str, *, detail: Any = None, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.detail = detail
        if status_code is not None:
            self.status_code = status_code


class NotFound(FteError):
    status_code = 404


class InvalidField(FteError):
    """A 422 naming one field of a provider's payload and what is wrong with it."""

    status_code = 422

    def __init__(self, field: str, reason: str, message: str = "invalid webhook"):
        loc = ["body", *field.split(".")]
        super().__init__(message, detail=[{"loc": loc, "field": field, "reason": reason}])


class ServiceUnavailable(FteError):
    status_code = 503


def validation_detail(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Name each bad field with its reason, without echoing the submitted values back.
    `loc` is FastAPI's (source first: body, query, path, header); `field` is it dotted,
    without a body, query or path source."""
    fields = []
    for err in exc.errors():
        full = [p if isinstance(p, int) else str(p) for p in err.get("loc", ())]
        loc = [str(p) for p in full if p not in ("body", "query", "path")]
        fields.append(
            {
                "loc": full or ["body"],
                "field": ".".join(loc) or "body",
                "reason": err.get("msg", "invalid"),
            }
        )
    return fields


def error_json(exc: FteError) -> JSONResponse:
    """The API's rendering of an expected failure."""
    return JSONResponse(
        {"error": exc.message, "detail": exc.detail},
        status_code=exc.status_code,
        headers=exc.headers,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Render every expected failure as {"error": ..., "detail": ...}."""

    @app.exception_handler(FteError)
    async def _fte_error(_: Request, exc: FteError) -> JSONResponse:
        return error_json(exc)

    @app.exception_handler(asyncpg.CharacterNotInRepertoireError)
    @app.exception_handler(asyncpg.UntranslatableCharacterError)
    async def _unstorable(_: Request, exc: Exception) -> JSONResponse:
        # The last line of defence (schemas name the field first): text PostgreSQL cannot
        # store, such as a NUL character. Its transaction rolled back: nothing was written.
        return JSONResponse(
            {
                "error": "invalid request",
                "detail": [
                    {
                        "loc": ["body"],
                        "field": None,
                        "reason": "text contains a character that cannot be stored (e.g. NUL)",
                    }
                ],
            },
            status_code=422,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"error": "invalid request", "detail": validation_detail(exc)}, status_code=422
        )
