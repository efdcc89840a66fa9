"""Who is acting: a signed-in person or a program with an API key."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Final, Literal

Role = Literal["admin", "agent"]
ROLES: Final[tuple[Role, ...]] = ("admin", "agent")

# What an API key may do. `admin` holds every scope.
SCOPES: Final = ("customers:read", "tickets:read", "admin")
# A key without scopes (made before scopes existed) or a console session: what its role may.
ROLE_SCOPES: Final[dict[str, frozenset[str]]] = {
    "admin": frozenset(SCOPES),
    "agent": frozenset({"customers:read", "tickets:read"}),
}


@dataclass(frozen=True)
class User:
    id: uuid.UUID
    email: str
    name: str
    role: Role


@dataclass(frozen=True)
class Session:
    """A signed-in user and the CSRF token every form they post must carry."""

    user: User
    csrf_token: str


@dataclass(frozen=True)
class Principal:
    """Whoever made a request: `actor` is what the audit log records."""

    role: Role
    actor: str
    session: Session | None = None
    # None: the role's scopes (a console session, or a key made before scopes existed).
    scopes: frozenset[str] | None = None
    # An API key's own requests a minute (None: the default); None for a session.
    rate_limit: int | None = None
    key_id: uuid.UUID | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def allows(self, scope: str) -> bool:
        """True when the principal holds `scope` (an admin holds every one)."""
        held = self.scopes if self.scopes is not None else ROLE_SCOPES[self.role]
        return "admin" in held or scope in held
