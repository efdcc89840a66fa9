"""HTTP for WhatsApp through Twilio: inbound messages and delivery status callbacks.

Both verify `X-Twilio-Signature` against FTE_PUBLIC_URL (the URL Twilio called, which behind a
proxy is not the one we see), commit, and answer at once: the agent works after the answer, far
inside Twilio's 15 s window.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from starlette.datastructures import FormData
from twilio.request_validator import RequestValidator

from fte.auth.rate_limit import webhook_limit
from fte.channels.whatsapp_twilio.adapter import STATUS_PATH, WEBHOOK_PATH
from fte.channels.whatsapp_twilio.schemas import CHANNEL, inbound_message, status_update
from fte.config import Settings, SettingsDep
from fte.db import PoolDep, transaction
from fte.delivery import repository as delivery
from fte.errors import FteError, InvalidField
from fte.intake.service import file_inbound
from fte.messaging import configured_adapter

router = APIRouter(tags=["whatsapp"])
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
_FORM = "application/x-www-form-urlencoded"


class BadSignature(FteError):
    status_code = 403


async def _verified_params(request: Request, settings: Settings) -> dict[str, str]:
    configured_adapter(request, CHANNEL)
    if not request.headers.get("content-type", "").startswith(_FORM):
        raise InvalidField("Content-Type", f"must be {_FORM}")
    try:
        form: FormData = await request.form()
    except Exception as exc:  # a body the form parser cannot read
        raise InvalidField("body", "not a form-encoded body") from exc
    params = {k: v for k, v in form.items() if isinstance(v, str)}
    signature = request.headers.get("X-Twilio-Signature")
    if not signature:
        raise BadSignature("missing X-Twilio-Signature")
    url = settings.base_url + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    assert settings.twilio_auth_token is not None
    if not RequestValidator(settings.twilio_auth_token).validate(url, params, signature):
        raise BadSignature("invalid X-Twilio-Signature")
    return params


@router.post(
    WEBHOOK_PATH,
    responses={
        403: {"description": "Bad or missing signature"},
        429: {"description": "Too many requests from this address (Retry-After)"},
    },
    dependencies=[Depends(webhook_limit)],
)
async def inbound(request: Request, pool: PoolDep, settings: SettingsDep) -> Response:
    """A customer's WhatsApp message: filed (once per MessageSid) before Twilio gets its 200."""
    params = await _verified_params(request, settings)
    await file_inbound(pool, inbound_message(params))
    return Response(EMPTY_TWIML, media_type="text/xml")


@router.post(STATUS_PATH, status_code=204, responses={403: {"description": "Bad signature"}})
async def status(request: Request, pool: PoolDep, settings: SettingsDep) -> Response:
    """Twilio's delivery status callback for one of our messages."""
    params = await _verified_params(request, settings)
    sid, new_status, error = status_update(params)
    async with transaction(pool) as conn:
        await delivery.update_status(conn, CHANNEL, sid, new_status, error)
    return Response(status_code=204)
