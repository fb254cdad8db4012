"""Channels and fan-out: the one routing concept.

A channel is a name (``rider_locations``, ``user:<uid>``, ``role:admin`` ...) with a set of
subscribers. Publishing hands every subscriber the same :class:`Outgoing` object; each
subscriber asks it for the bytes of its own wire shape, which are built the first time any
subscriber asks and then shared. So a broadcast to 5,000 sockets encodes its JSON once and
its WebSocket frame once. Events published in the same event-loop turn to the same channels
reach each subscriber together, as one :class:`Batch`, so the per-recipient work is one
method call and one buffer append per turn, not per event. No task, timer or await per
recipient.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from ..protocol import engineio, socketio, sse
from ..protocol.websocket import binary_frame, text_frame
from .counters import Counters


class Outgoing:
    """One event on its way to many recipients, encoded lazily once per wire shape.

    A published event also has its place in the stream (``offset``, in ``epoch``) and the
    time it was published, so the history keeps the same object. With ``stamped``, the
    Socket.IO shapes carry ``"<epoch>:<offset>"`` as a last argument, the way
    socket.io-client 4.6+ reads offsets for connection-state recovery; SSE always carries it
    as the event id.
    """

    __slots__ = ("_polling", "_sse", "_text", "_websocket", "args", "attachments", "epoch",
                 "event", "nsp", "offset", "published_at", "stamped")

    def __init__(self, event: str, args: Sequence[Any] = (), nsp: str = "/") -> None:
        self.event = event
        self.args = tuple(args)
        self.nsp = nsp
        self.epoch = ""
        self.offset = 0
        self.published_at = 0.0
        self.stamped = False
        self._text: str | None = None
        self.attachments: list[bytes] = []
        self._websocket: bytes | None = None
        self._polling: bytes | None = None
        self._sse: bytes | None = None

    def place(self, epoch: str, offset: int, published_at: float, *, stamped: bool) -> None:
        """Give a published event its place in the stream (before anything encodes it)."""
        self.epoch, self.offset, self.published_at = epoch, offset, published_at
        self.stamped = stamped

    @property
    def events(self) -> tuple[Outgoing]:
        """This event alone (a :class:`Batch` has several)."""
        return (self,)

    @property
    def id(self) -> str:
        """``<epoch>:<offset>``: the SSE event id and the Socket.IO recovery offset."""
        return f"{self.epoch}:{self.offset}"

    def for_namespace(self, nsp: str) -> Outgoing:
        """The same published event addressed to another namespace (a replay)."""
        if nsp == self.nsp:
            return self
        copy = Outgoing(self.event, self.args, nsp)
        copy.place(self.epoch, self.offset, self.published_at, stamped=self.stamped)
        return copy

    @property
    def text(self) -> str:
        """The Socket.IO packet text (``2["event",...]``), without the Engine.IO prefix."""
        if self._text is None:
            args = (*self.args, self.id) if self.stamped else self.args
            data = [self.event, *args]
            if socketio.has_binary(data):
                text, self.attachments = socketio.encode(
                    socketio.SioPacket(socketio.SioType.EVENT, self.nsp, data))
                self._text = text
            else:
                self._text = socketio.encode_event_text(self.nsp, self.event, args)
        return self._text

    @property
    def websocket(self) -> bytes:
        """WebSocket frames: one text frame, then one binary frame per attachment."""
        if self._websocket is None:
            frames = text_frame(engineio.message(self.text).encode())
            for attachment in self.attachments:
                frames += binary_frame(attachment)
            self._websocket = frames
        return self._websocket

    @property
    def polling(self) -> bytes:
        """Engine.IO polling packets, already joined by the record separator."""
        if self._polling is None:
            self._polling = engineio.encode_payload([
                engineio.message(self.text).encode(),
                *(engineio.polling_binary(a) for a in self.attachments)])
        return self._polling

    @property
    def sse(self) -> bytes:
        """One SSE event block: the event name, the id, and the payload as JSON (the one
        argument, or the list of them). Binary cannot travel over SSE and is refused at
        publish time by whoever publishes to SSE channels."""
        if self._sse is None:
            payload = self.args[0] if len(self.args) == 1 else list(self.args)
            self._sse = sse.encode_event(json.dumps(payload, separators=(",", ":")),
                                         event=self.event, id=self.id if self.offset else None)
        return self._sse


def json_data(args: Sequence[Any]) -> Any:
    """The data of an event with these arguments as JSON carries it (the history API, the
    outbox's webhooks): the one argument, or the list of them; bytes as ``{"base64": ...}``,
    since JSON has none."""
    return _jsonable(args[0] if len(args) == 1 else list(args))


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


class Batch:
    """Events published one after another to the same recipients within one event-loop turn,
    in publish order: each wire shape is the events' own bytes joined once, so every
    recipient queues them with one call and sends them with one write."""

    __slots__ = ("_polling", "_sse", "_websocket", "events")

    def __init__(self, events: Sequence[Outgoing]) -> None:
        self.events = tuple(events)
        self._websocket: bytes | None = None
        self._polling: bytes | None = None
        self._sse: bytes | None = None

    @property
    def websocket(self) -> bytes:
        if self._websocket is None:
            self._websocket = b"".join([event.websocket for event in self.events])
        return self._websocket

    @property
    def polling(self) -> bytes:
        if self._polling is None:
            self._polling = engineio.encode_payload([event.polling for event in self.events])
        return self._polling

    @property
    def sse(self) -> bytes:
        """The events' SSE blocks; raises as :attr:`Outgoing.sse` does if one cannot travel
        over SSE (the stream then encodes them one by one)."""
        if self._sse is None:
            self._sse = b"".join([event.sse for event in self.events])
        return self._sse


# What a subscriber's sink is handed: one event, or a batch of them (both have the wire
# shapes ``websocket``, ``polling``, ``sse``, and ``events``).
Wire = Outgoing | Batch
Sink = Callable[[Wire], None]
# A listener sees each event when it is published, before the next one is checked.
Listener = Callable[[Outgoing], None]


class Subscriber(Protocol):
    """A connection that receives published events: a Socket.IO socket, an SSE stream."""

    @property
    def sink(self) -> Sink:
        """What the hub calls per delivery: the connection's own queueing method, so a
        broadcast costs as few calls per recipient as possible. It must not block, await
        or raise, and must stay valid while the subscription lasts."""


ChannelHook = Callable[[str], None]
Defer = Callable[[Callable[[], None]], object]


class _Members:
    """A channel's local subscribers (connections) and listeners (in-process state)."""

    __slots__ = ("listeners", "subscribers")

    def __init__(self) -> None:
        # Insertion-ordered: deliveries follow subscription order.
        self.subscribers: dict[Subscriber, Sink] = {}
        self.listeners: dict[Listener, None] = {}

    def __len__(self) -> int:
        return len(self.subscribers) + len(self.listeners)


class _Run:
    """Consecutive publishes to the same channels with the same exclusions."""

    __slots__ = ("channels", "events", "exclude")

    def __init__(self, channels: Sequence[str], exclude: frozenset[Subscriber],
                 event: Outgoing) -> None:
        self.channels = channels
        self.exclude = exclude
        self.events = [event]


class Hub:
    """Channel membership and local fan-out, counted in ``counters`` (per publish, not per
    recipient).

    Listeners hear each event as it is published. Subscribers (connections) get theirs at
    the end of the event-loop turn, through ``defer`` (``loop.call_soon``): consecutive
    publishes to the same channels go out as one :class:`Batch`, so under load a turn costs
    one call per recipient however many events it carries, instead of one per event. Without
    ``defer`` (before the server starts, and in tests) each publish is delivered at once.

    Any change of membership first delivers what is pending, so a subscriber gets exactly
    the events published while it was subscribed: one that reads the history and then
    subscribes misses nothing and gets nothing twice. A socket's own emits do the same, so
    one connection's events keep their order.

    ``on_active`` and ``on_idle`` (set by a cluster broker) hear when a channel gets its first
    local member and loses its last, so the node listens only to channels someone here
    reads. They are called synchronously and must not raise; publishing never calls them.
    """

    def __init__(self, counters: Counters | None = None, defer: Defer | None = None) -> None:
        self._channels: dict[str, _Members] = {}
        self.counters = counters or Counters()
        self.defer = defer
        self.on_active: ChannelHook | None = None
        self.on_idle: ChannelHook | None = None
        self._pending: list[_Run] = []
        self._pending_since = 0.0
        self._scheduled = False
        self._flushing = False

    # -- membership -------------------------------------------------------------------

    def subscribe(self, channel: str, subscriber: Subscriber) -> bool:
        """Add a subscriber; returns False if it was already there."""
        members = self._join(channel)
        if subscriber in members.subscribers:
            return False
        members.subscribers[subscriber] = subscriber.sink
        return True

    def unsubscribe(self, channel: str, subscriber: Subscriber) -> bool:
        members = self._channels.get(channel)
        if members is None or subscriber not in members.subscribers:
            return False
        self.flush()
        del members.subscribers[subscriber]
        self._left(channel, members)
        return True

    def listen(self, channel: str, listener: Listener) -> None:
        self._join(channel).listeners[listener] = None

    def unlisten(self, channel: str, listener: Listener) -> None:
        members = self._channels.get(channel)
        if members is not None and listener in members.listeners:
            del members.listeners[listener]
            self._left(channel, members)

    def _join(self, channel: str) -> _Members:
        self.flush()
        members = self._channels.get(channel)
        if members is None:
            members = self._channels[channel] = _Members()
            if self.on_active is not None:
                self.on_active(channel)
        return members

    def _left(self, channel: str, members: _Members) -> None:
        if not members:
            del self._channels[channel]
            if self.on_idle is not None:
                self.on_idle(channel)

    def members(self, channel: str) -> tuple[Subscriber, ...]:
        """The channel's local subscribers now."""
        members = self._channels.get(channel)
        return tuple(members.subscribers) if members is not None else ()

    def count(self, channel: str) -> int:
        """Subscribers and listeners of the channel here."""
        return len(self._channels.get(channel, ()))

    def channels(self) -> Iterable[str]:
        return tuple(self._channels)

    # -- publishing -------------------------------------------------------------------

    def publish(self, channels: Sequence[str], message: Outgoing,
                exclude: frozenset[Subscriber] = frozenset()) -> None:
        """Deliver to every listener and subscriber of any of the channels, once each."""
        self.counters.publishes += 1
        self._tell_listeners(channels, message)
        pending = self._pending
        if pending:
            last = pending[-1]
            if last.channels == channels and last.exclude == exclude:
                last.events.append(message)
                return
        else:
            self._pending_since = time.monotonic()
        pending.append(_Run(channels, exclude, message))
        if self.defer is None:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            self.defer(self._scheduled_flush)

    def _tell_listeners(self, channels: Sequence[str], message: Outgoing) -> None:
        notified: set[Listener] = set()
        for channel in channels:
            members = self._channels.get(channel)
            if members is not None and members.listeners:
                for listener in tuple(members.listeners):
                    if listener not in notified:
                        notified.add(listener)
                        listener(message)

    def _scheduled_flush(self) -> None:
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        """Deliver everything published and not yet handed to the subscribers, in order."""
        if self._flushing or not self._pending:
            return
        self._flushing = True
        delivered = 0
        try:
            # A delivery may publish again (a slow consumer is cut and its presence changes):
            # that goes out after everything already pending.
            while self._pending:
                runs, self._pending = self._pending, []
                for run in runs:
                    events = run.events
                    wire: Wire = events[0] if len(events) == 1 else Batch(events)
                    delivered += len(events) * self._fan_out(run.channels, wire, run.exclude)
        finally:
            self._flushing = False
        counters = self.counters
        counters.deliveries += delivered
        if delivered and not counters.unflushed_since:
            counters.unflushed_since = self._pending_since

    def _fan_out(self, channels: Sequence[str], wire: Wire,
                 exclude: frozenset[Subscriber]) -> int:
        if len(channels) == 1 and not exclude:
            members = self._channels.get(channels[0])
            if members is None:
                return 0
            # A copy, because a delivery may end a subscription (a slow consumer is cut).
            sinks = tuple(members.subscribers.values())
            for sink in sinks:
                sink(wire)
            return len(sinks)
        seen: set[Subscriber] = set(exclude)
        delivered = 0
        for channel in channels:
            members = self._channels.get(channel)
            if members is None:
                continue
            for subscriber, sink in tuple(members.subscribers.items()):
                if subscriber not in seen:
                    seen.add(subscriber)
                    sink(wire)
                    delivered += 1
        return delivered
