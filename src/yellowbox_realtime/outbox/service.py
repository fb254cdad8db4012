"""The outbox the gateway owns: events in, deliveries out, and what operators see.

Two ways in. :meth:`Outbox.accept` is awaited (the HTTP publish API): the event's
deliveries are committed before it returns, so a 202 means the event will reach n8n.
:meth:`Outbox.offer` does not wait (Socket.IO emits, which must not block the event loop):
events are queued in memory and committed in batches, one transaction per batch; an event
offered in the instant before the process dies can be lost. The in-memory queue is bounded
by ``max_backlog`` too: past it (or when the store fails) offered events are dropped,
counted and logged.

Shutdown (:meth:`close`): stop claiming, give requests in flight ``close_grace_s``, commit
what was offered, close the HTTP client and the file.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from ..config import OutboxConfig
from .errors import OutboxFull, OutboxUnavailable
from .event import OutboxEvent, body
from .retry import RetryPolicy
from .rules import Rules
from .store import DeadLetter, NewDelivery, OutboxStore
from .worker import Settled, Worker

log = logging.getLogger(__name__)

_BATCH = 500


class Outbox:
    def __init__(self, config: OutboxConfig, path: Path, *,
                 clock: Callable[[], float] = time.time,
                 random: Callable[[], float] | None = None) -> None:
        self.config = config
        self.rules = Rules.from_config(config)
        self.store = OutboxStore(path, max_backlog=config.max_backlog,
                                 busy_timeout_ms=config.busy_timeout_ms,
                                 max_file_bytes=config.max_file_bytes)
        self.clock = clock
        self._random = random
        self._client: httpx.AsyncClient | None = None
        self._worker: Worker | None = None
        self._offered: list[list[NewDelivery]] = []
        self._flushing: asyncio.Task[None] | None = None
        self.dropped = 0
        self._listeners: list[Callable[[Settled], None]] = []

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        await self.store.open()
        released = await self.store.release()
        if released:
            log.info("outbox: %d deliveries interrupted by the last shutdown are due again",
                     released)
        self._client = httpx.AsyncClient(timeout=self.config.timeout_s,
                                         follow_redirects=False)
        self._worker = Worker(self.store, self.rules.routes, RetryPolicy.from_config(self.config),
                              self._client, concurrency=self.config.concurrency,
                              poll_interval_s=self.config.poll_interval_s, clock=self.clock,
                              random=self._random)
        self._worker.listeners.extend(self._listeners)
        self._worker.start()

    async def close(self, grace_s: float | None = None) -> None:
        """``grace_s`` (default ``close_grace_s``) bounds the wait for requests in flight."""
        if self._worker is not None:
            await self._worker.stop(self.config.close_grace_s if grace_s is None else grace_s)
        if self._flushing is not None:
            await asyncio.gather(self._flushing, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
        await self.store.close()

    def on_settled(self, listener: Callable[[Settled], None]) -> None:
        """Call ``listener`` after each delivery attempt's result is stored (before or
        after start); it must not block or raise."""
        self._listeners.append(listener)
        if self._worker is not None:
            self._worker.listeners.append(listener)

    # -- events in --------------------------------------------------------------------

    def deliveries(self, event: OutboxEvent) -> list[NewDelivery]:
        """One delivery per route that takes the event."""
        return [NewDelivery(route.name, event.id, body(event, route.name, channel))
                for route, channel in self.rules.match(event)]

    async def accept(self, event: OutboxEvent) -> int:
        """Commit the event's deliveries; returns how many routes take it (0: none, and the
        store is not touched). OutboxFull or OutboxUnavailable (503) when it cannot."""
        rows = self.deliveries(event)
        if not rows:
            return 0
        (accepted,) = await self.store.add([rows], self.clock())
        if not accepted:
            raise OutboxFull(f"the outbox holds {self.config.max_backlog} deliveries "
                             "(outbox.max_backlog): the webhooks are not keeping up")
        self._wake()
        return len(rows)

    def offer(self, event: OutboxEvent) -> None:
        """Queue the event's deliveries for the next batch; never blocks or raises."""
        rows = self.deliveries(event)
        if not rows:
            return
        if len(self._offered) >= self.config.max_backlog:
            self._drop(1, "the in-memory queue is full (outbox.max_backlog)")
            return
        self._offered.append(rows)
        if self._flushing is None:
            self._flushing = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._offered:
                batch, self._offered = self._offered[:_BATCH], self._offered[_BATCH:]
                try:
                    accepted = await self.store.add(batch, self.clock())
                except OutboxUnavailable as exc:
                    self._drop(len(batch), exc.message)
                    continue
                refused = accepted.count(False)
                if refused:
                    self._drop(refused, "the outbox is full (outbox.max_backlog)")
                self._wake()
        finally:
            self._flushing = None

    def _drop(self, count: int, why: str) -> None:
        self.dropped += count
        log.error("outbox: %d event(s) not forwarded: %s", count, why)

    def _wake(self) -> None:
        if self._worker is not None:
            self._worker.wake()

    # -- operators --------------------------------------------------------------------

    async def stats(self) -> dict[str, Any]:
        """Backlog, oldest age, in flight, dead letters, the last error."""
        stats = await self.store.stats()
        now = self.clock()
        worker = self._worker
        last = worker.last_error if worker is not None else None
        return {
            "backlog": stats.backlog,
            "oldestAgeS": None if stats.oldest_created_at is None
            else round(max(0.0, now - stats.oldest_created_at), 3),
            "inFlight": len(worker.in_flight) if worker is not None else stats.in_flight,
            "deadLetters": stats.dead_letters,
            "delivered": worker.delivered if worker is not None else 0,
            "dropped": self.dropped,
            "queued": sum(map(len, self._offered)),
            "lastError": None if last is None else {
                "at": _iso(last.at), "route": last.route, "message": last.message},
            # Set while the file cannot be written (cleared by the next success).
            "storeError": self.store.last_error,
            "routes": sorted(self.rules.routes),
        }

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        return await self.store.dead_letters(limit)

    async def replay(self, dead_letter_id: int) -> int:
        delivery_id = await self.store.replay(dead_letter_id, self.clock())
        self._wake()
        return delivery_id

    async def check(self) -> str | None:
        """None when the store can be written now, else why not (for /readyz)."""
        try:
            await self.store.check()
        except OutboxUnavailable as exc:
            return exc.message
        return None


def dead_letter_json(letter: DeadLetter) -> dict[str, Any]:
    """A dead letter as the API and the CLI show it (the body parsed back to JSON)."""
    try:
        payload: Any = json.loads(letter.body)
    except ValueError:
        payload = letter.body
    return {
        "id": letter.id,
        "route": letter.route,
        "eventId": letter.event_id,
        "attempts": letter.attempts,
        "createdAt": _iso(letter.created_at),
        "failedAt": _iso(letter.failed_at),
        "lastStatus": letter.last_status,
        "lastError": letter.last_error,
        "body": payload,
    }


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")
