"""A polling client that pipelines GETs and reads none of the answers: once it stops
reading, no next GET is answered, its queue fills to engineio.max_polling_buffer_bytes and
it is cut off as a slow consumer. What it made the gateway hold stays within the two
buffers, and everyone else is served."""

from __future__ import annotations

import functools
import json

from tests.conftest import MakeGateway, MakeToken, gateway_config
from tests.limits.support import Listener
from tests.security.support import close, unread_connection
from tests.waiting import until

BUFFER = 256 * 1024
HIGH_WATER = 64 * 1024  # asyncio's and uvloop's transports pause writing past this
EVENT = "x" * 10_000


async def test_pipelined_polls_never_read_are_bounded(
        make_gateway: MakeGateway, make_token: MakeToken) -> None:
    gateway = await make_gateway(gateway_config(
        server={"max_buffer_bytes": BUFFER}, engineio={"max_polling_buffer_bytes": BUFFER}))
    engine = gateway.engine
    assert engine is not None
    other = await Listener().connect(gateway.url, make_token("ops-2", "operations"))
    reader, writer = await unread_connection(gateway.port)
    writer.write(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
    await reader.readuntil(b"\r\n\r\n")
    sid = json.loads((await reader.readuntil(b"}"))[1:])["sid"]
    query = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
    body = b"40" + json.dumps({"token": make_token("rider-1")}).encode()
    writer.write(f"POST {query} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
                 .encode() + body)
    await until(lambda: gateway.stats()["sockets"]["/"] == 2)
    writer.write(f"GET {query} HTTP/1.1\r\nHost: x\r\n\r\n".encode() * 2000)
    counters = gateway.hub.counters

    def delivered_or_cut_off(expected: int) -> bool:
        return counters.deliveries >= expected or sid not in engine.sessions

    for _ in range(500):  # at most 50 MB, of which the kernel takes a few
        # Each batch fits in the polling queue: only a queue nobody polls fills up.
        expected = counters.deliveries + 10
        for _ in range(10):
            gateway.to("role:rider").emit("tick", EVENT)
        await until(functools.partial(delivered_or_cut_off, expected))
        held = gateway.held_bytes()
        # Below the mark when the last answer was written, that answer (a queue's worth).
        assert held["unsent"] <= HIGH_WATER + BUFFER + 1024
        assert held["polling"] <= BUFFER
        if sid not in engine.sessions:
            break
    assert sid not in engine.sessions  # cut off: slow consumer
    await other.still_receives(gateway, "role:operations")
    await other.sio.disconnect()
    await close(writer)
