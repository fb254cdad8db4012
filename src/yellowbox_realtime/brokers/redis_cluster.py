"""One view of the cluster for what each node would otherwise do on its own.

- **A lease** (``<p>leader``: ``SET NX PX``, renewed by its holder): the node holding it runs
  the timer-driven publishes (fleet batches, dashboard updates), so a dashboard gets one
  batch per interval, not one per node. When the holder stops renewing (killed, cut off
  from Redis) the lease lapses after ``lease_s`` and another node takes it at its next
  renewal. A node whose broker is down leads for its own local clients meanwhile (their
  events cannot reach the others anyway).
- **Node reports** (``<p>nodes``: one hash field per node, with an expiry time inside the
  value, since a hash field has no TTL of its own in older Redis versions): every
  ``interval_s`` a node writes what it alone knows (open connections by transport, events
  published, the channels it has subscribers to) and reads everyone's. Reports older than
  ``lease_s`` are dropped: a killed node's connections leave the totals within that time.

One round trip per ``interval_s`` per node, whatever the load. The values read are cached,
so :meth:`RedisCluster.connections` and the rest answer synchronously (the dashboard's
metrics are built synchronously).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..core.background import cancel_and_wait

__all__ = ["NodeReport", "RedisCluster"]

log = logging.getLogger(__name__)

#: What a node reports: ``connections`` (transport -> count), ``published`` (events since it
#: started) and ``watching`` (channels it has local subscribers to).
NodeReport = Callable[[], Mapping[str, Any]]

# Take the lease if free, renew it if ours; 1 if we hold it now.
_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('HDEL', KEYS[2], ARGV[1])
return 0
"""


class RedisCluster:
    def __init__(self, client: aioredis.Redis, prefix: str, node: str, report: NodeReport,
                 *, broker_up: Callable[[], bool] = lambda: True, interval_s: float = 1.0,
                 lease_s: float = 3.0, wall_clock: Callable[[], float] = time.time) -> None:
        self.redis = client
        self.node = node
        self._leader_key = f"{prefix}leader"
        self._nodes_key = f"{prefix}nodes"
        self._report = report
        self._broker_up = broker_up
        self.interval_s = interval_s
        self.lease_s = lease_s
        self._wall = wall_clock
        self._lease = client.register_script(_LEASE)
        self._release = client.register_script(_RELEASE)
        self._leading = False
        self._reports: dict[str, Mapping[str, Any]] = {}
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0

    # -- what the operations ask ------------------------------------------------------

    def leads(self) -> bool:
        """Whether this node runs the timer-driven publishes now."""
        return self._leading or not self._broker_up()

    def watched(self, channel: str) -> bool:
        """Whether any node has subscribers to ``channel`` (as last reported; this node's
        own report is always current)."""
        if channel in self._report().get("watching", ()):
            return True
        return any(channel in r.get("watching", ()) for n, r in self._reports.items()
                   if n != self.node)

    def connections(self) -> dict[str, int]:
        """Open client connections of the whole cluster, by transport."""
        totals: dict[str, int] = dict(self._report().get("connections", {}))
        for node, report in self._reports.items():
            if node != self.node:
                for transport, count in report.get("connections", {}).items():
                    totals[transport] = totals.get(transport, 0) + int(count)
        return totals

    def published(self) -> int:
        """Events published by every node since each started (for rates)."""
        own = int(self._report().get("published", 0))
        return own + sum(int(r.get("published", 0)) for n, r in self._reports.items()
                         if n != self.node)

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        await self._round()
        self._task = asyncio.create_task(self._run(), name="redis-cluster")

    async def close(self) -> None:
        """Hand the lease over at once and leave the totals (a graceful stop)."""
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(self.lease_s):
                await self._release(keys=[self._leader_key, self._nodes_key], args=[self.node])
        self._leading = False

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)  # the renewal period itself
            await self._round()

    async def _round(self) -> None:
        now_ms = int(self._wall() * 1000)
        lease_ms = int(self.lease_s * 1000)
        value = json.dumps({**self._report(), "until": now_ms + lease_ms})
        try:
            async with asyncio.timeout(self.lease_s):
                async with self.redis.pipeline(transaction=False) as pipe:
                    await self._lease(keys=[self._leader_key], args=[self.node, lease_ms],
                                      client=pipe)
                    pipe.hset(self._nodes_key, self.node, value)
                    pipe.hgetall(self._nodes_key)
                    leading, _, raw = await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            if self._leading:
                log.warning("cluster: lost the lease (Redis: %s)", exc or type(exc).__name__)
            self._leading = False
            return
        if bool(leading) != self._leading:
            log.info("cluster: this node %s the timers' lease",
                     "holds" if leading else "no longer holds")
        self._leading = bool(leading)
        reports: dict[str, Mapping[str, Any]] = {}
        stale = []
        for name, text in raw.items():
            node = name.decode() if isinstance(name, bytes) else str(name)
            try:
                report = json.loads(text)
            except ValueError:
                stale.append(node)
                continue
            if int(report.get("until", 0)) < now_ms:
                stale.append(node)
            else:
                reports[node] = report
        self._reports = reports
        self.rounds += 1
        if stale:
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                await cast("Awaitable[int]", self.redis.hdel(self._nodes_key, *stale))
