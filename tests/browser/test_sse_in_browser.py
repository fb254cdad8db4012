"""EventSource in real chromium against the gateway's SSE endpoints, with tickets."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.async_api import Page, expect

from tests.conftest import MakeToken

from .pages import Site

pytestmark = pytest.mark.browser

SSE_PAGE = (Path(__file__).resolve().parent / "html" / "sse.html").read_text()


async def received(page: Page, count: int) -> list[dict[str, Any]]:
    """The page's first ``count`` events, once it has that many."""
    await page.wait_for_function("count => window.received.length >= count", arg=count)
    events: list[dict[str, Any]] = await page.evaluate("window.received")
    return events


def offset(event_id: str) -> int:
    return int(event_id.rpartition(":")[2])


async def test_a_page_resumes_with_a_fresh_ticket_and_misses_nothing(
        page: Page, site: Site, make_token: MakeToken) -> None:
    gateway = site.gateway
    fragment = urlencode({"token": make_token("ops-1", "operations"), "path": "/sse/alerts"})
    await page.goto(site.serve_html("sse.html", SSE_PAGE) + "#" + fragment)
    await expect(page.locator("#status")).to_have_text("ready 1")

    for n in (1, 2, 3):
        gateway.to("alerts").emit("alert", {"n": n})
    await received(page, 3)

    # The connection dies under the page (as a proxy or a network change would kill it),
    # and events go on while the page is away.
    [stream] = gateway.sse.open_streams
    stream.transport.abort()
    for n in (4, 5, 6):
        gateway.to("alerts").emit("alert", {"n": n})

    await expect(page.locator("#status")).to_have_text("ready 2")
    for n in (7, 8):
        gateway.to("alerts").emit("alert", {"n": n})
    events = await received(page, 8)

    assert [e["data"]["n"] for e in events] == [1, 2, 3, 4, 5, 6, 7, 8]
    offsets = [offset(e["id"]) for e in events]
    assert offsets == sorted(set(offsets))
    assert await page.evaluate("window.readies") == [{"resumed": False}, {"resumed": True}]
    assert await page.evaluate("window.streamsOpened") == 2
    [stream] = gateway.sse.open_streams
    assert stream.credentials.uid == "ops-1"


async def test_the_fleet_page_gets_the_snapshot_then_changes(
        page: Page, site: Site, make_token: MakeToken) -> None:
    gateway = site.gateway
    fragment = urlencode({"token": make_token("ops-1", "operations"), "path": "/sse/fleet",
                          "events": "fleet_update"})
    await page.goto(site.serve_html("fleet.html", SSE_PAGE) + "#" + fragment)
    await expect(page.locator("#status")).to_have_text("ready 1")
    [snapshot] = await received(page, 1)
    assert (snapshot["data"]["type"], snapshot["data"]["riders"]) == ("snapshot", [])

    batch = {"type": "batch", "riders": [{"riderId": "r-1"}], "at": "2026-11-27T00:00:00.000Z"}
    gateway.to("fleet").emit("fleet_update", batch)
    assert (await received(page, 2))[1]["data"] == batch
