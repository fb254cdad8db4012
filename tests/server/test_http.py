"""The HTTP front: keep-alive, limits and timeouts, over raw TCP."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.conftest import MakeGateway, MakeToken, gateway_config
from tests.faults.rawclient import RawClient
from tests.fuzz.test_memory import UPGRADE
from tests.wsframes import frame
from yellowbox_realtime.app import Gateway
from yellowbox_realtime.protocol.websocket import OP_TEXT


async def open_raw(gateway: Gateway) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", gateway.port)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


async def test_healthz_through_the_asgi_bridge_with_keep_alive(gateway: Gateway) -> None:
    reader, writer = await open_raw(gateway)
    # Two requests pipelined in one write: both answered, in order, on one connection.
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 2)
    for _ in range(2):
        status, headers, body = await read_response(reader)
        assert status == 200
        assert headers["connection"] == "keep-alive"
        assert b'"status":"ok"' in body
    writer.close()


async def test_unknown_route_is_a_404(gateway: Gateway) -> None:
    reader, writer = await open_raw(gateway)
    writer.write(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
    status, _, _ = await read_response(reader)
    assert status == 404
    writer.close()


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 431),
        (b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(120))
         + b"\r\n", 431),
        (b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n" + b"a" * 65536,
         413),
        (b"BLAH\x00 / HTTP/9\r\n\r\n", 400),
    ],
    ids=["header-too-large", "too-many-headers", "body-too-large", "malformed"],
)
async def test_limits_answer_with_a_clear_status_and_close(gateway: Gateway,
                                                           request_bytes: bytes,
                                                           status: int) -> None:
    reader, writer = await open_raw(gateway)
    writer.write(request_bytes)
    got, headers, body = await read_response(reader)
    assert got == status
    assert headers["connection"] == "close"
    error = json.loads(body)["error"]
    assert error["code"] == {431: "headers_too_large", 413: "payload_too_large",
                             400: "protocol_error"}[status]
    assert error["message"]
    assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the server
    writer.close()
    # The server carries on for everyone else.
    reader, writer = await open_raw(gateway)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await read_response(reader))[0] == 200
    writer.close()


async def test_slow_request_heads_and_idle_connections_are_closed(
        make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(gateway_config(server={
        "host": "127.0.0.1", "port": 0, "header_timeout_s": 0.2, "idle_timeout_s": 0.2}))
    slow_reader, slow_writer = await open_raw(gateway)
    slow_writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
    idle_reader, idle_writer = await open_raw(gateway)
    idle_writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await read_response(idle_reader))[0] == 200
    # Both see the server close the connection (EOF), without a response to the slow one.
    assert await asyncio.wait_for(slow_reader.read(), 5) == b""
    assert await asyncio.wait_for(idle_reader.read(), 5) == b""
    slow_writer.close()
    idle_writer.close()


async def test_pipelined_requests_spanning_parse_slices_are_answered_in_order(
        gateway: Gateway) -> None:
    # The front parses 8 KB at a time up to the first whole request; these heads straddle.
    reader, writer = await open_raw(gateway)
    pad = b"X-Pad: " + b"p" * 6000 + b"\r\n"
    writer.write(b"".join(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + pad +
                          b"X-Request-Id: r%d\r\n\r\n" % i for i in range(5)))
    for i in range(5):
        status, headers, _ = await read_response(reader)
        assert status == 200
        assert headers["x-request-id"] == f"r{i}"
    writer.close()


async def test_frames_right_behind_a_large_upgrade_request_reach_the_websocket(
        gateway: Gateway, make_token: MakeToken) -> None:
    reader, writer = await open_raw(gateway)
    head = UPGRADE[:-2] + b"X-Pad: " + b"p" * 9000 + b"\r\n\r\n"
    connect = frame(OP_TEXT, b"40" + json.dumps({"token": make_token("ops-1", "operations")})
                    .encode())
    writer.write(head + connect)  # one write: the frame follows the head in the same read
    assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).startswith(
        b"HTTP/1.1 101 ")
    client = RawClient(reader, writer)
    assert (await client.next_frame())[1].startswith(b"0{")
    assert (await client.next_frame())[1].startswith(b'40{"sid"')
    await client.close()
