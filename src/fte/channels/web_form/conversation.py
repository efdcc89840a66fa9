"""The customer's side of the conversation, on their ticket's page: writing back (filed on the
same ticket through intake) and rating the ticket once it is solved.

Both are authorised by the page's link token, sent in the JSON body and compared in constant
time; a wrong token is the same 404 as a missing ticket. The page carries no cookie, so a
forged cross-site request would have nothing to ride on without the token; still, only JSON
is accepted (a cross-site HTML form cannot send it without a CORS preflight, which is never
granted) and a browser's cross-site `Origin` or `Sec-Fetch-Site` is refused with 403.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from fte.auth.rate_limit import page_limit
from fte.channels.web_form.plain_words import PlainWordsRoute
from fte.channels.web_form.schemas import CustomerRating, CustomerReply, ReplyReceipt
from fte.config import SettingsDep
from fte.db import PoolDep, transaction
from fte.errors import FteError
from fte.intake.service import file_inbound
from fte.messaging import Identity, InboundMessage
from fte.tickets import repository as tickets_repository
from fte.tickets import service as tickets
from fte.tickets.schemas import PublicRating


class CrossSite(FteError):
    status_code = 403


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


async def same_site_json(request: Request, settings: SettingsDep) -> None:
    """Refuse what another site's page could make a customer's browser send."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise FteError(
            "unsupported media type",
            detail=[{"field": "Content-Type", "reason": "Please send application/json"}],
            status_code=415,
        )
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise CrossSite("cross-site request refused")
    origin = request.headers.get("origin")
    if origin is not None:
        allowed = {_origin(str(request.base_url)), _origin(settings.base_url)}
        if origin.lower() not in allowed:
            raise CrossSite("cross-site request refused")


router = APIRouter(
    tags=["web form"],
    route_class=PlainWordsRoute,
    dependencies=[Depends(same_site_json), Depends(page_limit)],
)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Sending the same reply again with the same key files it once",
    ),
]

_REFUSALS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such ticket, or a wrong token (the same answer for both)"},
    403: {"description": "Sent from another site's page"},
    415: {"description": "Not JSON"},
    422: {"description": "A field is invalid; `detail` names it, in plain words"},
    429: {"description": "Too many requests from this address (Retry-After)"},
}


@router.post(
    "/support/tickets/{ticket_id}/replies",
    status_code=201,
    response_model=ReplyReceipt,
    responses={
        200: {"description": "Sent before with the same Idempotency-Key: the first filing"},
        409: {"description": "The ticket is closed: write a new request"},
        **_REFUSALS,
    },
)
async def customer_reply(
    ticket_id: uuid.UUID,
    reply: CustomerReply,
    pool: PoolDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """The customer writes back: filed on the same ticket through intake (reopening it when it
    waited for them or was solved lately), committed before this answers."""
    secret = settings.resolved_secret_key()
    async with transaction(pool) as conn:
        ticket = await tickets.token_holder_ticket(conn, secret, ticket_id, reply.token)
        route = None
        if ticket["status"] != "closed":
            route = await tickets_repository.reply_route(conn, ticket_id)
    if route is None:
        raise FteError(
            "ticket closed",
            detail=[
                {
                    "field": "message",
                    "reason": "This request is closed; please send us a new one",
                }
            ],
            status_code=409,
        )
    external_id = None
    if idempotency_key is not None:
        external_id = (
            "reply:" + hashlib.sha256(f"{ticket_id}\0{idempotency_key}".encode()).hexdigest()
        )
    result = await file_inbound(
        pool,
        InboundMessage(
            channel=ticket["channel"],
            identity=Identity(route["kind"], route["value"]),
            body=reply.message,
            subject=ticket["subject"],
            thread_key=route["thread_key"],
            external_id=external_id,
        ),
    )
    receipt = ReplyReceipt(
        ticket_id=result.ticket_id,
        ticket_number=result.ticket_number,
        status_url=settings.base_url + tickets.status_path(secret, result.ticket_id),
        duplicate=result.duplicate,
    )
    return JSONResponse(
        receipt.model_dump(mode="json"), status_code=200 if result.duplicate else 201
    )


@router.put(
    "/support/tickets/{ticket_id}/rating",
    response_model=PublicRating,
    responses={409: {"description": "The ticket is not solved yet"}, **_REFUSALS},
)
async def rate_ticket(
    ticket_id: uuid.UUID, rating: CustomerRating, pool: PoolDep, settings: SettingsDep
) -> PublicRating:
    """The customer rates their solved ticket, 1 to 5 with an optional comment; rating again
    replaces it."""
    async with transaction(pool) as conn:
        await tickets.rate(
            conn,
            settings.resolved_secret_key(),
            ticket_id,
            rating.token,
            rating.score,
            rating.comment,
        )
    return PublicRating(score=rating.score, comment=rating.comment)
