"""Composition root: builds the gateway from a config and runs it.

:class:`Gateway` is also the public entry point for applications written on the gateway::

    gateway = Gateway(Config())
    ns = gateway.of("/")
    ...
    await gateway.start()

Shutdown order: stop accepting connections, close SSE streams (told when to come back) and
Engine.IO sessions (clients are told to go), cancel the background tasks still running for
clients (handlers, connects), close the HTTP front (waiting up to a second for clients to
close), the outbox (deliveries in flight get ``outbox.close_grace_s``), the ASGI bridge, the
connections still waiting for their clients to read their last bytes (closed, or aborted if
they had not sent all), and the authenticator.

Sessions end with an Engine.IO close packet, not a Socket.IO disconnect: socket.io-client
takes the first as "transport close" and reconnects (to this address, where a new process
or a load balancer's next node answers), the second as "io server disconnect" and stays
away. On SIGTERM the whole shutdown is bounded by ``server.shutdown_timeout_s``: the
outbox's requests in flight get what is left of it (at most ``outbox.close_grace_s``), and
what they do not finish stays in the outbox's file, sent again after the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client.metrics_core import Metric
from starlette.routing import BaseRoute
from starlette.routing import Route as StarletteRoute

from .api.app import create_api
from .api.metrics import MetricsApi
from .api.operations import OperationsApi
from .api.outbox import OutboxApi
from .api.publish import PublishApi
from .api.webhooks import WebhooksApi
from .auth import build_authenticator
from .auth.base import Authenticator
from .brokers.redis import RedisBroker
from .brokers.redis_cluster import RedisCluster
from .brokers.redis_state import RedisRecoveryRecords, RedisTickets, shared_pid_key
from .config import BrokerConfig, Config, HistoryConfig, ServerConfig
from .core.background import Background
from .core.broker import Broker, MemoryBroker
from .core.counters import Counters
from .core.deadlines import Deadlines
from .core.history import HistoryLimits
from .core.hub import Hub
from .core.policy import Policy
from .core.recovery import RecoveryRecords, RecoveryStore
from .core.router import Router
from .domain.geofence import Fence
from .domain.geofence_config import fences_from_data
from .errors import ConfigError, GatewayError
from .events import YellowBoxEvents
from .logs import LogThrottle
from .metrics import collect as collect_metrics
from .operations import ALERTS, DASHBOARD, EXPENSE_UPDATES, FLEET, GEOFENCES, Operations
from .outbox import Outbox
from .outbox.tap import OutboxBroker
from .server.asgi import ASGIApp, AsgiBridge
from .server.engineio import EngineServer
from .server.gaps import GapNotifier
from .server.http import HttpFront, Route
from .server.limits import ClientLimits
from .server.namespaces import Emitter, Namespace
from .server.output import OutputBuffer
from .server.socketio import SocketIOServer
from .server.sse import SSE_PATH, SnapshotProvider, SseRoute

SOCKET_IO_PATH = "/socket.io/"

if TYPE_CHECKING:
    from .assistant.endpoint import McpEndpoint

log = logging.getLogger("yellowbox_realtime")


class Gateway:
    """A running (or ready to run) Yellow Box Realtime server."""

    def __init__(self, config: Config | None = None, *,
                 authenticator: Authenticator | None = None, dev_secret: str = "",
                 policy: Policy | None = None, asgi_app: ASGIApp | None = None,
                 broker: Broker | None = None, yellowbox_events: bool = True) -> None:
        self.config = config or Config()
        if authenticator is None:
            if self.config.auth.provider == "dev" and not (dev_secret or
                                                            self.config.auth.dev_secret):
                raise ConfigError("auth.dev_secret: the dev provider needs a secret; pass "
                                  "dev_secret or set it (the CLI keeps one in the state directory)")
            authenticator = build_authenticator(self.config.auth,
                                                dev_secret or self.config.auth.dev_secret)
        self.authenticator = authenticator
        self.policy = policy or Policy.with_overrides(self.config.policy.subscribe,
                                                      self.config.policy.publish)
        self.counters = Counters()
        self.limits = ClientLimits(self.config.limits, self.counters)
        self.hub = Hub(self.counters)
        # With [broker] kind = "redis", the cluster broker and the state every node shares.
        self.redis_broker: RedisBroker | None = None
        self.cluster: RedisCluster | None = None
        if broker is None and self.config.broker.kind == "redis":
            broker = self.redis_broker = redis_broker(self.hub, self.config.broker,
                                                      self.config.history)
            # One node runs the timers; connections are counted over every node.
            self.cluster = RedisCluster(self.redis_broker.redis, self.config.broker.prefix,
                                        self.redis_broker.node, self._node_report,
                                        broker_up=lambda: self.redis_broker is not None
                                        and self.redis_broker.up)
        # The broker that numbers, keeps and delivers events (memory or Redis); the doors
        # publish through the router above it, and the outbox's tap between the two.
        self.base_broker: Broker = broker or memory_broker(self.hub, self.config.history)
        # Events for n8n: every publish passes through the outbox's tap (outbox/tap.py).
        self.outbox = Outbox(self.config.outbox, outbox_path(self.config)) \
            if self.config.outbox.active else None
        self.broker = Router(OutboxBroker(self.base_broker, self.outbox)
                             if self.outbox is not None else self.base_broker)
        self.background = Background()
        # One budget for the lifecycle lines of every namespace.
        self.lifecycle_log = LogThrottle(self.config.server.lifecycle_logs_per_s,
                                         self.config.server.lifecycle_log_burst)
        self.namespaces: dict[str, Namespace] = {}
        self.main = self.of("/")
        self.publish_api = PublishApi(self.broker, self.config.api, self.config.server)
        self.addresses: list[tuple[str, int]] = []
        self._routes: list[tuple[str, Route]] = []
        self._front: HttpFront | None = None
        self._engine: EngineServer | None = None
        self._bridge: AsgiBridge | None = None
        self._deadlines: Deadlines | None = None
        self.stopping = False
        self.sse = SseRoute(self.config.sse, self.config.server, self.authenticator,
                            self.policy, self.broker, self.hub, self.background,
                            tickets=RedisTickets(self.redis_broker.redis,
                                                 self.config.broker.prefix,
                                                 self.config.sse.ticket_ttl_s)
                            if self.redis_broker is not None else None, limits=self.limits)
        self._recovery_records: RedisRecoveryRecords | None = None
        if self.redis_broker is not None:
            # Live clients hear about gaps the cluster broker cannot fill (outages, epochs).
            self.redis_broker.on_gap = GapNotifier(
                self.hub, self.sse, stamped=self.config.history.recovery_window_s > 0)
        self._routes.append((SSE_PATH, self.sse))
        self.events: YellowBoxEvents | None = None
        self.operations: Operations | None = None
        self.mcp: McpEndpoint | None = None
        routes = [*self.publish_api.routes(),
                  *OutboxApi(self.outbox, self.publish_api.keys).routes(),
                  *MetricsApi(self.config.metrics, self._collect_metrics).routes()]
        if yellowbox_events:
            self.operations = self._operations()
            self.events = YellowBoxEvents(self.main, self.policy, self.config.riders,
                                          self.operations, self.sse.snapshots)
            self.events.install()
            operations_api = OperationsApi(self.operations, self.publish_api.keys,
                                           self.authenticator, self.policy,
                                           self.publish_api.max_payload)
            routes += operations_api.routes()
            if self.config.mcp.enabled:
                routes += self._mcp_routes(operations_api)
        # Inbound webhooks (n8n, Firebase): their domain events get the operations' checks.
        self.webhooks = WebhooksApi(self.broker, self.config.webhooks,
                                    self.publish_api.max_payload)
        routes += self.webhooks.routes()
        self.asgi_app: ASGIApp = asgi_app or create_api(
            self.stats, routes, self.readiness, self.config.dashboard)
        self.add_sse_snapshot(DASHBOARD, "dashboard_metrics",
                              lambda _who: self.dashboard_metrics())
        if self.operations is not None:
            ops = self.operations
            self.add_sse_snapshot(FLEET, "fleet_update", ops.fleet_snapshot)
            self.add_sse_snapshot(ALERTS, "alerts_snapshot", ops.alerts_snapshot)
            self.add_sse_snapshot(EXPENSE_UPDATES, "expenses_snapshot", ops.expenses_snapshot)
            self.add_sse_snapshot(GEOFENCES, "geofences_snapshot", ops.geofences_snapshot)

    def _mcp_routes(self, operations_api: OperationsApi) -> list[BaseRoute]:
        """``/mcp`` for AI assistants, when the ``mcp`` extra is installed."""
        try:
            from .assistant.access import Access
            from .assistant.endpoint import MCP_PATH, McpEndpoint
        except ImportError as exc:
            log.warning("no MCP endpoint: %s (pip install 'yellowbox-realtime[mcp]')", exc)
            return []
        assert self.operations is not None
        self.mcp = McpEndpoint(self.config.mcp, self.operations, self.publish_api,
                               Access(operations_api, self.limits), self.hub,
                               self.config.server.max_body_bytes)
        return [StarletteRoute(MCP_PATH, self.mcp, methods=["GET", "POST", "DELETE"])]

    def _operations(self) -> Operations:
        path = self.config.fleet.geofences_file
        fences: list[Fence] = []
        if path:
            try:
                fences = fences_from_data(json.loads(Path(path).read_text()))
            except FileNotFoundError:
                pass  # none yet: the API's first change creates the file
            except (OSError, ValueError, GatewayError) as exc:
                raise ConfigError(f"fleet.geofences_file: {path}: {exc}") from exc
        return Operations(self.broker, self.hub, self.background, self.config.fleet,
                          self.config.operations, fences=fences,
                          alert_roles=self.policy.subscribe.get(ALERTS, frozenset()),
                          save_fences=(lambda data: save_json(Path(path), data)) if path else None,
                          connections=self.connections, cluster=self.cluster)

    # -- application API --------------------------------------------------------------

    def of(self, name: str = "/", *, auth_required: bool | None = None) -> Namespace:
        """The namespace called ``name``, created on first use (requiring a token unless
        ``auth_required=False``); ``auth_required`` given for an existing one changes it."""
        if not name.startswith("/"):
            raise ValueError(f"namespace names start with '/': {name!r}")
        namespace = self.namespaces.get(name)
        if namespace is None:
            namespace = self.namespaces[name] = Namespace(
                name, self.broker, self.hub, self.background,
                auth_required=auth_required is not False, log_throttle=self.lifecycle_log)
            # Rooms follow the current token: the policy is asked again when it changes.
            namespace.room_guard = self.policy.allows_room
        elif auth_required is not None:
            namespace.auth_required = auth_required
        return namespace

    def add_route(self, prefix: str, route: Route) -> None:
        """Serve requests under ``prefix`` with a streaming route (before start)."""
        self._routes.append((prefix, route))

    def add_sse_snapshot(self, channel: str, event: str, provider: SnapshotProvider) -> None:
        """SSE streams of ``channel`` start with ``event`` carrying ``provider(credentials)``
        (its JSON data), and start with it again after a ``stream_reset``."""
        self.sse.add_snapshot(channel, event, provider)

    def to(self, *rooms: str) -> Emitter:
        return self.main.to(*rooms)

    def to_user(self, uid: str) -> Emitter:
        return self.main.to_user(uid)

    def to_role(self, role: str) -> Emitter:
        return self.main.to_role(role)

    def stats(self) -> dict[str, Any]:
        return {
            "sessions": len(self._engine.sessions) if self._engine else 0,
            "sockets": {name: len(ns.sockets) for name, ns in self.namespaces.items()},
        }

    def held_bytes(self) -> dict[str, int]:
        """What clients make this process hold at the transport level now, in bytes (the
        memory budget in SECURITY.md): output not yet taken by the kernel (HTTP responses,
        WebSocket and SSE buffers, connections lingering), polling queues, and messages and
        request bodies still arriving, by address."""
        unsent = self._front.unsent_bytes() if self._front is not None else 0
        polling = 0
        outputs: list[OutputBuffer] = list(self.sse.open_streams)
        if self._engine is not None:
            for session in self._engine.sessions.values():
                polling += session.polling_pending
                outputs += [t for t in (session.websocket, session.upgrading) if t is not None]
            unsent += self._engine.draining.unsent()
        if self.sse.streams is not None:
            unsent += self.sse.streams.draining.unsent()
        unsent += sum(o.pending + o.transport.get_write_buffer_size() for o in outputs)
        return {"unsent": unsent, "polling": polling,
                "arriving": sum(self.limits.held_by_ip.values())}

    async def _collect_metrics(self) -> list[Metric]:
        return await collect_metrics(self)

    @property
    def front(self) -> HttpFront | None:
        """The HTTP front (its connections in their HTTP phase), once started."""
        return self._front

    @property
    def engine(self) -> EngineServer | None:
        """The Engine.IO server (its sessions), once started."""
        return self._engine

    async def readiness(self) -> list[str]:
        """Why the gateway cannot take traffic now (``/readyz``); empty when it can."""
        reasons = []
        if self.stopping:
            reasons.append("shutting down")
        if self.redis_broker is not None:
            problem = await self.redis_broker.check()
            if problem is not None:
                reasons.append(problem)
        if self.outbox is not None:
            problem = await self.outbox.check()
            if problem is not None:
                reasons.append(problem)
        return reasons

    def connections(self) -> dict[str, int]:
        """Open client connections by transport."""
        sessions = self._engine.sessions.values() if self._engine else ()
        websocket = sum(1 for s in sessions if s.websocket is not None)
        return {"websocket": websocket, "polling": len(sessions) - websocket,
                "sse": len(self.sse.open_streams)}

    def _node_report(self) -> dict[str, Any]:
        """What this node tells the others (brokers/redis_cluster.py)."""
        return {"connections": self.connections(), "published": self.broker.published,
                "watching": [c for c in (FLEET, DASHBOARD) if self.hub.count(c)]}

    def dashboard_metrics(self) -> dict[str, Any]:
        """The live metrics the ``dashboard`` channel starts with (connections only, without
        the Yellow Box operations)."""
        if self.operations is not None:
            return self.operations.metrics()
        return {"connections": self.connections()}

    @property
    def port(self) -> int:
        return self.addresses[0][1]

    @property
    def url(self) -> str:
        host, port = self.addresses[0][:2]
        scheme = "https" if self.config.server.tls_cert_file else "http"
        return f"{scheme}://{host if ':' not in host else f'[{host}]'}:{port}"

    # -- lifecycle --------------------------------------------------------------------

    async def start(self, host: str | Sequence[str] | None = None,
                    port: int | None = None) -> None:
        """Listen on ``host`` (several addresses: one socket each, and with port 0 a port
        each), or ``server.host``."""
        # First: a certificate that cannot be loaded stops the start before anything runs.
        tls = tls_context(self.config.server)
        loop = asyncio.get_running_loop()
        self._deadlines = Deadlines(loop)
        self.hub.defer = loop.call_soon
        if self.outbox is not None:
            await self.outbox.start()
        history = self.config.history
        recovery: RecoveryRecords | None = None
        pid_key = None
        if self.redis_broker is not None:
            await self.redis_broker.start()
            prefix = self.config.broker.prefix
            pid_key = await shared_pid_key(self.redis_broker.redis, prefix)
            if self.cluster is not None:
                await self.cluster.start()
            if history.recovery_window_s > 0:
                recovery = self._recovery_records = RedisRecoveryRecords(
                    self.redis_broker.redis, prefix, history.recovery_window_s)
        elif history.recovery_window_s > 0:
            recovery = RecoveryStore(history.recovery_window_s, history.max_recovery_sessions,
                                     history.max_recovery_sessions_per_user)
        sio = SocketIOServer(self.config.engineio, self.config.auth, self.authenticator,
                             self._deadlines, self.namespaces, self.background, recovery,
                             pid_key=pid_key, limits=self.limits)
        self._engine = EngineServer(self.config.engineio, self.config.server, sio, loop,
                                    self._deadlines, self.counters, self.limits)
        if self.mcp is not None:
            await self.mcp.start()
        self._bridge = AsgiBridge(self.asgi_app, scheme="https" if tls else "http")
        self._front = HttpFront(self.config.server,
                                [(SOCKET_IO_PATH, self._engine), *self._routes], self._bridge,
                                self.counters, self.limits)
        self.addresses = await self._front.start(
            host if host is not None else self.config.server.host,
            port if port is not None else self.config.server.port, tls)
        self._bridge.server = self.addresses[0]
        self._engine.start()
        self.sse.start(loop, self._deadlines)
        if self.operations is not None:
            self.operations.start(self._deadlines)
        if isinstance(self.base_broker, MemoryBroker):
            self._expire_history(self.base_broker, self._deadlines)

    def _expire_history(self, broker: MemoryBroker, deadlines: Deadlines) -> None:
        """Once a second, so quiet channels release memory too."""
        broker.expire()
        deadlines.after(1.0, self._expire_history, broker, deadlines)

    async def stop(self, timeout: float | None = None) -> None:
        """Shut down in the order of the module's docstring; with ``timeout``, the
        outbox's requests in flight get no more than what is left of it."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        self.stopping = True
        if self._front is not None:
            self._front.stop_accepting()
        await self.sse.close()
        if self._engine is not None:
            await self._engine.close()
        # Handlers and connects still running have no connection left to answer.
        await self.background.close()
        if self._front is not None:
            await self._front.close()
        # After the front: no request can publish any more.
        if self.outbox is not None:
            grace = None
            if deadline is not None:
                # Keep a tenth (at most a second) for committing what was offered and
                # closing the file.
                reserve = min(1.0, timeout / 10) if timeout else 0.0
                grace = max(0.0, min(self.config.outbox.close_grace_s,
                                     deadline - loop.time() - reserve))
            await self.outbox.close(grace)
        # Sockets closed above are kept for recovery in Redis; then the broker sends what it
        # still has queued and closes the connection they share.
        if self._recovery_records is not None:
            await self._recovery_records.close()
        if self.cluster is not None:
            await self.cluster.close()
        if self.redis_broker is not None:
            await self.redis_broker.close()
        if self._bridge is not None:
            await self._bridge.close()
        if self.mcp is not None:
            await self.mcp.close()
        # Connections still waiting for their clients to read their last bytes stop waiting.
        if self.sse.streams is not None:
            self.sse.streams.draining.end_all()
        if self._engine is not None:
            self._engine.draining.end_all()
        if self._deadlines is not None:
            self._deadlines.close()
        if self.operations is not None:
            self.operations.close()
        await self.authenticator.aclose()

    async def serve_forever(self) -> None:
        """Run until SIGINT or SIGTERM."""
        try:
            await self.start()
        except BaseException:
            # What did start (the outbox, Redis) closes again before the error is reported.
            timeout = self.config.server.shutdown_timeout_s
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.stop(timeout), timeout)
            raise
        loop = asyncio.get_running_loop()
        log.info("Yellow Box Realtime listening on %s (%s auth, %s event loop)", self.url,
                 self.config.auth.provider, type(loop).__module__.partition(".")[0])
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            timeout = self.config.server.shutdown_timeout_s
            log.info("shutting down (within %g s)", timeout)
            try:
                await asyncio.wait_for(self.stop(timeout), timeout)
            except TimeoutError:
                log.error("shutdown took longer than server.shutdown_timeout_s (%g s); "
                          "exiting anyway", timeout)


def tls_context(config: ServerConfig) -> ssl.SSLContext | None:
    """The server's TLS context from ``server.tls_*``, or None without a certificate."""
    if not config.tls_cert_file:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_3 if config.tls_min_version == "1.3" \
        else ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(config.tls_cert_file, config.tls_key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"server.tls_cert_file / server.tls_key_file: cannot load "
                          f"{config.tls_cert_file} with its key: {exc}") from exc
    # HTTP/1.1 only: clients that offer ALPN learn there is no HTTP/2 here.
    context.set_alpn_protocols(["http/1.1"])
    return context


def memory_broker(hub: Hub, config: HistoryConfig) -> MemoryBroker:
    """The single-process broker, with each channel's history limits from the config."""
    return MemoryBroker(hub, HistoryLimits(config.max_entries, config.ttl_s),
                        channel_limits(config), stamp_socketio=config.recovery_window_s > 0)


def redis_broker(hub: Hub, config: BrokerConfig, history: HistoryConfig) -> RedisBroker:
    """The cluster broker on the configured Redis (connected when the gateway starts)."""
    import redis.asyncio as aioredis

    # A blocking pool: a burst (a thousand sockets dropping at once, each keeping its
    # recovery record) waits for a connection instead of failing with "Too many connections".
    pool = aioredis.BlockingConnectionPool.from_url(
        config.url, max_connections=config.max_connections, timeout=config.timeout_s,
        socket_timeout=None, socket_connect_timeout=config.timeout_s)
    client = aioredis.Redis(connection_pool=pool)
    return RedisBroker(hub, client, HistoryLimits(history.max_entries, history.ttl_s),
                       channel_limits(history), prefix=config.prefix,
                       stamp_socketio=history.recovery_window_s > 0,
                       max_queue=config.max_queue, timeout_s=config.timeout_s,
                       health_check_interval_s=config.health_check_interval_s)


def channel_limits(config: HistoryConfig) -> dict[str, HistoryLimits]:
    return {
        name: HistoryLimits(config.channel_max_entries.get(name, config.max_entries),
                            config.channel_ttl_s.get(name, config.ttl_s))
        for name in {*config.channel_max_entries, *config.channel_ttl_s}}


def save_json(path: Path, data: Any) -> None:
    """Replace a small JSON file atomically: a crash leaves the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(temporary, path)


def outbox_path(config: Config) -> Path:
    """The outbox's SQLite file: ``outbox.path``, or ``outbox.sqlite3`` in the state
    directory."""
    return Path(config.outbox.path) if config.outbox.path else state_dir() / "outbox.sqlite3"


def state_dir(env: dict[str, str] | os._Environ[str] = os.environ) -> Path:
    """Where the CLI keeps the development secret: ``$XDG_STATE_HOME/yellowbox-realtime``."""
    base = env.get("YELLOWBOX_STATE_DIR") or os.path.join(
        env.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state"),
        "yellowbox-realtime")
    return Path(base)


def load_dev_secret(directory: Path) -> str:
    """The development signing secret, generated on first use and kept (mode 0600).

    ``serve`` and ``token`` both read it, so tokens minted in one terminal work against a
    server started in another without any configuration.
    """
    path = directory / "dev-secret"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    directory.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # Another process created it first; use theirs.
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return secret


def use_uvloop() -> bool:
    """Install uvloop's event loop policy when uvloop is available."""
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True
