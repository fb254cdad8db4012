"""The cluster's lease and node reports, on a real redis-server."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import redis.asyncio as aioredis

from yellowbox_realtime.brokers.redis_cluster import RedisCluster

from ..redis_server import RedisServer
from ..waiting import until


def member(redis: RedisServer, prefix: str, name: str, connections: dict[str, int],
           watching: list[str] | None = None) -> RedisCluster:
    report: dict[str, Any] = {"connections": connections, "published": 10,
                              "watching": watching or []}
    return RedisCluster(aioredis.from_url(redis.url), prefix, name, lambda: report,
                        interval_s=0.05, lease_s=0.3)


async def crash(cluster: RedisCluster) -> None:
    """Stop renewing without handing anything over, as a killed process does."""
    assert cluster._task is not None
    cluster._task.cancel()
    await asyncio.gather(cluster._task, return_exceptions=True)
    await cluster.redis.aclose()


async def test_one_node_leads_and_another_takes_over_when_its_lease_lapses(
        redis: RedisServer) -> None:
    prefix = f"l{uuid.uuid4().hex[:8]}:"
    a = member(redis, prefix, "a", {"websocket": 2, "sse": 1})
    b = member(redis, prefix, "b", {"websocket": 3, "sse": 0}, ["fleet"])
    await a.start()
    await b.start()
    try:
        await until(lambda: "b" in a._reports and "a" in b._reports)
        assert a.leads() != b.leads()
        leader, other = (a, b) if a.leads() else (b, a)
        # Every node sees the whole cluster's connections and who watches what.
        assert a.connections() == b.connections() == {"websocket": 5, "sse": 1}
        assert a.watched("fleet")
        assert b.watched("fleet")
        assert not a.watched("dashboard")
        assert a.published() == 20
        await crash(leader)
        await until(other.leads)
        # The crashed node's report lapses too.
        await until(lambda: set(other._reports) == {other.node})
        assert other.connections() == dict(other._report()["connections"])
    finally:
        for cluster in (a, b):
            if cluster._task is not None and not cluster._task.done():
                await cluster.close()
                await cluster.redis.aclose()


async def test_a_graceful_stop_hands_the_lease_over_at_once(redis: RedisServer) -> None:
    prefix = f"l{uuid.uuid4().hex[:8]}:"
    a = member(redis, prefix, "a", {})
    a.lease_s = 3600.0  # were its lease left to lapse, this test would time out
    await a.start()
    assert a.leads()
    b = member(redis, prefix, "b", {})
    await b.start()
    try:
        assert not b.leads()
        await a.close()
        await a.redis.aclose()
        await until(b.leads)
    finally:
        await b.close()
        await b.redis.aclose()
