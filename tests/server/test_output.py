"""Output buffers on a real loopback socket pair."""

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from yellowbox_realtime.server.output import FlushScheduler, OutputBuffer


class Sink(asyncio.Protocol):
    pass


class CountingTransport(asyncio.WriteTransport):
    """The real transport, with a record of each write (uvloop's cannot be patched)."""

    def __init__(self, inner: asyncio.WriteTransport) -> None:
        super().__init__()
        self.inner = inner
        self.writes: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))
        self.inner.write(data)

    def get_write_buffer_size(self) -> int:
        return self.inner.get_write_buffer_size()

    def is_closing(self) -> bool:
        return self.inner.is_closing()

    def abort(self) -> None:
        self.inner.abort()


@dataclass
class Pair:
    transport: CountingTransport
    reader: socket.socket

    @property
    def writes(self) -> list[bytes]:
        return self.transport.writes


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    loop = asyncio.get_running_loop()
    left, right = socket.socketpair()
    transport, _ = await loop.create_connection(Sink, sock=left)
    right.setblocking(False)
    yield Pair(CountingTransport(transport), right)
    transport.abort()
    right.close()


async def read_exactly(sock: socket.socket, size: int) -> bytes:
    loop = asyncio.get_running_loop()
    data = b""
    while len(data) < size:
        data += await loop.sock_recv(sock, size - len(data))
    return data


async def test_appends_in_one_loop_turn_leave_in_one_write(pair: Pair) -> None:
    loop = asyncio.get_running_loop()
    buffer = OutputBuffer(pair.transport, FlushScheduler(loop), 1 << 20, lambda: None)
    for i in range(100):
        buffer.append(b"frame-%03d;" % i)
    assert pair.writes == []  # nothing written until the turn ends
    assert await read_exactly(pair.reader, 1000) == b"".join(b"frame-%03d;" % i
                                                             for i in range(100))
    assert len(pair.writes) == 1


async def test_one_scheduler_flushes_many_buffers(pair: Pair) -> None:
    loop = asyncio.get_running_loop()
    scheduler = FlushScheduler(loop)
    first = OutputBuffer(pair.transport, scheduler, 1 << 20, lambda: None)
    second = OutputBuffer(pair.transport, scheduler, 1 << 20, lambda: None)
    first.append(b"a")
    second.append(b"b")
    first.append(b"c")
    assert await read_exactly(pair.reader, 3) == b"acb"
    assert pair.writes == [b"ac", b"b"]


async def test_a_reader_that_stops_is_cut_off_and_memory_stays_bounded(pair: Pair) -> None:
    loop = asyncio.get_running_loop()
    overflowed = asyncio.Event()
    limit = 256 * 1024
    buffer = OutputBuffer(pair.transport, FlushScheduler(loop), limit, overflowed.set)
    chunk = b"x" * 4096
    # The reader never reads: first the kernel's buffers fill, then the transport's.
    for _ in range(10_000):
        if overflowed.is_set():
            break
        buffer.append(chunk)
        await asyncio.sleep(0)  # let the flush of this turn run
    assert overflowed.is_set()
    assert buffer.closed
    assert buffer.pending == 0
    assert pair.transport.get_write_buffer_size() <= limit
    buffer.append(chunk)  # ignored once closed
    assert buffer.pending == 0
