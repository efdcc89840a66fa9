"""Twilio's webhook parameters (form-encoded), turned into our shapes. Field names are Twilio's:
https://www.twilio.com/docs/messaging/guides/webhook-request"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import phonenumbers

from fte.errors import InvalidField
from fte.messaging import Identity, InboundMessage

CHANNEL = "whatsapp"
MAX_BODY = 20_000
MAX_MEDIA = 10
# Twilio's MessageStatus values, mapped to ours (a provider-side failure is `undelivered`:
# our `failed` means we could not hand it to the provider).
STATUSES = {
    "accepted": "sent",
    "scheduled": "sent",
    "queued": "sent",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "undelivered",
    "failed": "undelivered",
    "canceled": "undelivered",
}


def _storable(params: Mapping[str, str]) -> None:
    """Twilio never sends a NUL character; PostgreSQL cannot store one."""
    for name, value in params.items():
        if "\x00" in value:
            raise InvalidField(name, "contains a NUL character")


def _required(params: Mapping[str, str], name: str, max_length: int = 200) -> str:
    value = params.get(name, "").strip()
    if not value:
        raise InvalidField(name, "required")
    if len(value) > max_length:
        raise InvalidField(name, f"longer than {max_length} characters")
    return value


def e164(address: str, field: str) -> str:
    """`whatsapp:+14155238886` or `+1 415 523 8886` -> `+14155238886`."""
    number = address.removeprefix("whatsapp:").strip()
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidField(field, "not a phone number in international format") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidField(field, "not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _media(params: Mapping[str, str]) -> list[dict[str, str]]:
    raw = params.get("NumMedia", "0").strip() or "0"
    # ASCII digits only: str.isdigit() also takes '²', which int() refuses.
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_MEDIA:
        raise InvalidField("NumMedia", f"a count from 0 to {MAX_MEDIA}")
    return [
        {
            "url": params.get(f"MediaUrl{i}", ""),
            "content_type": params.get(f"MediaContentType{i}", ""),
        }
        for i in range(int(raw))
    ]


def inbound_message(params: Mapping[str, str]) -> InboundMessage:
    """A customer's WhatsApp message; media-only messages get a body naming the media."""
    _storable(params)
    sid = _required(params, "MessageSid", 64)
    phone = e164(_required(params, "From", 64), "From")
    body = params.get("Body", "").strip()
    if len(body) > MAX_BODY:
        raise InvalidField("Body", f"longer than {MAX_BODY} characters")
    media = _media(params)
    if not body and not media:
        raise InvalidField("Body", "empty message without media")
    if not body:
        kinds = ", ".join(m["content_type"] or "file" for m in media)
        body = f"[The customer sent media without text: {kinds}]"
    metadata: dict[str, Any] = {"reply_to": phone}
    if media:
        metadata["media"] = media
    name = params.get("ProfileName", "").strip()[:200] or None
    return InboundMessage(
        channel=CHANNEL,
        identity=Identity("phone", phone),
        body=body,
        external_id=sid,
        customer_name=name,
        # One open conversation per customer number.
        thread_key=phone,
        metadata=metadata,
    )


def status_update(params: Mapping[str, str]) -> tuple[str, str, str | None]:
    """(MessageSid, our delivery status, the provider's error or None)."""
    _storable(params)
    sid = _required(params, "MessageSid", 64)
    raw = _required(params, "MessageStatus", 32).lower()
    if raw not in STATUSES:
        raise InvalidField("MessageStatus", "unknown status")
    code = params.get("ErrorCode", "").strip()
    error = f"Twilio error {code}: {params.get('ErrorMessage', '').strip()}"[:500] if code else None
    return sid, STATUSES[raw], error
