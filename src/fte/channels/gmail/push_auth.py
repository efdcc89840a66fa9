"""Checking that a push came from our Pub/Sub subscription: a shared token in the push URL
(`?token=`), and/or the OIDC token Pub/Sub signs for an authenticated push subscription
(`Authorization: Bearer <JWT>`, audience and service account as configured).

Google's signing certificates are read from GMAIL_CERTS_URL and kept for a while; a token
signed by a key we do not know makes us read them again (at most once a minute).
https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from google.auth import exceptions as google_exceptions
from google.auth import jwt

from fte.config import Settings
from fte.errors import FteError
from fte.kit import secrets as secret
from fte.messaging import ChannelUnavailable

ISSUERS = {"accounts.google.com", "https://accounts.google.com"}
CERTS_TTL = 3600.0
# An unknown key id makes us read the certificates again, at most this often (a stream of
# forged tokens must not turn into a stream of requests to Google).
CERTS_MIN_AGE = 60.0
CLOCK_SKEW = 10

_certs: dict[str, tuple[float, dict[str, str]]] = {}


class BadPush(FteError):
    """The push is not from our subscription."""

    status_code = 403


async def _fetch_certs(url: str, wait: float, *, fresh: bool = False) -> dict[str, str]:
    cached = _certs.get(url)
    if cached is not None:
        age = time.monotonic() - cached[0]
        if age < (CERTS_MIN_AGE if fresh else CERTS_TTL):
            return cached[1]
    try:
        async with httpx.AsyncClient(timeout=wait) as client:
            answer = await client.get(url)
            answer.raise_for_status()
            certs = answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ChannelUnavailable(f"cannot read Google's certificates at {url}: {exc}") from exc
    if not isinstance(certs, dict) or not all(isinstance(v, str) for v in certs.values()):
        raise ChannelUnavailable(f"{url} did not answer a map of key id to PEM certificate")
    _certs[url] = (time.monotonic(), certs)
    return certs


async def verify_oidc(token: str, settings: Settings) -> dict[str, Any]:
    """The token's claims, once its signature, audience, issuer and signer are checked."""
    assert settings.gmail_push_audience is not None
    try:
        kid = jwt.decode_header(token).get("kid")
    except (ValueError, TypeError) as exc:
        raise BadPush("the Authorization bearer token is not a JWT") from exc
    wait = settings.delivery_timeout_seconds
    certs = await _fetch_certs(settings.gmail_certs_url, wait)
    if kid not in certs:  # Google rotated its keys since we read them
        certs = await _fetch_certs(settings.gmail_certs_url, wait, fresh=True)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            certs=certs,
            audience=settings.gmail_push_audience,
            clock_skew_in_seconds=CLOCK_SKEW,
        )
    except (ValueError, google_exceptions.GoogleAuthError) as exc:
        raise BadPush(f"invalid push token: {exc}") from exc
    if claims.get("iss") not in ISSUERS:
        raise BadPush("invalid push token: not issued by Google")
    expected = settings.gmail_push_service_account
    if expected and (claims.get("email") != expected or claims.get("email_verified") is not True):
        raise BadPush("invalid push token: signed for another service account")
    return claims


async def verify_push(
    token_param: str | None, authorization: str | None, settings: Settings
) -> None:
    """Every configured check passes, or BadPush (403) names the one that failed."""
    if settings.gmail_push_token:
        if not token_param:
            raise BadPush("missing push token (the push endpoint's ?token=)")
        if not secret.equal(token_param, settings.gmail_push_token):
            raise BadPush("invalid push token")
    if settings.gmail_push_audience:
        scheme, _, value = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise BadPush("missing Authorization bearer token")
        await verify_oidc(value.strip(), settings)
