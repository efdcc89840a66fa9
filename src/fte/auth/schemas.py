"""Who is acting: a signed-in person or a program with an API key."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Final, Literal

Role = Literal["admin", "agent"]
ROLES: Final[tuple[Role, ...]] = ("admin", "agent")


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

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
