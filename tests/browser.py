"""Headless Debian Chromium driven by Playwright (no browser download).

Every page a test opens reports Content-Security-Policy violations (the browser's console
message and the page's `securitypolicyviolation` event); a test whose pages had any fails
at the end, so each browser test also proves its pages work under the policy.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without these, Chromium phones home at start and this machine's closed network refuses it.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_REPORT_VIOLATIONS: Final = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}` +
                ` on ${e.documentURI}`);
});
"""


class CheckedBrowser:
    """Opens pages, each in its own context (like `Browser.new_page`), that record every
    Content-Security-Policy violation in `violations`."""

    def __init__(self, browser: Browser):
        self.browser = browser
        self.violations: list[str] = []

    async def new_page(self, width: int | None = None, height: int = 800) -> Page:
        """A page in a context of its own; `width` sets the viewport (390: a phone)."""
        viewport = {"width": width, "height": height} if width else None
        context = await self.browser.new_context(viewport=viewport)  # type: ignore[arg-type]
        await context.add_init_script(_REPORT_VIOLATIONS)
        page = await context.new_page()
        page.on("console", self._on_console)
        return page

    def _on_console(self, message: ConsoleMessage) -> None:
        text = message.text
        if "Content Security Policy" in text or text.startswith("CSP violation"):
            self.violations.append(text)


@asynccontextmanager
async def chromium() -> AsyncIterator[CheckedBrowser]:
    """A headless browser; skipped where Chromium is not installed, except in CI."""
    if not Path(CHROMIUM).exists():  # noqa: ASYNC240 - one stat before launching a browser
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it")
        pytest.skip("chromium not installed (apt-get install chromium)")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        checked = CheckedBrowser(browser)
        try:
            yield checked
        finally:
            await browser.close()
    # Reached only when the test itself passed: its pages must have broken no policy.
    assert checked.violations == [], checked.violations
