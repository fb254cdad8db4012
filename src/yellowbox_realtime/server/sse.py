"""Server-Sent Events endpoints under ``/sse``.

- ``GET /sse/dashboard``, ``/sse/fleet``, ``/sse/alerts``: one channel each;
  ``GET /sse?channels=a,b``: any channels the caller may read.
- ``POST /sse/tickets``: a bearer token in, ``{ticket, expiresIn}`` out (see
  :mod:`.sse_tickets`), for ``EventSource``, which cannot send headers.

Authentication is ``Authorization: Bearer <token>`` (fetch-based clients) or
``?ticket=...``, never a user id from the query string; the same authenticator and policy
as Socket.IO decide. Browser origins are checked (:mod:`.origins`) and answered with
credentialed CORS.

A stream starts with a ``retry:`` hint, then one of:
- fresh: ``event: ready`` whose id is the stream's current position (so even a reconnect
  before any event resumes), then the channels' snapshots;
- resumed (``Last-Event-ID`` header, or ``lastEventId`` query for an EventSource re-created
  by page code): every event missed, then ``ready``;
- resumed, but some of what was missed is no longer kept: ``event: stream_reset`` saying so
  (with the current position as its id), then fresh snapshots. The same when the history
  cannot be read now (a cluster broker whose Redis is unreachable: reason
  ``broker_unavailable``), and, on a live stream, when the broker finds a gap its
  subscribers cannot fill (:meth:`SseRoute.reset`: an outage, a new epoch).
Then live events. History is read and the stream subscribed with no await in between, so
with a broker whose ``since`` does not suspend (the memory broker) nothing is missed or
doubled; a broker that does suspend there must not be used for SSE resumption as is.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..auth.base import Authenticator
from ..config import ServerConfig, SseConfig
from ..core.background import Background
from ..core.broker import Broker
from ..core.deadlines import Deadlines
from ..core.hub import Hub
from ..core.policy import Policy
from ..errors import (
    AuthenticationError,
    BadRequest,
    ForbiddenError,
    GatewayError,
    NotFound,
    TooManyRequests,
)
from ..messages import Credentials, StreamPosition
from ..protocol import sse
from .http import HttpConnection, Request, reason_phrase
from .limits import ClientLimits, Rates
from .origins import origin_allowed
from .sse_stream import SseStream, StreamSet, control_event
from .sse_tickets import Tickets, TicketStore

log = logging.getLogger(__name__)

__all__ = ["SSE_PATH", "SnapshotProvider", "SseRoute"]

SSE_PATH = "/sse"
TICKETS_PATH = "/sse/tickets"
# GET /sse/<name> reads the channel of the same name.
NAMED_STREAMS = frozenset({"dashboard", "fleet", "alerts"})

#: What a stream of a channel starts with: called with the reader's credentials, returns the
#: event's JSON data. Called synchronously between reading the position and subscribing.
SnapshotProvider = Callable[[Credentials], Any]

_STREAM_HEAD = (
    "Content-Type: text/event-stream; charset=utf-8\r\n"
    "Cache-Control: no-cache, no-transform\r\n"
    "X-Accel-Buffering: no\r\n"
    # No Content-Length and no chunking: the body ends when the connection does.
    "Connection: close\r\n"
)
_ALLOWED_HEADERS = "Authorization, Content-Type, Last-Event-ID, Cache-Control"


class InvalidLastEventId(BadRequest):
    """A ``Last-Event-ID`` (or ``lastEventId``) that is not ``<epoch>:<offset>``."""

    code = "invalid_last_event_id"


class SseRoute:
    """The ``/sse`` streaming route of the HTTP front."""

    def __init__(self, config: SseConfig, server_config: ServerConfig,
                 authenticator: Authenticator, policy: Policy, broker: Broker,
                 hub: Hub, background: Background, *,
                 tickets: Tickets | None = None, limits: ClientLimits | None = None) -> None:
        self.config = config
        # Streams count with Engine.IO sessions against [limits]; None: unlimited.
        self.limits = limits
        # What each open stream counts against: (address, user id).
        self._counted: dict[SseStream, tuple[str, str]] = {}
        self.server_config = server_config
        self.authenticator = authenticator
        self.policy = policy
        self.broker = broker
        self.hub = hub
        self.tickets: Tickets = tickets or TicketStore(config.ticket_ttl_s, config.max_tickets,
                                                       config.max_tickets_per_user)
        # New tickets per user and per address (the address's checked before the token).
        self._user_tickets = Rates(config.tickets_per_user_per_s, config.max_tickets_per_user)
        self._address_tickets = Rates(limits.config.handshakes_per_ip_per_s,
                                      limits.config.handshake_burst) \
            if limits is not None else None
        self.snapshots: dict[str, tuple[str, SnapshotProvider]] = {}
        self.streams: StreamSet | None = None
        self.background = background

    def add_snapshot(self, channel: str, event: str, provider: SnapshotProvider) -> None:
        """Streams of ``channel`` start with ``event`` carrying ``provider(credentials)``
        (and start with it again after a ``stream_reset``)."""
        self.snapshots[channel] = (event, provider)

    @property
    def open_streams(self) -> set[SseStream]:
        return self.streams.streams if self.streams is not None else set()

    # -- lifecycle --------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop, deadlines: Deadlines) -> None:
        self.streams = StreamSet(self.config, self.server_config, self.hub, loop, deadlines)
        self.streams.on_end.append(self._release)

    def _release(self, stream: SseStream) -> None:
        counted = self._counted.pop(stream, None)
        if counted is not None and self.limits is not None:
            address, uid = counted
            self.limits.close_ip(address)
            self.limits.close_user(uid)

    async def close(self) -> None:
        """Open streams are told to come back (requests still authenticating are the
        gateway's background tasks, cancelled after this)."""
        if self.streams is not None:
            self.streams.close()

    # -- HTTP -------------------------------------------------------------------------

    def handle(self, request: Request, conn: HttpConnection) -> None:
        origin = request.headers.get("origin")
        if origin is not None:
            conn.extra_headers = [("Access-Control-Allow-Origin", origin),
                                  ("Access-Control-Allow-Credentials", "true"),
                                  ("Vary", "Origin")]
        try:
            self._dispatch(request, conn)
        except GatewayError as exc:
            respond_error(conn, exc)

    def _dispatch(self, request: Request, conn: HttpConnection) -> None:
        if not origin_allowed(self.server_config.allowed_origins, conn.front.own_origins,
                              request.headers):
            # No CORS headers: the refusal must not tell the browser the origin may read it.
            conn.extra_headers = [("Vary", "Origin")]
            raise ForbiddenError("origin not allowed")
        path = request.path.rstrip("/") or "/"
        if path == TICKETS_PATH:
            methods = ("POST", "OPTIONS")
        elif path == SSE_PATH or path.removeprefix(SSE_PATH + "/") in NAMED_STREAMS:
            methods = ("GET", "OPTIONS")
        else:
            raise NotFound(f"no SSE endpoint at {request.path}")
        if request.method == "OPTIONS":
            conn.respond(204, [("Access-Control-Allow-Methods", ", ".join(methods)),
                               ("Access-Control-Allow-Headers", _ALLOWED_HEADERS),
                               ("Access-Control-Max-Age", "600")])
            return
        if request.method not in methods:
            allowed = ", ".join(methods)
            conn.extra_headers.append(("Allow", allowed))
            respond_json(conn, 405, {"error": {
                "code": "method_not_allowed",
                "message": f"{request.method} is not allowed here ({allowed})"}})
            return
        address = request.client[0] if request.client else ""
        if self.limits is not None:
            address = self.limits.address(address, request.headers)
        if path == TICKETS_PATH:
            self._take_ticket(self._address_tickets, address, "address")
            self.background.spawn(self._issue_ticket(request, conn))
            return
        channels = self._channels(request, path)
        position = self._resume_position(request)
        if self.limits is not None:
            self.limits.admit(address, time.monotonic())
        self.background.spawn(self._open(request, conn, channels, position, address))

    def _channels(self, request: Request, path: str) -> list[str]:
        if path != SSE_PATH:
            return [path.removeprefix(SSE_PATH + "/")]
        names = list(dict.fromkeys(c.strip() for c in request.query.get("channels", "")
                                   .split(",") if c.strip()))
        if not names:
            raise BadRequest("name the channels: /sse?channels=a,b")
        if len(names) > self.config.max_channels:
            raise BadRequest(f"at most {self.config.max_channels} channels per stream")
        return names

    def _resume_position(self, request: Request) -> StreamPosition | None:
        # The header wins: the browser sends it on its own reconnects, with a newer id than
        # the query the page put in the URL when it created the EventSource.
        value = request.headers.get("last-event-id")
        if value is None:
            value = request.query.get("lastEventId")
        try:
            return sse.parse_last_event_id(value)
        except GatewayError as exc:
            raise InvalidLastEventId(exc.message) from exc

    # -- handlers ---------------------------------------------------------------------

    async def _issue_ticket(self, request: Request, conn: HttpConnection) -> None:
        try:
            token = bearer_token(request)
            if token is None:
                raise AuthenticationError("send the token as Authorization: Bearer <token>")
            credentials = await self.authenticator.authenticate(token)
            self._take_ticket(self._user_tickets, credentials.uid, "user")
            ticket, lifetime = await self.tickets.grant(credentials)
        except GatewayError as exc:
            respond_error(conn, exc)
            return
        respond_json(conn, 200, {"ticket": ticket, "expiresIn": round(lifetime, 3)})

    def _take_ticket(self, rates: Rates | None, who: str, kind: str) -> None:
        wait = rates.take(who, time.monotonic()) if rates is not None else 0
        if wait:
            assert rates is not None
            if self.limits is not None:
                self.limits.counters.limit_refused(f"tickets_per_{kind}")
            raise TooManyRequests(f"too many stream tickets for {kind} {who}: at most "
                                  f"{rates.rate:g} per second (bursts of {rates.burst})", wait)

    async def _open(self, request: Request, conn: HttpConnection, channels: list[str],
                    position: StreamPosition | None, address: str) -> None:
        unavailable = False
        try:
            credentials = await self._credentials(request)
            for channel in channels:
                self.policy.check_subscribe(credentials, channel)
            try:
                missed = await self.broker.since(channels, position) \
                    if position is not None else None
            except GatewayError as exc:
                if not exc.temporary:
                    raise
                # What was missed cannot be known now: a gap to tell, not a refused stream.
                missed, unavailable = None, True
        except GatewayError as exc:
            respond_error(conn, exc)
            return
        except Exception:
            log.exception("opening an SSE stream failed")
            respond_error(conn, GatewayError("the server could not open the stream"))
            return
        # From here to subscribing nothing awaits, so no event falls between the history
        # (or position) read above and the subscription.
        streams = self.streams
        if streams is None or conn.closed or conn.transport is None:
            return
        if self.limits is not None:
            try:
                self.limits.check_ip(address)
                self.limits.open_user(credentials.uid)
            except GatewayError as exc:
                respond_error(conn, exc)
                return
            self.limits.open_ip(address)
        stream = SseStream(streams, conn.transport, credentials, channels)
        if self.limits is not None:
            self._counted[stream] = (address, credentials.uid)
        head = f"HTTP/1.1 200 OK\r\n{_STREAM_HEAD}"
        head += "".join(f"{name}: {value}\r\n" for name, value in conn.extra_headers)
        conn.upgrade(stream, (head + "\r\n").encode("latin-1"))
        stream.append(sse.encode_retry(self.config.retry_ms))
        # Subscribed before anything else is queued (the snapshots count this stream); no
        # event can come in before the prelude is queued, since nothing here awaits.
        streams.add(stream)
        if unavailable:
            assert position is not None
            self.reset(stream, self.broker.position(), "broker_unavailable", position)
        elif missed is None:
            now = sse.format_event_id(self.broker.position())
            stream.append(control_event("ready", {"resumed": False}, id=now))
            self._snapshots(stream)
        elif missed.complete:
            for message in missed.entries:
                stream.deliver(message)
            stream.append(control_event("ready", {"resumed": True},
                                        id=sse.format_event_id(missed.position)))
        else:
            assert position is not None
            reason = "epoch_changed" if position.epoch != missed.position.epoch \
                else "history_gap"
            self.reset(stream, missed.position, reason, position)

    def reset(self, stream: SseStream, position: StreamPosition, reason: str,
              last: StreamPosition | None = None,
              channels: Sequence[str] | None = None) -> None:
        """Tell ``stream`` that events of ``channels`` (default: all of its own) are missing
        for good (``stream_reset`` whose id is ``position``), then send fresh snapshots.
        ``last``: the client's resume position, when it sent one."""
        data: dict[str, Any] = {
            "reason": reason,
            "message": "some events are missing and cannot be sent again; what follows is "
                       "a fresh snapshot, then live events",
            "channels": list(channels if channels is not None else stream.channels),
        }
        if last is not None:
            data["lastEventId"] = sse.format_event_id(last)
        stream.append(control_event("stream_reset", data, id=sse.format_event_id(position)))
        self._snapshots(stream)

    async def _credentials(self, request: Request) -> Credentials:
        token = bearer_token(request)
        if token is not None:
            return await self.authenticator.authenticate(token)
        ticket = request.query.get("ticket")
        if ticket:
            return await self.tickets.claim(ticket)
        raise AuthenticationError("authentication required: send Authorization: Bearer "
                                  "<token>, or ?ticket= from POST /sse/tickets")

    def _snapshots(self, stream: SseStream) -> None:
        for channel in stream.channels:
            found = self.snapshots.get(channel)
            if found is None:
                continue
            event, provider = found
            try:
                block = control_event(event, provider(stream.credentials))
            except Exception:
                # A broken provider costs the snapshot, not the stream.
                log.exception("the %r snapshot for %s failed", event, channel)
                continue
            stream.append(block)


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None without one."""
    value = request.headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("Authorization must be 'Bearer <token>'")
    return token.strip()


def respond_json(conn: HttpConnection, status: int, body: object,
                 headers: Sequence[tuple[str, str]] = ()) -> None:
    if conn.closed:
        return
    conn.respond(status, [("Content-Type", "application/json"), ("Cache-Control", "no-store"),
                          *headers], json.dumps(body).encode())


def respond_error(conn: HttpConnection, error: GatewayError) -> None:
    """``{"error": {"code", "message"}}`` with the error's status, as the publish API does."""
    headers = [("Cache-Control", "no-store")]
    if error.http_status == 401:
        headers.append(("WWW-Authenticate", 'Bearer realm="yellowbox-realtime"'))
    if isinstance(error, TooManyRequests):
        headers.append(("Retry-After", str(error.retry_after_s)))
    log.debug("SSE request refused (%d %s): %s", error.http_status,
              reason_phrase(error.http_status), error.message)
    if not conn.closed:
        conn.respond_error(error, headers=headers)
