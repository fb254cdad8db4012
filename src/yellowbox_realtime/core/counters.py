"""What the gateway counts while it runs, for ``/metrics``.

The hot path only adds to integers here: one increment per publish (recipients, not one
per recipient), one per refusal, one per connection cut off. Everything that can be read
from live state (connections, buffer sizes, history, the outbox's queue) is not counted at
all: the metrics endpoint computes it when scraped.

Latency is sampled, not measured per delivery: the hub notes the time of the first publish
with recipients since the last flush, and the next flush (one per event-loop turn for
WebSocket and SSE buffers, or a polling response) records how long that publish waited to
be handed to the sockets. Under load that is one sample per flush round; idle, none.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Sequence

# Seconds; from a same-turn flush (tens of microseconds) to a stalled loop.
LATENCY_BUCKETS: tuple[float, ...] = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                      0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Histogram:
    """Cumulative-on-read histogram: ``observe`` bumps one bucket, ``cumulative`` sums."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.bounds = tuple(bounds)
        # One slot per bound plus the last one, for values above every bound (+Inf).
        self.counts = [0] * (len(self.bounds) + 1)
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value

    def cumulative(self) -> list[tuple[float, int]]:
        """``(upper bound, observations at or below it)``, ending with ``(inf, count)``."""
        out = []
        running = 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out


class Counters:
    """One gateway's running totals. Plain attributes, no locks: one event loop writes."""

    __slots__ = ("deliveries", "dropped_bytes", "flush_latency", "http_responses", "limited",
                 "publishes", "refused", "slow_consumers", "unflushed_since")

    def __init__(self) -> None:
        # Hub publishes that reached at least the hub (numbered events and others), and the
        # recipients they reached.
        self.publishes = 0
        self.deliveries = 0
        # Socket.IO events refused, by error code (validation_failed, forbidden, ...).
        self.refused: dict[str, int] = {}
        # Connections cut off for falling behind, and the bytes dropped with them, by
        # transport (websocket, polling, sse).
        self.slow_consumers: dict[str, int] = {}
        self.dropped_bytes: dict[str, int] = {}
        # HTTP responses the front wrote, by status.
        self.http_responses: dict[int, int] = {}
        # Refusals by the per-client limits ([limits]), by limit: connections_per_ip,
        # connections_per_user, handshake_rate, event_rate, event_flood.
        self.limited: dict[str, int] = {}
        self.flush_latency = Histogram()
        # time.monotonic() of the first publish with recipients not yet flushed; 0: none.
        self.unflushed_since = 0.0

    def refuse(self, code: str) -> None:
        self.refused[code] = self.refused.get(code, 0) + 1

    def limit_refused(self, limit: str) -> None:
        self.limited[limit] = self.limited.get(limit, 0) + 1

    def cut_off(self, transport: str, dropped: int) -> None:
        self.slow_consumers[transport] = self.slow_consumers.get(transport, 0) + 1
        self.dropped_bytes[transport] = self.dropped_bytes.get(transport, 0) + dropped

    def responded(self, status: int) -> None:
        self.http_responses[status] = self.http_responses.get(status, 0) + 1

    def flushed(self) -> None:
        """A flush round ended: record how long the oldest unflushed publish waited."""
        since = self.unflushed_since
        if since:
            self.unflushed_since = 0.0
            self.flush_latency.observe(time.monotonic() - since)
