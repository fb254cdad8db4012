"""Per-connection output buffers with natural batching.

Appending never writes: it queues bytes and marks the buffer dirty. The first dirty buffer in
an event-loop turn schedules one callback that flushes every dirty buffer at the end of the
turn, so a burst of broadcasts leaves each connection in one ``write`` (one syscall, one TCP
segment train) instead of one per message. At low load the flush runs on the same turn, so
it adds no latency.

Backpressure: while the transport says its own buffer is full (``pause_writing``), flushes
keep the bytes here instead of handing them over. The transport's buffer then stays small,
and what waits is in a buffer this module can drop: when a client is cut off, its reason is
not stuck behind a megabyte of stale events.

A connection may also hold its output for a moment of its own accord (:meth:`OutputBuffer.hold`),
so that what it sent last reaches the client in a read of its own.

Memory is bounded: the bytes queued here may not exceed ``limit``, nor may one flush push the
transport's buffer past it. Past either, the connection is a slow consumer: its pending data
is dropped and :meth:`OutputBuffer.overflowed` is called, which disconnects it with a reason.
"""

from __future__ import annotations

import asyncio

from ..core.counters import Counters
from ..core.deadlines import Deadline, Deadlines

# Why a buffer holds its data, as bits of one field (no more memory per connection than a
# flag): the transport is full, or the connection asked to hold.
_TRANSPORT_FULL = 1
_HELD = 2


class FlushScheduler:
    """Flushes all dirty buffers once per event-loop turn.

    With ``counters``, each flush round ends a latency sample and each buffer cut off is
    counted under ``transport`` (the kind of connection this scheduler's buffers carry).
    """

    __slots__ = ("_dirty", "_loop", "_scheduled", "counters", "transport")

    def __init__(self, loop: asyncio.AbstractEventLoop, counters: Counters | None = None,
                 transport: str = "") -> None:
        self._loop = loop
        self._dirty: list[OutputBuffer] = []
        self._scheduled = False
        self.counters = counters
        self.transport = transport

    def mark(self, buffer: OutputBuffer) -> None:
        self._dirty.append(buffer)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush_all)

    def flush_all(self) -> None:
        """Flush every dirty buffer now (the scheduled call, or at shutdown)."""
        self._scheduled = False
        dirty, self._dirty = self._dirty, []
        for buffer in dirty:
            buffer.flush()
        if self.counters is not None:
            self.counters.flushed()

    def cut_off(self, dropped: int) -> None:
        """One of this scheduler's buffers overflowed with ``dropped`` bytes queued."""
        if self.counters is not None:
            self.counters.cut_off(self.transport, dropped)


class OutputBuffer:
    """Bytes queued for one transport, flushed once per loop turn, bounded in size.

    Connections (a WebSocket, an SSE stream) extend it rather than own one: they live by the
    thousand for hours, and one object per connection is less memory than two.
    """

    __slots__ = ("_chunks", "_dirty", "_paused", "_scheduler", "_size", "closed", "limit",
                 "transport")

    def __init__(self, transport: asyncio.WriteTransport, scheduler: FlushScheduler,
                 limit: int) -> None:
        self.transport = transport
        self.limit = limit
        self.closed = False
        self._scheduler = scheduler
        self._chunks: list[bytes] = []
        self._size = 0
        self._dirty = False
        self._paused = 0

    @property
    def pending(self) -> int:
        """Bytes queued here and not yet handed to the transport."""
        return self._size

    def append(self, data: bytes) -> None:
        if self.closed:
            return
        self._chunks.append(data)
        self._size += len(data)
        if self._size > self.limit:
            self._overflow(self._size)
            return
        if not self._dirty:
            self._dirty = True
            self._scheduler.mark(self)

    def pause(self) -> None:
        """The transport's buffer passed its high-water mark: hold data here."""
        self._paused |= _TRANSPORT_FULL

    def resume(self) -> None:
        """The transport drained below its low-water mark: send what waited."""
        self._paused &= ~_TRANSPORT_FULL
        self.flush()

    def hold(self, deadlines: Deadlines, seconds: float) -> None:
        """Keep what is appended next here for ``seconds`` (bounded by ``limit`` as ever),
        then send it: what was written before reaches the client well ahead of it."""
        if not self._paused & _HELD:
            self._paused |= _HELD
            deadlines.after(seconds, self._release)

    def _release(self) -> None:
        self._paused &= ~_HELD
        self.flush()

    def flush(self) -> None:
        """Hand everything queued to the transport in one write (unless paused)."""
        self._dirty = False
        if self.closed or not self._chunks or self._paused:
            return
        data = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        self._size = 0
        if self.transport.is_closing():
            return
        # One large flush can still overfill the transport's buffer past the pause mark.
        if self.transport.get_write_buffer_size() + len(data) > self.limit:
            self._overflow(len(data))
            return
        self.transport.write(data)

    def write_now(self, data: bytes) -> None:
        """Write what is queued, then ``data`` (control replies, close frames), even while
        paused: they must neither wait behind a full transport nor overtake queued data."""
        if self.transport.is_closing() or self.closed:
            return  # closed, or half-closed (see WebSocketTransport._finish)
        if self._chunks:
            self._chunks.append(data)
            data = b"".join(self._chunks)
            self._chunks.clear()
            self._size = 0
        self.transport.write(data)

    def discard(self) -> None:
        """Stop accepting data; what is queued is dropped."""
        self.closed = True
        self._chunks.clear()
        self._size = 0

    def overflowed(self) -> None:
        """The limit was passed and what was queued is gone: cut the connection off."""
        raise NotImplementedError

    def _overflow(self, dropped: int) -> None:
        self._scheduler.cut_off(dropped)
        self.discard()
        self.overflowed()


class Draining:
    """Connections being ended, each waiting for its client to read its last bytes.

    After each ``period`` a connection is closed if all was sent, aborted if the client made
    no progress, and given another period if it did. One that ends first is forgotten at
    once: a pending check would keep it, and all it holds, in memory.
    """

    def __init__(self, deadlines: Deadlines, period: float) -> None:
        self._deadlines = deadlines
        self._period = period
        self._checks: dict[asyncio.WriteTransport, Deadline] = {}

    def __len__(self) -> int:
        return len(self._checks)

    def unsent(self) -> int:
        """Bytes the lingering connections have still to send."""
        return sum(t.get_write_buffer_size() for t in self._checks)

    def add(self, transport: asyncio.WriteTransport) -> None:
        self.forget(transport)  # one check at a time per connection
        self._checks[transport] = self._deadlines.after(
            self._period, self._check, transport, transport.get_write_buffer_size())

    def forget(self, transport: asyncio.WriteTransport) -> None:
        check = self._checks.pop(transport, None)
        if check is not None:
            check.cancel()

    def end_all(self) -> None:
        """End every connection still lingering, now: the gateway is stopping."""
        for transport, check in list(self._checks.items()):
            check.cancel()
            _end(transport)
        self._checks.clear()

    def _check(self, transport: asyncio.WriteTransport, unsent_before: int) -> None:
        self._checks.pop(transport, None)
        if 0 < transport.get_write_buffer_size() < unsent_before:
            self.add(transport)  # the client still reads: another period
        else:
            _end(transport)


def _end(transport: asyncio.WriteTransport) -> None:
    """Close a connection that has sent all (this ends a half-closed one whose client kept
    its side open; on a transport already closing it does nothing); abort one that has not."""
    if transport.get_write_buffer_size():
        transport.abort()
    else:
        transport.close()
