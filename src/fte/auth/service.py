"""Signing in, sessions, API keys and rate limits.

Passwords are hashed with argon2id. Session tokens and API keys are random 256-bit secrets:
only their SHA-256 is stored, so a database dump lets no one in. A login always creates a
new session token (no session fixation); logging out deletes it.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Final

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from fte.auth import repository
from fte.auth.schemas import ROLES, SCOPES, Principal, Role, Session, User
from fte.errors import FteError
from fte.kit import secrets as secret

API_KEY_PREFIX: Final = "fte_"
MIN_PASSWORD_CHARS: Final = 12


class AuthError(FteError):
    status_code = 400


class RateLimited(FteError):
    """Too many attempts; `retry_after` seconds until the window ends."""

    status_code = 429

    def __init__(self, retry_after: float):
        super().__init__("too many requests", detail={"retry_after": round(retry_after)})
        self.retry_after = max(1, round(retry_after + 0.5))


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Verified against when the email is unknown: the check takes as long as a real one, so
    the response time does not tell which emails have accounts."""
    return _hasher().hash(secrets.token_urlsafe(16))


def _verify(digest: str, password: str) -> bool:
    try:
        return _hasher().verify(digest, password)
    except (VerificationError, InvalidHashError):
        return False


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise AuthError(f"the password must have at least {MIN_PASSWORD_CHARS} characters")
    return _hasher().hash(password)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def add_user(
    conn: asyncpg.Connection, email: str, name: str, role: Role, password: str
) -> uuid.UUID:
    if role not in ROLES:
        raise AuthError(f"role must be one of {', '.join(ROLES)}")
    digest = await asyncio.to_thread(hash_password, password)
    user_id = await repository.insert_user(conn, email.strip(), name.strip(), role, digest)
    if user_id is None:
        raise AuthError(f"a user with email {email} exists already", status_code=409)
    await repository.audit(conn, "cli", "user.add", detail={"email": email, "role": role})
    return user_id


async def authenticate(conn: asyncpg.Connection, email: str, password: str) -> User | None:
    """The user whose email and password these are, else None (same time either way)."""
    row = await repository.user_by_email(conn, email.strip())
    digest = row["password_hash"] if row else _dummy_hash()
    # argon2 takes tens of milliseconds of CPU on purpose: keep it off the event loop.
    if not await asyncio.to_thread(_verify, digest, password) or row is None:
        return None
    if _hasher().check_needs_rehash(digest):
        new_digest = await asyncio.to_thread(_hasher().hash, password)
        await repository.set_password_hash(conn, row["id"], new_digest)
    return User(row["id"], row["email"], row["name"], row["role"])


@dataclass(frozen=True)
class NewSession:
    token: str  # goes into the cookie, never stored
    csrf_token: str
    expires_at: datetime


async def start_session(conn: asyncpg.Connection, user: User, lifetime: timedelta) -> NewSession:
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + lifetime
    await repository.delete_expired_sessions(conn, user.id)
    await repository.insert_session(conn, _digest(token), user.id, csrf, expires)
    await repository.audit(conn, f"user:{user.id}", "session.start")
    return NewSession(token, csrf, expires)


async def session_for(conn: asyncpg.Connection, token: str | None) -> Session | None:
    if not token:
        return None
    row = await repository.session_by_hash(conn, _digest(token))
    if row is None:
        return None
    return Session(User(row["id"], row["email"], row["name"], row["role"]), row["csrf_token"])


async def end_session(conn: asyncpg.Connection, token: str, user: User) -> None:
    await repository.delete_session(conn, _digest(token))
    await repository.audit(conn, f"user:{user.id}", "session.end")


def csrf_matches(session: Session, submitted: str | None) -> bool:
    return secret.equal(submitted, session.csrf_token)


@dataclass(frozen=True)
class NewApiKey:
    id: uuid.UUID
    key: str  # shown once


async def create_api_key(
    conn: asyncpg.Connection,
    name: str,
    role: Role,
    scopes: Sequence[str] | None = None,
    rate_limit: int | None = None,
) -> NewApiKey:
    """A new key. With `scopes` it may do only those (its role follows: admin exactly when
    the `admin` scope is among them); without, whatever its role may."""
    if role not in ROLES:
        raise AuthError(f"role must be one of {', '.join(ROLES)}")
    checked: list[str] | None = None
    if scopes is not None:
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown or not scopes:
            raise AuthError(f"scope must be one of {', '.join(SCOPES)}", detail=unknown)
        checked = sorted(set(scopes))
        role = "admin" if "admin" in checked else "agent"
    if rate_limit is not None and rate_limit < 0:
        raise AuthError("the rate limit must be 0 (none) or more requests a minute")
    prefix = secrets.token_hex(4)
    key = f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key_id = await repository.insert_api_key(
        conn, name, role, prefix, _digest(key), checked, rate_limit
    )
    await repository.audit(
        conn,
        "cli",
        "apikey.create",
        detail={"id": str(key_id), "role": role, "scopes": checked, "rate_limit": rate_limit},
    )
    return NewApiKey(key_id, key)


async def revoke_api_key(conn: asyncpg.Connection, key_id: uuid.UUID) -> bool:
    revoked = await repository.revoke_api_key(conn, key_id)
    if revoked:
        await repository.audit(conn, "cli", "apikey.revoke", detail={"id": str(key_id)})
    return revoked


async def principal_for_key(conn: asyncpg.Connection, key: str) -> Principal | None:
    if not key.startswith(API_KEY_PREFIX):
        return None
    row = await repository.live_api_key(conn, _digest(key))
    if row is None:
        return None
    # Stamped at most once a minute: a write on every read would cost more than the read.
    if row["stale"]:
        await repository.touch_api_key(conn, row["id"])
    scopes = frozenset(row["scopes"]) if row["scopes"] is not None else None
    role: Role = row["role"]
    if scopes is not None and "admin" not in scopes:
        role = "agent"
    return Principal(
        role=role,
        actor=f"apikey:{row['id']}",
        scopes=scopes,
        rate_limit=row["rate_limit"],
        key_id=row["id"],
    )


async def check_rate(
    conn: asyncpg.Connection, bucket: str, limit: int, window_seconds: int
) -> None:
    """Count a hit; raise RateLimited past `limit` hits in the window (0: no limit)."""
    if limit <= 0:
        return
    hits, remaining = await repository.hit(conn, bucket, window_seconds)
    if hits > limit:
        raise RateLimited(remaining)


# Sign-in limits. A wrong password must never let a stranger lock the owner out, so:
# - per client address: every attempt counts, `limit` a minute (one address guesses slowly,
#   which also bounds every (account, address) pair);
# - per account: failures from all addresses together, up to ACCOUNT_CEILING x `limit` a
#   minute; past it, only addresses that signed in to the account in the last
#   KNOWN_ADDRESS_DAYS may still try. Reaching it takes ACCOUNT_CEILING addresses failing
#   at full speed, and even then the owner at a usual address gets in.
SIGN_IN_WINDOW_SECONDS: Final = 60
ACCOUNT_CEILING: Final = 10
KNOWN_ADDRESS_DAYS: Final = 30


class SignInLimited(RateLimited):
    """A refused sign-in attempt; `reason` is `address_limit` or `account_limit`."""

    def __init__(self, retry_after: float, reason: str):
        super().__init__(retry_after)
        self.reason = reason


def _known_bucket(email: str, client: str) -> str:
    return f"login-ok:{email}|{client}"


async def admit_sign_in(conn: asyncpg.Connection, email: str, client: str, limit: int) -> None:
    """Count this attempt; raise SignInLimited when this address or this account is over its
    limit (`email` lower-cased; 0: no limit)."""
    if limit <= 0:
        return
    hits, remaining = await repository.hit(conn, f"login-ip:{client}", SIGN_IN_WINDOW_SECONDS)
    if hits > limit:
        raise SignInLimited(remaining, "address_limit")
    failures, remaining = await repository.hits(conn, f"login-fail:{email}", SIGN_IN_WINDOW_SECONDS)
    if failures >= ACCOUNT_CEILING * limit:
        known, _ = await repository.hits(
            conn, _known_bucket(email, client), KNOWN_ADDRESS_DAYS * 86400
        )
        if not known:
            raise SignInLimited(remaining, "account_limit")


async def record_sign_in(
    conn: asyncpg.Connection, email: str, client: str, succeeded: bool, limit: int
) -> None:
    """Remember a failure against the account's ceiling, or the address a sign-in came from."""
    if limit <= 0:
        return
    if succeeded:
        await repository.hit(conn, _known_bucket(email, client), KNOWN_ADDRESS_DAYS * 86400)
    else:
        await repository.hit(conn, f"login-fail:{email}", SIGN_IN_WINDOW_SECONDS)
