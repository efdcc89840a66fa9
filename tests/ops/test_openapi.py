"""The OpenAPI document describes what the running API really answers: each error body
validates against the schema advertised for its operation and status code."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import jsonschema

from tests.conftest import make_settings, serve_app


def _check(doc: dict[str, Any], path: str, method: str, response: httpx.Response) -> None:
    """The response's status is documented for the operation, and its body fits the schema."""
    documented = doc["paths"][path][method]["responses"]
    code = str(response.status_code)
    assert code in documented, f"{method.upper()} {path} answered undocumented {code}"
    schema = documented[code]["content"]["application/json"]["schema"]
    # Refs point into the document (#/components/...): validate with it as the root.
    validator = jsonschema.Draft202012Validator({**doc, **schema})
    errors = [e.message for e in validator.iter_errors(response.json())]
    assert not errors, (code, response.json(), errors)


async def test_error_bodies_match_the_openapi_document(db_url: str) -> None:
    settings = make_settings(FTE_FORM_RATE_LIMIT="1", FTE_MAX_BODY_BYTES="2048")
    async with (
        serve_app(db_url, settings) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as client,
    ):
        doc = (await client.get("/openapi.json")).json()

        invalid = await client.post("/support/submit", json={"email": "not an email"})
        assert invalid.status_code == 422
        assert all("loc" in item and item["loc"][0] == "body" for item in invalid.json()["detail"])
        _check(doc, "/support/submit", "post", invalid)

        bad_id = await client.get("/support/tickets/not-a-uuid", params={"token": "x"})
        assert bad_id.status_code == 422
        _check(doc, "/support/tickets/{ticket_id}", "get", bad_id)

        unknown = await client.get(f"/support/tickets/{uuid.uuid4()}", params={"token": "x"})
        assert unknown.status_code == 404
        _check(doc, "/support/tickets/{ticket_id}", "get", unknown)

        too_big = await client.post("/support/submit", content=b"{" + b" " * 4096 + b"}",
                                    headers={"Content-Type": "application/json"})  # fmt: skip
        assert too_big.status_code == 413
        _check(doc, "/support/submit", "post", too_big)

        form = {"name": "Sam", "email": "sam@example.com", "subject": "Hi", "message": "Hello"}
        limited = await client.post("/support/submit", json=form)  # the 422 used the 1 allowed
        assert limited.status_code == 429
        _check(doc, "/support/submit", "post", limited)

        unsigned = await client.post("/whatsapp/webhook", content=b"From=x")
        _check(doc, "/whatsapp/webhook", "post", unsigned)

        no_key = await client.get("/api/admin/dead-letters")
        assert no_key.status_code == 401
        _check(doc, "/api/admin/dead-letters", "get", no_key)
