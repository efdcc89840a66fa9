"""Identities in one form, and the ones a customer claims about themselves in a message (a
claim is offered to an operator as a link suggestion, never linked: see customers/service.py).

Email addresses are lowercased; phone numbers are E.164 (`phonenumbers`). A message gives an
identity when the customer names it as their own ("my email is ana@example.com", "reach me
on +44 7700 900123"): an address merely mentioned ("write to billing@acme.example") is not
theirs. Phone numbers count only in international form (+ and country code): a local number
cannot be told apart from an order number without knowing the country.
"""

from __future__ import annotations

import re

import phonenumbers

from fte.messaging import Identity

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Before the identity, in the same sentence: the customer speaking of themselves.
_OWN = re.compile(r"\b(my|me|i'm|i am|mine)\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?\n](?:\s|$)")
_WINDOW = 60  # characters looked at before an identity
MAX_GIVEN = 5  # more than this in one message is a list, not the customer's own
# A URI-style scheme before a number (`tel:`, a provider's address prefix): not the number.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def normalise(identity: Identity) -> Identity:
    """The canonical form of an identity (a phone number that does not parse is kept)."""
    value = identity.value.strip()
    if identity.kind == "email":
        return Identity("email", value.lower())
    if identity.kind == "phone":
        return Identity("phone", e164(value) or value)
    return Identity(identity.kind, value)


def e164(text: str) -> str | None:
    """`+44 7700 900123` -> `+447700900123`; None when it is not a possible number."""
    try:
        parsed = phonenumbers.parse(_SCHEME.sub("", text.strip()).strip(), None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _own(text: str, start: int) -> bool:
    before = text[max(0, start - _WINDOW) : start]
    ends = list(_SENTENCE_END.finditer(before))
    if ends:
        before = before[ends[-1].end() :]
    return bool(_OWN.search(before))


def given_in(text: str) -> list[Identity]:
    """The email addresses and phone numbers the customer gives as their own, in order."""
    if not _OWN.search(text):
        return []  # most messages: no need to look for numbers
    found: list[Identity] = []
    for m in _EMAIL.finditer(text):
        if _own(text, m.start()):
            found.append(Identity("email", m.group(0).lower().rstrip(".")))
    # POSSIBLE, not VALID: the number's length fits its country; numbering plans change faster
    # than the library's metadata, and a customer knows their own number.
    matcher = phonenumbers.PhoneNumberMatcher(text, None, leniency=phonenumbers.Leniency.POSSIBLE)
    for pm in matcher:
        if _own(text, pm.start) and phonenumbers.is_possible_number(pm.number):
            number = phonenumbers.format_number(pm.number, phonenumbers.PhoneNumberFormat.E164)
            found.append(Identity("phone", number))
    unique = list(dict.fromkeys(found))
    return unique if len(unique) <= MAX_GIVEN else []
