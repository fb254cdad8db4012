"""The broker: where a published event gets its place in the stream and reaches every node.

Every event published to channels goes through :meth:`Broker.publish_nowait` (the
Socket.IO emitters, which must not wait) or :meth:`Broker.publish` (the HTTP API and
webhooks, which answer with the event's position and may carry an idempotency key). The
broker numbers it, keeps it in the history of its channels and hands it to each node's
:class:`~.hub.Hub`, which fans it out to local subscribers. :meth:`Broker.since` answers
"what did these channels publish after this position?" for SSE ``Last-Event-ID`` and
Socket.IO connection-state recovery.

:class:`MemoryBroker` is the single-process broker and the default; a cluster broker (Redis)
implements the same Protocol.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Protocol

from ..protocol.sse import StreamPosition
from .history import History, HistoryLimits, Recovery
from .hub import Hub, Outgoing, Subscriber

__all__ = ["Broker", "MemoryBroker"]


class Broker(Protocol):
    """Numbering, history and delivery of published events.

    Ordering: events published from one task are delivered to each subscriber in the order
    they were published, by both methods.
    """

    def publish_nowait(self, channels: Sequence[str], message: Outgoing,
                       exclude: frozenset[Subscriber] = frozenset()) -> None:
        """Publish without waiting; delivery and history may complete later (never out of
        order). ``message`` is placed in the stream by the broker."""

    async def publish(self, channels: Sequence[str], message: Outgoing, *,
                      idempotency_key: str | None = None) -> StreamPosition:
        """Publish and return the event's position once it is in the history. A second
        publish with the same idempotency key (within the broker's window) is not
        delivered again; it returns the first one's position."""

    async def since(self, channels: Sequence[str],
                    position: StreamPosition) -> Recovery[Outgoing]:
        """What ``channels`` published after ``position``, or that some of it is gone."""

    def position(self) -> StreamPosition:
        """The stream's latest position (where a client starting now begins)."""

    @property
    def published(self) -> int:
        """How many events this node has published since it started (a counter for rates)."""

    async def close(self) -> None: ...


class MemoryBroker:
    """One process: history in memory, delivery straight to the local hub.

    ``since`` does not suspend, so a caller that reads the history and then subscribes
    without awaiting in between misses nothing and gets nothing twice.

    Idempotency keys are kept for ``idempotency_window_s`` and at most
    ``max_idempotency_keys`` of them (the oldest go first).
    """

    def __init__(self, hub: Hub, default: HistoryLimits,
                 per_channel: dict[str, HistoryLimits] | None = None, *,
                 stamp_socketio: bool = True, idempotency_window_s: float = 24 * 3600,
                 max_idempotency_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.hub = hub
        self.history: History[Outgoing] = History(default, per_channel)
        self._stamp = stamp_socketio
        self._clock = clock
        self._window = idempotency_window_s
        self._max_keys = max_idempotency_keys
        self._keys: OrderedDict[str, tuple[float, StreamPosition]] = OrderedDict()
        self._published = 0

    @property
    def published(self) -> int:
        return self._published

    def publish_nowait(self, channels: Sequence[str], message: Outgoing,
                       exclude: frozenset[Subscriber] = frozenset()) -> None:
        history = self.history
        now = self._clock()
        message.place(history.epoch, history.next_offset(), now, stamped=self._stamp)
        history.append(channels, message, now)
        self._published += 1
        self.hub.publish(channels, message, exclude)

    async def publish(self, channels: Sequence[str], message: Outgoing, *,
                      idempotency_key: str | None = None) -> StreamPosition:
        if idempotency_key is not None:
            seen = self._seen(idempotency_key)
            if seen is not None:
                return seen
        self.publish_nowait(channels, message)
        position = StreamPosition(message.epoch, message.offset)
        if idempotency_key is not None:
            self._keys[idempotency_key] = (self._clock(), position)
            if len(self._keys) > self._max_keys:
                self._keys.popitem(last=False)
        return position

    async def since(self, channels: Sequence[str],
                    position: StreamPosition) -> Recovery[Outgoing]:
        return self.history.since(channels, position, self._clock())

    def position(self) -> StreamPosition:
        return self.history.position()

    def expire(self) -> None:
        """Release expired history and idempotency keys (call it now and then)."""
        now = self._clock()
        self.history.expire(now)
        while self._keys:
            key, (at, _) = next(iter(self._keys.items()))
            if now - at <= self._window:
                break
            del self._keys[key]

    async def close(self) -> None:
        """Nothing to release."""

    def _seen(self, key: str) -> StreamPosition | None:
        entry = self._keys.get(key)
        if entry is None or self._clock() - entry[0] > self._window:
            return None
        return entry[1]
