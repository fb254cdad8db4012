"""Just enough WebSocket, Engine.IO v4 and Socket.IO v5 for a load generator.

Client frames are masked as RFC 6455 requires; server frames are unmasked and parsed by
:class:`FrameReader`, which keeps partial frames across chunks.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

#: A server Engine.IO ping: a final, unmasked text frame of length 1 holding "2".
EIO_PING_FRAME = b"\x81\x012"


def upgrade_request(host: str, port: int, path: str = "/socket.io/") -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET {path}?EIO=4&transport=websocket HTTP/1.1\r\n"
            f"Host: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()


def client_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """One final, masked client frame."""
    size = len(payload)
    if size < 126:
        head = bytes((0x80 | opcode, 0x80 | size))
    elif size < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
    mask = os.urandom(4)
    if not payload:
        return head + mask
    repeated = (mask * (size // 4 + 1))[:size]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big"))
    return head + mask + masked.to_bytes(size, "big")


def text(packet: str) -> bytes:
    return client_frame(packet.encode())


def sio_connect(auth: dict[str, Any]) -> bytes:
    return text("40" + json.dumps(auth, separators=(",", ":")))


def sio_event(*args: Any) -> bytes:
    return text("42" + json.dumps(list(args), separators=(",", ":")))


PONG = text("3")


class FrameReader:
    """Parses a stream of unmasked server frames into ``(opcode, payload)`` pairs."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buffer = self._buffer + data if self._buffer else data
        frames: list[tuple[int, bytes]] = []
        pos, end = 0, len(buffer)
        while end - pos >= 2:
            opcode = buffer[pos] & 0x0F
            size = buffer[pos + 1] & 0x7F
            head = 2
            if size == 126:
                if end - pos < 4:
                    break
                size = int.from_bytes(buffer[pos + 2:pos + 4], "big")
                head = 4
            elif size == 127:
                if end - pos < 10:
                    break
                size = int.from_bytes(buffer[pos + 2:pos + 10], "big")
                head = 10
            if end - pos < head + size:
                break
            frames.append((opcode, buffer[pos + head:pos + head + size]))
            pos += head + size
        self._buffer = buffer[pos:]
        return frames


def close_reason(payload: bytes) -> tuple[int | None, str]:
    """The status code and reason of a close frame's payload."""
    if len(payload) < 2:
        return None, ""
    return int.from_bytes(payload[:2], "big"), payload[2:].decode("utf-8", "replace")
