"""Channels and fan-out: the one routing concept.

A channel is a name (``rider_locations``, ``user:<uid>``, ``role:admin`` ...) with a set of
subscribers. Publishing hands every subscriber the same :class:`Outgoing` object; each
subscriber asks it for the bytes of its own wire shape, which are built the first time any
subscriber asks and then shared. So a broadcast to 5,000 sockets encodes its JSON once and
its WebSocket frame once, and the per-recipient work is one method call and one buffer
append. No task, timer or await per recipient.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from ..protocol import socketio, sse
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
            frames = text_frame(("4" + self.text).encode())
            for attachment in self.attachments:
                frames += binary_frame(attachment)
            self._websocket = frames
        return self._websocket

    @property
    def polling(self) -> bytes:
        """Engine.IO polling packets, already joined by the record separator."""
        if self._polling is None:
            packets = [("4" + self.text).encode()]
            packets += [b"b" + base64.b64encode(a) for a in self.attachments]
            self._polling = b"\x1e".join(packets)
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


Sink = Callable[[Outgoing], None]


class Subscriber(Protocol):
    """Anything that can receive published events: a Socket.IO socket, an SSE stream."""

    def deliver(self, message: Outgoing) -> None:
        """Queue the message for sending; must not block, await or raise."""

    @property
    def sink(self) -> Sink:
        """What the hub calls per delivery: ``deliver`` or the connection's own queueing
        method, so a broadcast costs as few calls per recipient as possible. Must stay valid
        while the subscription lasts."""


ChannelHook = Callable[[str], None]


class Hub:
    """Channel membership and local fan-out, counted in ``counters`` (per publish, not per
    recipient).

    ``on_active`` and ``on_idle`` (set by a cluster broker) hear when a channel gets its first
    local subscriber and loses its last, so the node listens only to channels someone here
    reads. They are called synchronously and must not raise; publishing never calls them.
    """

    def __init__(self, counters: Counters | None = None) -> None:
        # Subscriber -> its sink, insertion-ordered: deliveries follow subscription order.
        self._channels: dict[str, dict[Subscriber, Sink]] = {}
        self.counters = counters or Counters()
        self.on_active: ChannelHook | None = None
        self.on_idle: ChannelHook | None = None

    def subscribe(self, channel: str, subscriber: Subscriber) -> bool:
        """Add a subscriber; returns False if it was already there."""
        members = self._channels.get(channel)
        if members is None:
            members = self._channels[channel] = {}
            if self.on_active is not None:
                self.on_active(channel)
        elif subscriber in members:
            return False
        members[subscriber] = subscriber.sink
        return True

    def unsubscribe(self, channel: str, subscriber: Subscriber) -> bool:
        members = self._channels.get(channel)
        if members is None or subscriber not in members:
            return False
        del members[subscriber]
        if not members:
            del self._channels[channel]
            if self.on_idle is not None:
                self.on_idle(channel)
        return True

    def members(self, channel: str) -> tuple[Subscriber, ...]:
        """The channel's local subscribers now."""
        return tuple(self._channels.get(channel, ()))

    def count(self, channel: str) -> int:
        return len(self._channels.get(channel, ()))

    def channels(self) -> Iterable[str]:
        return tuple(self._channels)

    def publish(self, channels: Sequence[str], message: Outgoing,
                exclude: frozenset[Subscriber] = frozenset()) -> int:
        """Deliver to every subscriber of any of the channels, once each; returns the count."""
        counters = self.counters
        started = time.monotonic() if not counters.unflushed_since else 0.0
        delivered = self._fan_out(channels, message, exclude)
        counters.publishes += 1
        counters.deliveries += delivered
        if delivered and started:
            counters.unflushed_since = started
        return delivered

    def _fan_out(self, channels: Sequence[str], message: Outgoing,
                 exclude: frozenset[Subscriber]) -> int:
        if len(channels) == 1 and not exclude:
            members = self._channels.get(channels[0])
            if not members:
                return 0
            # A copy, because a delivery may end a subscription (a slow consumer is cut).
            sinks = tuple(members.values())
            for sink in sinks:
                sink(message)
            return len(sinks)
        seen: set[Subscriber] = set(exclude)
        delivered = 0
        for channel in channels:
            for subscriber, sink in tuple(self._channels.get(channel, {}).items()):
                if subscriber not in seen:
                    seen.add(subscriber)
                    sink(message)
                    delivered += 1
        return delivered
