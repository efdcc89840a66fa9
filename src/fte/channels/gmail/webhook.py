"""HTTP for Gmail: Pub/Sub push notifications in, and the admin's watch set-up.

A push is verified, the new mail is read from the history and committed with the cursor, and
only then answered: Pub/Sub redelivers anything not acknowledged with a 2xx, and a
redelivered push finds its history already read. The agent works after the answer.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel

from fte.auth.dependencies import AdminDep
from fte.channels.gmail.adapter import GmailAdapter
from fte.channels.gmail.push_auth import verify_push
from fte.channels.gmail.schemas import CHANNEL, parse_push
from fte.channels.gmail.sync import sync_mailbox
from fte.channels.gmail.watch import setup_watch
from fte.config import Settings, SettingsDep
from fte.db import PoolDep
from fte.errors import ServiceUnavailable
from fte.messaging import (
    ChannelAuthError,
    ChannelUnavailable,
    DeliveryRejected,
    configured_adapter,
)

log = logging.getLogger(__name__)
# Whatever Gmail answers that is not the mail: not our caller's fault, so never a 4xx or a 500.
GMAIL_FAILED = (ChannelUnavailable, ChannelAuthError, DeliveryRejected)
router = APIRouter(tags=["gmail"])
WEBHOOK_PATH = "/gmail/webhook"


class PushResult(BaseModel):
    filed: int | None = None
    ignored: str | None = None


class WatchOut(BaseModel):
    mailbox: str
    expires_at: datetime
    seconds_left: float


def _adapter(request: Request, settings: Settings) -> GmailAdapter:
    adapter = configured_adapter(request, CHANNEL)
    assert isinstance(adapter, GmailAdapter) and settings.gmail_address is not None
    return adapter


@router.post(
    WEBHOOK_PATH,
    response_model_exclude_none=True,
    responses={403: {"description": "Bad or missing push token"}},
)
async def push(
    request: Request,
    pool: PoolDep,
    settings: SettingsDep,
    token: str | None = None,
    authorization: Annotated[str | None, Header()] = None,
) -> PushResult:
    """A Pub/Sub push of Gmail's news: the mailbox's new mail is filed before the 200."""
    adapter = _adapter(request, settings)
    await verify_push(token, authorization, settings)
    note = parse_push(await request.body())
    mailbox = str(settings.gmail_address).lower()
    if note.email_address != mailbox:
        # Acknowledged, or Pub/Sub would deliver it forever.
        log.warning(
            "gmail push for %s ignored: this deployment reads %s", note.email_address, mailbox
        )
        return PushResult(ignored="another mailbox")
    try:
        filed = await sync_mailbox(pool, adapter.client, mailbox, note.history_id)
    except GMAIL_FAILED as exc:
        log.error("gmail %s: cannot read new mail: %s", mailbox, exc)
        raise ServiceUnavailable(
            "Gmail could not be read; Pub/Sub will deliver the push again"
        ) from exc
    return PushResult(filed=filed)


@router.post("/gmail/setup-watch")
async def create_watch(
    request: Request, pool: PoolDep, settings: SettingsDep, _: AdminDep
) -> WatchOut:
    """Ask Gmail to push the INBOX's changes to GMAIL_PUBSUB_TOPIC for the next 7 days."""
    adapter = _adapter(request, settings)
    mailbox = str(settings.gmail_address).lower()
    try:
        status = await setup_watch(pool, adapter.client, mailbox)
    except GMAIL_FAILED as exc:
        log.error("gmail %s: watch not set up: %s", mailbox, exc)
        raise ServiceUnavailable(f"Gmail refused the watch: {exc}") from exc
    return WatchOut(mailbox=mailbox, expires_at=status.expires_at, seconds_left=status.seconds_left)
