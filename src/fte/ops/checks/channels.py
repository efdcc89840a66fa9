"""Each configured channel: its credentials, and what can be asked of its provider without
sending anything. A channel with none of its settings is SKIP (not used here)."""

from __future__ import annotations

import httpx

from fte.channels.gmail import watch_status
from fte.channels.whatsapp_twilio.webhook import WEBHOOK_PATH
from fte.ops.checks.base import Context, Result, fail, passed, skip, warn

TIMEOUT_SECONDS = 5.0


def _missing(settings: object, names: dict[str, str]) -> tuple[list[str], bool]:
    """(the variables among `names` that are unset, whether any is set at all)."""
    unset = [env for attr, env in names.items() if not getattr(settings, attr)]
    return unset, len(unset) < len(names)


async def check_whatsapp(ctx: Context) -> Result:
    """Twilio credentials, and our webhook reachable at FTE_PUBLIC_URL (an unsigned POST must
    get 403: the route is there and checks signatures)."""
    unset, used = _missing(
        ctx.settings,
        {
            "twilio_account_sid": "TWILIO_ACCOUNT_SID",
            "twilio_auth_token": "TWILIO_AUTH_TOKEN",
            "twilio_whatsapp_from": "TWILIO_WHATSAPP_FROM",
        },
    )
    if not used:
        return skip("not configured")
    if unset:
        return fail(f"incomplete: {', '.join(unset)} unset", f"set {', '.join(unset)}")
    if not ctx.settings.public_url:
        return warn(
            "FTE_PUBLIC_URL unset: Twilio cannot reach the webhook from outside",
            "set FTE_PUBLIC_URL to the URL Twilio calls (see runbook: WhatsApp webhook)",
        )
    url = ctx.settings.base_url + WEBHOOK_PATH
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as client:
            # An empty form without a signature: 403 from our route, nothing filed.
            r = await client.post(
                url, content=b"", headers={"Content-Type": "application/x-www-form-urlencoded"}
            )
    except httpx.HTTPError as exc:
        return fail(
            f"{url} unreachable ({type(exc).__name__})",
            "the proxy, DNS or TLS in front of the API (see runbook: WhatsApp webhook unreachable)",
        )
    if r.status_code == 403:
        return passed(f"credentials set; {url} answers (403 without a signature)")
    if r.status_code == 404:
        return fail(
            f"{url} answered 404",
            "the API there lacks the TWILIO_* settings, or FTE_PUBLIC_URL has the wrong path",
        )
    return fail(
        f"{url} answered {r.status_code}, expected 403",
        "FTE_PUBLIC_URL must reach this API (see runbook: WhatsApp webhook unreachable)",
    )


async def check_chatwoot(ctx: Context) -> Result:
    """Chatwoot settings, and the API token accepted (GET /api/v1/profile)."""
    unset, used = _missing(
        ctx.settings,
        {
            "chatwoot_base_url": "CHATWOOT_BASE_URL",
            "chatwoot_api_token": "CHATWOOT_API_TOKEN",
            "chatwoot_account_id": "CHATWOOT_ACCOUNT_ID",
            "chatwoot_webhook_secret": "CHATWOOT_WEBHOOK_SECRET",
        },
    )
    if not used:
        return skip("not configured")
    if unset:
        return fail(f"incomplete: {', '.join(unset)} unset", f"set {', '.join(unset)}")
    s = ctx.settings
    assert s.chatwoot_base_url is not None and s.chatwoot_api_token is not None
    url = s.chatwoot_base_url.rstrip("/") + "/api/v1/profile"
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as client:
            r = await client.get(url, headers={"api_access_token": s.chatwoot_api_token})
    except httpx.HTTPError as exc:
        return fail(
            f"{s.chatwoot_base_url} unreachable ({type(exc).__name__})",
            "check CHATWOOT_BASE_URL and the network; Chatwoot's status",
        )
    if r.status_code in (401, 403):
        return fail(
            f"Chatwoot refused the API token ({r.status_code})",
            "set CHATWOOT_API_TOKEN to an agent's or bot's current access token",
        )
    if r.status_code != 200:
        return warn(f"Chatwoot answered {r.status_code}", "Chatwoot's status; it may recover")
    return passed("API token accepted")


async def check_email(ctx: Context) -> Result:
    """IMAP/SMTP settings all present."""
    unset, used = _missing(
        ctx.settings, {"imap_url": "IMAP_URL", "smtp_url": "SMTP_URL", "email_from": "EMAIL_FROM"}
    )
    if not used:
        return skip("not configured")
    if unset:
        return fail(f"incomplete: {', '.join(unset)} unset", f"set {', '.join(unset)}")
    return passed("IMAP_URL, SMTP_URL and EMAIL_FROM set")


async def check_gmail(ctx: Context) -> Result:
    """The Gmail push watch: set up, and more than a day from expiry (workers renew it)."""
    adapter = ctx.adapters.get("gmail")
    if adapter is None or not adapter.is_configured():
        return skip("not configured")
    assert ctx.pool is not None and ctx.settings.gmail_address is not None
    async with ctx.pool.acquire() as conn:
        status = await watch_status(conn, ctx.settings.gmail_address.lower())
    renew = "POST /gmail/setup-watch with an admin API key (runbook: Gmail watch expired)"
    if status is None:
        return fail("no Gmail watch: no mail is pushed", renew)
    data = {"expires_at": status.expires_at.isoformat(), "seconds_left": status.seconds_left}
    if status.seconds_left <= 0:
        return fail(
            f"the Gmail watch expired at {status.expires_at:%Y-%m-%d %H:%M} UTC", renew, **data
        )
    if status.needs_renewal:
        return warn(
            f"the Gmail watch expires at {status.expires_at:%Y-%m-%d %H:%M} UTC",
            "a running worker renews it within FTE_GMAIL_WATCH_CHECK_SECONDS; if not, " + renew,
            **data,
        )
    return passed(f"watch until {status.expires_at:%Y-%m-%d %H:%M} UTC", **data)
