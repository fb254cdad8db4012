"""A client that stops reading is cut off; the server's memory and the others are not."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket

import socketio

from tests.conftest import MakeGateway, MakeToken, gateway_config
from tests.wsframes import frame
from yellowbox_realtime.protocol.websocket import OP_TEXT
from yellowbox_realtime.server.sockets import Socket


async def stalled_client(port: int, token: str) -> socket.socket:
    """A raw WebSocket Socket.IO client that connects, then never reads again."""
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
    return sock


async def test_a_stalled_reader_is_disconnected_and_others_carry_on(
        make_gateway: MakeGateway, make_token: MakeToken) -> None:
    limit = 256 * 1024
    gateway = await make_gateway(gateway_config(server={"max_buffer_bytes": limit}))
    gone: asyncio.Queue[tuple[str | None, str]] = asyncio.Queue()

    def record(socket: Socket, reason: str) -> None:
        gone.put_nowait((socket.uid, reason))

    gateway.main.on_disconnect(record)
    slow = await stalled_client(gateway.port, make_token("slow", "operations"))
    healthy = socketio.AsyncClient(reconnection=False)
    received = 0

    def count(_: object) -> None:
        nonlocal received
        received += 1

    finished = asyncio.Event()
    healthy.on("flood", count)
    healthy.on("done", lambda *_: finished.set())
    await healthy.connect(gateway.url, auth={"token": make_token("fine", "operations")},
                          transports=["websocket"], wait_timeout=5)
    try:
        payload = {"blob": "x" * 1000}
        sent = 0
        # Bounded: the kernel's buffers for one connection hold a few MB at most.
        for sent in range(1, 40_001):
            gateway.to_role("operations").emit("flood", payload)
            if sent % 20 == 0:
                await asyncio.sleep(0)  # one flush per turn, as under real load
                if not gone.empty():
                    break
        uid, reason = await asyncio.wait_for(gone.get(), 5)
        assert uid == "slow"
        assert reason == "slow consumer: output buffer full"
        assert gateway.stats()["sockets"]["/"] == 1
        # The healthy client got everything and is still served.
        gateway.to_role("operations").emit("flood", payload)
        sent += 1
        answer = await healthy.call("subscribe_expense_updates", timeout=5)
        assert answer["ok"] is True
        assert gone.empty()
        # Events on one connection arrive in order: once "done" is in, every flood is.
        gateway.to_role("operations").emit("done")
        await asyncio.wait_for(finished.wait(), 10)
        assert received == sent
    finally:
        await healthy.disconnect()
        slow.close()
