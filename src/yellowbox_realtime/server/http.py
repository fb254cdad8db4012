"""The HTTP/1.1 front: owns every socket, parses with httptools, routes requests.

Streaming routes (``/socket.io/``) are handled in-process by a :class:`Route`; everything
else goes to an ASGI application through :mod:`.asgi`. One request is handled at a time per
connection; bytes of a pipelined next request wait until the response is complete.

Limits: header bytes and count, body size, the time a request head may take to arrive
(slowloris) and how long a keep-alive connection may sit idle. One sweep for all
connections enforces the timeouts; no timer per connection.

Memory: a client that does not read its responses stops being read. When the transport's
buffer passes its high-water mark (``pause_writing``), the connection stops reading and
handles no next request until the client has read (``resume_writing``), so what it holds
is one response beyond the mark, whatever it pipelines. A connection that will not drain is
aborted at its deadline (a graceful close would wait for the drain forever), and one whose
unsent bytes still pass ``server.max_buffer_bytes`` is aborted at once. With
:class:`ClientLimits`, TCP connections count per peer address while they speak HTTP, and
request bodies count, as they arrive, toward the bytes an address may have held.

Every request has an id: the client's ``X-Request-Id`` when it is a short token of safe
characters (a proxy's), else one of ours. It is sent back as ``X-Request-Id`` and logged
with the request's method, path (never the query string, which can carry an SSE ticket),
status and time to the response head, on the ``yellowbox_realtime.access`` logger.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import json
import logging
import os
import re
import secrets
import ssl as ssl_module
import time
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Protocol
from urllib.parse import parse_qsl, unquote

import httptools

from ..config import ServerConfig
from ..core.background import cancel_and_wait
from ..core.counters import Counters
from ..errors import (
    CannotListen,
    GatewayError,
    HeadersTooLarge,
    PayloadTooLarge,
    ProtocolError,
)
from ..logs import LogThrottle
from .limits import ClientLimits
from .origins import OwnOrigins

log = logging.getLogger(__name__)
access_log = logging.getLogger("yellowbox_realtime.access")

# A request id from the client (or its proxy) is used only if it looks like one.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

Headers = Sequence[tuple[str, str]]

# Bytes parsed at a time: parsing stops at the first slice that completes a request, so a
# read full of pipelined requests makes a few request objects, not thousands.
_PARSE_SLICE = 8192


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query_string: str
    headers: dict[str, str]
    raw_headers: list[tuple[bytes, bytes]]
    body: bytes
    client: tuple[str, int] | None
    keep_alive: bool
    http_version: str = "1.1"
    # Unique per request (see the module's docstring); logs and X-Request-Id carry it.
    id: str = ""
    _query: dict[str, str] | None = field(default=None, repr=False)

    @property
    def query(self) -> dict[str, str]:
        """Query parameters, the first value of each."""
        if self._query is None:
            self._query = first_values(self.query_string)
        return self._query


def first_values(query_string: str) -> dict[str, str]:
    """Query parameters, the first value of each."""
    query: dict[str, str] = {}
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        query.setdefault(key, value)
    return query


class Route(Protocol):
    def handle(self, request: Request, conn: HttpConnection) -> None:
        """Respond now, later (long-polling), or take the connection over with upgrade()."""


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


# A parser holds its protocol's callbacks, so a connection and its parser form a cycle that
# only the cycle collector would free. A connection that is done swaps its parser for this
# one, which calls back nothing, and is then freed as soon as nothing refers to it.
_DETACHED = httptools.HttpRequestParser(None)


class HttpConnection(asyncio.Protocol):
    """One TCP connection in its HTTP phase.

    An upgrade hands the transport to another protocol (``transport.set_protocol``), so the
    thousands of connections that live for hours keep none of the HTTP machinery.
    """

    __slots__ = ("_body", "_body_size", "_chunked", "_closed", "_header_bytes", "_held",
                 "_in_flight", "_keep_alive", "_message_complete", "_parser", "_raw_headers",
                 "_ready", "_request", "_response_started", "_started_at", "_url", "client",
                 "deadline", "extra_headers", "front", "on_close", "transport")

    def __init__(self, front: HttpFront) -> None:
        self.front = front
        self.transport: asyncio.Transport | None = None
        self.client: tuple[str, int] | None = None
        self.deadline = 0.0
        self.on_close: Callable[[], None] | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._reset_request()
        self._in_flight = False
        self._message_complete = False
        # Requests parsed but not yet handled (pipelining), and bytes not yet parsed.
        self._ready: list[Request] = []
        self._request: Request | None = None
        self._held = bytearray()
        self._response_started = False
        self._started_at = 0.0
        self._chunked = False
        self._keep_alive = False
        self._closed = False
        # Headers every response to the current request carries (CORS, set by a route).
        self.extra_headers: list[tuple[str, str]] = []

    # -- asyncio.Protocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, but behave as one.
        self.transport = typing.cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.client = (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) else None
        self.deadline = time.monotonic() + self.front.config.header_timeout_s
        try:
            self.front.admit(self)
        except GatewayError as exc:
            # Not counted and not tracked: the refusal is small enough for the kernel.
            self._closed = True
            self.transport.write(_refusal(exc))
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._in_flight or self._held or self._ready:
            # Pipelined bytes wait for the response in progress, within the head budget.
            self._held += data
            if len(self._held) > self.front.config.max_header_bytes + \
                    self.front.config.max_body_bytes:
                self.close()
            return
        self._feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._parser = _DETACHED
        if not self._message_complete:
            self.front.release(self, self._body_size)
        self.front.leave(self)
        if self.on_close is not None:
            callback, self.on_close = self.on_close, None
            callback()

    def pause_writing(self) -> None:
        # The client does not read: neither do we. The deadline bounds how long it may
        # take to read again, in flight or not (see HttpFront._sweep).
        if self not in self.front.connections:
            return  # refused at connection_made
        if self.transport is not None:
            self.transport.pause_reading()
            self.deadline = time.monotonic() + self.front.config.idle_timeout_s
        self.front.paused.add(self)

    def resume_writing(self) -> None:
        self.front.paused.discard(self)
        self.front.drained(self)
        # The client reads: another period, even for a connection closing after its
        # response (the sweep aborts one that is still owed bytes at its deadline).
        self.deadline = time.monotonic() + self.front.config.idle_timeout_s
        if self.transport is None or self._closed or self.transport.is_closing():
            return
        self.transport.resume_reading()
        if not self._in_flight:
            self._next()

    # -- httptools callbacks ----------------------------------------------------------

    def _reset_request(self) -> None:
        self._url = b""
        self._raw_headers: list[tuple[bytes, bytes]] = []
        self._header_bytes = 0
        self._body: list[bytes] = []
        self._body_size = 0

    def on_message_begin(self) -> None:
        self._message_complete = False
        self._reset_request()
        self.deadline = time.monotonic() + self.front.config.header_timeout_s

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._count_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._raw_headers.append((name.lower(), value))
        self._count_head(len(name) + len(value))
        if len(self._raw_headers) > self.front.config.max_headers:
            raise HeadersTooLarge("too many request headers")

    def on_headers_complete(self) -> None:
        # Refuse a declared oversized body before any of it arrives.
        for name, value in self._raw_headers:
            if name == b"content-length" and value.strip().isdigit() and \
                    int(value) > self.front.config.max_body_bytes:
                raise PayloadTooLarge("request body is too large")

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        # Held (and given back when the body is complete or the connection ends) before
        # any check, so what is given back is always what was held.
        within = self.front.hold(self, len(body))
        if self._body_size > self.front.config.max_body_bytes:
            raise PayloadTooLarge("request body is too large")
        if not within:
            raise self.front.held_refusal(self)
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._message_complete = True
        self.front.release(self, self._body_size)
        self._ready.append(self._build_request())

    def _count_head(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.front.config.max_header_bytes:
            raise HeadersTooLarge("request head is too large")

    # -- parsing and dispatch ---------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        """Parse ``data`` slice by slice up to the first complete request; the rest waits in
        ``_held`` for its turn."""
        at = 0
        try:
            while at < len(data):
                piece = data[at:at + _PARSE_SLICE] if at or len(data) > _PARSE_SLICE else data
                at += len(piece)
                self._parser.feed_data(piece)
                if self._ready:
                    break
        except httptools.HttpParserUpgrade as upgrade:
            # What follows the upgrade request belongs to the new protocol.
            offset = at - len(piece) + (upgrade.args[0] if upgrade.args else len(piece))
            if not self._message_complete:
                self._ready.append(self._build_request())
            self._held[:0] = data[offset:]
            self._dispatch_next()
            return
        except httptools.HttpParserError as exc:
            # httptools wraps what a callback raised; a limit we enforce has its own status.
            reject = exc.__context__
            if isinstance(reject, GatewayError):
                self.respond_error(reject, close=True)
            else:
                self.respond_error(ProtocolError(f"malformed HTTP request: {exc}"), close=True)
            return
        if at < len(data):
            self._held[:0] = data[at:]
        self._dispatch_next()

    def _build_request(self) -> Request:
        path_bytes, _, query = self._url.partition(b"?")
        headers: dict[str, str] = {}
        for name, value in self._raw_headers:
            key = name.decode("latin-1")
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        given = headers.get("x-request-id", "")
        return Request(
            method=self._parser.get_method().decode("ascii", "replace"),
            path=unquote(path_bytes.decode("latin-1")),
            query_string=query.decode("latin-1"),
            headers=headers,
            raw_headers=self._raw_headers,
            body=b"".join(self._body),
            client=self.client,
            keep_alive=self._parser.should_keep_alive() and "upgrade" not in headers,
            http_version=self._parser.get_http_version(),
            id=given if _REQUEST_ID.fullmatch(given) else self.front.new_request_id(),
        )

    def _dispatch_next(self) -> None:
        """Hand the next complete request to its handler, one at a time (none while the
        client is not reading what it was sent)."""
        if self._in_flight or not self._ready or self._closed or self in self.front.paused:
            return
        request = self._ready.pop(0)
        self._in_flight = True
        self._request = request
        self._response_started = False
        self._started_at = time.monotonic()
        self.extra_headers = []
        try:
            self.front.route(request).handle(request, self)
        except GatewayError as exc:
            if not self._response_started and not self._closed:
                self.respond_error(exc)
        except Exception:
            log.exception("unhandled error in request handler for %s", request.path)
            if not self._response_started and not self._closed:
                self.respond_error(GatewayError("internal server error"), close=True)

    # -- responses --------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed or self.transport is None or self.transport.is_closing()

    def respond(self, status: int, headers: Headers, body: bytes = b"",
                *, close: bool = False) -> None:
        """Write a complete response with a Content-Length."""
        self.start_response(status, headers, content_length=len(body), close=close)
        self.end_response(body)

    def respond_error(self, error: GatewayError, *, close: bool = False,
                      headers: Headers = ()) -> None:
        """``{"error": {"code", "message"}}``, the shape of every HTTP error the gateway
        gives outside Engine.IO (whose error bodies its protocol defines)."""
        body = json.dumps({"error": {"code": error.code, "message": error.message}}).encode()
        self.respond(error.http_status, [("Content-Type", "application/json"), *headers], body,
                     close=close)

    def start_response(self, status: int, headers: Headers, *,
                       content_length: int | None = None, close: bool = False) -> None:
        if self.transport is None or self._closed:
            return
        self._response_started = True
        self._keep_alive = (not close and self._request is not None
                            and self._request.keep_alive)
        self._chunked = content_length is None
        lines = [f"HTTP/1.1 {status} {reason_phrase(status)}"]
        lines += [f"{name}: {value}" for name, value in (*headers, *self.extra_headers)]
        if self._request is not None:
            lines.append(f"X-Request-Id: {self._request.id}")
        self._responded(status)
        if content_length is not None:
            lines.append(f"Content-Length: {content_length}")
        else:
            lines.append("Transfer-Encoding: chunked")
        lines.append("Connection: keep-alive" if self._keep_alive else "Connection: close")
        self._write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def write_body(self, chunk: bytes) -> None:
        if self.transport is None or self._closed or not chunk:
            return
        if self._chunked:
            self._write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
        else:
            self._write(chunk)

    def _write(self, data: bytes) -> None:
        transport = self.transport
        assert transport is not None
        # Only a writer that ignores backpressure (a stream that does not wait for
        # drained()) gets here with this much unsent; one response alone never does.
        if transport.get_write_buffer_size() > self.front.config.max_buffer_bytes:
            self.front.counters.cut_off("http", transport.get_write_buffer_size())
            self._closed = True
            transport.abort()
            return
        transport.write(data)

    def end_response(self, chunk: bytes = b"") -> None:
        if self.transport is None or self._closed:
            return
        if chunk:
            self.write_body(chunk)
        if self._chunked:
            self._write(b"0\r\n\r\n")
        if self._closed:
            return
        self._in_flight = False
        self._request = None
        self.deadline = time.monotonic() + self.front.config.idle_timeout_s
        if not self._keep_alive:
            self.transport.close()
            return
        self._next()

    def _next(self) -> None:
        """The response is done: handle the next request, parsed or still in bytes."""
        if self._ready:
            self._dispatch_next()
        elif self._held and self not in self.front.paused:
            held, self._held = bytes(self._held), bytearray()
            self._feed(held)

    def upgrade(self, protocol: asyncio.Protocol, response: bytes) -> asyncio.Transport:
        """Write ``response`` (a 101, or the head of a stream) and hand the transport to
        ``protocol``, with any bytes that came after the request; this object is done."""
        transport = self.transport
        assert transport is not None
        self._responded(int(response[9:12]))
        self.front.leave(self)
        self._closed = True
        self._parser = _DETACHED
        self.transport = None
        self.on_close = None
        transport.write(response)
        transport.set_protocol(protocol)
        held, self._held = bytes(self._held), bytearray()
        if held:
            protocol.data_received(held)
        return transport

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _responded(self, status: int) -> None:
        self.front.counters.responded(status)
        request = self._request
        if request is None or not self.front.config.access_log or \
                not access_log.isEnabledFor(logging.INFO) or \
                not self.front.access_throttle.admit(access_log, "HTTP requests"):
            return
        duration_ms = round((time.monotonic() - self._started_at) * 1000, 3)
        client = self.client[0] if self.client else None
        access_log.info("%s %s %d %.1fms id=%s", request.method, request.path, status,
                        duration_ms, request.id,
                        extra={"request_id": request.id, "method": request.method,
                               "path": request.path, "status": status,
                               "duration_ms": duration_ms, "client": client})


class HttpFront:
    """Listens, tracks connections, enforces timeouts and picks a handler per request."""

    def __init__(self, config: ServerConfig, routes: Sequence[tuple[str, Route]],
                 fallback: Route, counters: Counters | None = None,
                 limits: ClientLimits | None = None) -> None:
        self.config = config
        self.counters = counters or Counters()
        # Clients choose how many requests they make; the access log grows at a fixed rate.
        self.access_throttle = LogThrottle(config.access_logs_per_s, config.access_log_burst)
        # Connections per peer and bytes held per peer; None: unlimited.
        self.limits = limits
        # Request ids: this process's random prefix and a sequence number (unique across
        # restarts and nodes without a random draw per request).
        self._id_prefix = secrets.token_hex(4)
        self._ids = itertools.count(1)
        self.routes = list(routes)
        self.fallback = fallback
        self.connections: set[HttpConnection] = set()
        # Connections whose client is not reading (see the module's docstring), and what
        # waits for one to drain: kept here, not on each connection, as few ever are.
        self.paused: set[HttpConnection] = set()
        self._drain_waiters: dict[HttpConnection, asyncio.Future[None]] = {}
        self._servers: list[asyncio.Server] = []
        self._sweeper: asyncio.Task[None] | None = None
        # Known once listening: the routes allow these whatever allowed_origins says.
        self.own_origins = OwnOrigins()

    def new_request_id(self) -> str:
        return f"{self._id_prefix}-{next(self._ids):x}"

    # -- what each connection counts against ------------------------------------------

    def _limited_peer(self, conn: HttpConnection) -> str | None:
        """The address ``conn`` counts against, or None (no limits, a trusted proxy)."""
        limits = self.limits
        if limits is None or conn.client is None or limits.trusted_peer(conn.client[0]):
            return None
        return conn.client[0]

    def admit(self, conn: HttpConnection) -> None:
        """Track a new connection; raises TooManyConnections past the per-peer count."""
        peer = self._limited_peer(conn)
        if peer is not None:
            assert self.limits is not None
            self.limits.open_http(peer)
        self.connections.add(conn)

    def leave(self, conn: HttpConnection) -> None:
        """``conn`` is gone or upgraded: it no longer counts (once, whichever comes first)."""
        if conn not in self.connections:
            return
        self.connections.remove(conn)
        self.paused.discard(conn)
        self.drained(conn)
        peer = self._limited_peer(conn)
        if peer is not None:
            assert self.limits is not None
            self.limits.close_http(peer)

    def hold(self, conn: HttpConnection, size: int) -> bool:
        peer = self._limited_peer(conn)
        if peer is None:
            return True
        assert self.limits is not None
        return self.limits.hold(peer, size)

    def release(self, conn: HttpConnection, size: int) -> None:
        peer = self._limited_peer(conn) if size else None
        if peer is not None:
            assert self.limits is not None
            self.limits.release(peer, size)

    def held_refusal(self, conn: HttpConnection) -> GatewayError:
        assert self.limits is not None
        assert conn.client is not None
        return self.limits.held_refusal(conn.client[0])

    # -- flow control -----------------------------------------------------------------

    async def wait_drained(self, conn: HttpConnection) -> None:
        """Return once ``conn``'s client reads again (at once if it does), or it is gone."""
        if conn not in self.paused:
            return
        waiter = self._drain_waiters.get(conn)
        if waiter is None:
            waiter = self._drain_waiters[conn] = asyncio.get_running_loop().create_future()
        await waiter

    def drained(self, conn: HttpConnection) -> None:
        waiter = self._drain_waiters.pop(conn, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def unsent_bytes(self) -> int:
        """Bytes written to HTTP connections and not yet taken by the kernel."""
        return sum(c.transport.get_write_buffer_size() for c in self.connections
                   if c.transport is not None)

    def route(self, request: Request) -> Route:
        for prefix, route in self.routes:
            if request.path.startswith(prefix):
                return route
        return self.fallback

    async def start(self, host: str | Sequence[str], port: int,
                    ssl: ssl_module.SSLContext | None = None) -> list[tuple[str, int]]:
        """Listen (with TLS when given a context); returns the bound addresses (port 0
        picks a free port)."""
        loop = asyncio.get_running_loop()
        try:
            server = await loop.create_server(lambda: HttpConnection(self), host, port,
                                              backlog=self.config.backlog,
                                              reuse_address=True, ssl=ssl)
        except OSError as exc:
            where = f"{host if isinstance(host, str) else ', '.join(host)} port {port}"
            reason = "it is in use (another gateway?)" if exc.errno == errno.EADDRINUSE \
                else os.strerror(exc.errno) if exc.errno else str(exc)
            raise CannotListen(f"cannot listen on {where}: {reason}") from exc
        self._servers.append(server)
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep(), name="http-timeouts")
        addresses = [sock.getsockname()[:2] for sock in server.sockets]
        self.own_origins |= OwnOrigins.listening([host] if isinstance(host, str) else host,
                                                 addresses, tls=ssl is not None)
        return addresses

    def stop_accepting(self) -> None:
        for server in self._servers:
            server.close()

    async def close(self) -> None:
        self.stop_accepting()
        if self._sweeper is not None:
            await cancel_and_wait(self._sweeper)
            self._sweeper = None
        for conn in list(self.connections):
            conn.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)
        self._servers.clear()

    async def _sweep(self) -> None:
        period = min(self.config.header_timeout_s, self.config.idle_timeout_s, 1.0) / 2
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            # A request in flight has no deadline, unless its client stopped reading.
            for conn in [c for c in self.connections
                         if c.deadline < now and (not c._in_flight or c in self.paused)]:
                transport = conn.transport
                if transport is not None and transport.get_write_buffer_size():
                    # Still unsent at the deadline: a close would wait for it forever.
                    transport.abort()
                else:
                    conn.close()


def _refusal(error: GatewayError) -> bytes:
    """A complete response refusing a connection before it sent a request."""
    body = json.dumps({"error": {"code": error.code, "message": error.message}}).encode()
    retry = getattr(error, "retry_after_s", None)
    head = [f"HTTP/1.1 {error.http_status} {reason_phrase(error.http_status)}",
            "Content-Type: application/json", f"Content-Length: {len(body)}",
            "Connection: close"]
    if retry is not None:
        head.append(f"Retry-After: {retry}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body

