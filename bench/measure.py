"""Latency bookkeeping, pacing and waiting helpers shared by the scenarios."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from . import proc
from .client import SioClient


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


class Latencies:
    """Send times by sequence number and (seq, received_at) pairs from sampled clients."""

    def __init__(self) -> None:
        self.sent: dict[int, float] = {}
        self.received: list[tuple[int, float]] = []

    def record(self, seq: int, received_at: float) -> None:
        self.received.append((seq, received_at))

    def between(self, first_seq: int, end_seq: int) -> list[float]:
        """Latencies in seconds of messages with first_seq <= seq < end_seq."""
        sent = self.sent
        return [at - sent[seq] for seq, at in self.received
                if first_seq <= seq < end_seq and seq in sent]

    def sent_between(self, start: float, end: float) -> list[float]:
        """Latencies of messages sent in the wall window [start, end)."""
        sent = self.sent
        return [at - sent[seq] for seq, at in self.received
                if seq in sent and start <= sent[seq] < end]


def total(clients: Sequence[SioClient]) -> int:
    return sum(c.count for c in clients)


async def drain(clients: Sequence[SioClient], expected: int, timeout: float,
                idle: float = 1.0) -> int:
    """Wait until the clients have ``expected`` deliveries, progress stops or time is up."""
    deadline = time.monotonic() + timeout
    last, last_change = total(clients), time.monotonic()
    while time.monotonic() < deadline:
        now_total = total(clients)
        if now_total >= expected:
            return now_total
        if now_total != last:
            last, last_change = now_total, time.monotonic()
        elif time.monotonic() - last_change > idle:
            break
        await asyncio.sleep(0.05)
    return total(clients)


@dataclass
class CpuWindow:
    """Server and load generator CPU seconds over a wall-clock window.

    ``others`` are more server processes counted with ``pid`` (a cluster's other nodes and
    its Redis).
    """

    pid: int
    others: tuple[int, ...] = ()
    wall0: float = 0.0
    server0: float = 0.0
    loadgen0: float = 0.0

    def _server(self) -> float:
        return sum(proc.cpu_seconds(pid) for pid in (self.pid, *self.others))

    def start(self) -> CpuWindow:
        self.wall0 = time.monotonic()
        self.server0 = self._server()
        self.loadgen0 = proc.self_cpu_seconds()
        return self

    def stop(self) -> tuple[float, float, float]:
        """(wall s, server CPU s, load generator CPU s) since start()."""
        return (time.monotonic() - self.wall0, self._server() - self.server0,
                proc.self_cpu_seconds() - self.loadgen0)


@dataclass
class Backlog:
    """The most bytes seen received and not yet read by the server and by the load generator
    (see :func:`proc.loopback_backlog`) on the connections of ``clients`` while it watched."""

    clients: Sequence[SioClient]
    for_server: int = 0
    for_loadgen: int = 0

    async def watch(self, every: float = 1.0) -> None:
        """Sample until cancelled. Once a second: with 10,000 sockets open, one reading of
        /proc/net/tcp costs the load generator about 30 ms, most of it the kernel's."""
        ports = frozenset(c.local_port for c in self.clients)
        while True:
            server, loadgen = proc.loopback_backlog(ports)
            self.for_server = max(self.for_server, server)
            self.for_loadgen = max(self.for_loadgen, loadgen)
            await asyncio.sleep(every)


async def paced(rate: float, duration: float, send: Callable[[int], None],
                tick: float = 0.005) -> int:
    """Call ``send(k)`` so that about ``rate`` units per second go out for ``duration`` s.

    ``send`` gets how many units are due now (several per tick at high rates); returns the
    number sent.
    """
    start = time.monotonic()
    sent = 0
    target_total = round(rate * duration)
    while sent < target_total:
        elapsed = time.monotonic() - start
        due = min(target_total, int(elapsed * rate) + 1) - sent
        if due > 0:
            send(due)
            sent += due
        if elapsed >= duration + 5.0:  # bounded even if the loop starves
            break
        await asyncio.sleep(tick)
    return sent
