"""What ``/metrics`` reports, read from a running gateway when scraped.

Gauges (connections, buffered bytes, history, SSE streams, alerts, the outbox's queue) are
computed from live state on each scrape; counters come from :mod:`.core.counters`, which
the hot path bumps once per publish. A scrape walks the open connections once: its cost
grows with them, a fleet's scrape interval (15-60 s) makes that negligible.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from .core.broker import Broker, BrokerStats
from .core.channels import USER_PREFIX
from .core.hub import Hub
from .operations import Operations
from .outbox.service import Outbox
from .server.engineio import EngineServer
from .server.http import HttpFront
from .server.limits import ClientLimits
from .server.socketio import SioClient
from .server.sse import SseRoute

NO_ROLE = "none"


class Node(Protocol):
    """What a scrape reads of a running gateway (:class:`~.app.Gateway` is one)."""

    @property
    def hub(self) -> Hub: ...
    @property
    def limits(self) -> ClientLimits: ...
    @property
    def sse(self) -> SseRoute: ...
    @property
    def broker(self) -> Broker: ...
    @property
    def operations(self) -> Operations | None: ...
    @property
    def outbox(self) -> Outbox | None: ...
    @property
    def engine(self) -> EngineServer | None: ...
    @property
    def front(self) -> HttpFront | None: ...
    async def readiness(self) -> list[str]: ...


async def collect(gateway: Node) -> list[Metric]:
    families = [*_connections(gateway), *_traffic(gateway), *_broker(gateway.broker.stats())]
    families += await _outbox(gateway)
    reasons = await gateway.readiness()
    families.append(gauge("ybrt_ready", "1 while /readyz answers 200.", 0 if reasons else 1))
    return families


def _connections(gateway: Node) -> list[Metric]:
    """Open connections by transport and role, and the bytes waiting in their buffers."""
    connections: Counter[tuple[str, str]] = Counter()
    buffered: Counter[str] = Counter({"websocket": 0, "polling": 0, "sse": 0})
    engine = gateway.engine
    for session in engine.sessions.values() if engine is not None else ():
        transport = "websocket" if session.websocket is not None else "polling"
        connections[transport, _session_role(session.state)] += 1
        if session.websocket is not None:
            buffered["websocket"] += session.websocket.pending + \
                session.websocket.transport.get_write_buffer_size()
        else:
            buffered["polling"] += session.polling_pending
    sse_channels: Counter[str] = Counter()
    for stream in gateway.sse.open_streams:
        connections["sse", stream.credentials.role] += 1
        buffered["sse"] += stream.pending + stream.transport.get_write_buffer_size()
        sse_channels.update(_channel_label(c) for c in stream.channels)
    by_role = GaugeMetricFamily("ybrt_connections", "Open client connections by transport "
                                "and role (role 'none': not joined to a namespace yet).",
                                labels=["transport", "role"])
    for transport in ("websocket", "polling", "sse"):
        if not any(t == transport for t, _ in connections):
            by_role.add_metric([transport, NO_ROLE], 0)
    for (transport, role), count in sorted(connections.items()):
        by_role.add_metric([transport, role], count)
    front = gateway.front
    buffered["http"] = front.unsent_bytes() if front is not None else 0
    pending = GaugeMetricFamily("ybrt_output_buffer_bytes", "Bytes queued for clients and "
                                "not yet written to the network, by transport (http: "
                                "responses on connections in their HTTP phase).",
                                labels=["transport"])
    for transport, size in sorted(buffered.items()):
        pending.add_metric([transport], size)
    unread = gauge("ybrt_http_unread_connections", "HTTP connections not read because "
                   "their client does not read its responses.",
                   len(front.paused) if front is not None else 0)
    arriving = gauge("ybrt_arriving_bytes", "Bytes held in messages and request bodies "
                     "still arriving (unfinished WebSocket messages, bodies being received).",
                     sum(gateway.limits.held_by_ip.values()))
    streams = GaugeMetricFamily("ybrt_sse_streams", "Open SSE streams by channel (a stream "
                                "of several channels counts under each; user:<uid> channels "
                                "under user:*).", labels=["channel"])
    for channel, count in sorted(sse_channels.items()):
        streams.add_metric([channel], count)
    return [by_role, pending, unread, arriving, streams]


def _channel_label(channel: str) -> str:
    """Per-user channels are counted together: user ids stay out of the metrics, and the
    number of series stays that of the channels an operator defined."""
    return USER_PREFIX + "*" if channel.startswith(USER_PREFIX) else channel


def _session_role(state: object) -> str:
    if isinstance(state, SioClient):
        for socket in state.sockets.values():
            if socket.credentials is not None:
                return socket.credentials.role
    return NO_ROLE


def _traffic(gateway: Node) -> list[Metric]:
    counters = gateway.hub.counters
    refused = CounterMetricFamily("ybrt_refused_events_total",
                                  "Socket.IO events refused, by error code.", labels=["code"])
    for code, count in sorted(counters.refused.items()):
        refused.add_metric([code], count)
    cut = CounterMetricFamily("ybrt_slow_consumer_disconnects_total",
                              "Connections cut off for falling more than "
                              "server.max_buffer_bytes behind, by transport.",
                              labels=["transport"])
    dropped = CounterMetricFamily("ybrt_dropped_bytes_total", "Bytes dropped from the "
                                  "buffers of connections cut off, by transport.",
                                  labels=["transport"])
    for transport in ("websocket", "polling", "sse"):
        cut.add_metric([transport], counters.slow_consumers.get(transport, 0))
        dropped.add_metric([transport], counters.dropped_bytes.get(transport, 0))
    limited = CounterMetricFamily("ybrt_limit_refusals_total", "Connections and events "
                                  "refused by the per-client limits ([limits]), by limit.",
                                  labels=["limit"])
    for limit in ("connections_per_ip", "connections_per_user", "handshake_rate",
                  "event_rate", "event_flood"):
        limited.add_metric([limit], counters.limited.get(limit, 0))
    responses = CounterMetricFamily("ybrt_http_responses_total",
                                    "HTTP responses written, by status.", labels=["status"])
    for status, count in sorted(counters.http_responses.items()):
        responses.add_metric([str(status)], count)
    latency = counters.flush_latency
    families = [
        counter("ybrt_publishes_total", "Events handed to this node's fan-out.",
                counters.publishes),
        counter("ybrt_deliveries_total", "Recipients those events reached (one per "
                "connection per event).", counters.deliveries),
        refused, cut, dropped, limited, responses,
        HistogramMetricFamily(
            "ybrt_publish_flush_latency_seconds",
            "From a publish to the end of the flush that hands it to the sockets (sampled: "
            "the oldest unflushed publish, once per flush round).",
            buckets=[("+Inf" if math.isinf(bound) else repr(bound), count)
                     for bound, count in latency.cumulative()],
            sum_value=latency.sum),
    ]
    if gateway.operations is not None:
        families.append(gauge("ybrt_alerts_open", "Alerts not yet acknowledged.",
                              gateway.operations.alerts.open_count()))
    return families


def _broker(stats: BrokerStats) -> list[Metric]:
    families = [
        gauge("ybrt_broker_up", "1 while the broker takes publishes (the memory broker "
              "always does; the Redis broker not while Redis is unreachable).",
              1 if stats.up else 0, broker=stats.kind),
        counter("ybrt_broker_published_total", "Events the broker numbered and delivered.",
                stats.published),
    ]
    if stats.outages is not None:
        families.append(counter("ybrt_broker_outages_total", "Times Redis became "
                                "unreachable for this node.", stats.outages))
    if stats.local_only is not None:
        families.append(counter("ybrt_broker_local_only_total", "Events delivered to this "
                                "node's clients only, while Redis was unreachable.",
                                stats.local_only))
    if stats.history_entries is not None:
        families.append(gauge("ybrt_history_entries", "Events kept in channel histories "
                              "(an event on several channels counts once per channel).",
                              stats.history_entries))
    if stats.history_channels is not None:
        families.append(gauge("ybrt_history_channels", "Channels with a history record.",
                              stats.history_channels))
    return families


async def _outbox(gateway: Node) -> list[Metric]:
    outbox = gateway.outbox
    if outbox is None:
        return [gauge("ybrt_outbox_enabled", "1 when events are forwarded to webhooks.", 0)]
    stats = await outbox.stats()
    oldest = stats["oldestAgeS"]
    return [
        gauge("ybrt_outbox_enabled", "1 when events are forwarded to webhooks.", 1),
        gauge("ybrt_outbox_backlog", "Deliveries waiting in the outbox (in flight included).",
              stats["backlog"]),
        gauge("ybrt_outbox_in_flight", "Webhook requests in flight.", stats["inFlight"]),
        gauge("ybrt_outbox_queued", "Events offered and not yet written to the outbox's "
              "file.", stats["queued"]),
        gauge("ybrt_outbox_oldest_age_seconds", "Age of the oldest waiting delivery.",
              oldest if oldest is not None else 0),
        gauge("ybrt_outbox_dead_letters", "Deliveries that used up their retry budget.",
              stats["deadLetters"]),
        counter("ybrt_outbox_delivered_total", "Deliveries a webhook acknowledged (2xx) "
                "since start.", stats["delivered"]),
        counter("ybrt_outbox_dropped_total", "Events not forwarded because the outbox "
                "could not take them (full or unwritable).", stats["dropped"]),
    ]


def gauge(name: str, help: str, value: float, **labels: str) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, help, labels=list(labels))
    family.add_metric(list(labels.values()), value)
    return family


def counter(name: str, help: str, value: float, **labels: str) -> CounterMetricFamily:
    family = CounterMetricFamily(name, help, labels=list(labels))
    family.add_metric(list(labels.values()), value)
    return family
