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
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from ..protocol import socketio
from ..protocol.websocket import binary_frame, text_frame


class Outgoing:
    """One Socket.IO event on its way to many recipients, encoded lazily once per shape."""

    __slots__ = ("_polling", "_text", "_websocket", "args", "attachments", "event", "nsp")

    def __init__(self, event: str, args: Sequence[Any] = (), nsp: str = "/") -> None:
        self.event = event
        self.args = tuple(args)
        self.nsp = nsp
        self._text: str | None = None
        self.attachments: list[bytes] = []
        self._websocket: bytes | None = None
        self._polling: bytes | None = None

    @property
    def text(self) -> str:
        """The Socket.IO packet text (``2["event",...]``), without the Engine.IO prefix."""
        if self._text is None:
            data = [self.event, *self.args]
            if socketio.has_binary(data):
                text, self.attachments = socketio.encode(
                    socketio.SioPacket(socketio.SioType.EVENT, self.nsp, data))
                self._text = text
            else:
                self._text = socketio.encode_event_text(self.nsp, self.event, self.args)
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


class Hub:
    """Channel membership and local fan-out."""

    def __init__(self) -> None:
        # Subscriber -> its sink, insertion-ordered: deliveries follow subscription order.
        self._channels: dict[str, dict[Subscriber, Sink]] = {}

    def subscribe(self, channel: str, subscriber: Subscriber) -> bool:
        """Add a subscriber; returns False if it was already there."""
        members = self._channels.setdefault(channel, {})
        if subscriber in members:
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
        return True

    def count(self, channel: str) -> int:
        return len(self._channels.get(channel, ()))

    def channels(self) -> Iterable[str]:
        return tuple(self._channels)

    def publish(self, channels: Sequence[str], message: Outgoing,
                exclude: frozenset[Subscriber] = frozenset()) -> int:
        """Deliver to every subscriber of any of the channels, once each; returns the count."""
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
