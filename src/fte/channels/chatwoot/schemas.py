"""Chatwoot webhook payloads (Chatwoot's `webhook_data` of messages and conversations), turned
into our shapes. Only this module knows their field names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fte.errors import InvalidField
from fte.kit.json_input import load_json
from fte.messaging import Identity, InboundMessage

CHANNEL = "chatwoot"
MAX_BODY = 20_000


@dataclass(frozen=True)
class StatusChange:
    """A conversation's status changed in Chatwoot (`open`, `resolved`, `pending`, `snoozed`)."""

    conversation: str
    status: str


def parse(body: bytes) -> dict[str, Any]:
    """The JSON object of a webhook body."""
    payload = load_json(body, "body")
    if not isinstance(payload, dict):
        raise InvalidField("body", "not a JSON object")
    if not isinstance(payload.get("event"), str):
        raise InvalidField("event", "required")
    return payload


def _object(payload: dict[str, Any], name: str) -> dict[str, Any]:
    value = payload.get(name)
    if not isinstance(value, dict):
        raise InvalidField(name, "required object")
    return value


def _id(obj: dict[str, Any], name: str, path: str) -> str:
    value = obj.get(name)
    if isinstance(value, bool) or not isinstance(value, int | str) or str(value) == "":
        raise InvalidField(path, "required id")
    text = str(value)
    if len(text) > 64:
        raise InvalidField(path, "too long")
    return text


def inbound_message(payload: dict[str, Any]) -> InboundMessage | None:
    """A customer's message; None for what we must not answer: our own messages, agents'
    messages, private notes and empty messages."""
    if payload.get("message_type") != "incoming" or payload.get("private") is True:
        return None
    sender = _object(payload, "sender")
    if sender.get("type", "contact") != "contact":
        return None
    conversation = _object(payload, "conversation")
    conversation_id = _id(conversation, "id", "conversation.id")
    message_id = _id(payload, "id", "id")
    account = payload.get("account")
    account_id = _id(account, "id", "account.id") if isinstance(account, dict) else ""
    contact_id = _id(sender, "id", "sender.id")
    content = payload.get("content")
    if content is not None and not isinstance(content, str):
        raise InvalidField("content", "must be text")
    body = (content or "").strip()
    attachments = payload.get("attachments") or []
    if not isinstance(attachments, list):
        raise InvalidField("attachments", "must be a list")
    if not body and not attachments:
        return None
    if len(body) > MAX_BODY:
        raise InvalidField("content", f"longer than {MAX_BODY} characters")
    if not body:
        body = f"[The customer sent {len(attachments)} attachment(s) without text]"
    meta = conversation.get("meta")
    assignee = meta.get("assignee") if isinstance(meta, dict) else None
    name = sender.get("name") if isinstance(sender.get("name"), str) else None
    return InboundMessage(
        channel=CHANNEL,
        identity=Identity("chatwoot_contact", contact_id),
        body=body,
        # Chatwoot's own message id, which the signature covers: a redelivery or a captured
        # request replayed with a new (unsigned) X-Chatwoot-Delivery is the same message.
        external_id=f"message:{account_id}:{conversation_id}:{message_id}",
        customer_name=(name or "")[:200] or None,
        thread_key=conversation_id,
        metadata={"reply_to": contact_id, "chatwoot_message_id": message_id},
        # A human agent has the conversation: we keep the record and stay silent.
        silent=bool(assignee),
    )


# What a Chatwoot agent types in a private note to publish the AI's draft (see docs/runbook.md).
APPROVE_COMMAND = "/approve"


@dataclass(frozen=True)
class Approval:
    """A human agent approved the draft in Chatwoot: a private note reading `/approve`, in reply
    to the draft's note (Chatwoot's `content_attributes.in_reply_to`) or on its own (the
    conversation's latest draft)."""

    conversation: str
    agent_id: str
    agent_name: str | None
    note_id: str
    in_reply_to: str | None


def approval(payload: dict[str, Any]) -> Approval | None:
    """The approval a `message_created` payload carries; None for any other message."""
    content = payload.get("content")
    if payload.get("private") is not True or not isinstance(content, str):
        return None
    words = content.strip().split(maxsplit=1)
    if not words or words[0].lower() != APPROVE_COMMAND:
        return None
    sender = _object(payload, "sender")
    if sender.get("type") != "user":  # only a person approves; never a bot, never ourselves
        return None
    attributes = payload.get("content_attributes")
    reply_to = attributes.get("in_reply_to") if isinstance(attributes, dict) else None
    name = sender.get("name")
    return Approval(
        conversation=_id(_object(payload, "conversation"), "id", "conversation.id"),
        agent_id=_id(sender, "id", "sender.id"),
        agent_name=name[:200] if isinstance(name, str) else None,
        note_id=_id(payload, "id", "id"),
        in_reply_to=(
            _id(attributes, "in_reply_to", "content_attributes.in_reply_to")  # type: ignore[arg-type]
            if reply_to is not None
            else None
        ),
    )


def status_change(payload: dict[str, Any]) -> StatusChange:
    """`conversation_status_changed`: the payload is the conversation itself."""
    status = payload.get("status")
    if not isinstance(status, str) or not status:
        raise InvalidField("status", "required")
    return StatusChange(conversation=_id(payload, "id", "id"), status=status)
