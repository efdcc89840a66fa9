"""HTTP for Chatwoot: `POST /chatwoot/webhook`.

A human agent approves the AI's draft (posted as a private note in approval mode) by writing a
private note `/approve`, as a reply to the draft's note or on its own (the latest draft): the
draft is then published through the delivery queue, once, and audited.

Verifies `X-Chatwoot-Signature` (`sha256=` + hex HMAC-SHA256 of `"{X-Chatwoot-Timestamp}.{body}"`
with the webhook secret), refuses stale timestamps (a replayed capture), files the customer's
message (once per Chatwoot message id: account, conversation, message, all signed; the
`X-Chatwoot-Delivery` header is not signed, so it is not trusted) and answers at once, well
inside Chatwoot's 5 s.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from fte.auth.rate_limit import webhook_limit
from fte.channels.chatwoot.schemas import (
    CHANNEL,
    Approval,
    approval,
    inbound_message,
    parse,
    status_change,
)
from fte.config import Settings, SettingsDep
from fte.db import PoolDep, transaction
from fte.desk import service as desk
from fte.errors import FteError
from fte.intake.service import file_inbound
from fte.kit import secrets as secret
from fte.messaging import ChannelAdapter, configured_adapter
from fte.tickets import service as ticket_service

router = APIRouter(tags=["chatwoot"])
MAX_STAMP_DIGITS = 12  # Unix seconds until the year 33658


class BadSignature(FteError):
    status_code = 403


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """What Chatwoot sends in X-Chatwoot-Signature for this body."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _verify(request: Request, body: bytes, settings: Settings) -> None:
    given = request.headers.get("X-Chatwoot-Signature")
    stamp = request.headers.get("X-Chatwoot-Timestamp")
    if not given:
        raise BadSignature("missing X-Chatwoot-Signature")
    # Unix seconds in ASCII digits: '²' is a digit to str.isdigit(), and a 400-digit number
    # does not fit the float it is compared with.
    if not stamp or not (stamp.isascii() and stamp.isdigit()) or len(stamp) > MAX_STAMP_DIGITS:
        raise BadSignature("missing or malformed X-Chatwoot-Timestamp")
    assert settings.chatwoot_webhook_secret is not None
    if not secret.equal(given, signature(settings.chatwoot_webhook_secret, stamp, body)):
        raise BadSignature("invalid X-Chatwoot-Signature")
    if abs(time.time() - int(stamp)) > settings.chatwoot_max_skew_seconds:
        raise BadSignature("stale X-Chatwoot-Timestamp")


@router.post(
    "/chatwoot/webhook",
    responses={
        403: {"description": "Bad or stale signature"},
        429: {"description": "Too many requests from this address (Retry-After)"},
    },
    dependencies=[Depends(webhook_limit)],
)
async def webhook(request: Request, pool: PoolDep, settings: SettingsDep) -> JSONResponse:
    """Chatwoot's events: customers' messages, conversation status changes."""
    adapter = configured_adapter(request, CHANNEL)
    body = await request.body()
    _verify(request, body, settings)
    payload = parse(body)
    result: dict[str, Any] = {"event": payload["event"]}
    if payload["event"] == "message_created":
        approved = approval(payload)
        message = None if approved else inbound_message(payload)
        if approved is not None:
            result.update(await _approve(adapter, pool, approved))
        elif message is None:
            result["ignored"] = "not a customer's message"
        else:
            filed = await file_inbound(pool, message)
            result.update(ticket_number=filed.ticket_number, duplicate=filed.duplicate)
    elif payload["event"] == "conversation_status_changed":
        change = status_change(payload)
        if change.status == "resolved":
            async with transaction(pool) as conn:
                result["resolved"] = await ticket_service.resolve_thread(
                    conn, CHANNEL, change.conversation
                )
    else:
        # Assignment needs no record: each message carries its conversation's assignee, and
        # the agent stays silent while there is one.
        result["ignored"] = "event not handled"
    return JSONResponse(result)


async def _approve(adapter: ChannelAdapter, pool: PoolDep, approved: Approval) -> dict[str, Any]:
    """Publish the draft a Chatwoot agent approved, through the delivery queue; once only."""
    # Our messages are stored under `out:{Chatwoot's id}` (the adapter's receipt).
    note = f"out:{approved.in_reply_to}" if approved.in_reply_to else None
    async with transaction(pool) as conn:
        done = await desk.approve_in_thread(
            conn,
            adapter,
            approved.conversation,
            note=note,
            actor=f"chatwoot:user:{approved.agent_id}",
            metadata={
                "chatwoot_note_id": approved.note_id,
                "chatwoot_agent": approved.agent_name,
            },
        )
    if done is None:
        return {"ignored": "no draft to approve in this conversation"}
    return {
        "approved": not done.published.already,
        "run_id": str(done.run_id),
        "ticket_number": done.ticket_number,
    }
