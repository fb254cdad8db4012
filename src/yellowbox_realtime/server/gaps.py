"""Telling live clients about events they missed for good (a cluster broker's outage, a
Redis that lost its data), so they refetch state instead of trusting a silent gap.

The broker reports the channels and the position now (:data:`~..brokers.redis.GapHook`);
each local subscriber of those channels hears it once:

- an SSE stream gets ``event: stream_reset`` (its id the position, so a resume from it is
  clean) and fresh snapshots of its channels;
- a Socket.IO socket gets a ``stream_reset`` event ``{reason, channels, message}``, stamped
  with the position as its recovery offset, for the same reason.

Not on the hot path: it runs once per gap, walking the members of the channels concerned.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core.hub import Hub, Outgoing
from ..messages import StreamPosition
from .namespaces import Socket
from .sse import SseRoute
from .sse_stream import SseStream

__all__ = ["GAP_EVENT", "GapNotifier"]

GAP_EVENT = "stream_reset"


class GapNotifier:
    def __init__(self, hub: Hub, sse: SseRoute, *, stamped: bool) -> None:
        self.hub = hub
        self.sse = sse
        self.stamped = stamped
        self.notified = 0

    def __call__(self, channels: Sequence[str], position: StreamPosition,
                 reason: str) -> None:
        wanted = set(channels)
        streams: dict[SseStream, None] = {}
        sockets: dict[Socket, None] = {}
        for channel in channels:
            for member in self.hub.members(channel):
                if isinstance(member, SseStream):
                    streams[member] = None
                elif isinstance(member, Socket):
                    sockets[member] = None
        for stream in streams:
            self.sse.reset(stream, position, reason,
                           channels=[c for c in stream.channels if c in wanted])
        if sockets:
            message = Outgoing(GAP_EVENT, ({
                "reason": reason, "channels": sorted(wanted),
                "message": "some events of these channels are missing and cannot be sent "
                           "again: refetch what you show from them"},))
            message.place(position.epoch, position.offset, 0.0, stamped=self.stamped)
            for socket in sockets:
                socket.send_message(message.for_namespace(socket.namespace.name))
        self.notified += len(streams) + len(sockets)
