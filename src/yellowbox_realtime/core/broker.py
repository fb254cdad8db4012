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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..messages import StreamPosition
from .history import History, HistoryLimits, Recovery
from .hub import Hub, Outgoing, Subscriber
from .idempotency import IdempotencyKey, IdempotencyTable

__all__ = ["Broker", "BrokerLayer", "BrokerStats", "MemoryBroker"]


@dataclass(frozen=True, slots=True)
class BrokerStats:
    """What a broker tells ``/metrics``: what it is, whether it takes publishes, how many it
    numbered; a cluster broker its outages, a broker with its history in this process the
    history's size (None where it does not apply)."""

    kind: str
    up: bool
    published: int
    outages: int | None = None
    local_only: int | None = None
    history_entries: int | None = None
    history_channels: int | None = None


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
                      idempotency_key: IdempotencyKey | None = None) -> StreamPosition:
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

    def stats(self) -> BrokerStats: ...

    async def close(self) -> None: ...


class BrokerLayer:
    """A broker over another one (the router, the outbox's tap): they change publishing and
    pass everything else straight through."""

    def __init__(self, inner: Broker) -> None:
        self.inner = inner

    async def since(self, channels: Sequence[str],
                    position: StreamPosition) -> Recovery[Outgoing]:
        return await self.inner.since(channels, position)

    def position(self) -> StreamPosition:
        return self.inner.position()

    @property
    def published(self) -> int:
        return self.inner.published

    def stats(self) -> BrokerStats:
        return self.inner.stats()

    async def close(self) -> None:
        await self.inner.close()


class MemoryBroker:
    """One process: history in memory, delivery straight to the local hub.

    ``since`` does not suspend, so a caller that reads the history and then subscribes
    without awaiting in between misses nothing and gets nothing twice.

    Idempotency keys are kept in an :class:`~.idempotency.IdempotencyTable` of ``keys``
    (24 h, bounded in all and per owner, unless given).
    """

    def __init__(self, hub: Hub, default: HistoryLimits,
                 per_channel: dict[str, HistoryLimits] | None = None, *,
                 stamp_socketio: bool = True,
                 keys: IdempotencyTable[StreamPosition] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.hub = hub
        self.history: History[Outgoing] = History(default, per_channel)
        self._stamp = stamp_socketio
        self._clock = clock
        self.keys = keys if keys is not None else IdempotencyTable(clock=clock)
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
                      idempotency_key: IdempotencyKey | None = None) -> StreamPosition:
        if idempotency_key is not None:
            seen = self.keys.get(idempotency_key)
            if seen is not None:
                return seen
        self.publish_nowait(channels, message)
        position = StreamPosition(message.epoch, message.offset)
        if idempotency_key is not None:
            self.keys.put(idempotency_key, position)
        return position

    async def since(self, channels: Sequence[str],
                    position: StreamPosition) -> Recovery[Outgoing]:
        return self.history.since(channels, position, self._clock())

    def position(self) -> StreamPosition:
        return self.history.position()

    def stats(self) -> BrokerStats:
        return BrokerStats("memory", True, self._published,
                           history_entries=self.history.retained(),
                           history_channels=len(self.history))

    def expire(self) -> None:
        """Release expired history (call it now and then)."""
        self.history.expire(self._clock())

    async def close(self) -> None:
        """Nothing to release."""
