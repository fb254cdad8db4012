"""Fixtures for the browser tests: one headless chromium per session, a fresh page per test,
and gateways that serve the test's pages from their own origin.

When chromium or the npm socket.io-client is missing the tests fail with the reason, never
skip: CI installs both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright, expect

from tests.conftest import DEV_SECRET, gateway_config
from yellowbox_realtime.app import Gateway
from yellowbox_realtime.config import Config, ServerConfig

from .chromium import Chromium, chromium_missing_reason
from .pages import Site, install_pages

# Generous for a loaded 2-core machine; every wait still ends as soon as its condition holds.
WAIT_TIMEOUT_MS = 10_000

MakeSite = Callable[..., Awaitable[Site]]


def default_origins_config(**sections: dict[str, Any]) -> Config:
    """The test config with the default ``allowed_origins`` instead of any origin: pages
    the gateway serves must work from its own origin on a port that list does not name."""
    server = {"allowed_origins": list(ServerConfig().allowed_origins),
              **sections.pop("server", {})}
    return gateway_config(server=server, **sections)

expect.set_options(timeout=WAIT_TIMEOUT_MS)


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    """The session's chromium, with a fresh profile directory."""
    reason = chromium_missing_reason()
    if reason is not None:
        pytest.fail(reason, pytrace=False)
    browser = Chromium.launch(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
async def page(chromium: Chromium) -> AsyncIterator[Page]:
    """A page in a fresh browser context (no cookies, storage or cache from other tests)."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.connect_over_cdp(chromium.cdp_url)
        context = await browser.new_context()
        context.set_default_timeout(WAIT_TIMEOUT_MS)
        # Printed, so pytest shows what the page logged and threw when a test fails.
        context.on("console", lambda message: print(f"console.{message.type}: {message.text}"))
        context.on("weberror", lambda error: print(f"page error: {error.error}"))
        try:
            yield await context.new_page()
        finally:
            await context.close()
            # Over CDP this only disconnects; the session's chromium keeps running.
            await browser.close()


@pytest.fixture
async def make_site() -> AsyncIterator[MakeSite]:
    """Start gateways (``Gateway(config, **kwargs)``) that also serve test pages."""
    started: list[Gateway] = []

    async def make(config: Config | None = None, **kwargs: Any) -> Site:
        gateway = Gateway(config or gateway_config(), dev_secret=DEV_SECRET, **kwargs)
        pages = install_pages(gateway)
        await gateway.start()
        started.append(gateway)
        return Site(gateway, pages)

    yield make
    for gateway in started:
        await gateway.stop()


@pytest.fixture
async def site(make_site: MakeSite) -> Site:
    """A gateway with the test defaults (any origin allowed) that serves test pages."""
    return await make_site()
