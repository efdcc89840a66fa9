"""HTTP for the web form: the page, the submit endpoint, the customer's status view."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from fte.auth.rate_limit import form_limit
from fte.channels.web_form import conversation
from fte.channels.web_form.plain_words import PlainWordsRoute
from fte.channels.web_form.schemas import SubmissionReceipt, WebFormSubmission
from fte.config import SettingsDep
from fte.db import PoolDep, transaction
from fte.errors import FteError, NotFound
from fte.intake.service import file_inbound
from fte.messaging import Identity, InboundMessage
from fte.tickets import repository as tickets_repository
from fte.tickets import service as tickets
from fte.tickets.schemas import PublicTicket

CHANNEL = "web_form"
REQUEST_HASH = "request_sha256"  # in the message's metadata, beside its Idempotency-Key
router = APIRouter(tags=["web form"], route_class=PlainWordsRoute)
router.include_router(conversation.router)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
# The page's script and styles: files, since the Content-Security-Policy allows no inline code.
STATIC = Path(__file__).parent / "static"
router.mount("/support/static", StaticFiles(directory=STATIC), name="support-static")

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Resubmitting the same form with the same key returns the first ticket; "
        "the same key with a different form is a 422",
    ),
]


def _external_id(email: str, key: str | None) -> str | None:
    # Scoped by email: another customer reusing a key must not see this customer's ticket.
    if key is None:
        return None
    return "idem:" + hashlib.sha256(f"{email}\0{key}".encode()).hexdigest()


def _request_hash(form: WebFormSubmission) -> str:
    """The submission as validated (trimmed, email lowercased), keys sorted: a resubmission of
    the same form hashes the same however its JSON was spelled."""
    canonical = json.dumps(form.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _check_same_request(pool: asyncpg.Pool, message_id: uuid.UUID, request: str) -> None:
    # A key reused with another body must not answer with the first request's status link:
    # whoever guesses an address and a key would read that conversation.
    async with pool.acquire() as conn:
        metadata = await tickets_repository.message_metadata(conn, message_id)
    if (metadata or {}).get(REQUEST_HASH) != request:
        raise FteError(
            "idempotency key reused",
            detail=[
                {
                    "field": "Idempotency-Key",
                    "reason": "was used before for a different submission; use a new key",
                }
            ],
            status_code=422,
        )


@router.post(
    "/support/submit",
    status_code=201,
    response_model=SubmissionReceipt,
    responses={
        200: {"description": "Duplicate submission: the first ticket"},
        413: {"description": "Body too large"},
        422: {"description": "Invalid field, or an Idempotency-Key reused for another form"},
        429: {"description": "Too many submissions from this address (Retry-After)"},
    },
    dependencies=[Depends(form_limit)],
)
async def submit(
    form: WebFormSubmission,
    pool: PoolDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """File a support request; it is committed before this answers."""
    request = _request_hash(form)
    result = await file_inbound(
        pool,
        InboundMessage(
            channel=CHANNEL,
            # Whoever fills in the form types the email: a claim, not an identity. Each
            # submission is its own customer until an operator merges it with the one who
            # proved the address (a link suggestion is recorded when someone has).
            identity=Identity("web_form", str(uuid.uuid4())),
            claimed=(Identity("email", form.email),),
            customer_name=form.name,
            subject=form.subject,
            body=form.message,
            external_id=_external_id(form.email, idempotency_key),
            category=form.category,
            priority=form.priority,
            metadata={REQUEST_HASH: request} if idempotency_key is not None else {},
        ),
    )
    if result.duplicate:
        await _check_same_request(pool, result.message_id, request)
    receipt = SubmissionReceipt(
        ticket_id=result.ticket_id,
        ticket_number=result.ticket_number,
        status_url=settings.base_url
        + tickets.status_path(settings.resolved_secret_key(), result.ticket_id),
        duplicate=result.duplicate,
    )
    status = 200 if result.duplicate else 201
    return JSONResponse(receipt.model_dump(mode="json"), status_code=status)


@router.get("/support/tickets/{ticket_id}", response_model=PublicTicket)
async def ticket_status(
    request: Request,
    ticket_id: uuid.UUID,
    pool: PoolDep,
    settings: SettingsDep,
    token: Annotated[str, Query(max_length=200)],
) -> PublicTicket | HTMLResponse:
    """Status and conversation for the holder of the ticket's link (a page for browsers)."""
    # One snapshot: the status and the messages as one commit left them (read apart, a reply
    # committed in between showed beside the status from before it).
    try:
        async with transaction(pool, snapshot=True) as conn:
            view = await tickets.public_view(conn, settings.resolved_secret_key(), ticket_id, token)
    except NotFound:
        if not _wants_html(request):
            raise
        # A person with a wrong or cut-off link gets the page, which says so in words.
        page = await support_page(request, settings)
        page.status_code = 404
        return page
    if _wants_html(request):
        return await support_page(request, settings)
    return view


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept


@router.get("/support", response_class=HTMLResponse, include_in_schema=False)
async def support_page(request: Request, settings: SettingsDep) -> HTMLResponse:
    """The contact form customers fill in."""
    return templates.TemplateResponse(request, "support.html", {"company": settings.company_name})
