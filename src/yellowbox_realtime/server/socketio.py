"""Socket.IO v5 on top of Engine.IO sessions: namespaces, connect, events, acks.

Each Engine.IO session carries a :class:`SioClient` with its packet decoder and the sockets
it opened, one per namespace. CONNECT is authenticated (the ``auth`` payload's ``token``),
then the namespace's middlewares run; a refusal is a CONNECT_ERROR whose ``message``
``socket.io-client`` shows as ``connect_error``. A packet that cannot be decoded closes the
session: the peer is not speaking Socket.IO.

Token lifetime: when a connected socket's token expires it receives ``auth_refresh_required``;
it may send ``refresh_token`` with a new token for the same user within the grace period, or
it is disconnected with ``auth_expired``. Privileges follow the current token: after a
refresh with another role, and on recovery, every room is asked of the namespace's room
guard again, and each one refused is left with a ``subscription_revoked`` event
(``{channel, reason}``).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ..auth.base import Authenticator
from ..config import AuthConfig, EngineIOConfig
from ..core.background import Background
from ..core.channels import role_channel, user_channel
from ..core.deadlines import Deadline, Deadlines
from ..core.hub import Outgoing
from ..core.recovery import Departed, RecoveryRecords
from ..errors import AuthenticationError, GatewayError, ProtocolError
from ..messages import Credentials, StreamPosition
from ..protocol import engineio as eio
from ..protocol import socketio as sio
from ..protocol.sse import parse_last_event_id
from .engineio import EngineSession
from .limits import ClientLimits, EventBucket, EventVerdict
from .namespaces import (
    ERROR_EVENT,
    REVOKED_EVENT,
    Namespace,
    Socket,
    error_event,
    log_socket,
)

log = logging.getLogger(__name__)

REFRESH_REQUIRED_EVENT = "auth_refresh_required"
REFRESH_EVENT = "refresh_token"
EXPIRED_EVENT = "auth_expired"

_NONE: frozenset[str] = frozenset()
# Most clients send only a token: their sockets share one empty, read-only auth mapping.
_NO_AUTH: Mapping[str, Any] = MappingProxyType({})


def _without(names: frozenset[str], name: str) -> frozenset[str]:
    """``names - {name}``, sharing one empty set: every session ends up with an empty one."""
    return names - {name} or _NONE


class SioClient:
    """Socket.IO state of one Engine.IO session."""

    __slots__ = ("connecting", "decoder", "events", "sockets", "uid")

    def __init__(self, max_attachments: int) -> None:
        self.decoder = sio.Decoder(max_attachments=max_attachments)
        self.sockets: dict[str, Socket] = {}
        # The events budget ([limits]), made on the first event; and the user this session
        # counts against (max_connections_per_user), from its first authenticated CONNECT.
        self.events: EventBucket | None = None
        self.uid: str | None = None
        # Namespaces whose CONNECT is being authenticated; rarely non-empty, so a shared
        # empty frozenset until then.
        self.connecting = _NONE


class SocketIOServer:
    """Implements the Engine.IO handler interface; owns the namespaces."""

    def __init__(self, engine_config: EngineIOConfig, auth_config: AuthConfig,
                 authenticator: Authenticator, deadlines: Deadlines,
                 namespaces: dict[str, Namespace], background: Background,
                 recovery: RecoveryRecords | None = None, *,
                 pid_key: bytes | None = None, limits: ClientLimits | None = None) -> None:
        self.engine_config = engine_config
        # Connections per user and events per connection; None: unlimited.
        self.limits = limits
        self.background = background
        self.recovery = recovery
        # Private ids are derived from socket ids with this key, so a socket stores none;
        # in a cluster every node has the same key, so any node recognises a pid.
        self._pid_key = pid_key or secrets.token_bytes(32)
        self.auth_config = auth_config
        self.authenticator = authenticator
        self.deadlines = deadlines
        self.namespaces = namespaces
        # Bound once: a deadline per socket holds its callback, and a fresh bound method
        # per deadline would be one more object per connection.
        self._on_expired = self._expired
        self._on_grace_over = self._evict
        # Sessions that have not joined a namespace yet, oldest first, with their deadline;
        # one timer for all of them, armed for the oldest.
        self._unjoined: dict[EngineSession, float] = {}
        self._connect_sweep: Deadline | None = None

    # -- EngineHandler ----------------------------------------------------------------

    def on_open(self, session: EngineSession) -> None:
        session.state = SioClient(max_attachments=10)
        # A small budget for messages until a CONNECT is accepted.
        session.limit_until_joined()
        due = self.deadlines.now() + self.engine_config.connect_timeout_ms / 1000
        self._unjoined[session] = due
        if self._connect_sweep is None:
            self._connect_sweep = self.deadlines.at(due, self._close_unjoined)

    def _close_unjoined(self) -> None:
        """Close sessions that joined no namespace in time; re-arm for the next oldest."""
        self._connect_sweep = None
        now = self.deadlines.now()
        while self._unjoined:
            session, due = next(iter(self._unjoined.items()))
            if due > now:
                self._connect_sweep = self.deadlines.at(due, self._close_unjoined)
                return
            del self._unjoined[session]
            session.close("connect timeout: no namespace joined", notify=True)

    def on_message(self, session: EngineSession, data: str | bytes) -> None:
        client = session.state
        assert isinstance(client, SioClient)
        if session.closed:
            return  # the rest of a batch that closed it (a flood, a parse error)
        try:
            packet = (client.decoder.feed_text(data) if isinstance(data, str)
                      else client.decoder.feed_binary(data))
        except ProtocolError as exc:
            log.info("closing session %s: %s", session.sid, exc.message)
            session.close(f"parse error: {exc.message}")
            return
        if packet is not None:
            self._dispatch(session, client, packet)
        elif self._charge(client) == EventVerdict.DISCONNECT:
            # A binary packet's header and each attachment cost as a packet does (so one
            # with n attachments costs n + 1).
            self._flooded(session, client)

    def on_close(self, session: EngineSession, reason: str) -> None:
        client = session.state
        if not isinstance(client, SioClient):
            return
        self._unjoined.pop(session, None)
        for socket in tuple(client.sockets.values()):
            self._forget(socket, reason)
        client.sockets.clear()
        if client.uid is not None and self.limits is not None:
            self.limits.close_user(client.uid)
            client.uid = None

    def closing_packets(self, session: EngineSession, error: GatewayError) -> list[str]:
        client = session.state
        if not isinstance(client, SioClient):
            return []
        return [eio.message(sio.encode_event_text(nsp, ERROR_EVENT,
                                                  [error_event(None, error)]))
                for nsp in client.sockets]

    # -- packets ----------------------------------------------------------------------

    def _dispatch(self, session: EngineSession, client: SioClient,
                  packet: sio.SioPacket) -> None:
        """Every packet draws on the session's budget: events, acks, namespace connects and
        disconnects alike (a CONNECT costs a token check, presence and log lines; left
        free, a loop of them would cost the server far more than events do)."""
        kind = packet.type
        socket = client.sockets.get(packet.nsp)
        verdict = self._charge(client)
        if verdict == EventVerdict.DISCONNECT:
            self._flooded(session, client)
            return
        if kind is sio.SioType.EVENT:
            if socket is None:
                return
            data = packet.data
            if verdict == EventVerdict.REFUSE:
                assert self.limits is not None
                socket.answer_error(data[0], packet.id, self.limits.event_refusal())
                return
            if data[0] == REFRESH_EVENT and socket.credentials is not None:
                self.background.spawn(self._refresh(socket, data[1:], packet.id))
            else:
                socket.received_event(data[0], data[1:], packet.id)
        elif kind is sio.SioType.ACK:
            # Taken even over the rate: an answer the server waits for, and cheap.
            if socket is not None and packet.id is not None:
                socket.received_ack(packet.id, packet.data)
        elif kind is sio.SioType.CONNECT:
            if verdict == EventVerdict.REFUSE:
                assert self.limits is not None
                self._refuse(session, packet.nsp, self.limits.event_refusal().message)
                return
            self._start_connect(session, client, packet)
        elif kind is sio.SioType.DISCONNECT:
            # Honoured even over the rate: leaving frees what the socket held.
            if socket is not None:
                client.sockets.pop(packet.nsp, None)
                self._forget(socket, "client namespace disconnect")
        else:
            session.close(f"parse error: clients do not send packet type {int(kind)}")

    def _charge(self, client: SioClient) -> int:
        """One packet (or binary attachment) against the session's budget: its verdict."""
        if self.limits is None:
            return EventVerdict.ACCEPT
        verdict, client.events = self.limits.take_event(client.events, self.deadlines.now())
        return verdict

    def _flooded(self, session: EngineSession, client: SioClient) -> None:
        """A session that kept sending over its rate reads why and is disconnected without
        coming back (a Socket.IO disconnect: socket.io-client does not reconnect after
        one)."""
        assert self.limits is not None
        error = self.limits.flood_error()
        log.warning("disconnecting session %s from %s: %s", session.sid,
                    session.handshake.address, error.message)
        for packet in self.closing_packets(session, error):
            session.send_text(packet)
        for each in tuple(client.sockets.values()):
            each.send_packet(sio.SioPacket(sio.SioType.DISCONNECT, each.namespace.name))
            self._forget(each, "rate limited: event flood")
        client.sockets.clear()
        # 1008: policy violation.
        session.close("rate limited: event flood", code=1008, why="event flood")

    def _start_connect(self, session: EngineSession, client: SioClient,
                       packet: sio.SioPacket) -> None:
        nsp = packet.nsp
        namespace = self.namespaces.get(nsp)
        if namespace is None:
            self._refuse(session, nsp, "Invalid namespace")
            return
        if nsp in client.sockets or nsp in client.connecting:
            return
        client.connecting |= {nsp}
        auth = packet.data if isinstance(packet.data, dict) else {}
        self.background.spawn(self._connect(session, client, namespace, auth))

    async def _connect(self, session: EngineSession, client: SioClient, namespace: Namespace,
                       auth: Mapping[str, Any]) -> None:
        restoring = auth if "pid" in auth else None
        try:
            credentials = await self._authenticate(namespace, auth)
            # A verified token is dropped: the credentials stand for it, and a token kept on
            # every socket would only cost memory and risk leaking into logs. pid and offset
            # are recovery's, not the application's.
            dropped = ("pid", "offset", "token") if credentials is not None else ("pid", "offset")
            auth = {k: v for k, v in auth.items() if k not in dropped} or _NO_AUTH
            socket = Socket(_new_id(), namespace, session, credentials, auth)
            for middleware in namespace.middlewares:
                result = middleware(socket)
                if asyncio.iscoroutine(result):
                    await result
            # Last, with nothing awaited after it: the history read and joining the rooms
            # below happen in one step, so nothing is missed or delivered twice.
            restored = None if restoring is None else \
                await self._recover(namespace, credentials, restoring)
        except GatewayError as exc:
            client.connecting = _without(client.connecting, namespace.name)
            if not session.closed:
                self._refuse(session, namespace.name, exc.message)
            return
        except Exception:
            client.connecting = _without(client.connecting, namespace.name)
            log.exception("connect to %s failed", namespace.name)
            if not session.closed:
                self._refuse(session, namespace.name, "internal error")
            return
        client.connecting = _without(client.connecting, namespace.name)
        if session.closed:
            return
        if credentials is not None and client.uid is None and self.limits is not None:
            # Counted here, after the last await: the check and the count are one step.
            try:
                self.limits.open_user(credentials.uid)
            except GatewayError as exc:
                self._refuse(session, namespace.name, exc.message)
                return
            client.uid = credentials.uid
        if restored is not None:
            departed = restored[0]
            socket.id, socket.recovered = departed.sid, True
            if departed.data is not None:
                socket.data.update(departed.data)
        client.sockets[namespace.name] = socket
        self._unjoined.pop(session, None)
        session.joined()
        socket.accept()
        socket.joined_at = namespace.broker.position().offset
        if credentials is not None:
            socket.join(user_channel(credentials.uid))
            socket.join(role_channel(credentials.role))
            self._watch_expiry(socket)
        ack: dict[str, Any] = {"sid": socket.id}
        if self.recovery is not None:
            ack["pid"] = self._pid(socket.id)
        socket.send_packet(sio.SioPacket(sio.SioType.CONNECT, namespace.name, ack))
        # The reply leaves alone, ahead of what the connect handlers and recovery send: a
        # client that reads the reply, then adds a listener for the next message, would
        # miss one that came in the same read.
        session.send_alone()
        if restored is not None:
            departed, missed, revoked = restored
            for room in departed.rooms:
                socket.join(room)
            for message in missed:
                socket.send_message(message.for_namespace(namespace.name))
            for room in revoked:
                _tell_revoked(socket, room)
        if self.recovery is not None:
            self.recovery.track(self._pid(socket.id), lambda: self._departed(socket))
        log_socket("connected", socket, recovered=socket.recovered)
        for handler in namespace.connect_handlers:
            self.background.run_handler(handler, socket)

    async def _authenticate(self, namespace: Namespace,
                            auth: Mapping[str, Any]) -> Credentials | None:
        if not namespace.auth_required:
            return None
        token = auth.get("token")
        if not isinstance(token, str) or not token:
            raise AuthenticationError(
                "authentication required: connect with auth: {token: <ID token>}")
        return await self.authenticator.authenticate(token)

    def _refuse(self, session: EngineSession, nsp: str, message: str) -> None:
        """CONNECT_ERROR: socket.io-client shows ``message`` as its connect_error."""
        text, _ = sio.encode(sio.SioPacket(sio.SioType.CONNECT_ERROR, nsp,
                                           {"message": message}))
        session.send_text(eio.message(text))

    def _forget(self, socket: Socket, reason: str) -> None:
        if socket.expiry is not None:
            socket.expiry.cancel()
            socket.expiry = None
        if self.recovery is not None and socket.connected:
            pid = self._pid(socket.id)
            recoverable = _recoverable(reason)
            self.recovery.untrack(pid, forget=not recoverable)
            if recoverable:
                self.recovery.keep(pid, self._departed(socket))
        socket.closed(reason)

    def _departed(self, socket: Socket) -> Departed:
        return Departed(socket.id, socket.uid, socket.namespace.name, tuple(socket.rooms),
                        socket._data, socket.namespace.broker.position().epoch,
                        socket.joined_at, self.deadlines.now())

    def _pid(self, sid: str) -> str:
        digest = hmac.new(self._pid_key, sid.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:15]).decode()

    async def _recover(self, namespace: Namespace, credentials: Credentials | None,
                       auth: Mapping[str, Any]
                       ) -> tuple[Departed, list[Outgoing], tuple[str, ...]] | None:
        """The departed socket this CONNECT may restore, and what it missed; None when it
        cannot be restored whole (then the client starts afresh: ``recovered`` false), and
        the rooms it had that the new token does not allow."""
        pid = auth.get("pid")
        if self.recovery is None or not isinstance(pid, str):
            return None
        departed = await self.recovery.claim(pid, self.deadlines.now())
        if departed is None or departed.nsp != namespace.name or (
                credentials is not None and departed.uid != credentials.uid):
            return None
        offset = auth.get("offset")
        try:
            position = (parse_last_event_id(offset) if isinstance(offset, str) else None) \
                or StreamPosition(departed.epoch, departed.joined_at)
        except GatewayError:
            return None
        # Only the rooms the new token allows come back, and only their history is read;
        # the role room follows the new token, not the old one.
        guard = namespace.room_guard
        kept = tuple(room for room in departed.rooms if not room.startswith("role:")
                     and (guard is None or credentials is None or guard(credentials, room)))
        revoked = tuple(room for room in departed.rooms
                        if room not in kept and not room.startswith("role:"))
        if revoked:
            log.info("recovered socket %s uid=%s role=%s: left %s (not allowed any more)",
                     departed.sid, departed.uid, credentials and credentials.role,
                     ", ".join(revoked))
        departed = dataclasses.replace(departed, rooms=kept)
        channels = [namespace.channel(room) for room in departed.rooms]
        try:
            missed = await namespace.broker.since(channels, position)
        except GatewayError as exc:
            if not exc.temporary:
                raise
            return None  # the history cannot be read now (Redis away): a gap, not a refusal
        if not missed.complete:
            return None
        return departed, missed.entries, revoked

    # -- token lifetime ---------------------------------------------------------------

    def _watch_expiry(self, socket: Socket) -> None:
        credentials = socket.credentials
        if credentials is None or credentials.expires_at is None:
            return
        if socket.expiry is not None:
            socket.expiry.cancel()
        delay = max(0.0, credentials.expires_at - time.time())
        socket.expiry = self.deadlines.after(delay, self._on_expired, socket)

    def _expired(self, socket: Socket) -> None:
        if not socket.connected:
            return
        grace = self.auth_config.refresh_grace_s
        socket.emit(REFRESH_REQUIRED_EVENT, {"reason": "token expired", "graceSeconds": grace})
        socket.expiry = self.deadlines.after(grace, self._on_grace_over, socket)

    def _evict(self, socket: Socket) -> None:
        socket.expiry = None
        if socket.connected:
            socket.emit(EXPIRED_EVENT, {"message": "token expired and was not refreshed"})
            socket.disconnect("token expired")

    async def _refresh(self, socket: Socket, args: list[Any], ack_id: int | None) -> None:
        """A gateway feature, answered before application handlers see the event."""
        payload = args[0] if args else None
        token = payload.get("token") if isinstance(payload, dict) else None
        try:
            if not isinstance(token, str) or not token:
                raise AuthenticationError(f"{REFRESH_EVENT} needs {{token: <ID token>}}")
            credentials = await self.authenticator.authenticate(token)
            current = socket.credentials
            if current is not None and credentials.uid != current.uid:
                raise AuthenticationError(f"{REFRESH_EVENT}: the new token is for another user")
        except GatewayError as exc:
            socket.answer_error(REFRESH_EVENT, ack_id, exc)
            return
        if not socket.connected:
            return  # it left while the token was checked: nothing to join or answer
        socket.credentials = credentials
        if current is not None and credentials.role != current.role:
            log_socket("role changed", socket, previous=current.role, via="refresh")
            socket.leave(role_channel(current.role))
            socket.join(role_channel(credentials.role))
        self._reauthorize(socket)
        self._watch_expiry(socket)
        socket.answer(ack_id, {"ok": True, "expiresAt": credentials.expires_at})

    def _reauthorize(self, socket: Socket) -> None:
        """Leave every room the socket's current credentials no longer allow, telling the
        client which: privileges follow the current token, not the one it joined with."""
        guard, credentials = socket.namespace.room_guard, socket.credentials
        if guard is None or credentials is None:
            return
        for room in socket.rooms:
            if not guard(credentials, room):
                socket.leave(room)
                _tell_revoked(socket, room)


# Disconnects a socket can come back from; not the ones where a side meant to leave, nor
# refused input or an expired token.
_RECOVERABLE = ("transport close", "transport error", "ping timeout", "slow consumer",
                "server shutting down")


def _recoverable(reason: str) -> bool:
    return reason.startswith(_RECOVERABLE)


def _tell_revoked(socket: Socket, room: str) -> None:
    role = socket.role
    socket.emit(REVOKED_EVENT, {"channel": room,
                                "reason": f"role {role!r} may not subscribe to {room!r}"})


def _new_id() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(15)).decode()

