"""RFC 5322 mail to our shapes: the sender, the thread, and the new text only (quoted history
and the signature cut off before the agent reads it)."""

from __future__ import annotations

import email
import email.policy
import html
import re
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr

from fte.messaging import Identity, InboundMessage

CHANNEL = "email"
MAX_BODY = 20_000

# Where quoted history starts, in the common clients' wording.
_QUOTE_HEADERS = [
    re.compile(r"^On .{0,300}wrote:\s*$", re.IGNORECASE),
    re.compile(r"^Le .{0,300}a écrit\s*:\s*$", re.IGNORECASE),
    re.compile(r"^Am .{0,300}schrieb .{0,200}:\s*$", re.IGNORECASE),
    re.compile(r"^-{2,}\s*Original Message\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^_{10,}\s*$"),
    re.compile(r"^From:\s.+$"),
]
# Where a signature starts.
_SIGNATURES = [
    re.compile(r"^-- ?$"),
    re.compile(r"^Sent from my .{1,40}$", re.IGNORECASE),
    re.compile(r"^Get Outlook for .{1,40}$", re.IGNORECASE),
]


def new_text(body: str) -> str:
    """The text the customer wrote in this message: quoted history and signature removed."""
    kept: list[str] = []
    for line in body.replace("\r\n", "\n").split("\n"):
        stripped = line.strip()
        if any(p.match(stripped) for p in _QUOTE_HEADERS + _SIGNATURES):
            break
        if stripped.startswith(">"):
            continue
        kept.append(line.rstrip())
    return "\n".join(kept).strip()


def _text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError):
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str):
        return ""
    if part.get_content_subtype() == "html":
        content = re.sub(r"(?is)<(script|style|blockquote).*?</\1>", "", content)
        content = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", content)
        content = html.unescape(re.sub(r"<[^>]+>", "", content))
    return content


def message_ids(value: str | None) -> list[str]:
    """The <ids> of a Message-ID, In-Reply-To or References header, in order."""
    return re.findall(r"<[^<>\s]+>", value or "")


MAX_REFERENCES = 20  # ids kept in a reply's References: the root and the latest
MAX_ID_CHARS = 250


def _reply_chain(references: list[str], own_id: str | None) -> str:
    """What a reply's References will be (RFC 5322 §3.6.4): this message's References (else
    its In-Reply-To) and its own id. A long chain keeps its root and its latest ids, as
    §3.6.4 lets a reply trim it."""
    ids = list(dict.fromkeys([*references, *([own_id] if own_id else [])]))
    ids = [i for i in ids if len(i) <= MAX_ID_CHARS]
    if len(ids) > MAX_REFERENCES:
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    return " ".join(ids)


def _header(message: EmailMessage, name: str, default: str = "") -> str:
    """A header's text; its raw text where the stdlib's parser fails on it (`From: a@`
    raises IndexError inside `email`), so one malformed mail cannot stop the mailbox."""
    try:
        return str(message.get(name, default))
    except Exception:
        raw = [v for k, v in message.raw_items() if k.lower() == name.lower()]
        return str(raw[0]) if raw else default


def inbound_message(raw: bytes, our_address: str) -> InboundMessage | None:
    """A customer's email; None for mail we must not answer (ours, no sender, auto-replies)."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    name, address = parseaddr(_header(message, "From"))
    address = address.strip().lower()
    local, _, domain = address.rpartition("@")
    if not local or not domain or address == our_address.lower():
        return None  # no sender to answer (`a@`, `@b`, none), or our own mail
    if _header(message, "Auto-Submitted", "no").lower() not in ("", "no"):
        return None  # an out-of-office or a bounce: answering would loop
    own_ids = message_ids(_header(message, "Message-ID"))
    own_id = own_ids[0] if own_ids else None
    references = message_ids(_header(message, "References"))
    in_reply_to = message_ids(_header(message, "In-Reply-To"))
    # The thread is named by its first message: the root of References, else what this
    # answers, else this message itself.
    thread = references[0] if references else in_reply_to[0] if in_reply_to else own_id
    text = new_text(_text_of(message))[:MAX_BODY]
    subject = _header(message, "Subject").strip()[:300] or None
    if not text:
        text = "[The customer sent an email without text]"
    return InboundMessage(
        channel=CHANNEL,
        identity=Identity("email", address),
        body=text,
        external_id=own_id,
        customer_name=name.strip()[:200] or None,
        subject=subject,
        thread_key=thread,
        metadata={
            "reply_to": address,
            "references": _reply_chain(references or in_reply_to[:1], own_id),
            "cc": [a for _, a in getaddresses([_header(message, "Cc")]) if a][:20],
        },
    )
