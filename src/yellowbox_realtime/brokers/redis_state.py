"""Cluster state that lives in one process's memory on a single node, kept in Redis so any
node can serve a client that comes back to another one.

- :class:`RedisRecoveryRecords`: Socket.IO sockets that left, by private id (``pid``), for
  the recovery window (a key with that TTL; taking it deletes it, so a record is used once
  across the cluster). Connected sockets have a record too, rewritten every
  ``min(window / 3, 2 s)`` (only while it exists, so a record another node took is not
  brought back): a client whose node was killed (SIGKILL: nothing is written on the way
  out) recovers on another node within the window, with the rooms it had at the last
  rewrite.
- :class:`RedisTickets`: one-time SSE tickets, for their lifetime (a key with that TTL;
  redeeming deletes it).
- :func:`shared_pid_key`: the HMAC key pids are derived with, created once in Redis, so
  every node computes the same pid for a socket id.

Bounds: entries expire with their TTL in Redis. Unlike the memory stores there is no count
bound in this process; Redis's own ``maxmemory`` is the cluster-wide one.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import secrets
import time
from collections.abc import Callable, Coroutine
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..core.background import cancel_and_wait
from ..core.recovery import Departed
from ..errors import AuthBackendUnavailable, AuthenticationError
from ..messages import Credentials

__all__ = ["RedisRecoveryRecords", "RedisTickets", "shared_pid_key"]

log = logging.getLogger(__name__)

_MAX_TICKET_CHARS = 64


async def shared_pid_key(client: aioredis.Redis, prefix: str) -> bytes:
    """The cluster's pid key: the first node to ask creates it."""
    key = f"{prefix}pid-key"
    await client.set(key, base64.b64encode(secrets.token_bytes(32)), nx=True)
    value = await client.get(key)
    if value is None:  # deleted between the two calls: try again
        return await shared_pid_key(client, prefix)
    return base64.b64decode(value)


class RedisRecoveryRecords:
    """:class:`~yellowbox_realtime.core.recovery.RecoveryRecords` in Redis.

    ``keep`` is called as a socket closes and must not wait: the write is sent in the
    background (``close`` waits for the writes still in flight). A socket whose ``data``
    is not JSON cannot be kept; it starts afresh when it comes back.
    """

    def __init__(self, client: aioredis.Redis, prefix: str, window_s: float) -> None:
        self.redis = client
        self.prefix = prefix
        self.window_s = window_s
        self._writes: set[asyncio.Task[None]] = set()
        self._live: dict[str, Callable[[], Departed]] = {}
        self._refresher: asyncio.Task[None] | None = None
        self.refresh_s = min(window_s / 3, 2.0)

    def track(self, pid: str, snapshot: Callable[[], Departed]) -> None:
        self._live[pid] = snapshot
        value = _record(snapshot())
        if value is not None:
            self._spawn(self._write(pid, value))
        if self._refresher is None:
            self._refresher = asyncio.get_running_loop().create_task(self._refresh())

    def untrack(self, pid: str, *, forget: bool) -> None:
        self._live.pop(pid, None)
        if forget:
            self._spawn(self._delete(pid))

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)  # the rewrite period itself
            live = list(self._live.items())
            if not live:
                continue
            px = max(1, int(self.window_s * 1000))
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for pid, snapshot in live:
                        value = _record(snapshot())
                        if value is not None:
                            pipe.set(f"{self.prefix}s:{pid}", value, px=px, xx=True)
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                log.warning("recovery records of live sockets not rewritten: %s", exc)

    async def _delete(self, pid: str) -> None:
        try:
            await self.redis.delete(f"{self.prefix}s:{pid}")
        except (RedisError, OSError) as exc:
            log.warning("recovery record not deleted from Redis: %s", exc)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    def keep(self, pid: str, departed: Departed) -> None:
        self._live.pop(pid, None)
        value = _record(departed)
        if value is not None:
            self._spawn(self._write(pid, value))

    async def _write(self, pid: str, value: str) -> None:
        try:
            await self.redis.set(f"{self.prefix}s:{pid}", value,
                                 px=max(1, int(self.window_s * 1000)))
        except (RedisError, OSError) as exc:
            log.warning("recovery record not kept in Redis: %s", exc)

    async def claim(self, pid: str, now: float) -> Departed | None:
        try:
            raw = await self.redis.getdel(f"{self.prefix}s:{pid}")
        except (RedisError, OSError) as exc:
            log.warning("recovery record not read from Redis: %s", exc)
            return None
        if raw is None:
            return None
        data: dict[str, Any] = json.loads(raw)
        return Departed(data["sid"], data["uid"], data["nsp"], tuple(data["rooms"]),
                        data["data"], data["epoch"], int(data["joined_at"]), now)

    async def close(self) -> None:
        if self._refresher is not None:
            await cancel_and_wait(self._refresher)
            self._refresher = None
        if self._writes:
            await asyncio.wait(set(self._writes), timeout=5.0)


def _record(departed: Departed) -> str | None:
    try:
        return json.dumps({"sid": departed.sid, "uid": departed.uid, "nsp": departed.nsp,
                           "rooms": departed.rooms, "data": departed.data,
                           "epoch": departed.epoch, "joined_at": departed.joined_at})
    except (TypeError, ValueError):
        log.info("socket %s cannot be kept for recovery: its data is not JSON", departed.sid)
        return None


class RedisTickets:
    """:class:`~yellowbox_realtime.server.sse_tickets.Tickets` in Redis: issued by one node,
    redeemable once on any."""

    def __init__(self, client: aioredis.Redis, prefix: str, ttl_s: float, *,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.redis = client
        self.prefix = prefix
        self.ttl_s = ttl_s
        self._wall = wall_clock

    async def grant(self, credentials: Credentials) -> tuple[str, float]:
        lifetime = credentials.lifetime_within(self.ttl_s, self._wall())
        ticket = secrets.token_urlsafe(24)
        value = json.dumps({"uid": credentials.uid, "role": credentials.role,
                            "expires_at": credentials.expires_at,
                            "claims": dict(credentials.claims)})
        try:
            await self.redis.set(f"{self.prefix}t:{ticket}", value,
                                 px=max(1, math.floor(lifetime * 1000)))
        except (RedisError, OSError) as exc:
            raise AuthBackendUnavailable("stream tickets are unavailable (Redis); "
                                         "try again shortly") from exc
        return ticket, lifetime

    async def claim(self, ticket: str) -> Credentials:
        raw = None
        if len(ticket) <= _MAX_TICKET_CHARS:
            try:
                raw = await self.redis.getdel(f"{self.prefix}t:{ticket}")
            except (RedisError, OSError) as exc:
                raise AuthBackendUnavailable("stream tickets are unavailable (Redis); "
                                             "try again shortly") from exc
        if raw is None:
            raise AuthenticationError("stream ticket is unknown, used or expired: get a new "
                                      "one from POST /sse/tickets")
        data = json.loads(raw)
        return Credentials(data["uid"], data["role"], data["expires_at"], data["claims"])
