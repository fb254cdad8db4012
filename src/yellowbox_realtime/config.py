"""The one typed configuration object.

Sources, later wins: embedded defaults < TOML file < ``YBRT_<SECTION>_<KEY>`` environment
variables < command-line flags. This module is pure: the caller reads the file and the
environment and passes their contents in, so tests build configs without touching either.
Every value is checked when the config is built and an error names the offending key.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from html import unescape
from typing import Any, Literal

from xyzservices import providers

from .domain.location import MAX_EXTRA_STRING_CHARS, ExtraFieldType, extra_fields_problem
from .errors import ConfigError
from .signing import check_secrets

ENV_PREFIX = "YBRT_"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """The HTTP front: where it listens and what it accepts."""

    host: str = "127.0.0.1"
    port: int = 3001
    # Origins allowed to open WebSocket, polling and SSE connections. An empty list allows
    # requests without an Origin header (native apps, server-to-server) and rejects all
    # browser origins; "*" allows every origin (development only).
    allowed_origins: tuple[str, ...] = (
        "http://localhost:8080",
        "http://127.0.0.1:8080",
        "http://localhost:3001",
        "http://127.0.0.1:3001",
    )
    max_header_bytes: int = 16 * 1024
    max_headers: int = 100
    max_body_bytes: int = 1024 * 1024
    # A request's head must arrive within this time (slowloris); an idle keep-alive
    # connection is closed after idle_timeout_s.
    header_timeout_s: float = 10.0
    idle_timeout_s: float = 30.0
    # Per-connection output buffer: a client that falls this far behind is disconnected.
    max_buffer_bytes: int = 1024 * 1024
    # A connection the gateway ends (a WebSocket it closes, a client cut off for falling
    # behind) stays while the client still reads its last bytes: the reason, the close
    # frame. Each period it is closed if all was sent, aborted if the client made no progress.
    slow_consumer_linger_s: float = 30.0
    backlog: int = 2048
    log_level: str = "info"
    # "text" for people at a terminal; "json": one object a line, for log collectors.
    log_format: Literal["text", "json"] = "text"
    # One line per HTTP request (method, path, status, time, request id) at info level, at
    # most access_logs_per_s a second in bursts of access_log_burst (the rest counted and
    # summed up in one line, as below); both 0 logs every request.
    access_log: bool = True
    access_logs_per_s: float = 200.0
    access_log_burst: int = 2000
    # Lines clients cause by connecting and disconnecting (socket connected, disconnected):
    # at most this many a second of each kind, in bursts; the rest are counted and a
    # summary line says how many were left out. 0 logs them all.
    lifecycle_logs_per_s: float = 20.0
    lifecycle_log_burst: int = 200
    # SIGTERM (or SIGINT): everything, the outbox's requests in flight included, ends within
    # this; what is still undelivered stays in the outbox's file for the next start.
    shutdown_timeout_s: float = 10.0
    # TLS without a proxy: a PEM certificate chain and its private key (both or neither),
    # and the oldest protocol version accepted.
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_min_version: Literal["1.2", "1.3"] = "1.2"

    def __post_init__(self) -> None:
        _positive(self, "server", "max_header_bytes", "max_headers", "max_body_bytes",
                  "header_timeout_s", "idle_timeout_s", "max_buffer_bytes",
                  "slow_consumer_linger_s", "backlog", "shutdown_timeout_s")
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ConfigError("server.tls_cert_file / server.tls_key_file: TLS needs both "
                              "(or neither)")
        if self.log_format not in ("text", "json"):
            raise ConfigError(f"server.log_format: expected text or json, "
                              f"got {self.log_format!r}")
        if self.tls_min_version not in ("1.2", "1.3"):
            raise ConfigError(f"server.tls_min_version: expected 1.2 or 1.3, "
                              f"got {self.tls_min_version!r}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"server.port: must be 0 to 65535 (0 picks a free port), "
                              f"got {self.port}")
        if self.log_level.lower() not in LOG_LEVELS:
            raise ConfigError(f"server.log_level: unknown level {self.log_level!r}")
        for rate, burst in (("lifecycle_logs_per_s", "lifecycle_log_burst"),
                            ("access_logs_per_s", "access_log_burst")):
            if getattr(self, rate) < 0 or getattr(self, burst) < 0 or \
                    bool(getattr(self, rate)) != bool(getattr(self, burst)):
                raise ConfigError(f"server.{rate} / {burst}: both 0 (every line logged) or "
                                  "both more")


@dataclass(frozen=True, slots=True)
class EngineIOConfig:
    """Engine.IO v4 session settings, sent to clients in the handshake."""

    ping_interval_ms: int = 25_000
    ping_timeout_ms: int = 20_000
    max_payload: int = 1_000_000
    # A Socket.IO client must CONNECT to a namespace within this time of the handshake.
    connect_timeout_ms: int = 45_000
    upgrade_timeout_ms: int = 10_000
    transports: tuple[str, ...] = ("polling", "websocket")
    # Pending packets kept for a polling client between two GET requests.
    max_polling_buffer_bytes: int = 1024 * 1024
    # The largest message (WebSocket) or polling body a session may send before it has
    # joined a namespace (its CONNECT authenticated): enough for a CONNECT with its token.
    max_payload_before_connect: int = 16 * 1024

    def __post_init__(self) -> None:
        _positive(self, "engineio", "ping_interval_ms", "ping_timeout_ms", "max_payload",
                  "connect_timeout_ms", "upgrade_timeout_ms", "max_polling_buffer_bytes",
                  "max_payload_before_connect")
        unknown = set(self.transports) - {"polling", "websocket"}
        if unknown or not self.transports:
            raise ConfigError(f"engineio.transports: expected polling and/or websocket, "
                              f"got {list(self.transports)}")


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """How connect requests are authenticated."""

    provider: Literal["dev", "jwt", "firebase"] = "dev"
    # dev: the HS256 secret; empty means "generated once and kept in the state directory".
    dev_secret: str = ""
    # jwt: an HS256 secret or a JWKS URL (one of the two), optional issuer and audience.
    jwt_secret: str = ""
    jwks_url: str = ""
    issuer: str = ""
    audience: str = ""
    # firebase: the project id, and where Google's signing certificates are published.
    firebase_project_id: str = ""
    firebase_cert_url: str = (
        "https://www.googleapis.com/robot/v1/metadata/x509/"
        "securetoken@system.gserviceaccount.com"
    )
    role_claim: str = "role"
    default_role: str = "rider"
    clock_skew_s: int = 5
    # When a connected client's token expires it is asked to refresh; it is disconnected
    # if no valid new token arrives within this grace period.
    refresh_grace_s: float = 30.0

    def __post_init__(self) -> None:
        if self.provider not in ("dev", "jwt", "firebase"):
            raise ConfigError(f"auth.provider: expected dev, jwt or firebase, "
                              f"got {self.provider!r}")
        if self.provider == "jwt" and bool(self.jwt_secret) == bool(self.jwks_url):
            raise ConfigError("auth.jwt_secret / auth.jwks_url: the jwt provider needs "
                              "exactly one of them")
        if self.provider == "firebase" and not self.firebase_project_id:
            raise ConfigError("auth.firebase_project_id: required by the firebase provider")
        if not self.role_claim:
            raise ConfigError("auth.role_claim: must not be empty")
        if self.clock_skew_s < 0:
            raise ConfigError("auth.clock_skew_s: must not be negative")
        _positive(self, "auth", "refresh_grace_s")


@dataclass(frozen=True, slots=True)
class RidersConfig:
    """Limits on what riders publish."""

    # Token bucket per rider for publish_location.
    location_rate_per_s: float = 5.0
    location_burst: int = 10
    # Largest believable accuracy radius in metres and speed in m/s.
    max_accuracy_m: float = 10_000.0
    max_speed_mps: float = 100.0
    # Fields an app may add to publish_location, name -> string, number, integer or boolean
    # (at most 16, names up to 32 characters); subscribers get them under "extra". Any
    # other field is refused.
    extra_fields: Mapping[str, ExtraFieldType] = field(default_factory=dict)
    # The longest a string extra field may be (1 to 1024 characters).
    max_extra_string_chars: int = 64

    def __post_init__(self) -> None:
        _positive(self, "riders", "location_rate_per_s", "location_burst", "max_accuracy_m",
                  "max_speed_mps")
        problem = extra_fields_problem(self.extra_fields)
        if problem is not None:
            raise ConfigError(f"riders.extra_fields: {problem}")
        if not 1 <= self.max_extra_string_chars <= MAX_EXTRA_STRING_CHARS:
            raise ConfigError(f"riders.max_extra_string_chars: must be 1 to "
                              f"{MAX_EXTRA_STRING_CHARS}, got {self.max_extra_string_chars}")


@dataclass(frozen=True, slots=True)
class FleetConfig:
    """What the gateway concludes from riders' positions: status, refused jumps, speeding,
    geofences, and how often dashboards get the fleet in one batch."""

    # No fix for this long: stale; for this long: offline (even if still connected).
    stale_after_s: float = 30.0
    offline_after_s: float = 120.0
    # The rider's last connection closed this long ago (and it did not come back): offline.
    disconnect_grace_s: float = 15.0
    # A fix implying a faster move than this since the last one is refused as impossible,
    # after allowing both fixes' accuracy plus jump_allowance_m of GPS noise.
    max_jump_speed_mps: float = 70.0
    jump_allowance_m: float = 50.0
    # Moving faster than this raises a speeding alert (27.8 m/s is 100 km/h).
    speeding_mps: float = 27.8
    # The conflated fleet stream: one batch of every rider that moved, this often.
    conflate_interval_s: float = 1.0
    max_riders: int = 100_000
    # A JSON file of geofences ([{id, name, kind, circle | polygon}, ...]) loaded at start
    # and rewritten when the HTTP API changes them; empty: geofences live in memory only.
    geofences_file: str = ""

    def __post_init__(self) -> None:
        _positive(self, "fleet", "stale_after_s", "offline_after_s", "disconnect_grace_s",
                  "max_jump_speed_mps", "speeding_mps", "conflate_interval_s", "max_riders")
        if self.jump_allowance_m < 0:
            raise ConfigError("fleet.jump_allowance_m: must be 0 or more")
        if self.offline_after_s <= self.stale_after_s:
            raise ConfigError("fleet.offline_after_s: must be longer than stale_after_s")


@dataclass(frozen=True, slots=True)
class OperationsConfig:
    """Alerts, the back office's counts and the dashboard's metrics."""

    max_alerts: int = 10_000
    # dashboard_update at most this often, and only when a metric changed.
    dashboard_interval_s: float = 0.5
    # Revenue counts the current day in this UTC offset (Dubai: +4, no daylight saving).
    utc_offset_h: float = 4.0
    max_expenses: int = 100_000
    max_orders: int = 100_000

    def __post_init__(self) -> None:
        _positive(self, "operations", "max_alerts", "dashboard_interval_s", "max_expenses",
                  "max_orders")
        if not -12 <= self.utc_offset_h <= 14:
            raise ConfigError("operations.utc_offset_h: must be between -12 and 14")


# OpenStreetMap's standard tiles, as xyzservices defines the provider; its attribution as
# plain text (the page shows it as text, never as markup from a config file).
_OSM = providers.OpenStreetMap.Mapnik
_OSM_ATTRIBUTION = unescape(re.sub(r"<[^>]*>", "", _OSM.html_attribution))
_TILE_FIELD = re.compile(r"\{([^{}]*)\}")
# What Leaflet fills in a tile URL: the tile's zoom and column and row, a subdomain, "@2x"
# on high-density screens. Anything else (an API key a provider's template names) would be
# sent as written.
_TILE_FIELDS = frozenset({"z", "x", "y", "s", "r"})
MAX_TILE_URL = 2048
MAX_ATTRIBUTION = 500


@dataclass(frozen=True, slots=True)
class DashboardConfig:
    """The operations dashboard's map: the tiles it draws riders and fences on.

    The defaults are OpenStreetMap's standard tiles; an empty ``tile_url`` draws them on a
    plain plot without tiles (nothing fetched from outside the gateway)."""

    tile_url: str = _OSM.url
    tile_attribution: str = _OSM_ATTRIBUTION
    tile_max_zoom: int = _OSM.max_zoom

    def __post_init__(self) -> None:
        url = self.tile_url
        if len(url) > MAX_TILE_URL:
            raise ConfigError(f"dashboard.tile_url: longer than {MAX_TILE_URL} characters")
        if url:
            if not url.startswith(("https://", "http://")):
                raise ConfigError(f"dashboard.tile_url: expected an http(s) URL template, "
                                  f"got {url!r}")
            fields = set(_TILE_FIELD.findall(url))
            missing = [f"{{{name}}}" for name in ("z", "x", "y") if name not in fields]
            if missing:
                raise ConfigError(f"dashboard.tile_url: the template has no "
                                  f"{', '.join(missing)} (a tile URL names the tile's zoom, "
                                  f"column and row as {{z}}/{{x}}/{{y}}), got {url!r}")
            unknown = sorted(fields - _TILE_FIELDS)
            if unknown:
                raise ConfigError(f"dashboard.tile_url: unknown placeholder(s) "
                                  f"{', '.join(f'{{{n}}}' for n in unknown)} (known: {{z}}, "
                                  f"{{x}}, {{y}}, {{s}}, {{r}})")
        if len(self.tile_attribution) > MAX_ATTRIBUTION:
            raise ConfigError(f"dashboard.tile_attribution: longer than {MAX_ATTRIBUTION} "
                              "characters")
        if not 0 <= self.tile_max_zoom <= 24:
            raise ConfigError(f"dashboard.tile_max_zoom: must be between 0 and 24, "
                              f"got {self.tile_max_zoom}")


@dataclass(frozen=True, slots=True)
class HistoryConfig:
    """What channels keep for clients that reconnect (SSE ``Last-Event-ID``, Socket.IO
    connection-state recovery). A client that missed more than was kept is told so."""

    max_entries: int = 1000
    ttl_s: float = 300.0
    # Per channel: an exact name, or a prefix ending in ":" ("user:"); replaces the above.
    channel_max_entries: Mapping[str, int] = field(
        default_factory=lambda: {"rider_locations": 20_000})
    channel_ttl_s: Mapping[str, float] = field(
        default_factory=lambda: {"rider_locations": 120.0})
    # How long a disconnected Socket.IO socket can come back and recover what it missed;
    # 0 turns recovery off, and with it the offset socket.io-client reads as the last
    # argument of each broadcast.
    recovery_window_s: float = 120.0
    max_recovery_sessions: int = 100_000
    # One user's share of those (beyond it the user's sockets that leave start afresh when
    # they come back), so that no user can push out everyone else's.
    max_recovery_sessions_per_user: int = 100

    def __post_init__(self) -> None:
        _positive(self, "history", "ttl_s", "max_recovery_sessions",
                  "max_recovery_sessions_per_user")
        if self.max_entries < 0 or any(v < 0 for v in self.channel_max_entries.values()):
            raise ConfigError("history.max_entries: must be 0 or more")
        if any(not v > 0 for v in self.channel_ttl_s.values()):
            raise ConfigError("history.channel_ttl_s: every TTL must be positive")
        if self.recovery_window_s < 0:
            raise ConfigError(f"history.recovery_window_s: must be 0 or more, "
                              f"got {self.recovery_window_s}")


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """Entries that replace the default authorization table's (channel or event -> roles)."""

    subscribe: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    publish: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """``GET /metrics`` (Prometheus). Without a token only loopback clients may scrape; with
    one, any client that sends it as ``Authorization: Bearer <token>``."""

    enabled: bool = True
    token: str = ""


@dataclass(frozen=True, slots=True)
class McpConfig:
    """The MCP endpoint for AI assistants at ``/mcp`` (docs/mcp.md). Sessions (handshake-era
    clients) and subscription streams are bounded per user and in all; resource updates go
    out at most once per ``update_interval_s`` per resource. Requests take from the caller's
    rate (``[api] rate_per_s``, per key or user, as on the operations API), listen streams
    count as the user's connections."""

    enabled: bool = True
    max_sessions: int = 1000
    max_sessions_per_user: int = 10
    session_idle_timeout_s: float = 600.0
    max_subscriptions: int = 1000
    max_subscriptions_per_user: int = 10
    max_resources_per_subscription: int = 50
    update_interval_s: float = 1.0

    def __post_init__(self) -> None:
        _positive(self, "mcp", "max_sessions", "max_sessions_per_user", "session_idle_timeout_s",
                  "max_subscriptions", "max_subscriptions_per_user",
                  "max_resources_per_subscription", "update_interval_s")


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    """What one client (an address, a user, a connection) may take of the gateway, so that
    one client's excess is refused with a reason while everyone else carries on. Connections
    are Engine.IO sessions (WebSocket or polling) and SSE streams, counted together; 0 turns
    a limit off."""

    max_connections_per_ip: int = 1000
    max_connections_per_user: int = 50
    # TCP connections of an address in their HTTP phase (API requests, polling requests,
    # handshakes not yet upgraded), counted apart from the connections above; beyond it a
    # new one is answered 429 and closed. Not counted for trusted_proxies.
    max_http_connections_per_ip: int = 1000
    # Bytes an address may have the gateway hold in messages still arriving: unfinished
    # WebSocket frames and fragmented messages, request bodies being received (not counted
    # for trusted_proxies, which buffer bodies themselves). The connection that passes it is
    # closed (1009, or 413).
    max_held_bytes_per_ip: int = 16 * 1024 * 1024
    # New connections (Engine.IO handshakes, SSE streams) per address: a token bucket.
    handshakes_per_ip_per_s: float = 20.0
    handshake_burst: int = 100
    # Socket.IO packets a connection may send (events, acks, namespace CONNECTs and
    # DISCONNECTs, each binary attachment): a token bucket; beyond it each event is refused
    # with rate_limited, each CONNECT with a connect_error. A connection refused more than
    # flood_refusals times beyond what the rate refills (sending at over twice the rate,
    # sustained) is disconnected.
    events_per_s: float = 50.0
    events_burst: int = 100
    flood_refusals: int = 100
    # Addresses of reverse proxies whose X-Forwarded-For names the client; empty: the TCP
    # peer is the client (a proxy's own address would share one limit for everyone).
    trusted_proxies: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("max_connections_per_ip", "max_connections_per_user",
                     "max_http_connections_per_ip", "max_held_bytes_per_ip",
                     "handshakes_per_ip_per_s", "handshake_burst", "events_per_s",
                     "events_burst", "flood_refusals"):
            if getattr(self, name) < 0:
                raise ConfigError(f"limits.{name}: must be 0 (off) or more, "
                                  f"got {getattr(self, name)!r}")
        if bool(self.handshakes_per_ip_per_s) != bool(self.handshake_burst):
            raise ConfigError("limits.handshake_burst: set with handshakes_per_ip_per_s "
                              "(both 0 turns the limit off)")
        if bool(self.events_per_s) != bool(self.events_burst):
            raise ConfigError("limits.events_burst: set with events_per_s "
                              "(both 0 turns the limit off)")
        for address in self.trusted_proxies:
            try:
                ipaddress.ip_address(address)
            except ValueError as exc:
                raise ConfigError(f"limits.trusted_proxies: not an IP address: "
                                  f"{address!r}") from exc


@dataclass(frozen=True, slots=True)
class Config:
    """The gateway's whole configuration."""

    server: ServerConfig = field(default_factory=ServerConfig)
    engineio: EngineIOConfig = field(default_factory=EngineIOConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    riders: RidersConfig = field(default_factory=RidersConfig)
    history: HistoryConfig = field(default_factory=HistoryConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    fleet: FleetConfig = field(default_factory=FleetConfig)
    operations: OperationsConfig = field(default_factory=OperationsConfig)
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)
    api: ApiConfig = field(default_factory=lambda: ApiConfig())
    sse: SseConfig = field(default_factory=lambda: SseConfig())
    outbox: OutboxConfig = field(default_factory=lambda: OutboxConfig())
    webhooks: WebhooksConfig = field(default_factory=lambda: WebhooksConfig())
    metrics: MetricsConfig = field(default_factory=lambda: MetricsConfig())
    broker: BrokerConfig = field(default_factory=lambda: BrokerConfig())
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    mcp: McpConfig = field(default_factory=McpConfig)

    @classmethod
    def from_sources(
        cls,
        file_data: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Config:
        """Merge the sources (later wins) and build a validated config."""
        merged: dict[str, dict[str, Any]] = {}
        for source in (file_data or {}, _sections_from_env(env or {}), overrides or {}):
            for section, values in source.items():
                if not isinstance(values, Mapping):
                    raise ConfigError(f"{section}: expected a table of settings")
                merged.setdefault(section, {}).update(values)
        return cls.from_mapping(merged)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Mapping[str, Any]]) -> Config:
        sections = {f.name: f for f in dataclasses.fields(cls)}
        built: dict[str, Any] = {}
        for name, values in data.items():
            if name not in sections:
                raise ConfigError(f"{name}: unknown section (known: {', '.join(sections)})")
            built[name] = _build_section(name, _section_type(cls, name), values)
        return cls(**built)


def _section_type(cls: type, name: str) -> type:
    hint = typing.get_type_hints(cls)[name]
    assert isinstance(hint, type)
    return hint


def _build_section(section: str, cls: type, values: Mapping[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for key, raw in values.items():
        if key not in hints:
            raise ConfigError(f"{section}.{key}: unknown setting")
        kwargs[key] = _coerce(f"{section}.{key}", hints[key], raw)
    return cls(**kwargs)


def _coerce(where: str, hint: Any, raw: Any) -> Any:
    """Turn a TOML or environment value into the declared type, or say why not."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        if raw not in typing.get_args(hint):
            allowed = ", ".join(map(str, typing.get_args(hint)))
            raise ConfigError(f"{where}: expected one of {allowed}, got {raw!r}")
        return raw
    if origin is Mapping:
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where}: expected a table (in the TOML file), got {raw!r}")
        value_hint = typing.get_args(hint)[1]
        return {str(k): _coerce(f"{where}.{k}", value_hint, v) for k, v in raw.items()}
    if origin is tuple:
        items = [s.strip() for s in raw.split(",") if s.strip()] if isinstance(raw, str) else raw
        if not isinstance(items, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {raw!r}")
        return tuple(_coerce(where, typing.get_args(hint)[0], item) for item in items)
    if origin in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    try:
        if hint is bool:
            if isinstance(raw, str):
                if raw.lower() not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                    raise ValueError(raw)
                return raw.lower() in {"1", "true", "yes", "on"}
            if not isinstance(raw, bool):
                raise ValueError(raw)
            return raw
        if hint is int:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError(raw)
            return int(raw)
        if hint is float:
            if isinstance(raw, bool):
                raise ValueError(raw)
            return float(raw)
        if hint is str:
            if not isinstance(raw, str):
                raise ValueError(raw)
            return raw
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: expected {hint.__name__}, got {raw!r}") from exc
    raise ConfigError(f"{where}: unsupported setting type {hint!r}")


def _sections_from_env(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """``YBRT_ENGINEIO_PING_INTERVAL_MS=100`` -> ``{"engineio": {"ping_interval_ms": "100"}}``.

    Section names have no underscore, so the first one after the prefix ends the section.
    """
    out: dict[str, dict[str, str]] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        section, _, key = name[len(ENV_PREFIX):].lower().partition("_")
        if not key:
            raise ConfigError(f"{name}: expected {ENV_PREFIX}<SECTION>_<KEY>")
        out.setdefault(section, {})[key] = value
    return out


def _positive(obj: object, section: str, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if value <= 0:
            raise ConfigError(f"{section}.{name}: must be positive, got {value!r}")


API_SCOPES = ("publish", "history", "read", "geofences", "alerts", "outbox")
_KEY_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """The back-office HTTP API (``/api/v1``): its keys, what each may do, how often.

    Keys are named; the config holds only the SHA-256 of each key (hex), so a leaked config
    file does not let anyone publish. ``yellowbox-realtime api-key`` mints a key and prints
    these lines. With no key configured the API refuses every request.
    """

    # Key name -> hex SHA-256 of the key.
    keys: Mapping[str, str] = field(default_factory=dict)
    # Key name -> its scopes: "publish", "history", "read" (fleet and dashboard),
    # "geofences" (manage them), "alerts" (list and acknowledge). Every key needs an entry.
    scopes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Key name -> channels it may use: exact names or prefixes ending in ":" ("user:");
    # a key without an entry may use every channel.
    channels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Requests per second per key, and per user calling with a token (the operations API,
    # MCP), with bursts of ``burst`` (429 beyond).
    rate_per_s: float = 50.0
    burst: int = 100

    def __post_init__(self) -> None:
        _positive(self, "api", "rate_per_s", "burst")
        for name, digest in self.keys.items():
            if not _KEY_NAME.fullmatch(name):
                raise ConfigError(f"api.keys.{name}: key names are 1-64 characters of "
                                  "A-Z a-z 0-9 _ . -")
            if not _SHA256_HEX.fullmatch(digest):
                raise ConfigError(f"api.keys.{name}: expected the key's SHA-256 as 64 "
                                  "lowercase hex digits (never the key itself)")
            if not self.scopes.get(name):
                raise ConfigError(f"api.scopes.{name}: every key needs its scopes "
                                  f"({', '.join(API_SCOPES)})")
        for table in ("scopes", "channels"):
            for name in getattr(self, table):
                if name not in self.keys:
                    raise ConfigError(f"api.{table}.{name}: no such key in api.keys")
        for name, scopes in self.scopes.items():
            unknown = set(scopes) - set(API_SCOPES)
            if unknown:
                raise ConfigError(f"api.scopes.{name}: unknown scope(s) "
                                  f"{', '.join(sorted(unknown))} (known: "
                                  f"{', '.join(API_SCOPES)})")
        for name, patterns in self.channels.items():
            if not all(patterns):
                raise ConfigError(f"api.channels.{name}: empty channel name")


@dataclass(frozen=True, slots=True)
class SseConfig:
    """Server-Sent Events streams (``/sse/...``) and their one-time tickets."""

    # A comment on every stream this often, so proxies and browsers keep idle streams open.
    heartbeat_s: float = 15.0
    # The reconnection delay sent at the start of every stream (the ``retry:`` field).
    retry_ms: int = 3000
    # At shutdown streams are told to come back after this, plus up to as much again at
    # random, so clients do not all return in the same instant.
    shutdown_retry_ms: int = 5000
    # A ticket from POST /sse/tickets opens one stream within this time (never past the
    # token's own expiry); at most max_tickets are outstanding (429 beyond).
    ticket_ttl_s: float = 30.0
    max_tickets: int = 10_000
    # One user's share: at most max_tickets_per_user unused at a time, and new ones at
    # tickets_per_user_per_s (bursts of max_tickets_per_user), so that no user can fill the
    # table for the others; per address, tickets draw on a bucket of their own sized as
    # [limits] handshakes. 429 with Retry-After beyond either.
    max_tickets_per_user: int = 10
    tickets_per_user_per_s: float = 1.0
    # Channels one GET /sse?channels=... may ask for.
    max_channels: int = 16

    def __post_init__(self) -> None:
        _positive(self, "sse", "heartbeat_s", "retry_ms", "shutdown_retry_ms", "ticket_ttl_s",
                  "max_tickets", "max_channels", "max_tickets_per_user",
                  "tickets_per_user_per_s")


# One condition of an outbox route on the event's data: a dotted path, "=", a value (JSON, or a
# bare word taken as a string). The outbox's rules parse conditions with this same pattern.
OUTBOX_CONDITION = re.compile(
    r"\s*(?P<path>[A-Za-z_$][\w$-]*(?:\.[\w$-]+)*)\s*=\s*(?P<value>\S(?:.*\S)?)\s*")
_ROUTE_NAME = _KEY_NAME


@dataclass(frozen=True, slots=True)
class OutboxConfig:
    """The durable outbox: which published events are forwarded to which webhook (n8n), and
    how deliveries are retried.

    Routes are named; ``urls`` defines them and the other tables refer to them by name, the
    way ``[api]`` describes keys (the TOML loader expresses tables of values, not arrays of
    tables). A route takes an event when every condition it has holds: the event name is in
    ``events``; one of the event's channels is in ``channels`` (exact, or a prefix ending in
    ":") or is ``role:<r>`` for a role in ``roles``; every ``match`` condition on its data
    holds. A route without conditions takes every event. The outbox is off when
    ``enabled`` is false or no route is configured.
    """

    enabled: bool = True
    # The SQLite file; empty: ``outbox.sqlite3`` in the state directory.
    path: str = ""
    concurrency: int = 4
    timeout_s: float = 10.0
    # The retry budget: whichever runs out first sends the delivery to the dead letters.
    max_attempts: int = 12
    max_age_s: float = 24 * 3600.0
    # Full jitter: a retry waits a random time up to min(backoff_cap_s, backoff_base_s * 2^n).
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 300.0
    # A Retry-After header is honoured up to this long.
    retry_after_cap_s: float = 600.0
    # Deliveries waiting (rows); publishing past it answers 503.
    max_backlog: int = 100_000
    # The largest the SQLite file may grow, in bytes (0: as large as the disk allows). At the
    # limit, as on a full disk, publishing answers 503 and /readyz says why.
    max_file_bytes: int = 0
    # How often the queue is read when nothing is due sooner (it also sees replays and
    # rows added by another process this soon).
    poll_interval_s: float = 1.0
    # How long a write waits for another connection's lock before it fails.
    busy_timeout_ms: int = 2000
    # At shutdown, deliveries in flight get this long to finish (the rest are sent again
    # after the restart).
    close_grace_s: float = 5.0
    # Route name -> webhook URL (http or https).
    urls: Mapping[str, str] = field(default_factory=dict)
    # Route name -> HMAC-SHA256 secret signing its deliveries; every route needs one.
    secrets: Mapping[str, str] = field(default_factory=dict)
    # Route name -> event names; channels (or prefixes ending in ":"); roles; data conditions
    # ("status = approved", "rider.zone = marina"). No entry: no condition of that kind.
    events: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    channels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    roles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    match: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.enabled and bool(self.urls)

    def __post_init__(self) -> None:
        _positive(self, "outbox", "concurrency", "timeout_s", "max_attempts", "max_age_s",
                  "backoff_base_s", "backoff_cap_s", "retry_after_cap_s", "max_backlog",
                  "poll_interval_s", "busy_timeout_ms", "close_grace_s")
        if self.backoff_cap_s < self.backoff_base_s:
            raise ConfigError("outbox.backoff_cap_s: must be at least backoff_base_s")
        for name, url in self.urls.items():
            if not _ROUTE_NAME.fullmatch(name):
                raise ConfigError(f"outbox.urls.{name}: route names are 1-64 characters of "
                                  "A-Z a-z 0-9 _ . -")
            if not re.fullmatch(r"https?://[^\s/?#]+(?:[/?#]\S*)?", url):
                raise ConfigError(f"outbox.urls.{name}: expected an http(s) URL, got {url!r}")
            if not self.secrets.get(name):
                raise ConfigError(f"outbox.secrets.{name}: every route needs a signing secret")
        for table in ("secrets", "events", "channels", "roles", "match"):
            for name, value in getattr(self, table).items():
                if name not in self.urls:
                    raise ConfigError(f"outbox.{table}.{name}: no such route in outbox.urls")
                if table != "secrets" and (not value or not all(value)):
                    raise ConfigError(f"outbox.{table}.{name}: expected a list of non-empty "
                                      "values (leave the route out to drop the condition)")
        for name, conditions in self.match.items():
            for condition in conditions:
                if not OUTBOX_CONDITION.fullmatch(condition):
                    raise ConfigError(f"outbox.match.{name}: expected 'field = value' "
                                      f"(dotted paths allowed), got {condition!r}")


WEBHOOK_SOURCES = ("n8n", "firebase")


@dataclass(frozen=True, slots=True)
class WebhooksConfig:
    """The inbound webhooks (``POST /api/v1/webhooks/<source>``) for n8n and for Firebase
    Cloud Functions: the secrets their senders sign with, and what a request may be.

    A source without secrets is off: its endpoint answers 503 ``webhook_not_configured``.
    """

    # Source (n8n, firebase) -> the secrets currently valid for it (several while rotating).
    secrets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Sources that may also authenticate with X-Yellowbox-Secret: <secret> instead of a
    # signature (no replay protection beyond the event id; TLS only).
    shared_secret: tuple[str, ...] = ()
    # A signed request's timestamp must be within this of the gateway's clock.
    tolerance_s: float = 300.0
    max_body_bytes: int = 256 * 1024
    # Signed requests remembered to refuse replays (503 beyond, until older ones go stale).
    max_remembered: int = 100_000

    def __post_init__(self) -> None:
        _positive(self, "webhooks", "tolerance_s", "max_body_bytes", "max_remembered")
        for source, secrets in self.secrets.items():
            if source not in WEBHOOK_SOURCES:
                raise ConfigError(f"webhooks.secrets.{source}: unknown source (known: "
                                  f"{', '.join(WEBHOOK_SOURCES)})")
            check_secrets(f"webhooks.secrets.{source}", secrets)
        for source in self.shared_secret:
            if source not in WEBHOOK_SOURCES:
                raise ConfigError(f"webhooks.shared_secret: unknown source {source!r} "
                                  f"(known: {', '.join(WEBHOOK_SOURCES)})")


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """Where published events are numbered, kept and fanned out: ``memory`` (one process)
    or ``redis`` (several gateway nodes sharing one Redis behave as one gateway; Socket.IO
    recovery records, SSE tickets and the recovery pid key are then kept in Redis too)."""

    kind: Literal["memory", "redis"] = "memory"
    # redis://[user:password@]host:port/db, rediss:// (TLS) or unix:///path/to/socket.
    # Sentinel and Cluster URLs are not supported (a plain URL to the primary works).
    url: str = "redis://127.0.0.1:6379/0"
    # Every key and pub/sub channel starts with this, so several gateways can share a Redis.
    prefix: str = "ybrt:"
    # A wait on Redis longer than this fails: the HTTP publish answers 503.
    timeout_s: float = 5.0
    # Publishes waiting for Redis; beyond, emits are dropped (logged) and HTTP publishes 503.
    max_queue: int = 100_000
    # Connections to Redis per node (pub/sub takes one); more requests wait up to timeout_s.
    max_connections: int = 64
    # A PING through the pub/sub connection this often, answered within timeout_s: a Redis
    # that stops answering without closing its connections is noticed within their sum.
    health_check_interval_s: float = 5.0

    def __post_init__(self) -> None:
        _positive(self, "broker", "timeout_s", "max_queue", "max_connections",
                  "health_check_interval_s")
        if not re.fullmatch(r"(rediss?://\S*|unix:///\S+)", self.url):
            raise ConfigError(f"broker.url: expected redis://, rediss:// or unix:// "
                              f"(Sentinel and Cluster are not supported), got {self.url!r}")
        if not re.fullmatch(r"[A-Za-z0-9_.:{}-]{1,64}", self.prefix):
            raise ConfigError("broker.prefix: 1-64 characters of A-Z a-z 0-9 _ . : { } -")
