"""Template placeholders in articles ({{Order Number}}): filled from the message, or left out.

A reply must never show a raw placeholder to a customer.
"""

from __future__ import annotations

import re

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
_ORDER_NUMBER = re.compile(r"(?:#\s*)?\b([A-Z]{0,4}-?\d{5,})\b")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def _value(label: str, message: str, customer_name: str | None) -> str | None:
    label = label.lower()
    if any(word in label for word in ("order", "invoice", "purchase", "reference", "ticket")):
        match = _ORDER_NUMBER.search(message)
        return match.group(1) if match else None
    if "name" in label and "account" not in label:
        return customer_name
    if "email" in label:
        match = _EMAIL.search(message)
        return match.group(0) if match else None
    return None


def fill_placeholders(text: str, message: str, customer_name: str | None) -> str:
    """Placeholders the message or customer supplies are filled; the rest are removed."""
    if "{{" not in text:
        return text
    filled = _PLACEHOLDER.sub(lambda m: _value(m.group(1), message, customer_name) or "", text)
    filled = re.sub(r"[ \t]{2,}", " ", filled)
    filled = re.sub(r"[ \t]+([.,;:!?)])", r"\1", filled)
    filled = re.sub(r"\(\s*\)", "", filled)
    return re.sub(r"[ \t]+\n", "\n", filled).replace("{{", "").replace("}}", "")
