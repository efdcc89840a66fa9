"""Validation messages customers can read: "Please enter your email address", not a validator's
text. The 422 keeps naming the field (`loc`, `field`); only the `reason` is in plain words."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Final

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from fte.errors import FteError, validation_detail

# field -> (missing or empty, too long, otherwise invalid)
MESSAGES: Final[dict[str, tuple[str, str, str]]] = {
    "name": (
        "Please enter your name",
        "Please keep your name under 200 characters",
        "Please enter your name",
    ),
    "email": (
        "Please enter your email address",
        "Please enter a shorter email address",
        "Please enter a valid email address, like name@example.com",
    ),
    "subject": (
        "Please enter a subject",
        "Please keep the subject under 300 characters",
        "Please enter a subject",
    ),
    "message": (
        "Please write your message",
        "Please keep your message under 20,000 characters",
        "Please write your message",
    ),
    "category": (
        "Please choose a topic from the list",
        "Please choose a topic from the list",
        "Please choose a topic from the list",
    ),
    "priority": (
        "Please choose an urgency from the list",
        "Please choose an urgency from the list",
        "Please choose an urgency from the list",
    ),
    "score": (
        "Please choose a rating from 1 to 5",
        "Please choose a rating from 1 to 5",
        "Please choose a rating from 1 to 5",
    ),
    "comment": (
        "Please write a comment or leave it empty",
        "Please keep your comment under 2,000 characters",
        "Please write a comment or leave it empty",
    ),
    "token": (
        "This link is incomplete; please open the link you were given again",
        "This link is not valid; please open the link you were given again",
        "This link is not valid; please open the link you were given again",
    ),
}
UNREADABLE: Final = "We could not read what was sent; please try again"
UNKNOWN_FIELD: Final = "This is not one of the form's fields"
OTHER: Final = "Please check this field"


def _reason(field: str, kind: str, given: object) -> str:
    if kind == "json_invalid" or field == "body":
        return UNREADABLE
    if kind == "extra_forbidden":
        return UNKNOWN_FIELD
    messages = MESSAGES.get(field)
    if messages is None:
        return OTHER
    blank = given is None or (isinstance(given, str) and not given.strip())
    if kind in ("missing", "string_too_short") or blank:
        return messages[0]
    if kind == "string_too_long":
        return messages[1]
    return messages[2]


def plain_detail(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Each bad field with its reason in plain words; the submitted values never echoed."""
    detail = validation_detail(exc)
    for item, err in zip(detail, exc.errors(), strict=True):
        item["reason"] = _reason(item["field"], str(err.get("type", "")), err.get("input"))
    return detail


class PlainWordsRoute(APIRoute):
    """A route whose invalid requests answer in plain words (the web form's, the customer's
    page's)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def plain(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                raise FteError(
                    "invalid request", detail=plain_detail(exc), status_code=422
                ) from exc

        return plain
