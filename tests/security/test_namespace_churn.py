"""Every packet type counts: a session connecting to and leaving a namespace in a loop (each
CONNECT a token check, presence publishes and log lines) draws on the same budget as events
and is cut off when it keeps going; binary attachments count too; and the lines that
connecting and leaving write are bounded whatever clients do."""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp
import pytest

from tests.conftest import MakeGateway, MakeToken, gateway_config
from tests.limits.support import Listener, ws_session
from tests.waiting import until
from yellowbox_realtime.app import Gateway
from yellowbox_realtime.server.namespaces import Socket

CYCLES = 200


def count_connects(gateway: Gateway) -> list[str]:
    connected: list[str] = []
    gateway.main.on_connect(lambda socket: connected.append(socket.id))
    return connected


async def churn(ws: aiohttp.ClientWebSocketResponse, token: str, cycles: int
                ) -> tuple[int, list[str], aiohttp.WSMessage]:
    """CONNECT and DISCONNECT the main namespace, one cycle after the other, until the
    server closes the session or ``cycles`` are done: (accepted, refusals, last message)."""
    accepted, refusals = 0, list[str]()
    message: aiohttp.WSMessage | None = None
    for _ in range(cycles):
        await ws.send_str("40" + json.dumps({"token": token}))
        while True:
            message = await ws.receive(timeout=5)
            if message.type is not aiohttp.WSMsgType.TEXT:
                assert message is not None
                return accepted, refusals, message
            if message.data.startswith("40"):
                accepted += 1
                await ws.send_str("41")
                break
            if message.data.startswith("44"):
                refusals.append(json.loads(message.data[2:])["message"])
                break
    assert message is not None
    return accepted, refusals, message


async def test_connect_and_disconnect_draw_on_the_budget_and_a_loop_is_cut_off(
        make_gateway: MakeGateway, make_token: MakeToken) -> None:
    gateway = await make_gateway(gateway_config(limits={
        "events_per_s": 0.01, "events_burst": 20, "flood_refusals": 10}))
    connected = count_connects(gateway)
    other = await Listener().connect(gateway.url, make_token("ops-2", "operations"))
    async with aiohttp.ClientSession() as http:
        ws = await ws_session(http, gateway.url)
        accepted, refusals, last = await churn(ws, make_token("rider-1", "rider"), CYCLES)
    # 20 packets: 10 cycles of CONNECT and DISCONNECT; then 10 refusals, the 11th cuts it off.
    assert accepted == 10
    assert len(refusals) == 10
    assert all("at most" in r for r in refusals)
    assert (last.type, last.data, last.extra) == (aiohttp.WSMsgType.CLOSE, 1008, "event flood")
    # What it made the server do: 10 sockets connected (token checks, presence) of 200 tried.
    assert len(connected) == 1 + accepted  # the other client's, and the churner's
    assert gateway.counters.limited["event_flood"] == 1
    await other.still_receives(gateway, "role:operations")
    await other.sio.disconnect()


async def test_binary_attachments_draw_on_the_budget(make_gateway: MakeGateway,
                                                     make_token: MakeToken) -> None:
    gateway = await make_gateway(gateway_config(limits={
        "events_per_s": 0.01, "events_burst": 21, "flood_refusals": 0}))
    sizes: list[int] = []

    @gateway.main.on("upload")
    def upload(_socket: Socket, *blobs: Any) -> None:
        sizes.append(len(blobs))

    async with aiohttp.ClientSession() as http:
        ws = await ws_session(http, gateway.url)
        await ws.send_str("40" + json.dumps({"token": make_token("rider-1", "rider")}))
        assert (await ws.receive_str(timeout=5)).startswith("40")
        # Four attachments each: a packet of five costs five. 20 tokens left: four pass.
        header = json.dumps(["upload", *({"_placeholder": True, "num": n} for n in range(4))])
        for _ in range(6):
            await ws.send_str("454-" + header)
            for n in range(4):
                await ws.send_bytes(bytes([n]) * 8)
        await ws.send_str('42["upload"]')
        refusals: list[dict[str, Any]] = []
        while len(refusals) < 3:
            text = await ws.receive_str(timeout=5)
            if text.startswith('42["gateway_error"'):
                refusals.append(json.loads(text[2:])[1])
        await ws.close()
    assert sizes == [4, 4, 4, 4]
    assert {r["code"] for r in refusals} == {"rate_limited"}


async def test_lifecycle_lines_are_bounded_whatever_clients_do(
        make_gateway: MakeGateway, make_token: MakeToken,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="yellowbox_realtime")
    # No packet budget: the log's own bound alone.
    gateway = await make_gateway(gateway_config(
        limits={"events_per_s": 0, "events_burst": 0},
        server={"lifecycle_logs_per_s": 0.01, "lifecycle_log_burst": 10}))
    connected = count_connects(gateway)
    async with aiohttp.ClientSession() as http:
        ws = await ws_session(http, gateway.url)
        accepted, refusals, _ = await churn(ws, make_token("rider-1", "rider"), CYCLES)
        await until(lambda: not gateway.main.sockets)  # the last DISCONNECT is handled
        await ws.close()
    assert (accepted, refusals) == (CYCLES, [])
    assert len(connected) == CYCLES
    lines = [r.getMessage() for r in caplog.records
             if r.name == "yellowbox_realtime.server.namespaces"]
    # 400 lines asked for; 10 of each kind written.
    assert len([m for m in lines if m.startswith("socket connected")]) == 10
    assert len([m for m in lines if m.startswith("socket disconnected")]) == 10
    throttle = gateway.lifecycle_log
    assert throttle.suppressed("socket connected") == CYCLES - 10
    assert throttle.suppressed("socket disconnected") == CYCLES - 10
    # Another client still connects, and is served.
    other = await Listener().connect(gateway.url, make_token("ops-2", "operations"))
    await other.still_receives(gateway, "role:operations")
    await other.sio.disconnect()
