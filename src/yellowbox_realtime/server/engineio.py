"""Engine.IO v4 server: sessions over HTTP long-polling and WebSocket.

A session starts on either transport. A polling session may upgrade to WebSocket (probe,
then upgrade packet). A session's first ping comes ``ping_interval`` after it opened (up to
:data:`FIRST_PING_SLOT_S` later, sessions opened together sharing one timer), as clients
expect (not at once: a client may then read a ping where it waits for something else). One
that does not answer is closed no later than ``ping_interval + ping_timeout`` after its
open, as clients and the official suites count on. From then on it is pinged in shared
rounds, not by a timer of its own: the interval is cut into :data:`PING_PHASES` ticks, and
the session is pinged at the tick one interval after its first ping and every interval from
there (never late, up to an eighth early). A session that has not answered a ping within
``ping_timeout`` is closed.
Whatever a session must send goes through one bounded buffer: the WebSocket's
:class:`OutputBuffer` (pongs to a client's pings included), or the polling queue flushed
to the next GET.

What a client can make a session hold while its messages arrive is bounded three ways: per
message (``engineio.max_payload``, and ``max_payload_before_connect`` until the session has
joined a namespace: a stranger gets room for a CONNECT, not a megabyte), and per address
(``limits.max_held_bytes_per_ip``, over all its connections' unfinished messages and bodies).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..config import EngineIOConfig, ServerConfig
from ..core.background import cancel_and_wait
from ..core.counters import Counters
from ..core.deadlines import Deadlines
from ..errors import GatewayError, ProtocolError, SlowConsumer, TooManyRequests
from ..protocol import engineio as eio
from ..protocol import websocket as ws
from .http import HttpConnection, Request, first_values
from .limits import ClientLimits
from .origins import origin_allowed
from .output import Draining, FlushScheduler, OutputBuffer

if TYPE_CHECKING:
    from ..core.hub import Wire

log = logging.getLogger(__name__)

# Engine.IO's error codes, sent as {"code": n, "message": ...} with status 400 (403 for 4).
UNKNOWN_TRANSPORT = (0, "Transport unknown")
UNKNOWN_SID = (1, "Session ID unknown")
BAD_HANDSHAKE_METHOD = (2, "Bad handshake method")
BAD_REQUEST = (3, "Bad request")
FORBIDDEN = (4, "Forbidden")
UNSUPPORTED_VERSION = (5, "Unsupported protocol version")

NOOP = b"6"
# Heartbeat ticks per ping interval: how much earlier than ping_interval a ping after the
# first may come.
PING_PHASES = 8
# How late a first ping may come (sessions opened within it share one timer).
FIRST_PING_SLOT_S = 0.05
# How long a message sent alone stays ahead of the next (see EngineSession.send_alone).
SPACING_S = 0.002


def first_ping_slot(opened: float, interval: float, timeout: float) -> tuple[float, float]:
    """When a session opened at ``opened`` gets its first ping, and when it is closed if it
    has not answered: the ping no earlier than ``interval`` after the open, the close no
    later than ``interval + timeout`` after it (as a client's own timer and the official
    suites expect), for every session of the slot alike.

    The slot is narrower than a quarter of ``timeout``, so a session always has at least
    three quarters of it to answer.
    """
    width = min(FIRST_PING_SLOT_S, timeout / 4)
    due = opened + interval
    slot = math.ceil(due / width)
    if slot * width < due:  # rounding in the division
        slot += 1
    return slot * width, (slot - 1) * width + timeout

# Not kept for a session's lifetime: credentials and cookies (which can be large and must not
# end up in logs), and what only served the handshake itself.
UNKEPT_HEADERS = frozenset({"authorization", "cookie", "connection", "upgrade",
                            "sec-websocket-key", "sec-websocket-version",
                            "sec-websocket-extensions"})
ENGINE_QUERY = frozenset({"EIO", "transport", "sid", "t"})


# The empty polling queue every session starts with; never appended to (see _poll_append).
_NO_PACKETS: list[bytes] = []

# What a WebSocket that sends nothing more parses with: never fed (data is ignored from
# then on), so what its own parser held of unfinished messages is freed at once.
_SPENT_PARSER = ws.ServerConnection(max_message_bytes=0)


class EngineHandler(Protocol):
    """The layer above (Socket.IO) receives a session's life through these calls."""

    def on_open(self, session: EngineSession) -> None: ...

    def on_message(self, session: EngineSession, data: str | bytes) -> None: ...

    def on_close(self, session: EngineSession, reason: str) -> None: ...

    def closing_packets(self, session: EngineSession, error: GatewayError) -> list[str]:
        """Engine.IO text packets that tell the client why the server is cutting it off;
        they are the last thing it reads before the close."""
        ...


@dataclass(frozen=True, slots=True)
class HandshakeInfo:
    """What the request that opened the session said (without cookies and credentials).

    Kept for the session's life but rarely read, so the headers are one string and the query
    stays in the URL; ``headers`` and ``query`` build their dicts on each access.
    """

    header_lines: str
    address: str
    url: str
    # The id of the HTTP request that opened the session (in the access log).
    request_id: str = ""

    @staticmethod
    def from_request(request: Request, address: str | None = None) -> HandshakeInfo:
        """``address``: the client's, when it is not the TCP peer's (a trusted proxy's)."""
        return HandshakeInfo(
            header_lines="\r\n".join(f"{name}:{value}" for name, value in request.headers.items()
                                      if name not in UNKEPT_HEADERS),
            address=address if address is not None else
            request.client[0] if request.client else "",
            url=request.path + ("?" + request.query_string if request.query_string else ""),
            request_id=request.id)

    @property
    def headers(self) -> dict[str, str]:
        lines = self.header_lines.split("\r\n") if self.header_lines else []
        return dict(line.split(":", 1) for line in lines)

    @property
    def query(self) -> dict[str, str]:
        """Query parameters (the first value of each), without Engine.IO's own."""
        return {k: v for k, v in first_values(self.url.partition("?")[2]).items()
                if k not in ENGINE_QUERY}


class EngineSession:
    """One Engine.IO session; its transport may change from polling to WebSocket once."""

    __slots__ = ("_poll_conn", "_poll_queue", "_poll_size", "awaiting_pong_since", "closed",
                 "handshake", "server", "sid", "state", "upgrading",
                 "websocket")

    def __init__(self, server: EngineServer, sid: str, handshake: HandshakeInfo) -> None:
        self.server = server
        self.sid = sid
        self.handshake = handshake
        self.websocket: WebSocketTransport | None = None
        self.upgrading: WebSocketTransport | None = None
        self.closed = False
        self.awaiting_pong_since: int | None = None
        # Anything the layer above keeps per session (the Socket.IO client state).
        self.state: object = None
        # Shared and empty until polling queues something (WebSocket sessions never do).
        self._poll_queue = _NO_PACKETS
        self._poll_size = 0
        self._poll_conn: HttpConnection | None = None

    @property
    def polling_pending(self) -> int:
        """Bytes queued for the next polling response."""
        return self._poll_size

    @property
    def poll_waiting(self) -> bool:
        """A polling GET is held open for the next packets."""
        return self._poll_conn is not None

    # -- sending ----------------------------------------------------------------------

    def deliver(self, message: Wire) -> None:
        """Queue pre-encoded Socket.IO messages in this session's wire shape."""
        if self.websocket is not None:
            self.websocket.append(message.websocket)
        else:
            self._poll_append(message.polling)

    def send_text(self, packet: str) -> None:
        """Queue one Engine.IO text packet (type digit + data)."""
        if self.websocket is not None:
            self.websocket.append(ws.text_frame(packet.encode()))
        else:
            self._poll_append(packet.encode())

    def send_binary(self, data: bytes) -> None:
        if self.websocket is not None:
            self.websocket.append(ws.binary_frame(data))
        else:
            self._poll_append(eio.polling_binary(data))

    def send_alone(self) -> None:
        """Send what is queued now, in a write (or a polling response) of its own, and what
        is queued next no sooner than :data:`SPACING_S` later.

        A client that reads one message, then adds a listener for the next, loses a second
        one that comes in the same read (the official Socket.IO suite's client does). Writes
        one loop turn apart are not enough, as a busy client reads them together; a polling
        client reads the next response on its own anyway."""
        websocket = self.websocket
        if websocket is not None:
            websocket.flush()
            websocket.hold(self.server.deadlines, SPACING_S)
        else:
            self._flush_poll()

    def _poll_append(self, packet: bytes) -> None:
        if self.closed:
            return
        if self._poll_queue:
            self._poll_queue.append(packet)
        else:
            self._poll_queue = [packet]
        self._poll_size += len(packet) + 1
        if self._poll_size > self.server.config.max_polling_buffer_bytes:
            error = SlowConsumer(f"slow consumer: more than "
                                 f"{self.server.config.max_polling_buffer_bytes} bytes queued "
                                 f"for polling")
            log.warning("disconnecting %s: %s", self.sid, error.message)
            self.server.counters.cut_off("polling", self._poll_size)
            # What was queued is dropped; a waiting (or the next) GET reads why, then close.
            closing = self.server.handler.closing_packets(self, error)
            self._poll_queue, self._poll_size = [p.encode() for p in closing], 0
            self.close("slow consumer: polling buffer full")
            return
        if self._poll_conn is not None and len(self._poll_queue) == 1:
            # Answer the waiting GET at the end of this turn, so a burst leaves in one body.
            asyncio.get_running_loop().call_soon(self._flush_poll)

    def _flush_poll(self) -> None:
        conn, queue = self._poll_conn, self._poll_queue
        if conn is None or not queue:
            return
        self._poll_conn = None
        conn.on_close = None
        self._poll_queue, self._poll_size = _NO_PACKETS, 0
        self.server.respond_polling(conn, eio.encode_payload(queue))
        self.server.counters.flushed()

    # -- polling requests -------------------------------------------------------------

    def handle_get(self, conn: HttpConnection) -> None:
        if self._poll_conn is not None:
            # Two GETs at once break the protocol: answer the new one and close.
            self.server.respond_error(conn, BAD_REQUEST)
            self.close("transport error: overlapping polling requests")
            return
        if self.upgrading is not None and not self._poll_queue:
            # The client is moving to WebSocket: let this poll end at once.
            self._poll_queue = [NOOP]
        if self._poll_queue:
            self._poll_conn = conn
            self._flush_poll()
            return
        self._poll_conn = conn
        conn.on_close = self._poll_conn_lost

    def _poll_conn_lost(self) -> None:
        self._poll_conn = None
        if self.websocket is None and self.upgrading is None:
            self.close("transport close", notify=False)

    def handle_post(self, conn: HttpConnection, body: bytes) -> None:
        try:
            packets = eio.decode_payload(body, self.server.message_limit(self))
        except GatewayError as exc:
            self.server.respond_error(conn, BAD_REQUEST, detail=exc.message,
                                      status=exc.http_status)
            self.close(f"parse error: {exc.message}", notify=False)
            return
        self.server.respond_text(conn, b"ok", "text/html")
        for packet in packets:
            if self.closed:
                break
            self.on_packet(packet)

    # -- packets from the client ------------------------------------------------------

    def on_packet(self, packet: eio.Packet) -> None:
        kind = packet.type
        if kind is eio.PacketType.MESSAGE:
            self.server.handler.on_message(self, packet.data)
        elif kind is eio.PacketType.PONG:
            self.awaiting_pong_since = None
        elif kind is eio.PacketType.CLOSE:
            self.close("transport close", notify=False)
        elif kind is eio.PacketType.NOOP:
            pass
        else:
            # Clients send only message, pong, close and noop outside an upgrade (in v4 the
            # server pings; a client's ping is refused as the reference server refuses it).
            why = f"unexpected packet type {int(kind)}" + (
                " (the server pings, clients answer with pong)"
                if kind is eio.PacketType.PING else "")
            self.close(f"parse error: {why}", notify=False, code=1002, why=why)

    # -- the budget before CONNECT ----------------------------------------------------

    def limit_until_joined(self) -> None:
        """Until :meth:`joined`, messages may be at most ``max_payload_before_connect``."""
        self.server.joining.add(self)
        if self.websocket is not None:
            self.websocket.parser.max_message_bytes = self.server.message_limit(self)

    def joined(self) -> None:
        """The layer above accepted the client (a namespace joined): the full budget."""
        self.server.joining.discard(self)
        if self.websocket is not None:
            self.websocket.parser.max_message_bytes = self.server.config.max_payload

    # -- upgrade ----------------------------------------------------------------------

    def probe(self, transport: WebSocketTransport) -> None:
        """The client's probe arrived on the new WebSocket: answer it, unblock polling."""
        transport.append(ws.text_frame(b"3probe"))
        # The client pauses polling before it upgrades; finish a waiting GET with a noop
        # so it can.
        if self._poll_conn is not None and not self._poll_queue:
            self._poll_append(NOOP)

    def complete_upgrade(self, transport: WebSocketTransport) -> None:
        self.upgrading = None
        self.websocket = transport
        transport.parser.max_message_bytes = self.server.message_limit(self)
        pending, self._poll_queue, self._poll_size = self._poll_queue, _NO_PACKETS, 0
        if self._poll_conn is not None:
            conn, self._poll_conn = self._poll_conn, None
            conn.on_close = None
            self.server.respond_polling(conn, NOOP)
        for packet in pending:
            binary = eio.polling_binary_data(packet)
            if binary is not None:
                transport.append(ws.binary_frame(binary))
            elif packet != NOOP:
                transport.append(ws.text_frame(packet))

    # -- closing ----------------------------------------------------------------------

    def close(self, reason: str, *, notify: bool = True, code: int = 1000,
              why: str = "") -> None:
        """End the session; ``notify`` sends the client a close packet first. A WebSocket
        ends with close ``code`` and ``why`` (the reason a client's close event shows)."""
        if self.closed:
            return
        if notify:
            self.send_text("1")
        self.closed = True
        self.server.forget(self)
        if self.websocket is not None:
            self.websocket.close(code, why)
        if self.upgrading is not None:
            self.upgrading.close()
        if self._poll_conn is not None:
            conn, self._poll_conn = self._poll_conn, None
            conn.on_close = None
            # A waiting GET gets what is queued (the close packet, when we close), or a
            # noop when the client itself closed.
            body = eio.encode_payload(self._poll_queue) if self._poll_queue else NOOP
            self.server.respond_polling(conn, body)
        self._poll_queue = _NO_PACKETS
        self.server.handler.on_close(self, reason)


class WebSocketTransport(OutputBuffer, asyncio.Protocol):
    """An upgraded connection carrying one Engine.IO session (or probing for one): the
    protocol of its TCP transport from the upgrade on, and the buffer of what it sends."""

    __slots__ = ("parser", "server", "session")

    transport: asyncio.Transport

    def __init__(self, server: EngineServer, transport: asyncio.Transport,
                 session: EngineSession | None) -> None:
        super().__init__(transport, server.flusher, server.server_config.max_buffer_bytes)
        self.server = server
        self.session = session
        self.parser = ws.ServerConnection(max_message_bytes=server.message_limit(session))

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return  # half-closed: read only so that nothing is left unread (see _finish)
        parser = self.parser
        parser.receive_data(data)
        held = parser.held
        if (held or self in self.server.holding) and not self.server.hold(self, held):
            self.close_with(1009, "too many bytes held for this address")
            self._end("too many bytes held for this address")
            return
        for event in parser.events_received():
            if isinstance(event, ws.TextMessage):
                self._on_packet(event.text, None)
            elif isinstance(event, ws.BinaryMessage):
                self._on_packet(None, event.data)
            elif isinstance(event, ws.CloseReceived):
                self._end("transport close")
        reply = parser.data_to_send()
        if parser.should_close_transport:
            if reply:
                self.write_now(reply)  # the close frame: once, and the connection ends
            if parser.failure is not None:
                self._end(f"transport error: {parser.failure.message}")
            self.transport.close()
            # The close waits for the client to read; one that does not is aborted.
            self.server.draining.add(self.transport)
        elif reply:
            self._pong(reply)

    def _pong(self, frame: bytes) -> None:
        """Answer a ping through the bounded buffer; a pong still waiting there (the client
        is not reading) is replaced, so pings cannot pile up pongs."""
        chunks = self._chunks
        if chunks and chunks[-1][0] == 0x80 | ws.OP_PONG:
            self._size -= len(chunks.pop())
        self.append(frame)

    def _on_packet(self, text: str | None, data: bytes | None) -> None:
        try:
            packet = eio.decode_text(text) if text is not None else eio.decode_binary(
                data or b"")
        except ProtocolError as exc:
            self.close_with(1002, exc.message)
            self._end(f"parse error: {exc.message}")
            return
        session = self.session
        if session is None:
            return
        if session.websocket is self:
            session.on_packet(packet)
        elif packet.type is eio.PacketType.PING and packet.data == "probe" and \
                session.upgrading is self:
            session.probe(self)
        elif packet.type is eio.PacketType.UPGRADE and session.upgrading is self:
            session.complete_upgrade(self)
        else:
            self.close_with(1002, "unexpected packet during upgrade")

    def close_with(self, code: int, reason: str) -> None:
        if not self.transport.is_closing() and not self.closed:
            self.write_now(self._close_frame(code, reason))
            self._finish()

    def _close_frame(self, code: int, reason: str) -> bytes:
        """The close frame, through the protocol object, so that it knows the handshake has
        begun (and sends none when the client's close has come first)."""
        self.parser.send_close(code, reason)
        return self.parser.data_to_send()

    def _finish(self) -> None:
        """Send nothing more, and end the TCP connection once the client has what was sent.

        The transport half-closes (its FIN follows its buffer) and keeps reading, until the
        client closes too or the linger deadline ends it. Closing it at once would leave
        unread whatever the client sent meanwhile (a pong, an event), and the kernel resets
        a socket closed with unread data, dropping what it had not sent yet: the close
        frame, and after a slow consumer's cut, the reason before it.
        """
        self.discard()
        self.parser = _SPENT_PARSER
        self.transport.write_eof()
        self.server.draining.add(self.transport)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Flush what is queued (the close packet), then a close frame."""
        self.flush()
        self.close_with(code, reason)
        self.discard()

    def pause_writing(self) -> None:
        self.pause()

    def resume_writing(self) -> None:
        self.resume()

    def overflowed(self) -> None:
        # The queued data is dropped. Because the buffer holds data back while the kernel is
        # full, little stands between the client and the reason: it reads it as soon as it
        # reads again, then the close frame.
        error = SlowConsumer(f"slow consumer: more than {self.limit} bytes unsent")
        session = self.session
        log.warning("disconnecting %s: %s", session.sid if session else "-", error.message)
        transport = self.transport
        if not transport.is_closing():
            closing = self.server.handler.closing_packets(session, error) if session else []
            transport.write(b"".join(ws.text_frame(p.encode()) for p in closing)
                            + self._close_frame(error.close_code, "slow consumer"))
            self._finish()
        self._end("slow consumer: output buffer full")

    def _end(self, reason: str) -> None:
        session, self.session = self.session, None
        if session is None:
            return
        if session.upgrading is self:
            session.upgrading = None
        elif session.websocket is self:
            session.close(reason, notify=False)

    def connection_lost(self, exc: Exception | None) -> None:
        self.discard()
        self.server.draining.forget(self.transport)
        self.server.hold(self, 0)
        self._end("transport close")


class EngineServer:
    """Routes ``/socket.io/`` requests, owns sessions and the heartbeat."""

    def __init__(self, config: EngineIOConfig, server_config: ServerConfig,
                 handler: EngineHandler, loop: asyncio.AbstractEventLoop,
                 deadlines: Deadlines, counters: Counters | None = None,
                 limits: ClientLimits | None = None) -> None:
        self.config = config
        self.counters = counters or Counters()
        # Connections per address and new connections per second; None: unlimited.
        self.limits = limits
        self.deadlines = deadlines
        self.server_config = server_config
        self.handler = handler
        self.sessions: dict[str, EngineSession] = {}
        # Sessions on the budget before CONNECT, and the WebSockets holding unfinished
        # messages with the (address, bytes) they count: few at a time, so kept here.
        self.joining: set[EngineSession] = set()
        self.holding: dict[WebSocketTransport, tuple[str, int]] = {}
        self.flusher = FlushScheduler(loop, self.counters, "websocket")
        self.draining = Draining(deadlines, server_config.slow_consumer_linger_s)
        self._heartbeat: asyncio.Task[None] | None = None
        # The heartbeat tick last run, and the sessions each tick of an interval pings. The
        # heartbeat holds sessions by id, so a closed one is freed at once (it leaves these
        # lists when its tick comes).
        self._tick = 0
        self._phases: list[list[str]] = [[] for _ in range(PING_PHASES)]
        # Sessions awaiting their first ping, by when it is due (see first_ping_slot): one
        # deadline per slot rather than one per session, as thousands open at once.
        self._first_pings: dict[float, list[str]] = {}
        self._upgrades = ["websocket"] if "websocket" in config.transports else []

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        if self._heartbeat is None:
            self._heartbeat = asyncio.create_task(self._heartbeat_rounds(), name="eio-ping")

    async def close(self, reason: str = "server shutting down") -> None:
        if self._heartbeat is not None:
            await cancel_and_wait(self._heartbeat)
            self._heartbeat = None
        for session in list(self.sessions.values()):
            session.close(reason)
        self.flusher.flush_all()

    def forget(self, session: EngineSession) -> None:
        self.joining.discard(session)
        if self.sessions.pop(session.sid, None) is not None and self.limits is not None:
            self.limits.close_ip(session.handshake.address)

    # -- what clients make the server hold --------------------------------------------

    def message_limit(self, session: EngineSession | None) -> int:
        """The largest message ``session`` may send now (see the module's docstring)."""
        if session is None or session in self.joining:
            return min(self.config.max_payload, self.config.max_payload_before_connect)
        return self.config.max_payload

    def hold(self, transport: WebSocketTransport, held: int) -> bool:
        """``transport`` now holds ``held`` bytes of unfinished messages (0: none, or it is
        gone); False when that puts its address over ``limits.max_held_bytes_per_ip``."""
        address, before = self.holding.pop(transport, ("", 0))
        if not address:
            session = transport.session
            address = session.handshake.address if session is not None else ""
        if self.limits is not None and address and held != before and \
                not self.limits.hold(address, held - before):
            self.limits.release(address, held)
            return False
        if held and address:
            self.holding[transport] = (address, held)
        return True

    # -- HTTP -------------------------------------------------------------------------

    def handle(self, request: Request, conn: HttpConnection) -> None:
        if not origin_allowed(self.server_config.allowed_origins, conn.front.own_origins,
                              request.headers):
            # No CORS headers: the refusal must not tell the browser the origin may read it.
            conn.extra_headers = [("Vary", "Origin")]
            self.respond_error(conn, FORBIDDEN, status=403, detail="origin not allowed")
            return
        # Every response to this request, now or after a long poll, carries the CORS headers.
        conn.extra_headers = self._cors_headers(request)
        if request.method == "OPTIONS":
            conn.respond(204, [("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
                               ("Access-Control-Allow-Headers",
                                request.headers.get("access-control-request-headers",
                                                    "content-type")),
                               ("Access-Control-Max-Age", "86400")])
            return
        query = request.query
        if query.get("EIO") != "4":
            self.respond_error(conn, UNSUPPORTED_VERSION)
            return
        transport = query.get("transport")
        if transport not in self.config.transports:
            self.respond_error(conn, UNKNOWN_TRANSPORT)
            return
        sid = query.get("sid")
        is_upgrade = request.headers.get("upgrade", "").lower() == "websocket"
        if transport == "websocket" and not is_upgrade:
            self.respond_error(conn, BAD_REQUEST, detail="expected a WebSocket upgrade")
            return
        if sid is None:
            self._handshake(request, conn, transport)
            return
        session = self.sessions.get(sid)
        if session is None:
            self.respond_error(conn, UNKNOWN_SID)
            return
        if transport == "websocket":
            if session.websocket is not None or session.upgrading is not None:
                # A second WebSocket for the session: accept it, then close it at once, as
                # the reference server does (clients treat an HTTP error as a crash).
                second = self._accept_websocket(request, conn, None)
                if second is not None:
                    second.transport.close()
                return
            self._accept_websocket(request, conn, session)
            return
        if session.websocket is not None:
            self.respond_error(conn, BAD_REQUEST,
                               detail="session has upgraded to websocket")
            return
        if request.method == "GET":
            session.handle_get(conn)
        elif request.method == "POST":
            session.handle_post(conn, request.body)
        else:
            self.respond_error(conn, BAD_REQUEST, detail="method not allowed")

    def _handshake(self, request: Request, conn: HttpConnection, transport: str) -> None:
        if transport == "polling" and request.method != "GET":
            self.respond_error(conn, BAD_HANDSHAKE_METHOD)
            return
        address = None
        if self.limits is not None:
            address = self.limits.address(request.client[0] if request.client else "",
                                          request.headers)
            try:
                self.limits.admit(address, time.monotonic())
            except TooManyRequests as exc:
                # Engine.IO's error shape (as for its other refusals), with the gateway's
                # stable code beside it and the time to wait.
                conn.extra_headers.append(("Retry-After", str(exc.retry_after_s)))
                self.respond_error(conn, FORBIDDEN, status=exc.http_status,
                                   detail=exc.message, reason=exc.code)
                return
        sid = base64.urlsafe_b64encode(secrets.token_bytes(15)).decode()
        session = EngineSession(self, sid, HandshakeInfo.from_request(request, address))
        open_packet = eio.open_packet(
            sid, self._upgrades if transport == "polling" else [],
            self.config.ping_interval_ms, self.config.ping_timeout_ms, self.config.max_payload)
        if transport == "websocket":
            def opened() -> None:
                # Before the upgrade: frames sent right behind the handshake request (without
                # waiting for the 101) are read during it and need the session open. The
                # open packet is buffered, so it still leaves after the 101.
                self._add(session)
                session.send_text(open_packet)
                self.handler.on_open(session)
            self._accept_websocket(request, conn, session, handshake=True, before=opened)
            return
        self._add(session)
        self.respond_polling(conn, open_packet.encode())
        self.handler.on_open(session)

    def _first_pings_due(self, ping_at: float, close_at: float) -> None:
        """Ping the sessions of the slot due at ``ping_at``, and let the rounds ping them
        from the next interval on."""
        sids = [sid for sid in self._first_pings.pop(ping_at, ()) if sid in self.sessions]
        if not sids:
            return
        tick = self._tick
        for sid in sids:
            session = self.sessions[sid]
            session.send_text("2")
            session.awaiting_pong_since = tick
        self.deadlines.at(close_at, self._pong_due, sids, tick)
        # The last tick's phase comes next one interval after it, just before now + interval.
        self._phases[tick % PING_PHASES].extend(sids)

    def _pong_due(self, sids: list[str], tick: int) -> None:
        """Close the sessions pinged at ``tick`` (or before) that have not answered since."""
        sessions = self.sessions
        for sid in sids:
            session = sessions.get(sid)
            if session is not None:
                since = session.awaiting_pong_since
                if since is not None and since <= tick:
                    session.close("ping timeout", notify=False)

    def _add(self, session: EngineSession) -> None:
        self.sessions[session.sid] = session
        ping_at, close_at = first_ping_slot(self.deadlines.now(),
                                            self.config.ping_interval_ms / 1000,
                                            self.config.ping_timeout_ms / 1000)
        waiting = self._first_pings.get(ping_at)
        if waiting is None:
            self._first_pings[ping_at] = waiting = []
            self.deadlines.at(ping_at, self._first_pings_due, ping_at, close_at)
        waiting.append(session.sid)
        if self.limits is not None:
            self.limits.open_ip(session.handshake.address)

    def _accept_websocket(self, request: Request, conn: HttpConnection,
                          session: EngineSession | None, *, handshake: bool = False,
                          before: Callable[[], None] | None = None
                          ) -> WebSocketTransport | None:
        try:
            accept = ws.check_upgrade(request.method, request.headers)
        except GatewayError as exc:
            if exc.http_status == 426:
                # RFC 6455 4.2.2: say which version we speak.
                conn.extra_headers.append(("Sec-WebSocket-Version", "13"))
            self.respond_error(conn, BAD_REQUEST, detail=exc.message, status=exc.http_status)
            return None
        assert conn.transport is not None
        transport = WebSocketTransport(self, conn.transport, session)
        if handshake and session is not None:
            session.websocket = transport
        elif session is not None:
            session.upgrading = transport
            self.deadlines.after(self.config.upgrade_timeout_ms / 1000,
                                 self._upgrade_expired, session, transport)
        if before is not None:
            before()
        conn.upgrade(transport, ws.upgrade_response(accept))
        return transport

    def _upgrade_expired(self, session: EngineSession, transport: WebSocketTransport) -> None:
        if session.upgrading is transport:
            session.upgrading = None
            transport.session = None
            transport.close_with(1000, "upgrade timeout")

    def respond_polling(self, conn: HttpConnection, body: bytes) -> None:
        self.respond_text(conn, body, "text/plain; charset=UTF-8")

    def respond_text(self, conn: HttpConnection, body: bytes, content_type: str) -> None:
        if not conn.closed:
            conn.respond(200, [("Content-Type", content_type)], body)

    def respond_error(self, conn: HttpConnection, error: tuple[int, str], *, status: int = 400,
                      detail: str = "", reason: str = "") -> None:
        code, message = error
        body: dict[str, object] = {"code": code, "message": message}
        if detail:
            body["detail"] = detail
        if reason:
            body["reason"] = reason
        if not conn.closed:
            conn.respond(status, [("Content-Type", "application/json")],
                         json.dumps(body).encode())

    def _cors_headers(self, request: Request) -> list[tuple[str, str]]:
        origin = request.headers.get("origin")
        if origin is None:
            return []
        return [("Access-Control-Allow-Origin", origin),
                ("Access-Control-Allow-Credentials", "true"), ("Vary", "Origin")]

    # -- heartbeat --------------------------------------------------------------------

    async def _heartbeat_rounds(self) -> None:
        """Each tick, ping the sessions of its phase; ``ping_timeout`` later, close those
        that have not answered."""
        loop = asyncio.get_running_loop()
        tick_s = self.config.ping_interval_ms / 1000 / PING_PHASES
        timeout = self.config.ping_timeout_ms / 1000
        sessions = self.sessions
        next_tick = loop.time() + tick_s
        while True:
            await asyncio.sleep(max(0.0, next_tick - loop.time()))
            now = loop.time()
            self._tick = tick = self._tick + 1
            phase = tick % PING_PHASES
            kept = [sid for sid in self._phases[phase] if sid in sessions]
            self._phases[phase] = kept
            for sid in kept:
                session = sessions[sid]
                session.send_text("2")
                if session.awaiting_pong_since is None:
                    session.awaiting_pong_since = tick
            if kept:
                # A copy: new sessions join the phase's list before this deadline.
                self.deadlines.at(now + timeout, self._pong_due, kept.copy(), tick)
            next_tick = now + tick_s
