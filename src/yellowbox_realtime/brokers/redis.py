"""The Redis broker: several gateway nodes numbering, keeping and delivering events as one.

Publishing is one Lua step on the server (:mod:`.scripts`): take the stream's next offset,
keep the entry in each channel's history (bounded by count and age), remember the
idempotency key, and PUBLISH the entry on each channel's pub/sub channel. Every node,
the publishing one included, delivers what it receives on pub/sub to its :class:`Hub`, so
local and remote subscribers take the same path and see one order: the order Redis ran the
scripts in.

Per-channel pub/sub: the hub tells the broker when a channel gets its first local
subscriber (SUBSCRIBE) and loses its last (UNSUBSCRIBE). A node therefore receives only the
channels someone on it reads. Subscribing takes a round trip, so each newly subscribed
channel is caught up from its history: whatever it published after the node's delivery
watermark at the moment it became active reaches its subscribers, in order with the rest.

One connection carries all of a node's subscriptions, so messages arrive in offset order;
an event published to several channels arrives once per channel and is delivered once (by
offset). The same ordering makes a barrier possible: a PING on that connection is answered
after every message published before it. :meth:`since` and the catch-up hold deliveries
while they read a history, pass the barrier, deliver what came in up to the read, and keep
the rest until the caller has subscribed (the callers subscribe without awaiting after
``since``, as with the memory broker). So a client recovering on this node gets every event
once: from the history up to the read, live after it. Reads are serialised per node.

Costs per publish: one Lua script (a few O(log n) sorted-set steps per channel) in a
pipelined round trip shared with every publish queued meanwhile; one pub/sub message per
channel to each node subscribed to it; one JSON decode per node. ``publish_nowait`` only
appends to a bounded queue.

Bounded: at most ``max_queue`` publishes wait for Redis; past that ``publish_nowait`` drops
the event (counted in ``dropped``, logged) and ``publish`` raises :class:`BrokerUnavailable`.

Outages. When Redis cannot be reached (a publish fails, the pub/sub connection is lost, or
a health check goes unanswered) the broker is *down* until it has reconnected and recorded
the outage. A Redis that stops answering without closing its connections (a frozen
process, a network dropping packets) is noticed by the health check: a PING through the
pub/sub connection every ``health_check_interval_s`` that must come back within
``timeout_s``, so it is noticed within their sum whether or not anything is published:

- ``publish_nowait`` (Socket.IO emits, the operations' timers) delivers to this node's
  subscribers only, without a new number: the event carries the last position this node
  delivered, so a client's resume position does not move past the outage. Publishes that
  were queued when Redis went away are delivered the same way, in order. Counted in
  ``local_only``; the channels are remembered.
- ``publish`` (the HTTP API, webhooks, reactions) and ``since`` fail at once with
  :class:`BrokerUnavailable` (503, temporary): the back office retries with its idempotency
  key; SSE and Socket.IO recovery treat a failed ``since`` as a gap they cannot fill.
- The pub/sub connection and a probe reconnect with capped exponential backoff and full
  jitter. Back up, the broker takes one offset of the stream for what it delivered only
  locally (:data:`.scripts.GAP`): each of those channels lets it go, so a client resuming
  from before it is told (``stream_reset``, ``recovered: false``) instead of missing events
  silently, and a gap entry on each channel's pub/sub tells every node's live subscribers
  through :attr:`RedisBroker.on_gap`. Every channel this node listens to is then caught up
  from history; a channel whose history no longer reaches back is a gap too.
- A Redis that comes back without its data has a new epoch: live subscribers are told
  (``epoch_changed``) and resuming clients too.

Not supported: Redis Cluster (a publish touches keys of several channels in one script,
which Cluster allows only within one hash slot) and Sentinel URLs (redis-py's ``from_url``
does not read them); a Sentinel-managed primary can be given as a plain ``redis://`` URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import random
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from ..core.broker import BrokerStats
from ..core.history import History, HistoryLimits, Recovery, new_epoch
from ..core.hub import Hub, Outgoing, Subscriber
from ..core.idempotency import IdempotencyKey
from ..errors import GatewayError
from ..messages import StreamPosition
from . import scripts
from .codec import Entry, decode_entry, encode_body

__all__ = ["BrokerUnavailable", "GapHook", "RedisBroker"]

log = logging.getLogger(__name__)

_NONE: frozenset[Subscriber] = frozenset()
_BATCH = 256
# Own events published with an exclude set, waiting for their pub/sub copy.
_MAX_EXCLUDES = 10_000
# Offsets remembered during one catch-up round trip.
_MAX_RECENT = 1_000_000
# Channels remembered as published only locally during one outage (past it, a warning).
_MAX_OUTAGE_CHANNELS = 10_000
# Reconnection backoff: doubles from the first to the cap, each wait drawn from [half, all].
_BACKOFF_FIRST_S = 0.1
_BACKOFF_CAP_S = 5.0

#: Told, synchronously, that ``channels`` have a gap live subscribers here cannot fill:
#: ``(channels, position now, reason)`` with reason ``broker_outage``, ``history_gap`` or
#: ``epoch_changed``. Must not raise or await.
GapHook = Callable[[tuple[str, ...], StreamPosition, str], None]


def _jittered(backoff: float) -> float:
    return random.uniform(backoff / 2, backoff)


class BrokerUnavailable(GatewayError):
    """Redis cannot be reached (or did not answer in time): the event was not published."""

    code = "broker_unavailable"
    http_status = 503
    temporary = True


@dataclass(slots=True)
class _Publish:
    channels: tuple[str, ...]
    message: Outgoing
    exclude: frozenset[Subscriber]
    key: str | None
    seq: int
    done: asyncio.Future[StreamPosition] | None = None


@dataclass(slots=True)
class _Held:
    entries: list[Entry] = field(default_factory=list)


class RedisBroker:
    """A :class:`~yellowbox_realtime.core.broker.Broker` on Redis; see the module doc.

    ``clock`` (seconds) replaces the Redis server's clock for history ages (tests);
    ``timeout_s`` bounds each wait on Redis.
    """

    def __init__(self, hub: Hub, client: aioredis.Redis, default: HistoryLimits,
                 per_channel: dict[str, HistoryLimits] | None = None, *,
                 prefix: str = "ybrt:", stamp_socketio: bool = True,
                 idempotency_window_s: float = 24 * 3600, max_queue: int = 100_000,
                 timeout_s: float = 5.0, health_check_interval_s: float = 5.0,
                 clock: Callable[[], float] | None = None) -> None:
        self.hub = hub
        self.redis = client
        self.prefix = prefix
        # The same per-channel limit lookup as the memory history (it keeps no entries here).
        self._limits: History[Outgoing] = History(default, per_channel)
        self._stamp = stamp_socketio
        self._window_ms = int(idempotency_window_s * 1000)
        self._max_queue = max_queue
        self._timeout = timeout_s
        self._health_interval = health_check_interval_s
        self._clock = clock
        self._node = uuid.uuid4().hex[:16]
        self._seq = itertools.count(1)
        self._publish = client.register_script(scripts.PUBLISH)
        self._since = client.register_script(scripts.SINCE)
        self._gap = client.register_script(scripts.GAP)
        self._published = 0
        self.dropped = 0
        # Outages: whether publishes go to Redis now, how often it went away, the events
        # delivered here only, and the channels they went to (recorded as a gap once back).
        self._up = False
        self._down = asyncio.Event()
        self.outages = 0
        self.local_only = 0
        self._outage_channels: set[str] = set()
        self._resuming: set[str] = set()
        # The newest gap each channel's subscribers here were told about (so a catch-up that
        # finds the same gap in the history does not tell them twice).
        self._told: dict[str, int] = {}
        self.on_gap: GapHook | None = None
        # The stream as this node knows it: its epoch, the newest offset it has seen, and
        # the newest it has handed to the hub (everything this node needs up to it is
        # delivered; pub/sub copies at or below it are repeats).
        self._epoch = ""
        self._retired: set[str] = set()
        self._high = 0
        self._delivered = 0
        self._queue: deque[_Publish] = deque()
        self._queued = asyncio.Event()
        self._drained = asyncio.Event()
        self._excludes: OrderedDict[int, frozenset[Subscriber]] = OrderedDict()
        self._pubsub = client.pubsub()
        self._subscribed: set[str] = set()
        self._activate: dict[str, int] = {}
        # Offsets delivered live while channels wait to be caught up (so the catch-up
        # does not deliver them again).
        self._recent: set[int] = set()
        self._deactivate: set[str] = set()
        self._changed = asyncio.Event()
        self._read_lock = asyncio.Lock()
        self._held: _Held | None = None
        self._pongs: dict[bytes, asyncio.Future[None]] = {}
        self._pings = itertools.count(1)
        self._tasks: list[asyncio.Task[None]] = []
        self._healthy = False

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Learn the stream's position, listen, and take over the hub's channels."""
        reply = await self._run_since([], StreamPosition("_", 0))
        self._epoch = _text(reply[0])
        self._high = self._delivered = int(reply[1])
        # Keeps the pub/sub connection subscribed (and so open) with no channel active.
        await self._pubsub.subscribe(f"{self.prefix}node:{self._node}")
        self.hub.on_active = self._on_active
        self.hub.on_idle = self._on_idle
        for channel in self.hub.channels():
            self._on_active(channel)
        self._healthy = self._up = True
        self._tasks = [asyncio.create_task(self._write(), name="redis-broker-write"),
                       asyncio.create_task(self._read(), name="redis-broker-read"),
                       asyncio.create_task(self._subscriptions(), name="redis-broker-sub"),
                       asyncio.create_task(self._heal(), name="redis-broker-heal"),
                       asyncio.create_task(self._watch(), name="redis-broker-watch")]

    async def close(self) -> None:
        """Send what is queued (for up to ``timeout_s``), then stop listening."""
        if self._tasks and self._queue:
            self._drained.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._timeout):
                    await self._drained.wait()
        self.hub.on_active = self.hub.on_idle = None
        for task in self._tasks:
            task.cancel()
        # Bounded: a connection stuck half-way (Redis gone without closing it) must not hold
        # up the gateway's shutdown.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._timeout):
                await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for item in self._queue:
            if item.done is not None and not item.done.done():
                item.done.set_exception(BrokerUnavailable("the broker is closing"))
        self._queue.clear()
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(self._timeout):
                # Older redis releases leave PubSub.aclose unannotated; newer ones type it.
                await self._pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(self._timeout):
                await self.redis.aclose()

    async def check(self) -> str | None:
        """Why this broker cannot serve now (``/readyz``), or None. An outage already
        known is said at once, without waiting on Redis for ``timeout_s``."""
        if not self._healthy:
            return "redis broker: the pub/sub connection is down (reconnecting)"
        if not self._up:
            return "redis broker: reconnecting after an outage (serving local clients only)"
        try:
            async with asyncio.timeout(self._timeout):
                await cast("Awaitable[bool]", self.redis.ping())
        except (RedisError, OSError, TimeoutError) as exc:
            return f"redis broker: {exc or type(exc).__name__}"
        return None

    @property
    def node(self) -> str:
        """This node's id in the cluster (random per process)."""
        return self._node

    @property
    def up(self) -> bool:
        """Whether publishes go through Redis now (False during an outage)."""
        return self._up

    # -- Broker -----------------------------------------------------------------------

    @property
    def published(self) -> int:
        return self._published

    def stats(self) -> BrokerStats:
        return BrokerStats("redis", self._up, self.published, outages=self.outages,
                           local_only=self.local_only)

    def publish_nowait(self, channels: Sequence[str], message: Outgoing,
                       exclude: frozenset[Subscriber] = _NONE) -> None:
        if not self._up and not self._queue:
            # What is queued goes first (it will fail and be delivered here, in order).
            self._published += 1
            self._publish_here_only(tuple(channels), message, exclude)
            return
        if len(self._queue) >= self._max_queue:
            self.dropped += 1
            log.warning("redis broker: %d publishes waiting for Redis; dropped %r",
                        len(self._queue), message.event)
            return
        self._enqueue(_Publish(tuple(channels), message, exclude, None, next(self._seq)))

    async def publish(self, channels: Sequence[str], message: Outgoing, *,
                      idempotency_key: IdempotencyKey | None = None) -> StreamPosition:
        if not self._up:
            raise BrokerUnavailable("Redis is unreachable; try again shortly")
        if len(self._queue) >= self._max_queue:
            raise BrokerUnavailable("too many publishes waiting for Redis; try again shortly")
        done: asyncio.Future[StreamPosition] = asyncio.get_running_loop().create_future()
        key = str(idempotency_key) if idempotency_key is not None else None
        self._enqueue(_Publish(tuple(channels), message, _NONE, key, next(self._seq), done))
        return await done

    async def since(self, channels: Sequence[str],
                    position: StreamPosition) -> Recovery[Outgoing]:
        wanted = list(dict.fromkeys(channels))
        if not self._up:
            raise BrokerUnavailable("Redis is unreachable; the history cannot be read now")
        async with self._read_lock:
            self._hold()
            try:
                reply = await self._run_since(wanted, position)
                await self._barrier()
                recovery = self._recovery(wanted, position, reply)
                self._release(recovery.position.epoch, recovery.position.offset)
            except (RedisError, OSError, TimeoutError) as exc:
                if not isinstance(exc, ResponseError):
                    self._went_down(exc)
                raise BrokerUnavailable(f"redis: {exc or type(exc).__name__}") from exc
            finally:
                # What came in after the read is held until the caller, which subscribes
                # without awaiting once this returns, has subscribed.
                asyncio.get_running_loop().call_soon(self._end_hold)
        return recovery

    def position(self) -> StreamPosition:
        return StreamPosition(self._epoch or "_", self._high)

    # -- publishing -------------------------------------------------------------------

    def _enqueue(self, item: _Publish) -> None:
        self._published += 1
        if item.exclude:
            self._excludes[item.seq] = item.exclude
            if len(self._excludes) > _MAX_EXCLUDES:
                self._excludes.popitem(last=False)
        self._queue.append(item)
        self._queued.set()

    async def _write(self) -> None:
        """The one task that sends publishes: queue order is Redis's order."""
        queue = self._queue
        while True:
            if not queue:
                self._drained.set()
                self._queued.clear()
                await self._queued.wait()
                continue
            batch = [queue.popleft() for _ in range(min(len(queue), _BATCH))]
            results: list[Any]
            try:
                async with asyncio.timeout(self._timeout):
                    async with self.redis.pipeline(transaction=False) as pipe:
                        for item in batch:
                            keys, args = self._publish_call(item)
                            await self._publish(keys=keys, args=args, client=pipe)
                        results = await pipe.execute(raise_on_error=False)
            except (RedisError, OSError, TimeoutError) as exc:
                self._went_down(exc)
                results = [exc] * len(batch)
            for item, result in zip(batch, results, strict=True):
                self._settle(item, result)

    def _publish_call(self, item: _Publish) -> tuple[list[str], list[Any]]:
        p = self.prefix
        keys = [f"{p}stream", f"{p}i:{item.key}" if item.key is not None else f"{p}i:"]
        args: list[Any] = [new_epoch(), self._window_ms if item.key is not None else 0,
                           self._now_ms(),
                           encode_body(item.message, item.channels, self._node, item.seq)]
        for channel in item.channels:
            limits = self._limits.limits_for(channel)
            keys += [f"{p}h:{channel}", f"{p}r:{channel}"]
            args += [f"{p}c:{channel}", limits.max_entries, int(limits.ttl_s * 1000)]
        return keys, args

    def _settle(self, item: _Publish, result: Any) -> None:
        if isinstance(result, BaseException):
            self._excludes.pop(item.seq, None)
            error = BrokerUnavailable(f"redis: {result or type(result).__name__}")
            if item.done is None:
                if self._up:  # refused by Redis, not lost with it
                    log.warning("redis broker: %r not published: %s", item.message.event,
                                error.message)
                else:
                    self._publish_here_only(item.channels, item.message, item.exclude)
            elif not item.done.done():
                error.__cause__ = result
                item.done.set_exception(error)
            return
        fresh, text = int(result[0]), _text(result[1])
        epoch, _, offset_text = text.rpartition(":")
        offset = int(offset_text)
        if fresh:
            item.message.place(epoch, offset, time.monotonic(), stamped=self._stamp)
            if epoch == self._epoch and offset > self._high:
                self._high = offset
        if not fresh or not self._subscribed.intersection(item.channels):
            # No pub/sub copy will come back to apply it to.
            self._excludes.pop(item.seq, None)
        if item.done is not None and not item.done.done():
            item.done.set_result(StreamPosition(epoch, offset))

    # -- receiving --------------------------------------------------------------------

    async def _read(self) -> None:
        """Pub/sub messages in, in order; reconnects (with backoff) after Redis goes away,
        then catches every subscribed channel up from the watermark."""
        backoff = _BACKOFF_FIRST_S
        while True:
            try:
                message = await self._pubsub.get_message(timeout=None)
            except (RedisError, OSError) as exc:
                if self._healthy:
                    log.warning("redis broker: pub/sub connection lost (%s); reconnecting", exc)
                self._healthy = False
                self._went_down(exc)
                for pong in self._pongs.values():
                    if not pong.done():
                        pong.set_exception(TimeoutError("pub/sub connection lost"))
                await asyncio.sleep(_jittered(backoff))
                backoff = min(backoff * 2, _BACKOFF_CAP_S)
                continue
            if not self._healthy:
                self._healthy = True
                backoff = _BACKOFF_FIRST_S
                log.warning("redis broker: pub/sub connection back; catching up")
                # Live messages wait for the catch-up, so they follow what it finds in order.
                self._hold()
                for channel in self._subscribed:
                    self._activate.setdefault(channel, self._delivered)
                    self._resuming.add(channel)
                self._changed.set()
            if message is None:
                continue
            kind = message["type"]
            if kind == "message":
                try:
                    entry = decode_entry(message["data"], stamped=self._stamp)
                except (ValueError, KeyError, TypeError) as exc:
                    log.warning("redis broker: ignored a malformed entry: %s", exc)
                    continue
                if self._held is not None:
                    self._held.entries.append(entry)
                else:
                    self._hand_to_hub(entry)
            elif kind == "pong":
                waiter = self._pongs.pop(bytes(message["data"]), None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)

    def _hand_to_hub(self, entry: Entry) -> None:
        message = entry.message
        if message.epoch != self._epoch:
            if message.epoch in self._retired:
                return  # a straggler from before Redis lost its data
            self._new_epoch(message.epoch)
        elif message.offset <= self._delivered:
            return  # another of its channels' copy, or caught up already
        self._delivered = message.offset
        if entry.gap:
            if message.offset > self._high:
                self._high = message.offset
            if len(self._told) > _MAX_OUTAGE_CHANNELS:
                self._told.clear()
            for channel in entry.channels:
                self._told[channel] = message.offset
            self._tell_gap(entry.channels, "broker_outage")
            return
        if self._activate and len(self._recent) < _MAX_RECENT:
            self._recent.add(message.offset)
        if message.offset > self._high:
            self._high = message.offset
        exclude = self._excludes.pop(entry.seq, _NONE) if entry.origin == self._node else _NONE
        self.hub.publish(entry.channels, message, exclude)

    def _new_epoch(self, epoch: str) -> None:
        log.warning("redis broker: the stream's epoch changed (%s -> %s): Redis lost its "
                    "data; clients resuming from before are told so", self._epoch, epoch)
        old = self._epoch
        if old:
            self._retired.add(old)
        self._epoch, self._high, self._delivered = epoch, 0, 0
        self._told.clear()
        if old:
            self._tell_gap(tuple(self._subscribed), "epoch_changed")

    def _tell_gap(self, channels: tuple[str, ...], reason: str) -> None:
        hook = self.on_gap
        if hook is None or not channels:
            return
        try:
            hook(channels, StreamPosition(self._epoch, self._delivered), reason)
        except Exception:
            log.exception("redis broker: telling subscribers about a gap failed")

    # -- outages ----------------------------------------------------------------------

    def _went_down(self, exc: BaseException) -> None:
        if self._up:
            self._up = False
            self.outages += 1
            log.warning("redis broker: Redis is unreachable (%s); serving local clients "
                        "only until it is back", exc or type(exc).__name__)
        self._down.set()

    def _publish_here_only(self, channels: tuple[str, ...], message: Outgoing,
                         exclude: frozenset[Subscriber]) -> None:
        """Deliver to this node's subscribers only, at the last position delivered here."""
        message.place(self._epoch, self._delivered, time.monotonic(), stamped=self._stamp)
        self.local_only += 1
        outage = self._outage_channels
        for channel in channels:
            if channel not in outage:
                if len(outage) >= _MAX_OUTAGE_CHANNELS:
                    log.warning("redis broker: more than %d channels published during the "
                                "outage; a gap is not recorded for %s", len(outage), channel)
                    continue
                outage.add(channel)
        self.hub.publish(channels, message, exclude)

    async def _watch(self) -> None:
        """The health check: a PING through the pub/sub connection each interval, answered
        (read back in order) within ``timeout_s``, or the connection is given up for dead and
        the reader reconnects."""
        while True:
            await asyncio.sleep(self._health_interval)
            if not self._healthy:
                continue  # the reader is reconnecting
            try:
                await self._barrier()
            except (RedisError, OSError, TimeoutError) as exc:
                if not self._healthy:
                    continue  # lost meanwhile, and the reader knows
                log.warning("redis broker: no answer from Redis within %s s (%s); "
                            "reconnecting", self._timeout, exc or type(exc).__name__)
                self._healthy = False
                self._went_down(exc)
                # The reader waits on a connection that may never deliver again: a new one
                # takes over (cancelling the read drops the connection).
                reader = self._tasks[1]
                reader.cancel()
                self._tasks[1] = asyncio.create_task(self._read_after(reader),
                                                     name="redis-broker-read")

    async def _read_after(self, reader: asyncio.Task[None]) -> None:
        await asyncio.gather(reader, return_exceptions=True)
        await self._read()

    async def _heal(self) -> None:
        """While down: probe (backoff with jitter) until Redis answers and the pub/sub
        connection is back, record the outage as a gap, then take publishes again."""
        backoff = _BACKOFF_FIRST_S
        while True:
            await self._down.wait()
            await asyncio.sleep(_jittered(backoff))
            backoff = min(backoff * 2, _BACKOFF_CAP_S)
            if not self._healthy:
                continue  # the reader is reconnecting pub/sub
            try:
                async with asyncio.timeout(self._timeout):
                    await cast("Awaitable[bool]", self.redis.ping())
                    await self._record_gap()
            except (RedisError, OSError, TimeoutError) as exc:
                log.info("redis broker: still unreachable (%s)", exc or type(exc).__name__)
                continue
            self._down.clear()
            self._up = True
            backoff = _BACKOFF_FIRST_S
            log.warning("redis broker: Redis is back; publishing through it again")

    async def _record_gap(self) -> None:
        channels = sorted(self._outage_channels)
        if not channels:
            return
        p = self.prefix
        body = encode_body(Outgoing("stream_reset", ({"reason": "broker_outage"},)),
                           tuple(channels), self._node, 0, gap=True)
        keys = [f"{p}stream", *(f"{p}r:{c}" for c in channels)]
        args: list[Any] = [new_epoch(), self._now_ms(), body, *(f"{p}c:{c}" for c in channels)]
        position = _text(await self._gap(keys=keys, args=args))
        self._outage_channels.difference_update(channels)
        log.warning("redis broker: the outage is gap %s on %d channel(s)", position,
                    len(channels))

    def _release(self, epoch: str, upto: int) -> None:
        """Deliver what was held up to ``upto`` (it is in the history just read)."""
        held = self._held
        if epoch != self._epoch:
            self._new_epoch(epoch)
        if held is not None:
            keep = []
            for entry in held.entries:
                if entry.message.epoch == epoch and entry.message.offset <= upto:
                    self._hand_to_hub(entry)
                else:
                    keep.append(entry)
            held.entries = keep
        if upto > self._delivered:
            self._delivered = upto
        if upto > self._high:
            self._high = upto

    def _hold(self) -> None:
        """Pub/sub messages wait from now (they may still be held from the last read)."""
        if self._held is None:
            self._held = _Held()

    def _end_hold(self) -> None:
        """Deliver what waited, unless another read holds them now (it ends the hold)."""
        held = self._held
        if held is None or self._read_lock.locked():
            return
        self._held = None
        for entry in held.entries:
            self._hand_to_hub(entry)

    async def _barrier(self) -> None:
        """Return once every pub/sub message published before now has been read."""
        token = f"{self._node}:{next(self._pings)}".encode()
        pong: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pongs[token] = pong
        try:
            async with asyncio.timeout(self._timeout):
                await self._pubsub.ping(token)
                await pong
        finally:
            self._pongs.pop(token, None)

    # -- reading histories ------------------------------------------------------------

    async def _run_since(self, channels: Sequence[str], position: StreamPosition) -> Any:
        p = self.prefix
        keys = [f"{p}stream"]
        args: list[Any] = [new_epoch(), self._now_ms(), position.epoch, position.offset]
        for channel in channels:
            keys += [f"{p}h:{channel}", f"{p}r:{channel}"]
            args.append(int(self._limits.limits_for(channel).ttl_s * 1000))
        async with asyncio.timeout(self._timeout):
            return await self._since(keys=keys, args=args)

    def _recovery(self, channels: Sequence[str], position: StreamPosition,
                  reply: Any) -> Recovery[Outgoing]:
        epoch, last, trusted = _text(reply[0]), int(reply[1]), bool(int(reply[2]))
        offset = position.offset if trusted else 0
        complete = trusted
        runs: list[list[Outgoing]] = []
        for i in range(len(channels)):
            if int(reply[3 + 2 * i]) > offset:
                complete = False
            runs.append([decode_entry(raw, stamped=self._stamp).message
                         for raw in reply[4 + 2 * i]])
        entries: list[Outgoing] = []
        for message in heapq.merge(*runs, key=lambda m: m.offset):
            if not entries or entries[-1].offset != message.offset:
                entries.append(message)
        return Recovery(entries, complete, StreamPosition(epoch, last))

    # -- subscriptions ----------------------------------------------------------------

    def _on_active(self, channel: str) -> None:
        self._deactivate.discard(channel)
        if channel not in self._subscribed and channel not in self._activate:
            self._activate[channel] = self._delivered
            self._changed.set()

    def _on_idle(self, channel: str) -> None:
        self._activate.pop(channel, None)
        if channel in self._subscribed:
            self._deactivate.add(channel)
            self._changed.set()

    async def _subscriptions(self) -> None:
        backoff = 0.1
        while True:
            await self._changed.wait()
            self._changed.clear()
            try:
                await self._apply_subscriptions()
                backoff = 0.1
            except (RedisError, OSError, TimeoutError) as exc:
                log.warning("redis broker: subscribing failed (%s); retrying", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                self._changed.set()

    async def _apply_subscriptions(self) -> None:
        p = self.prefix
        leaving = [c for c in self._deactivate if self.hub.count(c) == 0]
        self._deactivate.clear()
        if leaving:
            self._subscribed.difference_update(leaving)
            await self._pubsub.unsubscribe(*(f"{p}c:{c}" for c in leaving))
        joining = dict(self._activate)
        if not joining:
            self._end_hold()  # a hold from reconnecting, with nothing left to catch up
            return
        try:
            async with self._read_lock:
                self._hold()
                self._subscribed.update(joining)
                await self._pubsub.subscribe(*(f"{p}c:{c}" for c in joining))
                start = StreamPosition(self._epoch or "_", min(joining.values()))
                reply = await self._run_since(list(joining), start)
                await self._barrier()
                for channel, since in joining.items():
                    if self._activate.get(channel) == since:
                        del self._activate[channel]
                self._catch_up(joining, reply)
        finally:
            self._end_hold()

    def _catch_up(self, joining: dict[str, int], reply: Any) -> None:
        """Deliver to newly subscribed channels what they published since they became
        active, merged in offset order with what pub/sub brought meanwhile."""
        epoch, last, trusted = _text(reply[0]), int(reply[1]), bool(int(reply[2]))
        if epoch != self._epoch:
            self._new_epoch(epoch)
        targets: dict[int, list[str]] = {}
        found: dict[int, Entry] = {}
        gaps: list[str] = []
        held = self._held
        coming: dict[str, int] = {}
        for entry in held.entries if held is not None else ():
            if entry.gap:
                for channel in entry.channels:
                    coming[channel] = max(coming.get(channel, 0), entry.message.offset)
        for i, channel in enumerate(joining):
            since = joining[channel] if trusted else 0
            letgo = int(reply[3 + 2 * i])
            if letgo > since:
                log.warning("redis broker: %s lost events while this node was not "
                            "listening (history no longer has them)", channel)
                # Live subscribers here were listening all along: tell them, unless they
                # are told already (a gap entry, a new epoch). A channel that just got its
                # first subscriber has nobody who missed anything.
                if trusted and channel in self._resuming and \
                        letgo > max(self._told.get(channel, 0), coming.get(channel, 0)):
                    gaps.append(channel)
            for raw in reply[4 + 2 * i]:
                entry = decode_entry(raw, stamped=self._stamp)
                if entry.message.offset > since:
                    found.setdefault(entry.message.offset, entry)
                    targets.setdefault(entry.message.offset, []).append(channel)
        self._resuming.difference_update(joining)
        if gaps:
            self._tell_gap(tuple(gaps), "history_gap")
        live: dict[int, Entry] = {}
        if held is not None:
            keep = []
            for entry in held.entries:
                if entry.message.epoch == epoch and entry.message.offset <= last:
                    live.setdefault(entry.message.offset, entry)
                else:
                    keep.append(entry)
            held.entries = keep
        recent = self._recent
        for offset in sorted(found.keys() | live.keys()):
            if offset in live:
                self._hand_to_hub(live[offset])
            elif offset not in recent:
                # Not delivered live: none of its channels was listened to here. (A live
                # delivery reaches the local subscribers of all its channels.)
                entry = found[offset]
                exclude = self._excludes.pop(entry.seq, _NONE) \
                    if entry.origin == self._node else _NONE
                self.hub.publish(entry.channels, entry.message, exclude)
        if not self._activate:
            recent.clear()
        if last > self._delivered:
            self._delivered = last
        if last > self._high:
            self._high = last

    # -- helpers ----------------------------------------------------------------------

    def _now_ms(self) -> int | str:
        return int(self._clock() * 1000) if self._clock is not None else ""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
