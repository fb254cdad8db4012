"""Connections: server memory per idle connected Socket.IO client, and connect rate."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from .. import proc
from ..client import close_all, connect_many
from ..servers import Target


@dataclass
class ConnectionsResult:
    server: str
    clients: int
    connected: int
    rss_before: int
    rss_after: int
    connect_s: float
    server_cpu_s: float

    @property
    def bytes_per_connection(self) -> float:
        return (self.rss_after - self.rss_before) / self.connected if self.connected else 0.0

    @property
    def connects_per_s(self) -> float:
        return self.connected / self.connect_s if self.connect_s else 0.0


async def run_connections(target: Target, clients: int, *, concurrency: int = 200,
                          settle_s: float = 2.0) -> ConnectionsResult:
    """Connect ``clients`` idle clients (joined to the namespace), measure the RSS delta."""
    auths = [target.auth(f"idle-{i}", "operations") for i in range(clients)]
    await asyncio.sleep(settle_s / 2)
    rss_before = proc.rss_bytes(target.pid)
    cpu_before = proc.cpu_seconds(target.pid)
    start = time.monotonic()
    conns = await connect_many(target.address, auths, concurrency=concurrency)
    connect_s = time.monotonic() - start
    try:
        await asyncio.sleep(settle_s)
        rss_after = proc.rss_bytes(target.pid)
        connected = sum(1 for c in conns if c.lost_at is None)
    finally:
        close_all(conns)
        await asyncio.sleep(0.5)
    return ConnectionsResult(target.name, clients, connected, rss_before, rss_after, connect_s,
                             proc.cpu_seconds(target.pid) - cpu_before)
