"""Comparing secrets: tokens, signatures, CSRF values, whatever a client sent against ours."""

from __future__ import annotations

import hmac


def equal(given: str | bytes | None, expected: str | bytes) -> bool:
    """Whether a client's value equals the secret, in constant time; never raises.

    `hmac.compare_digest` refuses two `str` holding non-ASCII (TypeError), and every header,
    query and form value is text a client chooses, so an `é` turned a failed check into a
    500. Comparing UTF-8 bytes makes any text a plain mismatch. None and "" never match.
    """
    if not given:
        return False
    a = given.encode("utf-8", "surrogatepass") if isinstance(given, str) else given
    b = expected.encode("utf-8", "surrogatepass") if isinstance(expected, str) else expected
    return hmac.compare_digest(a, b)
