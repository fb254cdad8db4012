"""WebSocket pings from a client that never reads: every pong goes through the bounded
output buffer, one pending pong stands for all the pings not yet answered, so the flood
costs the gateway no memory and everyone else is served."""

from __future__ import annotations

import json

from tests.conftest import MakeGateway, MakeToken, gateway_config
from tests.limits.support import Listener
from tests.security.support import close, websocket_session
from tests.waiting import until
from tests.wsframes import frame
from yellowbox_realtime.protocol.websocket import OP_PING, OP_TEXT

BUFFER = 256 * 1024
PINGS = frame(OP_PING, b"p" * 125) * 500  # 65 KB of pings, 64 KB of pongs


async def test_pings_never_read_cost_one_pending_pong(
        make_gateway: MakeGateway, make_token: MakeToken) -> None:
    gateway = await make_gateway(gateway_config(server={"max_buffer_bytes": BUFFER}))
    other = await Listener().connect(gateway.url, make_token("ops-2", "operations"))
    # Unauthenticated: pings are answered before any CONNECT.
    _, writer = await websocket_session(gateway.port)
    for _ in range(128):  # 8 MB of pings, 8 MB of pongs were they all kept
        writer.write(PINGS)
        await writer.drain()
        await other.still_receives(gateway, "role:operations")
    # Joining after the flood: once it has joined, every ping before it was handled.
    writer.write(frame(OP_TEXT, b"40" + json.dumps(
        {"token": make_token("ops-1", "operations")}).encode()))
    await until(lambda: gateway.stats()["sockets"]["/"] == 2)
    assert gateway.held_bytes()["unsent"] <= BUFFER
    await close(writer)
    await other.sio.disconnect()
