"""Output buffers on a real loopback socket pair."""

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from yellowbox_realtime.core.deadlines import Deadlines
from yellowbox_realtime.server.output import Draining, FlushScheduler, OutputBuffer


class Sink(asyncio.Protocol):
    pass


class Buffer(OutputBuffer):
    """A buffer that records its overflow, as a connection would cut itself off."""

    __slots__ = ("overflow",)

    def __init__(self, transport: asyncio.WriteTransport, scheduler: FlushScheduler,
                 limit: int) -> None:
        super().__init__(transport, scheduler, limit)
        self.overflow = asyncio.Event()

    def overflowed(self) -> None:
        self.overflow.set()


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
    buffer = Buffer(pair.transport, FlushScheduler(loop), 1 << 20)
    for i in range(100):
        buffer.append(b"frame-%03d;" % i)
    assert pair.writes == []  # nothing written until the turn ends
    assert await read_exactly(pair.reader, 1000) == b"".join(b"frame-%03d;" % i
                                                             for i in range(100))
    assert len(pair.writes) == 1


async def test_one_scheduler_flushes_many_buffers(pair: Pair) -> None:
    loop = asyncio.get_running_loop()
    scheduler = FlushScheduler(loop)
    first = Buffer(pair.transport, scheduler, 1 << 20)
    second = Buffer(pair.transport, scheduler, 1 << 20)
    first.append(b"a")
    second.append(b"b")
    first.append(b"c")
    assert await read_exactly(pair.reader, 3) == b"acb"
    assert pair.writes == [b"ac", b"b"]


async def test_a_reader_that_stops_is_cut_off_and_memory_stays_bounded(pair: Pair) -> None:
    loop = asyncio.get_running_loop()
    limit = 256 * 1024
    buffer = Buffer(pair.transport, FlushScheduler(loop), limit)
    overflowed = buffer.overflow
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


async def test_a_paused_buffer_holds_data_and_resume_sends_it_in_one_write(pair: Pair) -> None:
    loop = asyncio.get_running_loop()
    buffer = Buffer(pair.transport, FlushScheduler(loop), 1 << 20)
    buffer.pause()
    buffer.append(b"one;")
    buffer.append(b"two;")
    buffer.flush()
    assert pair.writes == []
    assert buffer.pending == 8
    buffer.resume()
    assert pair.writes == [b"one;two;"]
    assert await read_exactly(pair.reader, 8) == b"one;two;"


async def test_a_hold_keeps_what_follows_apart_from_what_went_before(pair: Pair) -> None:
    loop = asyncio.get_running_loop()
    buffer = Buffer(pair.transport, FlushScheduler(loop), 1 << 20)
    buffer.append(b"reply;")
    buffer.flush()
    buffer.hold(Deadlines(loop), 0.002)
    buffer.append(b"event;")
    await asyncio.sleep(0)  # the turn's flush runs, and sends nothing
    assert pair.writes == [b"reply;"]
    assert await read_exactly(pair.reader, 12) == b"reply;event;"
    assert pair.writes == [b"reply;", b"event;"]


async def test_a_hold_ending_leaves_a_full_transport_paused(pair: Pair) -> None:
    loop = asyncio.get_running_loop()
    buffer = Buffer(pair.transport, FlushScheduler(loop), 1 << 20)
    released = asyncio.Event()
    deadlines = Deadlines(loop)
    buffer.hold(deadlines, 0.001)
    buffer.pause()  # the transport fills meanwhile
    buffer.append(b"waits;")
    deadlines.after(0.002, released.set)
    await released.wait()  # the hold has ended
    assert pair.writes == []
    buffer.resume()
    assert pair.writes == [b"waits;"]


async def test_write_now_does_not_wait_for_resume_nor_overtake_queued_data(pair: Pair) -> None:
    loop = asyncio.get_running_loop()
    buffer = Buffer(pair.transport, FlushScheduler(loop), 1 << 20)
    buffer.pause()
    buffer.append(b"queued;")
    buffer.write_now(b"close")
    assert await read_exactly(pair.reader, 12) == b"queued;close"
    assert buffer.pending == 0


class Forwarding(asyncio.Protocol):
    """Tells the buffer what the transport says about its own buffer, as the server does."""

    buffer: Buffer | None = None

    def pause_writing(self) -> None:
        assert self.buffer is not None
        self.buffer.pause()

    def resume_writing(self) -> None:
        assert self.buffer is not None
        self.buffer.resume()


async def test_with_backpressure_little_is_stuck_in_the_transport_at_the_cut() -> None:
    """What waits is in the droppable buffer, so a reason written at the cut is not stuck
    behind the whole limit's worth of stale data."""
    loop = asyncio.get_running_loop()
    left, right = socket.socketpair()
    transport, protocol = await loop.create_connection(Forwarding, sock=left)
    limit = 1024 * 1024
    protocol.buffer = Buffer(transport, FlushScheduler(loop), limit)
    overflowed = protocol.buffer.overflow
    try:
        chunk = b"x" * 4096
        for _ in range(100_000):
            if overflowed.is_set():
                break
            protocol.buffer.append(chunk)
            await asyncio.sleep(0)
        assert overflowed.is_set()
        # Without backpressure the transport would hold close to `limit` here.
        assert transport.get_write_buffer_size() < limit // 4
    finally:
        transport.abort()
        right.close()


class EndingTransport:
    """An ending transport whose unsent byte counts, one per check, the test sets."""

    def __init__(self, unsent: list[int]) -> None:
        self.unsent = list(unsent)
        self.ended_by = ""
        self.settled = asyncio.Event()

    def get_write_buffer_size(self) -> int:
        return self.unsent.pop(0) if len(self.unsent) > 1 else self.unsent[0]

    def close(self) -> None:
        self._end("close")

    def abort(self) -> None:
        self._end("abort")

    def _end(self, how: str) -> None:
        self.ended_by = how
        self.settled.set()


@pytest.mark.parametrize(("unsent", "ended_by"), [
    ([5000, 5000], "abort"),            # no progress: aborted at the first check
    ([5000, 4000, 4000], "abort"),      # progress, then none
    ([5000, 4000, 1000, 0], "close"),   # all sent, the client still there: closed
])
async def test_an_ending_connection_lingers_only_while_the_client_makes_progress(
        unsent: list[int], ended_by: str) -> None:
    lingering = Draining(Deadlines(asyncio.get_running_loop()), 0.01)
    transport = EndingTransport(unsent)
    lingering.add(transport)  # type: ignore[arg-type]
    await asyncio.wait_for(transport.settled.wait(), 5)
    assert transport.ended_by == ended_by
    assert len(lingering) == 0


async def test_a_closing_transport_that_stops_draining_is_aborted() -> None:
    # An SSE stream cut off is closed (not half-closed) before it lingers: its transport
    # reports closing all along, and must still be aborted when its client stops reading.
    transport = EndingTransport([5000, 5000])
    transport.is_closing = lambda: True  # type: ignore[attr-defined]
    lingering = Draining(Deadlines(asyncio.get_running_loop()), 0.01)
    lingering.add(transport)  # type: ignore[arg-type]
    await asyncio.wait_for(transport.settled.wait(), 5)
    assert transport.ended_by == "abort"


async def test_a_connection_that_ends_first_is_forgotten_and_never_checked() -> None:
    deadlines = Deadlines(asyncio.get_running_loop())
    lingering = Draining(deadlines, 0.01)
    transport = EndingTransport([5000])
    lingering.add(transport)  # type: ignore[arg-type]
    lingering.forget(transport)  # type: ignore[arg-type]
    assert len(lingering) == 0
    later = asyncio.Event()
    deadlines.after(0.05, later.set)
    await asyncio.wait_for(later.wait(), 5)
    assert transport.ended_by == ""


async def test_end_all_closes_what_has_sent_all_and_aborts_the_rest() -> None:
    lingering = Draining(Deadlines(asyncio.get_running_loop()), 60.0)
    drained, stuck = EndingTransport([0]), EndingTransport([5000])
    lingering.add(drained)  # type: ignore[arg-type]
    lingering.add(stuck)  # type: ignore[arg-type]
    lingering.end_all()
    assert (drained.ended_by, stuck.ended_by, len(lingering)) == ("close", "abort", 0)
