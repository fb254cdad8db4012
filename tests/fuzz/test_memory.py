"""Thousands of malformed connections leave nothing behind: once they are gone the
gateway's traced memory is back near where it started."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import tracemalloc

from tests.conftest import MakeGateway, MakeToken, gateway_config
from tests.waiting import until
from tests.wsframes import frame
from yellowbox_realtime.app import Gateway
from yellowbox_realtime.protocol.websocket import OP_TEXT

UPGRADE = (b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
           b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


def malformed(kind: int, token: str) -> bytes:
    """One of several ways to misbehave, each reaching a different part of the gateway."""
    return [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(64)),  # TLS to plain
        b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
        UPGRADE + frame(OP_TEXT, b"4" + b"x" * 500)[:40],  # half a frame
        b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n",  # abandoned
        UPGRADE + frame(OP_TEXT, b"40" + json.dumps({"token": token[:-3]}).encode())
        + frame(0x3, b"reserved opcode"),
        b"POST /api/v1/webhooks/n8n HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n",
        b"POST /sse/tickets HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        UPGRADE + frame(OP_TEXT, b"40" + json.dumps({"token": token}).encode())
        + frame(OP_TEXT, b'42["no_such_event",{"a":' + b"[" * 50 + b"]"),
    ][kind % 8]


async def misbehave(port: int, data: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    with contextlib.suppress(ConnectionError):
        writer.write(data)
        writer.write_eof()
        while await asyncio.wait_for(reader.read(65536), 10):
            pass
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def wave(gateway: Gateway, count: int, token: str) -> None:
    for start in range(0, count, 100):
        await asyncio.gather(*(misbehave(gateway.port, malformed(i, token))
                               for i in range(start, min(count, start + 100))))
    # Sessions that were opened and abandoned end with the connect timeout.
    await until(lambda: gateway.stats()["sessions"] == 0, timeout=30)


async def test_malformed_connections_leave_memory_where_it_was(
        make_gateway: MakeGateway, make_token: MakeToken) -> None:
    gateway = await make_gateway(gateway_config(
        engineio={"connect_timeout_ms": 200},
        limits={"max_connections_per_ip": 0, "handshakes_per_ip_per_s": 0,
                "handshake_burst": 0}))
    token = make_token("ops-1", "operations")
    await wave(gateway, 400, token)  # warm-up: caches, interned strings, free lists
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        await wave(gateway, 3000, token)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    # A leak of even 300 bytes a connection would pass this bound; the gateway keeps none.
    assert after - before < 900_000, f"{after - before} bytes still held"
    assert gateway.limits.by_ip == {}
    assert gateway.limits.by_user == {}
