"""Inbound Socket.IO events per connection, and the sizes each transport accepts."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import httpx
import socketio

from tests.conftest import MakeGateway, MakeToken, gateway_config
from tests.limits.support import Listener, eio, ws_join, ws_session
from yellowbox_realtime.app import Gateway
from yellowbox_realtime.server.namespaces import Socket


def with_echo(gateway: Gateway) -> Gateway:
    @gateway.main.on("echo")
    def echo(socket: Socket, value: Any = None) -> dict[str, Any]:
        return {"ok": True, "value": value}
    return gateway


async def test_events_over_the_rate_are_refused_with_rate_limited(
        make_gateway: MakeGateway, make_token: MakeToken) -> None:
    # A burst of 6: the CONNECT takes one (every packet counts), 5 are left for events.
    gateway = with_echo(await make_gateway(gateway_config(limits={
        "events_per_s": 0.01, "events_burst": 6, "flood_refusals": 0})))
    other = await Listener().connect(gateway.url, make_token("ops-2", "operations"))
    busy = socketio.AsyncClient(reconnection=False)
    errors: asyncio.Queue[Any] = asyncio.Queue()
    busy.on("gateway_error", errors.put_nowait)
    await busy.connect(gateway.url, auth={"token": make_token("ops-1", "operations")},
                       transports=["websocket"], wait_timeout=5)
    answers = await asyncio.gather(*(busy.call("echo", i, timeout=5) for i in range(12)))
    accepted = [a for a in answers if a.get("ok")]
    refused = [a for a in answers if not a.get("ok")]
    assert len(accepted) == 5
    assert len(refused) == 7
    assert all(a["code"] == "rate_limited" and "at most" in a["error"] for a in refused)
    # Without an ack the refusal is a gateway_error naming the event.
    await busy.emit("echo", "no-ack")
    error = await asyncio.wait_for(errors.get(), 5)
    assert (error["event"], error["code"]) == ("echo", "rate_limited")
    # The connection stays (flood_refusals 0: never cut off), and others are unaffected.
    assert busy.connected
    await other.still_receives(gateway, "role:operations")
    assert gateway.counters.limited["event_rate"] == 8
    assert gateway.counters.refused["rate_limited"] == 8
    await busy.disconnect()
    await other.sio.disconnect()


async def test_a_connection_that_keeps_flooding_reads_why_and_is_disconnected(
        make_gateway: MakeGateway, make_token: MakeToken) -> None:
    gateway = with_echo(await make_gateway(gateway_config(limits={
        "events_per_s": 0.01, "events_burst": 6, "flood_refusals": 10})))
    other = await Listener().connect(gateway.url, make_token("ops-2", "operations"))
    async with aiohttp.ClientSession() as http:
        ws = await ws_session(http, gateway.url)
        assert (await ws_join(ws, make_token("ops-1", "operations"))).startswith('40{"sid"')
        for i in range(50):
            await ws.send_str(f'42["echo",{i}]')
        texts: list[str] = []
        while True:
            message = await ws.receive(timeout=5)
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            texts.append(message.data)
        assert message.type is aiohttp.WSMsgType.CLOSE
        assert (message.data, message.extra) == (1008, "event flood")
    # 5 accepted (no ack asked: no answer), 10 refused, the 11th refusal cuts it off.
    refusals = [json.loads(t[2:])[1] for t in texts if t.startswith('42["gateway_error"')]
    assert [r["event"] for r in refusals] == ["echo"] * 10 + [None]
    assert {r["code"] for r in refusals} == {"rate_limited"}
    assert "disconnected" in refusals[-1]["message"]
    # A Socket.IO disconnect (socket.io-client does not reconnect), then Engine.IO's close.
    assert texts[-2:] == ["41", "1"]
    await other.still_receives(gateway, "role:operations")
    assert gateway.counters.limited["event_flood"] == 1
    await other.sio.disconnect()


async def test_messages_over_max_payload_are_refused_on_each_transport(
        make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(gateway_config(engineio={"max_payload": 1000}))
    async with aiohttp.ClientSession() as http:
        ws = await ws_session(http, gateway.url)
        await ws.send_str("4" + "x" * 2000)
        message = await ws.receive(timeout=5)
        assert message.type is aiohttp.WSMsgType.CLOSE
        assert message.data == 1009  # message too big
    async with httpx.AsyncClient(timeout=10) as client:
        opened = await client.get(eio(gateway.url, transport="polling"))
        sid = json.loads(opened.text[1:])["sid"]
        posted = await client.post(eio(gateway.url, transport="polling", sid=sid),
                                   content=b"4" + b"x" * 2000)
        assert posted.status_code == 413
        assert "exceeds 1000" in posted.json()["detail"]


async def test_request_bodies_over_max_body_bytes_are_refused_before_they_arrive(
        make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(gateway_config(server={"max_body_bytes": 1024}))
    async with httpx.AsyncClient(timeout=10) as client:
        for path in ("/sse/tickets", "/api/v1/channels/alerts/events",
                     "/socket.io/?EIO=4&transport=polling&sid=x"):
            response = await client.post(f"{gateway.url}{path}", content=b"x" * 5000)
            assert response.status_code == 413, path
            assert response.json()["error"]["code"] == "payload_too_large"
