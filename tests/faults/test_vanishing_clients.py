"""Clients that disappear badly: mid-frame with a reset, or half-open (alive to TCP, dead to
everything else). The server forgets them, gives back what they held, and everyone else
carries on."""

from __future__ import annotations

import asyncio

from tests.conftest import MakeGateway, MakeToken, gateway_config
from tests.faults.rawclient import RawClient
from tests.limits.support import Listener
from tests.waiting import until
from tests.wsframes import frame
from yellowbox_realtime.protocol.websocket import OP_TEXT
from yellowbox_realtime.server.namespaces import Socket


def record_disconnects(gateway_main: object) -> asyncio.Queue[tuple[str | None, str]]:
    gone: asyncio.Queue[tuple[str | None, str]] = asyncio.Queue()

    def record(socket: Socket, reason: str) -> None:
        gone.put_nowait((socket.uid, reason))

    gateway_main.on_disconnect(record)  # type: ignore[attr-defined]
    return gone


async def test_a_client_that_vanishes_mid_frame_is_forgotten(
        make_gateway: MakeGateway, make_token: MakeToken) -> None:
    gateway = await make_gateway()
    gone = record_disconnects(gateway.main)
    other = await Listener().connect(gateway.url, make_token("ops-2", "operations"))
    client = await RawClient.join(gateway.port, make_token("ops-1", "operations"))
    assert gateway.limits.by_user["ops-1"] == 1
    whole = frame(OP_TEXT, b'42["echo","' + b"x" * 1000 + b'"]')
    client.writer.write(whole[:len(whole) // 2])
    await client.writer.drain()
    client.reset()
    assert await asyncio.wait_for(gone.get(), 5) == ("ops-1", "transport close")
    await until(lambda: gateway.stats()["sessions"] == 1)
    assert "ops-1" not in gateway.limits.by_user
    await other.still_receives(gateway, "role:operations")
    await other.sio.disconnect()


async def test_a_half_open_client_is_ended_by_the_ping_timeout(
        make_gateway: MakeGateway, make_token: MakeToken) -> None:
    gateway = await make_gateway(gateway_config(engineio={
        "ping_interval_ms": 100, "ping_timeout_ms": 200}))
    gone = record_disconnects(gateway.main)
    # The healthy client answers pings (python-socketio does); the half-open one never
    # reads, never answers and never closes its socket.
    other = await Listener().connect(gateway.url, make_token("ops-2", "operations"))
    silent = await RawClient.join(gateway.port, make_token("ops-1", "operations"))
    assert await asyncio.wait_for(gone.get(), 5) == ("ops-1", "ping timeout")
    assert gateway.limits.by_ip.get("127.0.0.1") == 1  # only the healthy one left
    await other.still_receives(gateway, "role:operations")
    assert other.sio.connected  # it answered the same rounds the silent one missed
    await other.sio.disconnect()
    await silent.close()
