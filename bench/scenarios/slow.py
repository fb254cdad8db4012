"""Slow consumer: one subscriber stops reading during a fan-out, and reads again later.

Reports the server's RSS over time, when the server let go of the stalled client (its side of
the TCP connection leaves ESTABLISHED, read from /proc/net/tcp), what the client finds at the
end of its stream once it reads again (close frame, Engine.IO/Socket.IO packets), and the other
subscribers' latency and losses before and after the stall.

The client reads again while the fan-out still runs (``resume_at_s``), not after it: a server
that cuts a slow client off may wait only so long for it to read its reason, and a client that
read only once the run was over would find whether that wait had expired, not the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from .. import measure, proc
from ..client import close_all, connect
from ..measure import Latencies
from ..publisher import Publisher
from ..servers import Target
from .fanout import subscribe, warm_up


@dataclass
class LatencyWindow:
    label: str
    p50_ms: float | None
    p99_ms: float | None
    samples: int


@dataclass
class SlowResult:
    server: str
    subscribers: int
    rate_msgs: float
    pause_at_s: float
    resume_at_s: float
    duration_s: float
    rss_timeline: list[tuple[float, int]] = field(default_factory=list)
    server_released_after_s: float | None = None
    server_side_state: str | None = None
    client_end: list[str] = field(default_factory=list)
    windows: list[LatencyWindow] = field(default_factory=list)
    others_expected: int = 0
    others_received: int = 0

    @property
    def others_lost(self) -> int:
        return self.others_expected - self.others_received


async def run_slow(target: Target, subscribers: int = 50, *, rate_msgs: float = 1000.0,
                   duration_s: float = 60.0, pause_at_s: float = 5.0,
                   resume_at_s: float = 45.0, window_s: float = 10.0) -> SlowResult:
    latencies = Latencies()
    publisher = Publisher(latencies)
    result = SlowResult(target.name, subscribers, rate_msgs, pause_at_s, resume_at_s,
                        duration_s)
    clients = await subscribe(target, subscribers, 5, latencies)
    slow = await connect(target.address, target.auth("ops-slow", "operations"), parse=True)
    slow.emit("subscribe_rider_locations")
    rider = await connect(target.address, target.auth("rider-0", "rider"), parse=True)
    try:
        await warm_up([*clients, slow], rider, publisher)
        assert slow.transport is not None
        slow_port = slow.transport.get_extra_info("sockname")[1]
        before = measure.total(clients)
        start = time.monotonic()
        sending = asyncio.ensure_future(measure.paced(
            rate_msgs, duration_s, lambda k: publisher.publish(rider, k)))
        paused_at: float | None = None
        while not sending.done():
            now = time.monotonic()
            if paused_at is None and now - start >= pause_at_s:
                slow.transport.pause_reading()
                paused_at = now
            elif paused_at is not None and not slow.transport.is_reading() \
                    and now - start >= resume_at_s:
                slow.transport.resume_reading()
            result.rss_timeline.append((now - start, proc.rss_bytes(target.pid)))
            state = proc.tcp_state(target.port, slow_port)
            if paused_at is not None and result.server_released_after_s is None \
                    and state != "ESTABLISHED":
                result.server_released_after_s = now - paused_at
                result.server_side_state = state or "gone"
            await asyncio.sleep(0.5)
        published = await sending
        result.others_expected = published * subscribers
        after = await measure.drain(clients, before + result.others_expected, timeout=5.0)
        result.others_received = after - before
        if not slow.transport.is_reading():
            slow.transport.resume_reading()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(slow.closed), 10.0)
        result.client_end = [*slow.close_info,
                             "TCP closed" if slow.lost_at is not None else "still connected"]
        pause = paused_at if paused_at is not None else start + pause_at_s
        result.windows.append(_window("before stall", latencies, start, pause))
        edge = pause
        while edge < start + duration_s:
            end = min(edge + window_s, start + duration_s)
            result.windows.append(_window(f"+{edge - pause:.0f}-{end - pause:.0f}s", latencies,
                                          edge, end))
            edge = end
    finally:
        close_all([*clients, slow, rider])
        await asyncio.sleep(0.2)
    return result


def _window(label: str, latencies: Latencies, start: float, end: float) -> LatencyWindow:
    lat = latencies.sent_between(start, end)
    p50, p99 = measure.percentile(lat, 50), measure.percentile(lat, 99)
    return LatencyWindow(label, None if p50 is None else p50 * 1e3,
                         None if p99 is None else p99 * 1e3, len(lat))
