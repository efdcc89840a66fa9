"""The console's Priority rules page: everyone reads the rules in plain words; admins add
and remove them (CSRF, audited) and the next ticket filed follows."""

from __future__ import annotations

import asyncpg
import httpx

from fte.auth import service
from fte.intake.service import file_inbound
from fte.messaging import Identity, InboundMessage
from tests import factories
from tests.conftest import make_settings, serve_app
from tests.fixtures.console import PASSWORD, csrf_of, sign_in


async def test_an_admin_changes_the_rules_in_the_console(db_url: str, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await service.add_user(conn, "root@example.com", "Root", "admin", PASSWORD)
        await service.add_user(conn, "ada@example.com", "Ada", "agent", PASSWORD)
    async with (
        serve_app(db_url, make_settings()) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as admin,
        httpx.AsyncClient(base_url=base, timeout=10) as agent,
    ):
        await sign_in(admin, "root@example.com")
        await sign_in(agent, "ada@example.com")

        read = await agent.get("/console/priority-rules")
        assert read.status_code == 200 and "<h1>Priority rules</h1>" in read.text
        assert "top 5% by value" in read.text and "value percentile ≥ 0.95" in read.text
        assert 'action="/console/priority-rules"' not in read.text  # no form for an agent
        rule = {"priority": "urgent", "reason": "enterprise plan", "plan": "enterprise"}
        refused = await agent.post("/console/priority-rules", data={**rule, "csrf": csrf_of(read)})
        assert refused.status_code == 403

        page = await admin.get("/console/priority-rules")
        token = csrf_of(page)
        assert (await admin.post("/console/priority-rules", data=rule)).status_code == 403
        for bad, field in (
            ({"churn_risk_min": "7"}, "churn_risk_min"),
            ({"orders_min": "many"}, "orders_min"),
            ({"plan": ""}, "conditions"),
            ({"priority": "asap"}, "priority"),
        ):
            answer = await admin.post(
                "/console/priority-rules", data={**rule, **bad, "csrf": token}
            )
            assert answer.status_code == 422, bad
            assert f'<strong class="field">{field}</strong>' in answer.text, answer.text
        added = await admin.post("/console/priority-rules", data={**rule, "csrf": token})
        assert added.status_code == 303
        assert "plan is enterprise" in (await admin.get("/console/priority-rules")).text

        big = await factories.customer(pool, "Bo", email="bo@example.com")
        await factories.profile(pool, big, plan="enterprise")
        message = InboundMessage(
            channel="web_form", identity=Identity("email", "bo@example.com"), body="Hi"
        )
        filed = await file_inbound(pool, message)
        async with pool.acquire() as conn:
            reason = await conn.fetchval(
                "SELECT priority_reason FROM tickets WHERE id = $1", filed.ticket_id
            )
            rule_id = await conn.fetchval(
                "SELECT id FROM priority_rules WHERE reason = 'enterprise plan'"
            )
            audited = await conn.fetch(
                "SELECT action, actor FROM audit_log WHERE action LIKE 'priority_rule.%'"
            )
        assert reason == "urgent: enterprise plan"
        assert [a["action"] for a in audited] == ["priority_rule.add"]
        assert audited[0]["actor"].startswith("user:")

        removed = await admin.post(
            f"/console/priority-rules/{rule_id}/delete", data={"csrf": token}
        )
        assert removed.status_code == 303
        assert "enterprise plan" not in (await admin.get("/console/priority-rules")).text
        again = await admin.post(f"/console/priority-rules/{rule_id}/delete", data={"csrf": token})
        assert again.status_code == 404
