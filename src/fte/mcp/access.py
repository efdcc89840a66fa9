"""Who is calling a tool and what their key allows.

Over HTTP the caller is an API key, checked before the MCP transport sees the request; over
stdio it is the local operator who started `fte mcp` with the database's URL, and who could
read the database directly anyway: every tool is open to them.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Final

import asyncpg

from fte.auth import service as auth
from fte.auth.schemas import ROLE_SCOPES, Principal

CUSTOMERS_READ: Final = "customers:read"
TICKETS_READ: Final = "tickets:read"
ADMIN: Final = "admin"
SCOPES: Final = (CUSTOMERS_READ, TICKETS_READ, ADMIN)


@dataclass(frozen=True)
class Access:
    """The caller as the audit log names it, and the scopes its key holds."""

    actor: str
    scopes: frozenset[str]
    # The API key's principal (its rate limit); None for the local operator.
    principal: Principal | None = None

    def allows(self, scope: str) -> bool:
        """Admin holds every scope."""
        return ADMIN in self.scopes or scope in self.scopes


LOCAL_OPERATOR: Final = Access("mcp:stdio", frozenset({ADMIN}))

# Set around each HTTP request by the /mcp endpoint and once for the stdio process; the SDK
# runs the tool in a task started from that context, so the tool reads the caller here.
current: contextvars.ContextVar[Access | None] = contextvars.ContextVar(
    "fte_mcp_access", default=None
)


async def access_for_key(conn: asyncpg.Connection, key: str) -> Access | None:
    """The live key's access; None for an unknown or revoked key."""
    principal = await auth.principal_for_key(conn, key)
    if principal is None:
        return None
    # A key made before scopes existed keeps what its role allowed.
    scopes = principal.scopes if principal.scopes is not None else ROLE_SCOPES[principal.role]
    return Access(principal.actor, frozenset(scopes), principal)
