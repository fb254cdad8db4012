"""Fan-out: N subscribers in rider_locations, one rider publishing at stepped rates."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from .. import measure
from ..client import SioClient, close_all, connect, connect_many
from ..measure import Backlog, CpuWindow, Latencies
from ..publisher import Publisher
from ..servers import Target

#: Offered deliveries per second (messages/s x subscribers), stepped up until a step fails.
DEFAULT_STEPS = (5_000, 10_000, 20_000, 40_000, 60_000, 100_000, 150_000, 250_000, 400_000,
                 600_000, 800_000, 1_000_000, 1_500_000, 2_000_000, 3_000_000, 4_000_000,
                 5_000_000, 6_000_000, 8_000_000, 10_000_000)


@dataclass
class FanoutStep:
    offered_per_s: float
    rate_msgs: float
    published: int
    expected: int
    received: int
    wall_s: float
    p50_ms: float | None
    p99_ms: float | None
    server_cpu_s: float
    loadgen_cpu: float  # fraction of one core
    #: The most bytes seen received and not yet read, while publishing, by the server (its
    #: publisher's messages) and by the load generator (the deliveries).
    backlog_for_server: int = 0
    backlog_for_loadgen: int = 0

    @property
    def lost(self) -> int:
        return self.expected - self.received

    @property
    def delivered_per_s(self) -> float:
        return self.received / (self.published / self.rate_msgs) if self.published else 0.0

    @property
    def cpu_s_per_million(self) -> float | None:
        return self.server_cpu_s / self.received * 1e6 if self.received else None

    def ok(self, max_p99_s: float) -> bool:
        return self.lost == 0 and self.p99_ms is not None and self.p99_ms <= max_p99_s * 1e3


@dataclass
class FanoutResult:
    server: str
    subscribers: int
    steps: list[FanoutStep] = field(default_factory=list)
    max_p99_s: float = 1.0

    @property
    def sustained(self) -> FanoutStep | None:
        good = [s for s in self.steps if s.ok(self.max_p99_s)]
        return max(good, key=lambda s: s.delivered_per_s) if good else None


async def subscribe(target: Target, subscribers: int, samples: int,
                    latencies: Latencies) -> list[SioClient]:
    auths = [target.auth(f"ops-{i}", "operations") for i in range(subscribers)]
    stride = max(1, subscribers // max(1, samples))
    clients = await connect_many(target.address, auths,
                                 parse=lambda i: i % stride == 0 and i // stride < samples,
                                 on_location=latencies.record)
    for c in clients:
        c.emit("subscribe_rider_locations")
    return clients


async def warm_up(clients: Sequence[SioClient], rider: SioClient, publisher: Publisher,
                  timeout: float = 60.0) -> None:
    """Publish slowly until every subscriber has received something (subscriptions done)."""
    deadline = time.monotonic() + timeout
    while any(c.count == 0 for c in clients):
        if time.monotonic() > deadline:
            missing = sum(1 for c in clients if c.count == 0)
            raise TimeoutError(f"{missing} subscribers received nothing during warm-up")
        publisher.publish(rider)
        await asyncio.sleep(0.1)
    await measure.drain(clients, publisher.next_seq * len(clients), timeout=30.0, idle=5.0)


async def run_step(target: Target, clients: Sequence[SioClient], rider: SioClient,
                   publisher: Publisher, offered: float, duration: float,
                   drain_s: float, other_pids: tuple[int, ...] = ()) -> FanoutStep:
    n = len(clients)
    rate = offered / n
    before = measure.total(clients)
    first_seq = publisher.next_seq
    window = CpuWindow(target.pid, other_pids).start()
    backlog = Backlog([*clients, rider])
    watching = asyncio.ensure_future(backlog.watch())
    try:
        published = await measure.paced(rate, duration,
                                        lambda k: publisher.publish(rider, k))
    finally:
        watching.cancel()
    expected = published * n
    after = await measure.drain(clients, before + expected, timeout=drain_s)
    wall, server_cpu, loadgen_cpu = window.stop()
    lat = publisher.latencies.between(first_seq, publisher.next_seq)
    p50, p99 = measure.percentile(lat, 50), measure.percentile(lat, 99)
    return FanoutStep(
        offered_per_s=offered, rate_msgs=rate, published=published, expected=expected,
        received=after - before, wall_s=wall,
        p50_ms=None if p50 is None else p50 * 1e3,
        p99_ms=None if p99 is None else p99 * 1e3,
        server_cpu_s=server_cpu, loadgen_cpu=loadgen_cpu / wall if wall else 0.0,
        backlog_for_server=backlog.for_server, backlog_for_loadgen=backlog.for_loadgen)


async def run_fanout(target: Target, subscribers: int, *, steps: Sequence[float] = DEFAULT_STEPS,
                     step_s: float = 3.0, samples: int = 20, max_p99_s: float = 1.0,
                     drain_s: float = 4.0, min_rate_msgs: float = 1.0) -> FanoutResult:
    """Step the offered rate up until p99 passes ``max_p99_s`` or a message is lost."""
    latencies = Latencies()
    publisher = Publisher(latencies)
    clients = await subscribe(target, subscribers, samples, latencies)
    return await step_up(target, clients, publisher,
                         FanoutResult(target.name, subscribers, max_p99_s=max_p99_s),
                         steps=steps, step_s=step_s, drain_s=drain_s,
                         min_rate_msgs=min_rate_msgs)


async def step_up(target: Target, clients: Sequence[SioClient], publisher: Publisher,
                  result: FanoutResult, *, steps: Sequence[float], step_s: float,
                  drain_s: float, min_rate_msgs: float,
                  other_pids: tuple[int, ...] = ()) -> FanoutResult:
    """With ``clients`` subscribed, one rider on ``target`` publishes at each offered rate in
    turn until a step fails; then every client is closed. ``other_pids``: more processes
    whose CPU counts as the server's (a cluster's other nodes and Redis)."""
    subscribers = len(clients)
    rider = await connect(target.address, target.auth("rider-0", "rider"), parse=True)
    try:
        await warm_up(clients, rider, publisher)
        for offered in steps:
            if offered / subscribers < min_rate_msgs:
                continue
            step = await run_step(target, clients, rider, publisher, offered, step_s, drain_s,
                                  other_pids=other_pids)
            result.steps.append(step)
            if not step.ok(result.max_p99_s):
                break
    finally:
        close_all([*clients, rider])
        await asyncio.sleep(0.2)
    return result
