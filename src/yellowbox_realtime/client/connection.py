"""An asyncio Socket.IO v5 client over the Engine.IO v4 WebSocket transport.

Built to run by the hundred in one process (the rider simulator), so each connection costs
one reader task; that task also reconnects. Events reach handlers in arrival order (see
:mod:`.handlers`); a coroutine handler may ``await client.call(...)``, but when more than
``max_queued_events`` events pile up behind it the reader waits for room and such a call
ends in ``AckTimeout``.

Lifecycle events for :meth:`Client.on`: ``connect`` (after resubscribing, when needed),
``disconnect`` (reason, as socket.io-client names them: ``transport close``, ``transport
error``, ``ping timeout``, ``parse error``, ``io server disconnect``, ``io client
disconnect``), ``connect_error`` (the exception of a failed reconnect attempt) and
``token_refresh`` (the server's answer to a ``refresh_token``).

Unlike socket.io-client, nothing is buffered while disconnected: ``emit`` and ``call``
raise :class:`Disconnected`, so a caller decides what a lost message means. Unlike it too,
``io server disconnect`` is followed by a reconnect (with a freshly fetched token), since
the gateway disconnects sockets whose token expired; only :meth:`Client.close` stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

from websockets.exceptions import WebSocketException

from ..errors import (
    AckTimeout,
    AuthenticationError,
    ConnectRefused,
    Disconnected,
    GatewayError,
    RequestRefused,
)
from ..protocol import socketio as sio
from .backoff import Backoff
from .handlers import Handler, Handlers
from .session import Recovery, refresh_delay, token_expiry
from .wire import Link, open_link, websocket_url

__all__ = ["Client", "TokenGetter"]

log = logging.getLogger(__name__)

# token_getter(force_refresh): a token, fetched anew when force_refresh is true.
TokenGetter: TypeAlias = Callable[[bool], Awaitable[str]]
AckCallback: TypeAlias = Callable[[list[Any]], Awaitable[None]]

RESERVED_EVENTS = frozenset({"connect", "disconnect", "connect_error", "token_refresh"})
REFRESH_REQUIRED_EVENT = "auth_refresh_required"
REFRESH_EVENT = "refresh_token"

IO_SERVER_DISCONNECT = "io server disconnect"
IO_CLIENT_DISCONNECT = "io client disconnect"


class Client:
    """A Socket.IO client of one namespace with reconnection, recovery and token refresh."""

    def __init__(self, url: str, token_getter: TokenGetter, namespace: str = "/", *,
                 path: str = "/socket.io/", backoff: Backoff | None = None,
                 connect_timeout: float = 10.0, ack_timeout: float = 10.0,
                 refresh_margin_s: float = 60.0, max_queued_events: int = 1000,
                 max_message_bytes: int = 1 << 20, close_grace_s: float = 1.0) -> None:
        if not namespace.startswith("/"):
            raise ValueError(f"namespace names start with '/': {namespace!r}")
        self.url = websocket_url(url, path)
        self.namespace = namespace
        self.backoff = backoff or Backoff()
        self.connect_timeout = connect_timeout
        self.ack_timeout = ack_timeout
        self.refresh_margin_s = refresh_margin_s
        self.max_message_bytes = max_message_bytes
        # How long close() lets queued coroutine handlers (a "disconnect" one, say) finish.
        self.close_grace_s = close_grace_s
        self.sid: str | None = None
        self.recovered = False
        self._token_getter = token_getter
        self._token: str | None = None
        self._recovery = Recovery()
        self._link: Link | None = None
        self._handlers = Handlers(self._answer, max_queued_events,
                                  f"yellowbox-client handlers {self.url}")
        self._acks: dict[int, asyncio.Future[list[Any]] | AckCallback] = {}
        self._next_ack = 0
        # Channel kinds to subscribe again after a reconnect that was not recovered.
        self._subscriptions: dict[str, None] = {}
        self._runner: asyncio.Task[None] | None = None
        self._closing = False
        self._refresh_timer: asyncio.TimerHandle | None = None
        self._refreshing: asyncio.Task[None] | None = None

    # -- public API -------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._link is not None

    @property
    def subscriptions(self) -> tuple[str, ...]:
        return tuple(self._subscriptions)

    def on(self, event: str, handler: Handler) -> Handler:
        """Call ``handler(*args)`` for each ``event``; its return value is the ack when the
        server asked for one (several handlers: the first value that is not None)."""
        self._handlers.add(event, handler)
        return handler

    async def connect(self) -> None:
        """Connect once; raises :class:`ConnectRefused` when the server refuses and
        :class:`Disconnected` when it cannot be reached. After that, reconnects on its own."""
        if self._runner is not None or self._closing:
            raise RuntimeError("connect() is called once per Client")
        try:
            link, recovered = await self._open(force_refresh=False)
        except GatewayError as exc:
            await self._fire("connect_error", exc)
            raise
        await self._established(link, recovered)
        self._runner = asyncio.get_running_loop().create_task(
            self._run(link), name=f"yellowbox-client reader {self.url}")

    async def close(self) -> None:
        """Leave for good: no more reconnects. Pending calls fail with Disconnected."""
        if self._closing:
            return
        self._closing = True
        self._stop_refresh()
        link = self._link
        if link is not None:
            with contextlib.suppress(Disconnected):
                await self._send(link, sio.SioPacket(sio.SioType.DISCONNECT, self.namespace))
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        if link is not None:
            await self._lost(link, IO_CLIENT_DISCONNECT)
        await self._handlers.close(grace=self.close_grace_s)

    async def emit(self, event: str, *args: Any) -> None:
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name")
        link = self._require_link()
        await self._send(link, sio.SioPacket(sio.SioType.EVENT, self.namespace, [event, *args]))

    async def call(self, event: str, *args: Any, timeout: float | None = None) -> Any:
        """Emit and wait for the ack: its only argument, None without any, a tuple of
        several. :class:`AckTimeout` after ``timeout`` (default ``ack_timeout``) seconds."""
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name")
        link = self._require_link()
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        ack_id = self._new_ack(future)
        wait = self.ack_timeout if timeout is None else timeout
        try:
            await self._send(link, sio.SioPacket(sio.SioType.EVENT, self.namespace,
                                                 [event, *args], ack_id))
            async with asyncio.timeout(wait):
                answer = await future
        except TimeoutError as exc:
            raise AckTimeout(f"no acknowledgement for {event!r} within {wait} s") from exc
        finally:
            self._acks.pop(ack_id, None)
        if not answer:
            return None
        return answer[0] if len(answer) == 1 else tuple(answer)

    async def subscribe(self, channel_kind: str) -> dict[str, Any]:
        """``subscribe_<channel_kind>`` (``rider_locations``, ``expense_updates``); kept and
        sent again after a reconnect that was not recovered. RequestRefused when refused."""
        answer = _accepted(f"subscribe_{channel_kind}",
                           await self.call(f"subscribe_{channel_kind}"))
        self._subscriptions[channel_kind] = None
        return answer

    async def unsubscribe(self, channel_kind: str) -> dict[str, Any]:
        self._subscriptions.pop(channel_kind, None)
        return _accepted(f"unsubscribe_{channel_kind}",
                         await self.call(f"unsubscribe_{channel_kind}"))

    async def publish_location(self, latitude: float, longitude: float, *,
                               accuracy: float | None = None, speed: float | None = None,
                               heading: float | None = None,
                               timestamp: float | str | None = None) -> dict[str, Any]:
        """Publish the rider's position and wait for the server's ack (``{ok, timestamp}``);
        RequestRefused when refused. ``emit("publish_location", {...})`` is the
        fire-and-forget form (refusals then arrive as ``gateway_error`` events)."""
        payload: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
        optional = {"accuracy": accuracy, "speed": speed, "heading": heading,
                    "timestamp": timestamp}
        payload.update({key: value for key, value in optional.items() if value is not None})
        return _accepted("publish_location", await self.call("publish_location", payload))

    # -- connecting -------------------------------------------------------------------

    async def _open(self, force_refresh: bool) -> tuple[Link, bool]:
        """A WebSocket, the Engine.IO handshake and the namespace CONNECT."""
        try:
            async with asyncio.timeout(self.connect_timeout):
                link = await open_link(self.url, self.max_message_bytes)
                try:
                    token = await self._fetch_token(force_refresh)
                    sent_pid = self._recovery.pid
                    answer = await link.join(self.namespace,
                                             self._recovery.connect_auth(token))
                except BaseException:
                    await link.close()
                    raise
        except TimeoutError as exc:
            raise Disconnected(f"no connection to {self.url} within "
                               f"{self.connect_timeout} s") from exc
        except (OSError, WebSocketException) as exc:
            raise Disconnected(f"cannot connect to {self.url}: {exc}") from exc
        self._token = token
        sid = answer.get("sid")
        self.sid = sid if isinstance(sid, str) else None
        return link, self._recovery.connected(answer, sent_pid)

    async def _fetch_token(self, force_refresh: bool) -> str:
        try:
            token = await self._token_getter(force_refresh)
        except GatewayError:
            raise
        except Exception as exc:
            # The getter is application code (a Firebase SDK, an HTTP call): whatever it
            # raises is a failed connect attempt, retried like a refusal.
            raise AuthenticationError(f"token_getter failed: {exc!r}") from exc
        if not isinstance(token, str) or not token:
            raise AuthenticationError("token_getter returned no token")
        return token

    async def _established(self, link: Link, recovered: bool) -> None:
        self._link = link
        self.recovered = recovered
        self._schedule_refresh()
        kinds = list(self._subscriptions)
        if recovered or not kinds:
            await self._fire("connect")
            return
        pending = set(kinds)
        # A connection that dies meanwhile is noticed by the reader, which reconnects.
        with contextlib.suppress(Disconnected):
            for kind in kinds:
                await self._send(link, sio.SioPacket(
                    sio.SioType.EVENT, self.namespace, [f"subscribe_{kind}"],
                    self._new_ack(self._resubscribed(kind, pending))))

    def _resubscribed(self, kind: str, pending: set[str]) -> AckCallback:
        async def answered(args: list[Any]) -> None:
            result = args[0] if args else None
            if not (isinstance(result, dict) and result.get("ok") is True):
                # The policy may have changed while we were away; stop asking.
                log.warning("resubscribing to %s was refused: %r", kind, result)
                self._subscriptions.pop(kind, None)
            pending.discard(kind)
            if not pending:
                await self._fire("connect")
        return answered

    # -- the reader task --------------------------------------------------------------

    async def _run(self, link: Link) -> None:
        current: Link | None = link
        try:
            while current is not None:
                reason = await current.read(self.namespace, self._on_packet)
                await self._lost(current, reason)
                current = None
                if not self._closing:
                    current = await self._reconnect(force_refresh=reason == IO_SERVER_DISCONNECT)
        except Exception:
            # A bug, not a network failure (those end read() or an attempt): say so loudly,
            # since this client will not reconnect any more.
            log.exception("the client of %s stopped", self.url)
            if current is not None:
                await self._lost(current, "client error")
        finally:
            if current is not None:
                await current.close()

    async def _on_packet(self, packet: sio.SioPacket) -> str | None:
        kind = packet.type
        if kind is sio.SioType.EVENT:
            event, args = packet.data[0], packet.data[1:]
            self._recovery.event(args)
            if event == REFRESH_REQUIRED_EVENT:
                self._start_refresh()
            if event not in RESERVED_EVENTS:
                await self._handlers.dispatch(event, args, packet.id, self._link)
        elif kind is sio.SioType.ACK:
            waiter = self._acks.pop(packet.id, None) if packet.id is not None else None
            if isinstance(waiter, asyncio.Future):
                if not waiter.done():
                    waiter.set_result(packet.data)
            elif waiter is not None:
                await waiter(packet.data)
        elif kind is sio.SioType.DISCONNECT:
            return IO_SERVER_DISCONNECT
        return None

    async def _lost(self, link: Link, reason: str) -> None:
        if self._link is not link:
            return
        self._link = None
        self.sid = None
        self._stop_refresh()
        await link.close()
        pending, self._acks = self._acks, {}
        for waiter in pending.values():
            if isinstance(waiter, asyncio.Future) and not waiter.done():
                waiter.set_exception(Disconnected(f"connection lost before the ack: {reason}"))
        await self._fire("disconnect", reason)

    async def _reconnect(self, force_refresh: bool) -> Link:
        attempt = 0
        while True:
            await asyncio.sleep(self.backoff.delay(attempt))
            attempt += 1
            try:
                link, recovered = await self._open(force_refresh)
            except GatewayError as exc:
                log.info("reconnect attempt %d to %s failed: %s", attempt, self.url, exc.message)
                # A refused token may be stale: ask for a fresh one next time.
                force_refresh = force_refresh or isinstance(exc, (ConnectRefused,
                                                                  AuthenticationError))
                await self._fire("connect_error", exc)
                continue
            await self._established(link, recovered)
            return link

    # -- token refresh ----------------------------------------------------------------

    def _schedule_refresh(self) -> None:
        self._cancel_refresh_timer()
        if self._token is None:
            return
        delay = refresh_delay(token_expiry(self._token), time.time(), self.refresh_margin_s)
        if delay is not None:
            self._refresh_timer = asyncio.get_running_loop().call_later(
                delay, self._start_refresh)

    def _start_refresh(self) -> None:
        self._cancel_refresh_timer()
        if self._refreshing is None and self._link is not None and not self._closing:
            self._refreshing = asyncio.get_running_loop().create_task(
                self._refresh(), name=f"yellowbox-client refresh {self.url}")

    async def _refresh(self) -> None:
        try:
            token = await self._fetch_token(True)
            answer = await self.call(REFRESH_EVENT, {"token": token})
        except GatewayError as exc:
            # The server disconnects an expired socket; the reconnect fetches a token then.
            log.warning("token refresh failed: %s", exc.message)
            return
        finally:
            # Only this refresh's own slot: a cancelled one must not forget its successor.
            if self._refreshing is asyncio.current_task():
                self._refreshing = None
        if isinstance(answer, dict) and answer.get("ok") is True:
            previous, self._token = self._token, token
            # The same token again would be refreshed again at once; wait for the server.
            if token != previous:
                self._schedule_refresh()
        else:
            log.warning("the server refused the refreshed token: %r", answer)
        await self._fire("token_refresh", answer)

    def _cancel_refresh_timer(self) -> None:
        if self._refresh_timer is not None:
            self._refresh_timer.cancel()
            self._refresh_timer = None

    def _stop_refresh(self) -> None:
        self._cancel_refresh_timer()
        refreshing, self._refreshing = self._refreshing, None
        if refreshing is not None and refreshing is not asyncio.current_task():
            refreshing.cancel()

    # -- handlers ---------------------------------------------------------------------

    async def _fire(self, event: str, *args: Any) -> None:
        await self._handlers.dispatch(event, list(args))

    async def _answer(self, link: object, ack_id: int | None, result: Any) -> None:
        # An ack belongs to the connection that asked; a reconnected one never expects it.
        if ack_id is None or not isinstance(link, Link) or link is not self._link:
            return
        args = [] if result is None else list(result) if isinstance(result, tuple) else [result]
        with contextlib.suppress(Disconnected):
            await self._send(link, sio.SioPacket(sio.SioType.ACK, self.namespace, args, ack_id))

    # -- sending ----------------------------------------------------------------------

    def _require_link(self) -> Link:
        link = self._link
        if link is None:
            raise Disconnected("not connected" if not self._closing else "client closed")
        return link

    def _new_ack(self, waiter: asyncio.Future[list[Any]] | AckCallback) -> int:
        ack_id = self._next_ack
        self._next_ack = (ack_id + 1) % sio.MAX_ACK_ID
        self._acks[ack_id] = waiter
        return ack_id

    async def _send(self, link: Link, packet: sio.SioPacket) -> None:
        if link is not self._link:
            raise Disconnected("connection lost")
        await link.send(packet)


def _accepted(event: str, answer: Any) -> dict[str, Any]:
    if isinstance(answer, dict) and answer.get("ok") is True:
        return answer
    error = answer.get("error") if isinstance(answer, dict) else None
    code = answer.get("code") if isinstance(answer, dict) else None
    raise RequestRefused(f"{event}: {error if error else f'unexpected answer {answer!r}'}",
                         code if isinstance(code, str) else None)

