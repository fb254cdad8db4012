"""A Socket.IO client on a raw TCP socket, for faults no real client library will commit:
stopping mid-frame, never reading, resetting the connection."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct

from tests.fuzz.test_memory import UPGRADE
from tests.wsframes import frame
from yellowbox_realtime.protocol.websocket import OP_TEXT


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._buffer = b""

    @classmethod
    async def join(cls, port: int, token: str, host: str = "127.0.0.1") -> RawClient:
        """WebSocket handshake, Engine.IO open, Socket.IO CONNECT with ``token``."""
        reader, writer = await asyncio.open_connection(host, port)
        client = cls(reader, writer)
        writer.write(UPGRADE)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101 "), head
        assert (await client.next_frame())[1].startswith(b"0{")
        client.send_text("40" + json.dumps({"token": token}))
        while not (await client.next_frame())[1].startswith(b'40{"sid"'):
            pass
        return client

    def send_text(self, text: str) -> None:
        self.writer.write(frame(OP_TEXT, text.encode()))

    async def next_frame(self, timeout: float = 5.0) -> tuple[int, bytes]:
        """The next whole frame from the server (opcode, payload); (-1, b"") at EOF."""
        while True:
            parsed = _split(self._buffer)
            if parsed is not None:
                opcode, payload, self._buffer = parsed
                return opcode, payload
            chunk = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not chunk:
                return -1, b""
            self._buffer += chunk

    def reset(self) -> None:
        """Close with a TCP RST (SO_LINGER 0): the peer vanishes without a FIN."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


def _split(data: bytes) -> tuple[int, bytes, bytes] | None:
    if len(data) < 2:
        return None
    opcode, length, at = data[0] & 0x0F, data[1] & 0x7F, 2
    if length == 126:
        if len(data) < 4:
            return None
        (length,), at = struct.unpack_from("!H", data, 2), 4
    elif length == 127:
        if len(data) < 10:
            return None
        (length,), at = struct.unpack_from("!Q", data, 2), 10
    if len(data) < at + length:
        return None
    return opcode, data[at:at + length], data[at + length:]


def close_code(payload: bytes) -> tuple[int, str]:
    return struct.unpack("!H", payload[:2])[0], payload[2:].decode()
