"""A Socket.IO client over raw WebSocket, built as an asyncio protocol for load generation.

Two modes after the namespace is joined:

- counting (``parse=False``): each received chunk is only searched for the event name and for
  Engine.IO ping frames, so one chunk holding many batched frames costs one ``bytes.count``;
- parsing (``parse=True``): frames are decoded, pings answered, locations handed to
  ``on_location(seq, received_at)`` and the server's closing words kept in ``close_info``.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

from . import wire

LOCATION_EVENT = b"rider_location_update"
_LATITUDE = re.compile(rb'"latitude":(-?[0-9.eE+-]+)')
#: Latitude = LAT_BASE + seq * LAT_STEP carries a per-message sequence number through every
#: server unchanged (all three copy the number into the update they broadcast).
LAT_BASE = 10.0
LAT_STEP = 1e-5

LocationSink = Callable[[int, float], None]
# What a counting client keeps of the previous chunk: one byte short of the event name.
_TAIL = len(LOCATION_EVENT) - 1
_PING_TAIL = len(wire.EIO_PING_FRAME) - 1
_PING_LENGTH = wire.EIO_PING_FRAME[1:2]


def latitude_for(seq: int) -> float:
    return round(LAT_BASE + seq * LAT_STEP, 6)


def seq_of(latitude: float) -> int:
    return round((latitude - LAT_BASE) / LAT_STEP)


class SioClient(asyncio.Protocol):
    __slots__ = ("_auth", "_on_location", "_reader", "_state", "_tail", "_target",
                 "close_info", "closed", "count", "local_port", "lost_at", "parse", "pongs",
                 "ready", "transport")

    def __init__(self, target: tuple[str, int], auth: dict[str, Any], *, parse: bool = False,
                 on_location: LocationSink | None = None) -> None:
        self._target = target
        self._auth = auth
        self._on_location = on_location
        self._reader = wire.FrameReader()
        self._state = 0  # 0: HTTP upgrade, 1: Engine.IO frames until joined, 2: joined
        self._tail = b""
        self.parse = parse
        self.count = 0
        self.pongs = 0
        self.lost_at: float | None = None
        self.close_info: list[str] = []
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.local_port = 0

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.local_port = self.transport.get_extra_info("sockname")[1]
        self.transport.write(wire.upgrade_request(*self._target))

    def data_received(self, data: bytes) -> None:
        if self._state == 2 and not self.parse:
            self._count(data)
            return
        if self._state == 0:
            data = self._reader_http(data)
            if not data:
                return
        now = time.monotonic()
        for opcode, payload in self._reader.feed(data):
            self._frame(opcode, payload, now)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost_at = time.monotonic()
        if not self.closed.done():
            self.closed.set_result(None)
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"connection lost before joining: {exc}"))

    # -- internals ----------------------------------------------------------------------

    def _reader_http(self, data: bytes) -> bytes:
        self._tail += data
        end = self._tail.find(b"\r\n\r\n")
        if end < 0:
            return b""
        head, rest = self._tail[:end], self._tail[end + 4:]
        self._tail = b""
        if not head.startswith(b"HTTP/1.1 101"):
            status = head.split(b"\r\n", 1)[0]
            self._fail(f"upgrade refused: {status!r}")
            return b""
        self._state = 1
        return rest

    def _count(self, data: bytes) -> None:
        # Counted in the chunk itself, without copying it. A seam (the previous chunk's last
        # bytes, this one's first) holds exactly the matches that straddle the two, since
        # each half is one byte too short to hold a whole match.
        tail = self._tail
        name_seam = tail + data[:_TAIL]
        ping_seam = tail[-_PING_TAIL:] + data[:_PING_TAIL]
        self.count += data.count(LOCATION_EVENT) + name_seam.count(LOCATION_EVENT)
        pings = ping_seam.count(wire.EIO_PING_FRAME)
        # A ping frame's length byte is 0x01, which JSON text never holds, so most chunks
        # skip the slow scan for the 3-byte frame (a one-byte search is a memchr).
        if _PING_LENGTH in data:
            pings += data.count(wire.EIO_PING_FRAME)
        self._tail = data[-_TAIL:] if len(data) >= _TAIL else (tail + data)[-_TAIL:]
        if pings and self.transport is not None:
            self.transport.write(wire.PONG * pings)
            self.pongs += pings

    def _frame(self, opcode: int, payload: bytes, now: float) -> None:
        if opcode == wire.OP_CLOSE:
            code, reason = wire.close_reason(payload)
            self.close_info.append(f"close frame {code} {reason!r}")
            return
        if opcode != wire.OP_TEXT:
            return
        if payload == b"2":
            if self.transport is not None:
                self.transport.write(wire.PONG)
            self.pongs += 1
        elif payload.startswith(b'42["rider_location_update"'):
            self.count += 1
            if self._on_location is not None:
                match = _LATITUDE.search(payload)
                if match is not None:
                    self._on_location(seq_of(float(match.group(1))), now)
        elif self._state == 1 and payload.startswith(b"0{"):
            if self.transport is not None:
                self.transport.write(wire.sio_connect(self._auth))
        elif payload.startswith(b"40"):
            self._state = 2
            if not self.ready.done():
                self.ready.set_result(None)
        elif payload.startswith(b"44"):
            self._fail(f"connect_error: {payload[2:].decode(errors='replace')}")
        elif payload == b"1" or payload.startswith(b"41"):
            self.close_info.append(f"packet {payload.decode(errors='replace')!r}")
        elif payload.startswith(b'42["gateway_error"'):
            self.close_info.append(payload.decode(errors="replace")[:200])

    def _fail(self, why: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(why))
        if self.transport is not None:
            self.transport.abort()

    # -- API ----------------------------------------------------------------------------

    def emit(self, *args: Any) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(wire.sio_event(*args))

    def send_raw(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def connect(target: tuple[str, int], auth: dict[str, Any], *, parse: bool = False,
                  on_location: LocationSink | None = None, timeout: float = 30.0) -> SioClient:
    loop = asyncio.get_running_loop()
    _, client = await asyncio.wait_for(loop.create_connection(
        lambda: SioClient(target, auth, parse=parse, on_location=on_location), *target),
        timeout)
    await asyncio.wait_for(client.ready, timeout)
    return client


async def connect_many(target: tuple[str, int], auths: Sequence[dict[str, Any]], *,
                       parse: Callable[[int], bool] = lambda _: False,
                       on_location: LocationSink | None = None,
                       concurrency: int = 200) -> list[SioClient]:
    """Connect one client per auth, ``concurrency`` handshakes in flight at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> SioClient:
        async with gate:
            sample = parse(index)
            return await connect(target, auths[index], parse=sample,
                                 on_location=on_location if sample else None)

    return list(await asyncio.gather(*(one(i) for i in range(len(auths)))))


def close_all(clients: Sequence[SioClient]) -> None:
    for client in clients:
        client.close()
