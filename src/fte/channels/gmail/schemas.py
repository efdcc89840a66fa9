"""Gmail's shapes to ours: the Pub/Sub push envelope and a raw (RFC 2822) Gmail message.

The envelope is Pub/Sub's push format, `{"message": {"data": base64(JSON), "messageId",
"publishTime", "attributes"}, "subscription"}`; Gmail's data is `{"emailAddress", "historyId"}`.
https://developers.google.com/workspace/gmail/api/guides/push
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from dataclasses import dataclass
from typing import Any

from fte.channels.imap_smtp.schemas import inbound_message as email_inbound_message
from fte.errors import InvalidField
from fte.kit.json_input import load_json
from fte.messaging import InboundMessage

CHANNEL = "gmail"
MAX_ID = 200


class InvalidPush(InvalidField):
    """A push body that is not a Gmail notification in Pub/Sub's envelope."""

    def __init__(self, field: str, reason: str):
        super().__init__(field, reason, "invalid push")


@dataclass(frozen=True)
class PushNotification:
    """Gmail's news: this mailbox has history up to `history_id`."""

    email_address: str
    history_id: int
    pubsub_message_id: str


def _object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidPush(field, "must be a JSON object")
    return value


def _history_id(value: Any) -> int:
    # Gmail sends it as a number or as a string of digits (a uint64).
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidPush("message.data.historyId", "must be a positive integer")
    text = str(value).strip()
    # ASCII digits, and few enough for int() to take (it refuses over 4,300) and int64 to hold.
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or not 0 < int(text) < 2**63:
        raise InvalidPush("message.data.historyId", "must be a positive integer")
    return int(text)


def parse_push(body: bytes) -> PushNotification:
    """The notification inside a push request's body; InvalidPush naming the bad field."""
    try:
        envelope = load_json(body, "body")
    except InvalidField as exc:
        raise InvalidPush("body", exc.detail[0]["reason"]) from exc
    message = _object(_object(envelope, "body").get("message"), "message")
    data = message.get("data")
    if not isinstance(data, str) or not data:
        raise InvalidPush("message.data", "required (base64 of Gmail's JSON)")
    try:
        decoded = load_json(
            base64.b64decode(data + "=" * (-len(data) % 4), altchars=b"-_"), "message.data"
        )
    except (binascii.Error, ValueError) as exc:
        raise InvalidPush("message.data", "not base64-encoded JSON") from exc
    except InvalidField as exc:
        raise InvalidPush("message.data", exc.detail[0]["reason"]) from exc
    if not isinstance(decoded, dict):
        raise InvalidPush("message.data", "must decode to a JSON object")
    address = decoded.get("emailAddress")
    if not isinstance(address, str) or "@" not in address or len(address) > 320:
        raise InvalidPush("message.data.emailAddress", "must be an email address")
    pubsub_id = message.get("messageId", message.get("message_id", ""))
    if not isinstance(pubsub_id, str) or len(pubsub_id) > MAX_ID:
        raise InvalidPush("message.messageId", f"a string of at most {MAX_ID} characters")
    return PushNotification(
        address.strip().lower(), _history_id(decoded.get("historyId")), pubsub_id
    )


def inbound_message(
    raw: bytes, gmail_id: str, thread_id: str, our_address: str
) -> InboundMessage | None:
    """A customer's email from Gmail; None for mail we must not answer (ours, auto-replies).

    The email channel's reader does the work (sender, quoted history and signature cut off);
    Gmail's own ids replace the RFC ones: the message id de-duplicates, the thread id threads.
    """
    message = email_inbound_message(raw, our_address)
    if message is None:
        return None
    return dataclasses.replace(
        message,
        channel=CHANNEL,
        external_id=gmail_id,
        thread_key=thread_id,
        metadata={**message.metadata, "rfc_message_id": message.external_id},
    )
