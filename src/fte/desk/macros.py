"""Canned replies (macros): texts admins keep for the questions that come back, with
placeholders filled for the ticket at hand when one is inserted into the reply box."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import asyncpg

from fte.agent.formatting import first_name
from fte.auth.repository import audit
from fte.desk import repository
from fte.errors import FteError, NotFound

PLACEHOLDERS: Final = ("customer_name", "ticket_number", "agent_name")
MAX_NAME_CHARS: Final = 120
MAX_BODY_CHARS: Final = 20_000
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def fill(body: str, values: Mapping[str, str]) -> str:
    """The macro's text with each known {{placeholder}} replaced; unknown ones stay as written
    (a person sees and fixes them before sending)."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), body)


def values_for(customer_name: str | None, ticket_number: int, agent_name: str) -> dict[str, str]:
    """What the placeholders stand for on one ticket: first names, as people write them."""
    return {
        "customer_name": first_name(customer_name) or "there",
        "ticket_number": str(ticket_number),
        "agent_name": first_name(agent_name) or agent_name,
    }


@dataclass(frozen=True)
class MacroForm:
    name: str
    body: str

    def checked(self) -> MacroForm:
        """Trimmed; 422 naming the field when one is empty or too long."""
        name, body = self.name.strip(), self.body.strip()
        for field, value, most in (("name", name, MAX_NAME_CHARS), ("body", body, MAX_BODY_CHARS)):
            if not value or len(value) > most:
                reason = "empty" if not value else f"longer than {most} characters"
                raise FteError(
                    "invalid request", detail=[{"field": field, "reason": reason}], status_code=422
                )
        return MacroForm(name, body)


def _taken(name: str) -> FteError:
    return FteError(
        "invalid request",
        detail=[{"field": "name", "reason": f"a macro named {name!r} exists"}],
        status_code=422,
    )


async def create(conn: asyncpg.Connection, form: MacroForm, *, actor: str) -> int:
    """A new macro, audited as `macro.create`."""
    form = form.checked()
    macro_id = await repository.insert_macro(conn, form.name, form.body)
    if macro_id is None:
        raise _taken(form.name)
    await audit(conn, actor, "macro.create", detail={"id": macro_id, "name": form.name})
    return macro_id


async def update(conn: asyncpg.Connection, macro_id: int, form: MacroForm, *, actor: str) -> None:
    """Change a macro, audited as `macro.update`."""
    form = form.checked()
    if await repository.macro_name_taken(conn, form.name, macro_id):
        raise _taken(form.name)
    if not await repository.update_macro(conn, macro_id, form.name, form.body):
        raise NotFound("macro not found")
    await audit(conn, actor, "macro.update", detail={"id": macro_id, "name": form.name})


async def delete(conn: asyncpg.Connection, macro_id: int, *, actor: str) -> None:
    """Delete a macro, audited as `macro.delete`."""
    name = await repository.delete_macro(conn, macro_id)
    if name is None:
        raise NotFound("macro not found")
    await audit(conn, actor, "macro.delete", detail={"id": macro_id, "name": name})


async def text_for(conn: asyncpg.Connection, macro_id: int, values: Mapping[str, str]) -> str:
    """The macro's text filled for one ticket; 404 when there is no such macro."""
    macro = await repository.get_macro(conn, macro_id)
    if macro is None:
        raise NotFound("macro not found")
    return fill(macro["body"], values)
