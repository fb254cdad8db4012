"""Open SSE streams: each one an output buffer that is also a hub subscriber.

After its response head a stream's connection belongs to an :class:`SseStream`: published
events are appended as their pre-encoded SSE block (encoded once for every stream), flushed
once per loop turn, bounded like a WebSocket's buffer. :class:`StreamSet` owns every open
stream and the things that are not per stream: one heartbeat timer for all of them, token
expiries in the shared deadline heap, and the ends (token expired, slow reader, shutdown).

How a stream ends, and what it reads last:
- its token expires: ``event: auth_expired``;
- it falls more than ``server.max_buffer_bytes`` behind: ``event: gateway_error`` with
  ``code: "slow_consumer"`` (what was queued for it is dropped first);
- the gateway shuts down: a ``retry:`` hint, so clients come back spread out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable, Sequence

from ..config import ServerConfig, SseConfig
from ..core.deadlines import Deadline, Deadlines
from ..core.hub import Hub, Outgoing, Sink, Wire
from ..errors import SlowConsumer
from ..messages import Credentials
from ..protocol import sse
from .output import Draining, FlushScheduler, OutputBuffer

log = logging.getLogger(__name__)

HEARTBEAT = sse.encode_comment()


def control_event(event: str, data: object, *, id: str | None = None) -> bytes:
    """An event the gateway itself sends (ready, stream_reset, snapshots, farewells)."""
    return sse.encode_event(json.dumps(data, separators=(",", ":")), event=event, id=id)


class SseStream(OutputBuffer, asyncio.Protocol):
    """One stream: the protocol of its TCP transport after the response head, its buffer,
    and a subscriber of its channels."""

    __slots__ = ("channels", "credentials", "ended", "expiry", "streams")

    transport: asyncio.Transport

    def __init__(self, streams: StreamSet, transport: asyncio.Transport,
                 credentials: Credentials, channels: Sequence[str]) -> None:
        super().__init__(transport, streams.flusher, streams.server_config.max_buffer_bytes)
        self.streams = streams
        self.credentials = credentials
        self.channels = tuple(channels)
        self.expiry: Deadline | None = None
        self.ended = False

    # -- hub subscriber ---------------------------------------------------------------

    def deliver(self, message: Wire) -> None:
        try:
            self.append(message.sse)
        except (TypeError, ValueError):
            # Binary or otherwise non-JSON arguments cannot travel over SSE. The hub must
            # never see an exception, and the stream goes on without those events.
            for event in message.events:
                try:
                    self.append(event.sse)
                except (TypeError, ValueError):
                    self.streams.unencodable(event)

    @property
    def sink(self) -> Sink:
        return self.deliver

    # -- asyncio.Protocol -------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        """Clients send nothing after the request; whatever comes is ignored."""

    def pause_writing(self) -> None:
        self.pause()

    def resume_writing(self) -> None:
        self.resume()

    def connection_lost(self, exc: Exception | None) -> None:
        self.discard()
        self.streams.draining.forget(self.transport)
        self.streams.forget(self)

    # -- ending -----------------------------------------------------------------------

    def end(self, last: bytes = b"") -> None:
        """Send what is queued, then ``last``, and close (the close waits for the bytes)."""
        if self.ended:
            return
        self.streams.forget(self)
        # Even while paused: the close waits until the transport has sent it all, and a
        # client that does not read it is aborted after the linger period.
        self.write_now(last)
        self.discard()
        self.transport.close()
        self.streams.draining.add(self.transport)

    def overflowed(self) -> None:
        error = SlowConsumer(f"slow consumer: more than {self.limit} bytes unsent")
        log.warning("ending SSE stream of %s: %s", self.credentials.uid, error.message)
        self.streams.forget(self)
        transport = self.transport
        if not transport.is_closing():
            # The queue is already dropped, so the reason is next in line for the client.
            transport.write(control_event("gateway_error", {
                "event": None, "code": error.code, "message": error.message}))
            transport.close()
            self.streams.draining.add(transport)


class StreamSet:
    """Every open stream of a gateway, and the timers they share."""

    def __init__(self, config: SseConfig, server_config: ServerConfig, hub: Hub,
                 loop: asyncio.AbstractEventLoop, deadlines: Deadlines) -> None:
        self.config = config
        self.server_config = server_config
        self.hub = hub
        self.deadlines = deadlines
        self.flusher = FlushScheduler(loop, hub.counters, "sse")
        self.draining = Draining(deadlines, server_config.slow_consumer_linger_s)
        self.streams: set[SseStream] = set()
        self._closed = False
        self._last_unencodable: Outgoing | None = None
        #: Called with each stream as it ends, however it ends (the peer's close included).
        self.on_end: list[Callable[[SseStream], None]] = []
        self._beat = deadlines.after(config.heartbeat_s, self._heartbeat)

    def add(self, stream: SseStream) -> None:
        """Subscribe ``stream`` to its channels and watch its token's expiry."""
        self.streams.add(stream)
        for channel in stream.channels:
            self.hub.subscribe(channel, stream)
        expires_at = stream.credentials.expires_at
        if expires_at is not None:
            stream.expiry = self.deadlines.after(max(0.0, expires_at - time.time()),
                                                 self._expired, stream)

    def forget(self, stream: SseStream) -> None:
        if stream.ended:
            return
        stream.ended = True
        self.streams.discard(stream)
        for channel in stream.channels:
            self.hub.unsubscribe(channel, stream)
        if stream.expiry is not None:
            stream.expiry.cancel()
            stream.expiry = None
        for callback in self.on_end:
            callback(stream)

    def unencodable(self, message: Outgoing) -> None:
        # Logged once per event, not once per stream that skips it.
        if message is not self._last_unencodable:
            self._last_unencodable = message
            log.error("event %r (%s) cannot be sent over SSE (its arguments are not JSON); "
                      "skipped", message.event, message.id)

    def close(self) -> None:
        """Shutdown: every stream is told when to come back, then ends."""
        self._closed = True
        self._beat.cancel()
        base = self.config.shutdown_retry_ms
        for stream in list(self.streams):
            stream.end(sse.encode_retry(base + random.randrange(base)))
        self.flusher.flush_all()

    def _heartbeat(self) -> None:
        if self._closed:
            return
        # A copy: an append can cut a slow stream off, which leaves the set.
        for stream in tuple(self.streams):
            stream.append(HEARTBEAT)
        self._beat = self.deadlines.after(self.config.heartbeat_s, self._heartbeat)

    def _expired(self, stream: SseStream) -> None:
        stream.expiry = None
        stream.end(control_event("auth_expired", {
            "code": "token_expired",
            "message": "the token expired; open a new stream with a fresh token or ticket"}))
