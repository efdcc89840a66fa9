"""Masking personal data in text: email addresses, phone numbers and payment-card numbers.

Used on every log record (a filter on the process's log handler) and, with
`FTE_LLM_REDACT=true`, on the text sent to a language model. A card number is 13 to 19 digits
(spaces or dashes between groups allowed) that pass the Luhn check, so order numbers and ids of
the same length mostly stay readable. A phone number is written with a leading `+` and 8 to 15
digits, or in the North American `(555) 010-0199` form; a bare run of digits is not masked
(it is as likely an id or a timestamp).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any, Final

EMAIL_MASK: Final = "[email]"
PHONE_MASK: Final = "[phone]"
CARD_MASK: Final = "[card]"

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_CARD = re.compile(r"(?<![\d.-])\d(?:[ -]?\d){12,18}(?![\d-])")
_PHONE = re.compile(
    r"(?<![\w+])\+\d(?:[ .-]?\(?\d\)?){7,14}(?![\w-])"  # +44 20 7946 0958, +15550100199
    r"|(?<![\w+(-])\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}(?![\w-])"  # (555) 010-0199, 555.010.0199
)


def luhn_ok(digits: str) -> bool:
    """True when the digits pass the Luhn checksum payment cards carry."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return CARD_MASK if 13 <= len(digits) <= 19 and luhn_ok(digits) else match.group()


def redact(text: str) -> str:
    """The text with emails, card numbers and phone numbers masked."""
    if not text:
        return text
    text = _EMAIL.sub(EMAIL_MASK, text)
    text = _CARD.sub(_card, text)
    return _PHONE.sub(PHONE_MASK, text)


def redact_messages(messages: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chat messages with their text content masked (a copy; tool calls and roles untouched)."""
    out = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            message = {**message, "content": redact(content)}
        elif isinstance(content, list):
            parts = [
                {**p, "text": redact(p["text"])} if isinstance(p.get("text"), str) else p
                for p in content
                if isinstance(p, dict)
            ]
            message = {**message, "content": parts}
        out.append(message)
    return out


class RedactFilter(logging.Filter):
    """Masks the message, its traceback and stack of every record a handler emits.

    The message is rendered (`msg % args`) and masked once here, so every formatter after it,
    text or JSON, sees only the masked text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string: logging reports it later
            return True
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
