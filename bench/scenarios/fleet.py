"""Fleet: R riders each publishing once a second, D dashboards subscribed to them all."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from .. import measure
from ..client import SioClient, close_all, connect_many
from ..measure import CpuWindow, Latencies
from ..publisher import Publisher
from ..servers import Target
from .fanout import subscribe, warm_up


@dataclass
class FleetResult:
    server: str
    riders: int
    dashboards: int
    duration_s: float
    published: int
    expected: int
    received: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    server_cpu_s: float
    loadgen_cpu: float

    @property
    def lost(self) -> int:
        return self.expected - self.received

    @property
    def delivered_per_s(self) -> float:
        return self.received / self.duration_s


async def connect_fleet(target: Target, riders: int, dashboards: int, samples: int,
                        latencies: Latencies, concurrency: int = 200,
                        ) -> tuple[list[SioClient], list[SioClient]]:
    """Dashboards subscribed to ``rider_locations`` (``samples`` of them timestamping), and
    rider connections."""
    boards = await subscribe(target, dashboards, samples, latencies)
    fleet = await connect_many(target.address,
                               [target.auth(f"rider-{i}", "rider") for i in range(riders)],
                               concurrency=concurrency)
    return boards, fleet


class Turns:
    """What ``measure.paced`` calls: riders take turns, so at a rate of one message per rider
    per second each publishes once a second, spread over the second."""

    def __init__(self, publisher: Publisher, fleet: Sequence[SioClient]) -> None:
        self.publisher = publisher
        self.fleet = fleet
        self.cursor = 0

    def __call__(self, due: int) -> None:
        for _ in range(due):
            self.publisher.publish(self.fleet[self.cursor % len(self.fleet)])
            self.cursor += 1


async def run_fleet(target: Target, riders: int, dashboards: int, *, duration_s: float = 10.0,
                    samples: int = 5, drain_s: float = 10.0) -> FleetResult:
    latencies = Latencies()
    publisher = Publisher(latencies)
    boards, fleet = await connect_fleet(target, riders, dashboards, samples, latencies)
    try:
        await warm_up(boards, fleet[0], publisher)
        before = measure.total(boards)
        first_seq = publisher.next_seq
        window = CpuWindow(target.pid).start()
        published = await measure.paced(float(riders), duration_s, Turns(publisher, fleet))
        expected = published * dashboards
        after = await measure.drain(boards, before + expected, timeout=drain_s, idle=2.0)
        wall, server_cpu, loadgen_cpu = window.stop()
        lat = latencies.between(first_seq, publisher.next_seq)
    finally:
        close_all([*boards, *fleet])
        await asyncio.sleep(0.2)
    p50, p99 = measure.percentile(lat, 50), measure.percentile(lat, 99)
    return FleetResult(
        server=target.name, riders=riders, dashboards=dashboards, duration_s=duration_s,
        published=published, expected=expected, received=after - before,
        p50_ms=None if p50 is None else p50 * 1e3, p99_ms=None if p99 is None else p99 * 1e3,
        max_ms=max(lat) * 1e3 if lat else None, server_cpu_s=server_cpu,
        loadgen_cpu=loadgen_cpu / wall if wall else 0.0)
