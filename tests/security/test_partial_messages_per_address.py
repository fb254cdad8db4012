"""Messages that never finish: a stranger (no namespace joined) may start one of at most
max_payload_before_connect bytes, and all the connections of one address together may hold
at most limits.max_held_bytes_per_ip in unfinished WebSocket messages and request bodies.
The connection that passes it is closed; another address is served meanwhile."""

from __future__ import annotations

import asyncio
import struct

import httpx

from tests.conftest import MakeGateway, MakeToken, gateway_config
from tests.limits.support import V4, V6, dual_stack_gateway, url
from tests.security.support import close, unread_connection, websocket_session
from tests.waiting import until
from tests.wsframes import RFC_MASK
from yellowbox_realtime.protocol.websocket import OP_CLOSE, OP_TEXT

HELD = 1024 * 1024
PAYLOAD = 512 * 1024
PART = 400 * 1024  # of a PAYLOAD-byte message


def frame_head(length: int) -> bytes:
    """The head of a final, masked text frame of ``length`` bytes (its payload to follow)."""
    return bytes((0x80 | OP_TEXT, 0x80 | 127)) + struct.pack("!Q", length) + RFC_MASK


async def closed_with(reader: asyncio.StreamReader) -> int:
    """The close code of the first close frame the server sends (its other frames skipped)."""
    while True:
        first, second = await asyncio.wait_for(reader.readexactly(2), 5)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", await reader.readexactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", await reader.readexactly(8))[0]
        payload = await reader.readexactly(length)
        if first & 0x0F == OP_CLOSE:
            return int(struct.unpack("!H", payload[:2])[0])


async def test_a_stranger_cannot_start_a_large_message(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(gateway_config(engineio={"max_payload": PAYLOAD}))
    strangers = [await websocket_session(gateway.port) for _ in range(8)]
    for reader, writer in strangers:
        writer.write(frame_head(PAYLOAD) + b"x" * PART)
        # Refused from the frame's head: 16 KB, not 512 KB, before a namespace is joined.
        assert await closed_with(reader) == 1009
    assert gateway.held_bytes()["arriving"] == 0
    async with httpx.AsyncClient() as other:
        assert (await other.get(f"{gateway.url}/healthz")).status_code == 200
    for _, writer in strangers:
        await close(writer)


async def test_unfinished_messages_of_one_address_are_capped(make_token: MakeToken) -> None:
    async with dual_stack_gateway(engineio={"max_payload": PAYLOAD},
                                  limits={"max_held_bytes_per_ip": HELD}) as gateway:
        port = next(port for host, port in gateway.addresses if host == V4)
        token = make_token("ops-1", "operations")
        senders = [await websocket_session(port, V4, token) for _ in range(3)]
        for _, writer in senders[:2]:
            writer.write(frame_head(PAYLOAD) + b"x" * PART)
        await until(lambda: gateway.held_bytes()["arriving"] >= 2 * PART)
        # The third would bring the address past HELD: that connection is closed.
        reader, writer = senders[2]
        writer.write(frame_head(PAYLOAD) + b"x" * PART)
        assert await closed_with(reader) == 1009
        assert gateway.held_bytes()["arriving"] <= HELD
        # Another address may still send a message as large as PAYLOAD.
        v6_port = next(port for host, port in gateway.addresses if host == V6)
        other_reader, other_writer = await websocket_session(v6_port, V6, token)
        other_writer.write(frame_head(PAYLOAD) + b"x" * PART)
        await until(lambda: gateway.limits.held_by_ip.get(V6, 0) >= PART)
        other_writer.write(b"x" * (PAYLOAD - PART))
        await until(lambda: V6 not in gateway.limits.held_by_ip)
        for _, each in [*senders, (other_reader, other_writer)]:
            await close(each)
        await until(lambda: gateway.held_bytes()["arriving"] == 0)


async def test_request_bodies_of_one_address_are_capped() -> None:
    async with dual_stack_gateway(limits={"max_held_bytes_per_ip": HELD}) as gateway:
        port = next(port for host, port in gateway.addresses if host == V4)
        head = (b"POST /socket.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\nHost: x\r\n"
                b"Content-Length: %d\r\n\r\n" % PAYLOAD)
        senders = [await unread_connection(port) for _ in range(3)]
        for _, writer in senders[:2]:
            writer.write(head + b"x" * PART)
        await until(lambda: gateway.held_bytes()["arriving"] >= 2 * PART)
        reader, writer = senders[2]
        writer.write(head + b"x" * PART)
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert answer.startswith(b"HTTP/1.1 413 ")
        assert gateway.held_bytes()["arriving"] <= HELD
        async with httpx.AsyncClient() as other:
            assert (await other.get(f"{url(gateway, V6)}/healthz")).status_code == 200
        for _, each in senders:
            await close(each)
        await until(lambda: gateway.held_bytes()["arriving"] == 0)
