"""Resource subscriptions: bounded ``subscriptions/listen`` streams, and the changes that
wake them.

A stream (MCP 2026-07-28: one long-lived request whose response carries the events) may
watch at most ``max_resources_per_subscription`` of our resources, each of which the caller
may read; a user or API key holds at most ``max_subscriptions_per_user`` streams, each also
one of the user's ``[limits]`` connections, and the gateway at most ``max_subscriptions``.
A handshake-era session's ``resources/subscribe`` watches as many, per session (sessions are
bounded by the session manager); they are forgotten when the session ends, or when its
stream has taken no update for ``SEND_TIMEOUT_S``.

:class:`ResourceWatch` listens on the hub to the channels that drive the dashboard (rider
locations and presence, alerts, expenses, orders) and marks the resources they change, but
only those some stream watches; at most once per ``update_interval_s`` each marked resource
goes out as one ``notifications/resources/updated``, however many events changed it.
"""

from __future__ import annotations

import asyncio
from collections import Counter, OrderedDict
from collections.abc import Mapping
from typing import Any

import anyio
from mcp.server.context import ServerRequestContext
from mcp.server.session import ServerSession
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ResourceUpdated
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    EmptyResult,
    SubscribeRequestParams,
    SubscriptionsListenRequestParams,
    SubscriptionsListenResult,
    UnsubscribeRequestParams,
)

from ..api.keys import Caller
from ..config import McpConfig
from ..core.hub import Hub, Outgoing
from ..errors import GatewayError
from ..messages import Credentials
from ..operations import ALERTS, EXPENSE_UPDATES, ORDERS, RIDER_LOCATIONS, RIDER_PRESENCE
from ..server.limits import ClientLimits
from .access import LIMITED, REFUSED, Access, caller_of, describe, principal
from .resources import ALERTS_URI, DASHBOARD_URI, FLEET_URI, guard, rider_uri

__all__ = ["BoundedListen", "LegacySubscriptions", "ResourceWatch"]

# How long one notification to a handshake-era session may wait for room in its stream.
SEND_TIMEOUT_S = 5.0

_CHANGES: Mapping[str, tuple[str, ...]] = {
    RIDER_LOCATIONS: (FLEET_URI, DASHBOARD_URI),
    RIDER_PRESENCE: (FLEET_URI, DASHBOARD_URI),
    ALERTS: (ALERTS_URI, DASHBOARD_URI, FLEET_URI),
    EXPENSE_UPDATES: (DASHBOARD_URI,),
    ORDERS: (DASHBOARD_URI,),
}


class ResourceWatch:
    def __init__(self, hub: Hub, bus: InMemorySubscriptionBus, interval_s: float,
                 max_sessions: int) -> None:
        self.hub = hub
        self.bus = bus
        self.interval_s = interval_s
        # How many open streams and sessions watch each URI: only these are ever marked.
        self.watched: Counter[str] = Counter()
        # Handshake-era sessions' resources/subscribe, by session id: the session to notify
        # (any of its request sessions reaches its standalone stream) and what it watches.
        # A session that ended is dropped when a notification to it fails, or as the oldest
        # beyond max_sessions.
        self.sessions: OrderedDict[str, tuple[ServerSession, set[str]]] = OrderedDict()
        self.max_sessions = max_sessions
        self._dirty: set[str] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: set[asyncio.Task[None]] = set()
        self._listeners = {channel: self._listener(uris) for channel, uris in _CHANGES.items()}

    def start(self) -> None:
        for channel, listener in self._listeners.items():
            self.hub.listen(channel, listener)

    async def close(self) -> None:
        for channel, listener in self._listeners.items():
            self.hub.unlisten(channel, listener)
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._flushing):
            task.cancel()
        await asyncio.gather(*self._flushing, return_exceptions=True)

    def _listener(self, uris: tuple[str, ...]) -> Any:
        def changed(message: Outgoing) -> None:
            if not self.watched:
                return
            for uri in uris:
                if uri in self.watched:
                    self._mark(uri)
            data = message.args[0] if message.args else None
            rider = data.get("riderId") if isinstance(data, dict) else None
            if rider is not None and rider_uri(str(rider)) in self.watched:
                self._mark(rider_uri(str(rider)))

        return changed

    def _mark(self, uri: str) -> None:
        self._dirty.add(uri)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.interval_s, self._flush)

    def _flush(self) -> None:
        self._timer = None
        dirty, self._dirty = self._dirty, set()
        task = asyncio.get_running_loop().create_task(self._publish(dirty))
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _publish(self, uris: set[str]) -> None:
        for uri in uris:
            await self.bus.publish(ResourceUpdated(uri=uri))
        for session_id, (session, watched) in list(self.sessions.items()):
            for uri in uris & watched:
                try:
                    # A client that stopped reading its stream fills the session's
                    # buffer; it loses its subscriptions rather than hold up the rest.
                    with anyio.fail_after(SEND_TIMEOUT_S):
                        await session.send_resource_updated(uri)
                except Exception:
                    self.unwatch(session_id)
                    break

    def watch_session(self, session_id: str, session: ServerSession, uri: str,
                      most: int) -> None:
        _, watched = self.sessions.pop(session_id, (session, set()))
        self.sessions[session_id] = (session, watched)
        if len(self.sessions) > self.max_sessions:
            self.unwatch(next(iter(self.sessions)))
        if uri in watched:
            return
        if len(watched) >= most:
            raise MCPError(LIMITED, f"too_many_subscriptions: at most {most} resources per "
                           "session")
        watched.add(uri)
        self.watched[uri] += 1

    def unwatch_session(self, session_id: str, uri: str) -> None:
        _, watched = self.sessions.get(session_id, (None, set()))
        if uri in watched:
            watched.discard(uri)
            self.forget({uri})

    def unwatch(self, session_id: str) -> None:
        _, watched = self.sessions.pop(session_id, (None, set()))
        self.forget(watched)

    def forget(self, uris: set[str]) -> None:
        self.watched.subtract(uris)
        self.watched += Counter()


class LegacySubscriptions:
    """``resources/subscribe`` and ``unsubscribe`` for handshake-era clients (desktop
    assistants over the stdio relay): the same checks, at most
    ``max_resources_per_subscription`` resources per session."""

    def __init__(self, watch: ResourceWatch, access: Access, config: McpConfig) -> None:
        self.watch = watch
        self.access = access
        self.config = config

    async def subscribe(self, ctx: ServerRequestContext[Any, Any],
                        params: SubscribeRequestParams) -> EmptyResult:
        uri = str(params.uri)
        _check_readable(self.access, caller_of(ctx.request), uri)
        self.watch.watch_session(_session_id(ctx), ctx.session, uri,
                                 self.config.max_resources_per_subscription)
        return EmptyResult()

    async def unsubscribe(self, ctx: ServerRequestContext[Any, Any],
                          params: UnsubscribeRequestParams) -> EmptyResult:
        self.watch.unwatch_session(_session_id(ctx), str(params.uri))
        return EmptyResult()


def _session_id(ctx: ServerRequestContext[Any, Any]) -> str:
    headers = getattr(ctx.request, "headers", None)
    session_id = headers.get(MCP_SESSION_ID_HEADER) if headers is not None else None
    if not session_id:
        raise MCPError(INVALID_REQUEST, "resources/subscribe needs a session (Mcp-Session-Id)")
    return str(session_id)


def _check_readable(access: Access, caller: Caller, uri: str) -> None:
    needs = guard(uri)
    if needs is None:
        raise MCPError(INVALID_PARAMS, f"unknown resource {uri[:200]!r}")
    try:
        access.check_read(caller, *needs)
    except GatewayError as exc:
        raise MCPError(REFUSED, describe(exc)) from exc


class BoundedListen:
    """The SDK's listen handler behind our checks and counts."""

    def __init__(self, bus: InMemorySubscriptionBus, watch: ResourceWatch, access: Access,
                 limits: ClientLimits, config: McpConfig) -> None:
        self.inner = ListenHandler(bus, max_subscriptions=config.max_subscriptions)
        self.watch = watch
        self.access = access
        self.limits = limits
        self.config = config
        self.streams: Counter[str] = Counter()

    async def __call__(self, ctx: ServerRequestContext[Any, Any],
                       params: SubscriptionsListenRequestParams) -> SubscriptionsListenResult:
        caller = caller_of(ctx.request)
        uris = list(dict.fromkeys(params.notifications.resource_subscriptions or ()))
        if len(uris) > self.config.max_resources_per_subscription:
            raise MCPError(INVALID_PARAMS, f"at most {self.config.max_resources_per_subscription}"
                           f" resources per subscription, not {len(uris)}")
        for uri in uris:
            _check_readable(self.access, caller, uri)
        who = principal(caller)
        if self.streams[who] >= self.config.max_subscriptions_per_user:
            raise MCPError(LIMITED, f"too_many_subscriptions: {who} already has "
                           f"{self.streams[who]} subscription streams open")
        if self.streams.total() >= self.config.max_subscriptions:
            raise MCPError(LIMITED, "too_many_subscriptions: the gateway has "
                           f"{self.config.max_subscriptions} subscription streams open")
        uid = caller.uid if isinstance(caller, Credentials) else None
        if uid is not None:
            try:
                self.limits.open_user(uid)
            except GatewayError as exc:
                raise MCPError(LIMITED, describe(exc)) from exc
        self.streams[who] += 1
        self.watch.watched.update(uris)
        try:
            return await self.inner(ctx, params)
        finally:
            self.watch.forget(set(uris))
            self.streams[who] -= 1
            if not self.streams[who]:
                del self.streams[who]
            if uid is not None:
                self.limits.close_user(uid)
