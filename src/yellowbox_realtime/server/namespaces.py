"""The public Socket.IO API: namespaces, sockets and broadcast emitters.

Applications register handlers on a :class:`Namespace` and talk to clients through
:class:`Socket` and :class:`Emitter`, the way ``socket.io``'s server API works for Node::

    ns = gateway.of("/")

    @ns.on("ping_me")
    async def ping_me(socket: Socket, payload: dict) -> dict:
        return {"ok": True}

A handler's return value is the acknowledgement when the client asked for one (a tuple
gives several arguments). A handler that raises :class:`GatewayError` answers with
``{"ok": false, "error": message}`` instead, or, when no ack was asked for, with a
``gateway_error`` event; the connection carries on. Rooms are hub channels, so a socket
joined to ``rider_locations`` and an SSE stream of ``rider_locations`` get the same event.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

from ..core.background import Background
from ..core.broker import Broker
from ..core.channels import role_channel, user_channel
from ..core.hub import Hub, Outgoing, Sink
from ..errors import AckTimeout, Disconnected, GatewayError, ValidationError
from ..logs import LogThrottle
from ..messages import Credentials
from ..protocol import engineio as eio
from ..protocol import socketio as sio

if TYPE_CHECKING:
    from ..core.deadlines import Deadline
    from .engineio import EngineSession, HandshakeInfo

log = logging.getLogger(__name__)

EventHandler: TypeAlias = Callable[..., Any]
ConnectHandler: TypeAlias = Callable[["Socket"], Awaitable[None] | None]
DisconnectHandler: TypeAlias = Callable[["Socket", str], Awaitable[None] | None]
# A middleware runs before a socket is accepted; raising GatewayError refuses the connect.
Middleware: TypeAlias = Callable[["Socket"], Awaitable[None] | None]
# Whether these credentials may be in this room; asked again when a socket's credentials
# change (token refresh, recovery), and rooms it refuses are left.
RoomGuard: TypeAlias = Callable[[Credentials, str], bool]

ERROR_EVENT = "gateway_error"
# A room the socket's current credentials no longer allow was left: {channel, reason}.
REVOKED_EVENT = "subscription_revoked"

AckWaiter: TypeAlias = "Callable[[list[Any]], None] | asyncio.Future[list[Any]]"


def error_event(event: str | None, error: GatewayError) -> dict[str, Any]:
    """The ``gateway_error`` payload: which event was refused (None: the connection itself),
    a stable code and a message for people."""
    return {"event": event, "code": error.code, "message": error.message}


# The lifecycle log of namespaces not given one: [server] lifecycle_logs_per_s's defaults.
LIFECYCLE_LOG = LogThrottle(20.0, 200)


class Namespace:
    """Handlers and connected sockets of one Socket.IO namespace."""

    def __init__(self, name: str, broker: Broker, hub: Hub, background: Background, *,
                 auth_required: bool = True, log_throttle: LogThrottle | None = None) -> None:
        self.name = name
        # Connection lifecycle lines, at a rate clients cannot drive (see log_socket).
        self.log_throttle = log_throttle or LIFECYCLE_LOG
        self.broker = broker
        self.hub = hub
        self.background = background
        self.auth_required = auth_required
        self.sockets: dict[str, Socket] = {}
        self.handlers: dict[str, tuple[EventHandler, bool]] = {}
        self.connect_handlers: list[ConnectHandler] = []
        self.disconnect_handlers: list[DisconnectHandler] = []
        self.middlewares: list[Middleware] = []
        self.room_guard: RoomGuard | None = None

    def channel(self, room: str) -> str:
        """Rooms of the main namespace are channels by the same name; others are prefixed."""
        return room if self.name == "/" else f"{self.name}#{room}"

    # -- registration -----------------------------------------------------------------

    def on(self, event: str) -> Callable[[EventHandler], EventHandler]:
        def register(handler: EventHandler) -> EventHandler:
            self.handlers[event] = (handler, inspect.iscoroutinefunction(handler))
            return handler
        return register

    def on_connect(self, handler: ConnectHandler) -> ConnectHandler:
        self.connect_handlers.append(handler)
        return handler

    def on_disconnect(self, handler: DisconnectHandler) -> DisconnectHandler:
        self.disconnect_handlers.append(handler)
        return handler

    def use(self, middleware: Middleware) -> Middleware:
        self.middlewares.append(middleware)
        return middleware

    # -- broadcasting -----------------------------------------------------------------

    def to(self, *rooms: str) -> Emitter:
        return Emitter(self, rooms)

    def to_user(self, uid: str) -> Emitter:
        """Every connection of one user: all their tabs and devices."""
        return Emitter(self, (user_channel(uid),))

    def to_role(self, role: str) -> Emitter:
        return Emitter(self, (role_channel(role),))

    def emit(self, event: str, *args: Any) -> int:
        """Send to every socket connected to this node's namespace (not numbered and not kept:
        a reconnecting client cannot recover it; use rooms for what must not be missed)."""
        message = Outgoing(event, args, self.name)
        sockets = tuple(self.sockets.values())
        for socket in sockets:
            socket.send_message(message)
        counters = self.hub.counters
        counters.publishes += 1
        counters.deliveries += len(sockets)
        return len(sockets)


class Emitter:
    """A broadcast target: the union of some rooms, minus excluded sockets."""

    __slots__ = ("_exclude", "_rooms", "namespace")

    def __init__(self, namespace: Namespace, rooms: Iterable[str],
                 exclude: frozenset[Socket] = frozenset()) -> None:
        self.namespace = namespace
        self._rooms = tuple(rooms)
        self._exclude = exclude

    def to(self, *rooms: str) -> Emitter:
        return Emitter(self.namespace, self._rooms + rooms, self._exclude)

    def emit(self, event: str, *args: Any) -> None:
        """Publish to every member of the rooms, through the broker: numbered, kept in the
        rooms' history for recovery, encoded once and delivered on every node."""
        channels = [self.namespace.channel(room) for room in self._rooms]
        self.namespace.broker.publish_nowait(
            channels, Outgoing(event, args, self.namespace.name), self._exclude)


class Socket:
    """One client connected to one namespace.

    Thousands live for hours, so the attributes are slotted and what most sockets never
    use (application data, pending acks) is created on first use.
    """

    __slots__ = ("_acks", "_data", "_next_ack", "_rooms", "_sink", "auth", "connected",
                 "credentials", "expiry", "id", "joined_at", "namespace", "recovered",
                 "session")

    def __init__(self, sid: str, namespace: Namespace, session: EngineSession,
                 credentials: Credentials | None, auth: Mapping[str, Any]) -> None:
        self.id = sid
        self.namespace = namespace
        self.session = session
        self.credentials = credentials
        # The CONNECT payload (without the token once it was verified).
        self.auth = auth
        self.connected = False
        # A socket is in a handful of rooms: a tuple costs a quarter of a set.
        self._rooms: tuple[str, ...] = ()
        # One bound method for all of the socket's subscriptions (see ``sink``).
        self._sink: Sink = session.deliver
        # The token-expiry deadline the Socket.IO layer keeps for this socket.
        self.expiry: Deadline | None = None
        # Connection-state recovery: the stream offset when the socket joined, and whether
        # this connection restored an earlier one (socket.io's ``socket.recovered``).
        self.joined_at = 0
        self.recovered = False
        self._data: dict[str, Any] | None = None
        # Ack id -> a callback, or the future a call() awaits (failed if the socket closes).
        self._acks: dict[int, AckWaiter] | None = None
        self._next_ack = 0

    def __repr__(self) -> str:
        who = f"{self.credentials.uid}/{self.credentials.role}" if self.credentials else "anon"
        return f"<Socket {self.id} {self.namespace.name} {who}>"

    @property
    def data(self) -> dict[str, Any]:
        """Free for the application (per-socket state)."""
        if self._data is None:
            self._data = {}
        return self._data

    @property
    def handshake(self) -> HandshakeInfo:
        return self.session.handshake

    @property
    def uid(self) -> str | None:
        return self.credentials.uid if self.credentials else None

    @property
    def role(self) -> str | None:
        return self.credentials.role if self.credentials else None

    # -- rooms ------------------------------------------------------------------------

    @property
    def rooms(self) -> frozenset[str]:
        return frozenset(self._rooms)

    def join(self, room: str) -> None:
        if room not in self._rooms:
            self._rooms += (room,)
            self.namespace.hub.subscribe(self.namespace.channel(room), self)

    def leave(self, room: str) -> None:
        if room in self._rooms:
            self._rooms = tuple(r for r in self._rooms if r != room)
            self.namespace.hub.unsubscribe(self.namespace.channel(room), self)

    def to(self, *rooms: str) -> Emitter:
        """Broadcast to rooms, excluding this socket (socket.io's ``socket.to``)."""
        return Emitter(self.namespace, rooms, frozenset({self}))

    # -- sending ----------------------------------------------------------------------

    def send_message(self, message: Outgoing) -> None:
        if self.connected:
            # Broadcasts published before this, and still pending in the hub, go first.
            self.namespace.hub.flush()
            self.session.deliver(message)

    @property
    def sink(self) -> Sink:
        # The hub calls the session directly: a socket leaves its rooms when it closes, and a
        # closed session drops what it is given.
        return self._sink

    def emit(self, event: str, *args: Any,
             callback: Callable[[list[Any]], None] | None = None) -> None:
        """Send an event; ``callback`` receives the client's ack arguments."""
        if not self.connected:
            raise Disconnected(f"socket {self.id} is not connected")
        if callback is None:
            self.send_message(Outgoing(event, args, self.namespace.name))
            return
        self._emit_with_ack(event, args, callback)

    def _emit_with_ack(self, event: str, args: tuple[Any, ...], callback: AckWaiter) -> int:
        ack_id = self._next_ack
        self._next_ack += 1
        if self._acks is None:
            self._acks = {}
        self._acks[ack_id] = callback
        self.send_packet(sio.SioPacket(sio.SioType.EVENT, self.namespace.name,
                                       [event, *args], ack_id))
        return ack_id

    async def call(self, event: str, *args: Any, timeout: float = 10.0) -> list[Any]:
        """Emit and wait for the client's acknowledgement (AckTimeout after ``timeout``)."""
        if not self.connected:
            raise Disconnected(f"socket {self.id} is not connected")
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        ack_id = self._emit_with_ack(event, args, future)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError as exc:
            raise AckTimeout(f"no acknowledgement for {event!r} within {timeout} s") from exc
        finally:
            # An ack that never came must not stay registered for the socket's lifetime.
            if self._acks is not None:
                self._acks.pop(ack_id, None)

    @property
    def pending_acks(self) -> int:
        return len(self._acks) if self._acks else 0

    def send_packet(self, packet: sio.SioPacket) -> None:
        text, attachments = sio.encode(packet)
        self.session.send_text(eio.message(text))
        for attachment in attachments:
            self.session.send_binary(attachment)

    def disconnect(self, reason: str = "server namespace disconnect") -> None:
        """Leave the namespace from the server side (the client does not reconnect)."""
        if self.connected:
            self.send_packet(sio.SioPacket(sio.SioType.DISCONNECT, self.namespace.name))
            self.closed(reason)

    # -- called by the Socket.IO layer ------------------------------------------------

    def accept(self) -> None:
        self.connected = True
        self.namespace.sockets[self.id] = self

    def closed(self, reason: str) -> None:
        """The socket is gone: leave every room, fail pending acks, tell the handlers."""
        if not self.connected:
            return
        self.connected = False
        log_socket("disconnected", self, reason=reason)
        self.namespace.sockets.pop(self.id, None)
        for room in self._rooms:
            self.leave(room)
        pending, self._acks = self._acks, None
        for waiter in (pending or {}).values():
            if isinstance(waiter, asyncio.Future) and not waiter.done():
                waiter.set_exception(Disconnected(f"socket closed before it answered: {reason}"))
        for handler in self.namespace.disconnect_handlers:
            self.namespace.background.run_handler(handler, self, reason)

    def received_ack(self, ack_id: int, args: list[Any]) -> None:
        waiter = self._acks.pop(ack_id, None) if self._acks else None
        if isinstance(waiter, asyncio.Future):
            if not waiter.done():
                waiter.set_result(args)
        elif waiter is not None:
            waiter(args)

    def received_event(self, event: str, args: list[Any], ack_id: int | None) -> None:
        entry = self.namespace.handlers.get(event)
        if entry is None:
            self.answer_error(event, ack_id, ValidationError(f"unknown event {event!r}"))
            return
        handler, is_async = entry
        if is_async:
            self.namespace.background.spawn(self._run_async(handler, event, args, ack_id))
            return
        try:
            result = handler(self, *args)
        except Exception as exc:
            self._handler_failed(handler, event, args, ack_id, exc)
        else:
            self.answer(ack_id, result)

    async def _run_async(self, handler: EventHandler, event: str, args: list[Any],
                         ack_id: int | None) -> None:
        try:
            result = await handler(self, *args)
        except Exception as exc:
            self._handler_failed(handler, event, args, ack_id, exc)
        else:
            self.answer(ack_id, result)

    def _handler_failed(self, handler: EventHandler, event: str, args: list[Any],
                        ack_id: int | None, exc: Exception) -> None:
        """Refusals go back to the client; bugs are logged and reported as internal."""
        if isinstance(exc, GatewayError):
            error = exc
        elif isinstance(exc, TypeError) and not _accepts(handler, self, *args):
            error = ValidationError(f"wrong number of arguments for {event!r}")
        else:
            log.error("handler for %r failed on %r", event, self, exc_info=exc)
            error = GatewayError("internal error")
        self.answer_error(event, ack_id, error)

    def answer(self, ack_id: int | None, result: Any) -> None:
        if ack_id is None or not self.connected:
            return
        args = [] if result is None else list(result) if isinstance(result, tuple) else [result]
        self.send_packet(sio.SioPacket(sio.SioType.ACK, self.namespace.name, args, ack_id))

    def answer_error(self, event: str, ack_id: int | None, error: GatewayError) -> None:
        if not self.connected:
            return
        self.namespace.hub.counters.refuse(error.code)
        if ack_id is not None:
            self.answer(ack_id, {"ok": False, "error": error.message, "code": error.code})
        else:
            self.emit(ERROR_EVENT, error_event(event, error))


def _accepts(handler: EventHandler, *args: Any) -> bool:
    try:
        inspect.signature(handler).bind(*args)
    except TypeError:
        return False
    return True


def log_socket(what: str, socket: Socket, **fields: Any) -> None:
    """One line per socket connected and disconnected: who, where, over what (never the
    token or the rest of the connect payload), within the namespace's lifecycle log rate:
    a client connecting and leaving in a loop cannot flood the log."""
    if not log.isEnabledFor(logging.INFO) or \
            not socket.namespace.log_throttle.admit(log, f"socket {what}"):
        return
    session = socket.session
    extra = {"request_id": session.handshake.request_id, "socket_id": socket.id,
             "nsp": socket.namespace.name, "uid": socket.uid, "role": socket.role,
             "transport": "websocket" if session.websocket is not None else "polling",
             "client": session.handshake.address, **fields}
    log.info("socket %s %s %s uid=%s role=%s %s", what, socket.id, socket.namespace.name,
             socket.uid, socket.role, " ".join(f"{k}={v}" for k, v in fields.items()),
             extra=extra)
