"""Console errors are HTML pages; the API keeps its JSON errors."""

from __future__ import annotations

import uuid

import httpx


async def test_console_404_and_403_are_pages(console: httpx.AsyncClient) -> None:
    for path in (
        "/console/no-such-page",
        f"/console/tickets/{uuid.uuid4()}",
        "/console/kb/not-a-uuid",
        f"/console/kb/{uuid.uuid4()}",
    ):
        page = await console.get(path)
        assert page.status_code == 404, path
        assert page.headers["content-type"].startswith("text/html"), path
        assert "Not Found" in page.text and 'href="/console"' in page.text
    forbidden = await console.get("/console/kb/new")  # Ada is an agent
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"].startswith("text/html")
    assert "admin role required" in forbidden.text
    no_csrf = await console.post("/console/kb", data={"title": "t", "body": "b"})
    assert no_csrf.status_code == 403 and "<html" in no_csrf.text


async def test_api_errors_stay_json(console: httpx.AsyncClient) -> None:
    missing = await console.get(f"/support/tickets/{uuid.uuid4()}", params={"token": "x"})
    assert missing.status_code == 404
    assert missing.json()["error"] == "ticket not found"
    assert (await console.get("/no-such-route")).json() == {"detail": "Not Found"}
    admin_only = await console.get("/api/admin/dead-letters")  # Ada's session: an agent
    assert admin_only.status_code == 403 and admin_only.json()["error"] == "admin role required"
    invalid = await console.post("/support/submit", json={"name": "x"})
    assert invalid.status_code == 422 and invalid.json()["error"] == "invalid request"
