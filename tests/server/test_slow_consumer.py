"""A client that stops reading is cut off; the server's memory and the others are not."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import struct
from typing import Any

import httpx
import socketio

from tests.conftest import MakeGateway, MakeToken, gateway_config
from tests.wsframes import frame, server_frames
from yellowbox_realtime.app import Gateway
from yellowbox_realtime.protocol.websocket import OP_CLOSE, OP_TEXT
from yellowbox_realtime.server.namespaces import Socket


async def stalled_client(port: int, token: str) -> tuple[socket.socket, bytes]:
    """A raw WebSocket Socket.IO client that connects, then stops reading; also returns the
    frames' bytes read so far."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    await loop.sock_sendall(sock, (
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    received = b""
    while b"0{" not in received:
        received += await asyncio.wait_for(loop.sock_recv(sock, 65536), 5)
    await loop.sock_sendall(sock, frame(
        OP_TEXT, b"40" + json.dumps({"token": token}).encode()))
    while b'40{"sid"' not in received:
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536), 5)
        assert chunk, "the server closed the connection during the handshake"
        received += chunk
    return sock, received.split(b"\r\n\r\n", 1)[1]


PAYLOAD = {"blob": "x" * 1000}


async def flood_until_one_is_gone(gateway: Gateway, gone: asyncio.Queue[Any]) -> int:
    """Emit to the operations role until a disconnect is queued in ``gone``; returns how
    many events were emitted."""
    sent = 0
    # Bounded: the kernel's buffers for one connection hold a few MB at most.
    for sent in range(1, 40_001):
        gateway.to_role("operations").emit("flood", PAYLOAD)
        if sent % 20 == 0:
            await asyncio.sleep(0)  # one flush per turn, as under real load
            if not gone.empty():
                break
    return sent


async def read_to_end(sock: socket.socket) -> bytes:
    loop = asyncio.get_running_loop()
    data = b""
    while chunk := await asyncio.wait_for(loop.sock_recv(sock, 1 << 16), 10):
        data += chunk
    return data


async def test_a_stalled_reader_is_disconnected_and_others_carry_on(
        make_gateway: MakeGateway, make_token: MakeToken) -> None:
    limit = 256 * 1024
    gateway = await make_gateway(gateway_config(server={"max_buffer_bytes": limit}))
    gone: asyncio.Queue[tuple[str | None, str]] = asyncio.Queue()

    def record(socket: Socket, reason: str) -> None:
        gone.put_nowait((socket.uid, reason))

    gateway.main.on_disconnect(record)
    slow, frames_read = await stalled_client(gateway.port, make_token("slow", "operations"))
    healthy = socketio.AsyncClient(reconnection=False)
    received = 0

    def count(*_: object) -> None:
        nonlocal received
        received += 1

    finished = asyncio.Event()
    healthy.on("flood", count)
    healthy.on("done", lambda *_: finished.set())
    await healthy.connect(gateway.url, auth={"token": make_token("fine", "operations")},
                          transports=["websocket"], wait_timeout=5)
    try:
        sent = await flood_until_one_is_gone(gateway, gone)
        uid, reason = await asyncio.wait_for(gone.get(), 5)
        assert uid == "slow"
        assert reason == "slow consumer: output buffer full"
        assert gateway.stats()["sockets"]["/"] == 1
        # The healthy client got everything and is still served.
        gateway.to_role("operations").emit("flood", PAYLOAD)
        sent += 1
        answer = await healthy.call("subscribe_expense_updates", timeout=5)
        assert answer["ok"] is True
        assert gone.empty()
        # Events on one connection arrive in order: once "done" is in, every flood is.
        gateway.to_role("operations").emit("done")
        await asyncio.wait_for(finished.wait(), 10)
        assert received == sent
        # When the stalled client reads again, it finds why it was cut off, then the close,
        # even though it sent something after the cut that the server never read (here a
        # pong): a socket closed with unread data is reset, and the reset would drop the
        # reason and the close frame, still in the server's send buffer.
        await asyncio.get_running_loop().sock_sendall(slow, frame(OP_TEXT, b"3"))
        frames = server_frames(frames_read + await read_to_end(slow))
        (notice_op, notice), (close_op, close) = frames[-2:]
        assert notice_op == OP_TEXT
        assert notice.startswith(b'42["gateway_error",')
        assert json.loads(notice[2:])[1] == {
            "event": None, "code": "slow_consumer",
            "message": f"slow consumer: more than {limit} bytes unsent"}
        assert close_op == OP_CLOSE
        assert close == struct.pack("!H", 1008) + b"slow consumer"
    finally:
        await healthy.disconnect()
        slow.close()


async def test_stopping_the_gateway_ends_a_cut_off_client_still_lingering(
        make_gateway: MakeGateway, make_token: MakeToken) -> None:
    gateway = await make_gateway(gateway_config(server={"max_buffer_bytes": 64 * 1024}))
    gone: asyncio.Queue[str] = asyncio.Queue()
    gateway.main.on_disconnect(lambda socket, reason: gone.put_nowait(reason))
    slow, _ = await stalled_client(gateway.port, make_token("slow", "operations"))
    with slow:
        await flood_until_one_is_gone(gateway, gone)
        assert await asyncio.wait_for(gone.get(), 5) == "slow consumer: output buffer full"
        engine = gateway._engine
        assert engine is not None
        assert len(engine.draining) == 1  # the client reads nothing: the reason waits
        await gateway.stop()
        assert len(engine.draining) == 0
        # Aborted: the client, reading at last, finds its connection ended, not waiting.
        with contextlib.suppress(ConnectionResetError):
            await read_to_end(slow)


async def test_a_polling_client_that_falls_behind_reads_why_on_its_waiting_get(
        make_gateway: MakeGateway, make_token: MakeToken) -> None:
    limit = 64 * 1024
    gateway = await make_gateway(gateway_config(engineio={"max_polling_buffer_bytes": limit}))
    url = f"{gateway.url}/socket.io/?EIO=4&transport=polling"
    async with httpx.AsyncClient() as client:
        sid = json.loads((await client.get(url)).text[1:])["sid"]
        url += f"&sid={sid}"
        token = make_token("ops-1", "operations")
        await client.post(url, content=b"40" + json.dumps({"token": token}).encode())
        assert (await client.get(url)).text.startswith('40{"sid"')
        poll = asyncio.create_task(client.get(url))
        assert gateway._engine is not None
        session = gateway._engine.sessions[sid]

        async def get_is_waiting() -> None:
            # Nothing announces that the GET has reached the server; look each turn.
            while session._poll_conn is None:  # noqa: ASYNC110
                await asyncio.sleep(0)

        await asyncio.wait_for(get_is_waiting(), 5)
        # The waiting GET is answered at the end of this turn; within it, more than the
        # polling buffer's limit is queued.
        for _ in range(2 * limit // 1000):
            gateway.to_role("operations").emit("flood", "x" * 1000)
        packets = (await asyncio.wait_for(poll, 5)).text.split("\x1e")
    assert packets[-1] == "1"  # Engine.IO close
    assert json.loads(packets[-2][2:]) == ["gateway_error", {
        "event": None, "code": "slow_consumer",
        "message": f"slow consumer: more than {limit} bytes queued for polling"}]
    assert gateway.stats()["sessions"] == 0
