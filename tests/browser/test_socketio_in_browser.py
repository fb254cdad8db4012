"""The browser build of npm socket.io-client, in real chromium, against the gateway."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.async_api import Page, WebSocket, expect

from tests.conftest import MakeToken, gateway_config
from tests.interop.offsets import split_offset
from yellowbox_realtime.server.namespaces import Socket

from .conftest import MakeSite
from .pages import Site

pytestmark = pytest.mark.browser

SOCKET_PAGE = (Path(__file__).resolve().parent / "html" / "socketio.html").read_text()


async def open_socket_page(page: Page, site: Site, token: str, gateway: str = "") -> None:
    """Open the socket.io page served by ``site``; it connects to ``gateway`` (or ``site``)."""
    fragment = {"token": token, **({"gateway": gateway} if gateway else {})}
    await page.goto(site.serve_html("socketio.html", SOCKET_PAGE) + "#" + urlencode(fragment))


async def received(page: Page, event: str) -> dict[str, Any]:
    """The first ``event`` the page's socket received, waiting for it to arrive."""
    handle = await page.wait_for_function(
        "event => window.received.find(m => m.event === event)", arg=event)
    value: dict[str, Any] = await handle.json_value()
    # Broadcasts end with their stream offset (socket.io recovery); compare the rest.
    value["args"], _ = split_offset(value["args"])
    return value


async def test_page_receives_a_broadcast_sent_from_python(
        page: Page, site: Site, make_token: MakeToken) -> None:
    await open_socket_page(page, site, make_token("ops-1", "operations"))
    await expect(page.locator("#status")).to_have_text("connected")
    assert await page.evaluate("socket.io.engine.transport.name") == "websocket"

    site.gateway.to("role:operations").emit(
        "alert", {"kind": "sos", "riderId": "rider-7"})

    assert await received(page, "alert") == {
        "event": "alert", "args": [{"kind": "sos", "riderId": "rider-7"}]}


async def test_binary_in_a_broadcast_arrives_as_an_array_buffer(
        page: Page, site: Site, make_token: MakeToken) -> None:
    await open_socket_page(page, site, make_token("ops-1", "operations"))
    await expect(page.locator("#status")).to_have_text("connected")

    site.gateway.to_user("ops-1").emit(
        "receipt", {"expenseId": "e-1", "scan": b"\x00\xffYB"})

    assert await received(page, "receipt") == {"event": "receipt", "args": [
        {"expenseId": "e-1", "scan": {"type": "ArrayBuffer", "bytes": [0, 255, 89, 66]}}]}


async def test_emit_with_ack_from_the_page_reaches_a_handler(
        page: Page, site: Site, make_token: MakeToken) -> None:
    calls: asyncio.Queue[tuple[str | None, dict[str, Any]]] = asyncio.Queue()

    @site.gateway.of("/").on("note")
    async def note(socket: Socket, payload: dict[str, Any]) -> dict[str, Any]:
        await calls.put((socket.uid, payload))
        return {"ok": True, "length": len(payload["text"])}

    await open_socket_page(page, site, make_token("ops-1", "operations"))
    await expect(page.locator("#status")).to_have_text("connected")

    ack = await page.evaluate(
        "payload => socket.timeout(5000).emitWithAck('note', payload)", {"text": "hello"})

    assert ack == {"ok": True, "length": 5}
    async with asyncio.timeout(5):
        assert await calls.get() == ("ops-1", {"text": "hello"})


async def test_only_allowed_origins_and_the_gateways_own_may_connect(
        page: Page, make_site: MakeSite, make_token: MakeToken) -> None:
    # The web app and the gateway live on different origins, as in production; the gateway
    # allows the web app's origin (and its own, always), so a third site is foreign.
    web_app = await make_site()
    elsewhere = await make_site()
    realtime = await make_site(gateway_config(server={"allowed_origins": [web_app.origin]}))
    token = make_token("ops-1", "operations")
    handshake_errors: list[str] = []

    def watch(socket: WebSocket) -> None:
        def failed(error: str) -> None:
            handshake_errors.append(error)
        socket.on("socketerror", failed)

    await open_socket_page(page, web_app, token, gateway=realtime.gateway.url)
    await expect(page.locator("#status")).to_have_text("connected")
    own = await page.context.new_page()
    await open_socket_page(own, realtime, token)
    await expect(own.locator("#status")).to_have_text("connected")

    foreign = await page.context.new_page()
    foreign.on("websocket", watch)
    await open_socket_page(foreign, elsewhere, token, gateway=realtime.gateway.url)
    await expect(foreign.locator("#status")).to_have_text(re.compile(r"^connect_error: "))
    assert any("403" in error for error in handshake_errors), handshake_errors
    assert realtime.gateway.stats()["sockets"]["/"] == 2  # the web app's and its own page
