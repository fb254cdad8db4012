"""Delivering the outbox's rows to their webhooks.

One dispatcher task claims due rows (oldest due first) up to ``concurrency`` at a time and
runs one task per request; each request has ``timeout_s`` for the whole exchange. When
nothing is due the dispatcher sleeps until the next row is due, ``poll_interval_s`` at
most, or until :meth:`Worker.wake` (a new event). Results go back to the store: done rows
are deleted, retries get their next time, the rest go to the dead letters.

At-least-once: a row is deleted only after its webhook answered 2xx. A gateway killed
mid-request leaves the row marked in flight; the next start makes it due again, so the
webhook may see the same event twice, with the same ``Idempotency-Key``. With several
requests in flight, deliveries can complete out of order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from ..signing import signed_headers
from .errors import OutboxUnavailable
from .retry import Outcome, RetryPolicy, parse_retry_after
from .rules import Route
from .store import Delivery, OutboxStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Settled:
    """What became of one delivery attempt (for listeners: metrics, tests)."""

    delivery_id: int
    event_id: str
    route: str
    outcome: Outcome
    status: int | None
    attempts: int


@dataclass(slots=True)
class LastError:
    at: float
    route: str
    message: str


class Worker:
    def __init__(self, store: OutboxStore, routes: Mapping[str, Route], policy: RetryPolicy,
                 client: httpx.AsyncClient, *, concurrency: int, poll_interval_s: float,
                 clock: Callable[[], float] = time.time,
                 random: Callable[[], float] | None = None) -> None:
        import random as _random

        self.store = store
        self.routes = routes
        self.policy = policy
        self.client = client
        self.concurrency = concurrency
        self.poll_interval_s = poll_interval_s
        self.clock = clock
        self.random = random or _random.random
        self.last_error: LastError | None = None
        self.delivered = 0
        self.in_flight: set[asyncio.Task[None]] = set()
        # Called after each attempt's result is stored; must not block or raise.
        self.listeners: list[Callable[[Settled], None]] = []
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch())

    def wake(self) -> None:
        self._wake.set()

    async def stop(self, grace_s: float) -> None:
        """Claim nothing more; give requests in flight ``grace_s`` to finish, then cancel
        them (their rows stay in flight and are due again at the next start)."""
        self._stopping = True
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            await asyncio.gather(self._dispatcher, return_exceptions=True)
        if self.in_flight:
            _, pending = await asyncio.wait(set(self.in_flight), timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    # -- dispatching ------------------------------------------------------------------

    async def _dispatch(self) -> None:
        while not self._stopping:
            self._wake.clear()
            wait = self.poll_interval_s
            free = self.concurrency - len(self.in_flight)
            try:
                if free > 0:
                    claimed = await self.store.claim(free, self.clock())
                    for delivery in claimed:
                        task = asyncio.get_running_loop().create_task(self._deliver(delivery))
                        self.in_flight.add(task)
                        task.add_done_callback(self._finished)
                    if len(claimed) == free:
                        continue  # maybe more due: claim again when a slot frees
                    due = await self.store.next_due()
                    if due is not None:
                        wait = min(wait, max(0.0, due - self.clock()))
            except OutboxUnavailable as exc:
                self._error("", exc.message)
            except Exception as exc:
                # The dispatcher must outlive any one failure, or nothing is sent again.
                log.exception("outbox: dispatching failed")
                self._error("", f"dispatching failed: {exc!r}")
            if free <= 0 or wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait if free > 0 else None)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.in_flight.discard(task)
        self._wake.set()

    # -- one delivery -----------------------------------------------------------------

    async def _deliver(self, delivery: Delivery) -> None:
        attempts = delivery.attempts + 1
        route = self.routes.get(delivery.route)
        if route is None:
            await self._settle(delivery, attempts, None, Outcome.PERMANENT, 0.0,
                               f"route {delivery.route!r} is no longer configured")
            return
        body = delivery.body.encode()
        status: int | None = None
        retry_after: float | None = None
        try:
            response = await self.client.post(
                route.url, content=body,
                headers={"Content-Type": "application/json",
                         **signed_headers(route.secret, body, self.clock(),
                                          idempotency_key=delivery.event_id)})
            status = response.status_code
            retry_after = parse_retry_after(response.headers.get("retry-after"), self.clock())
            error = f"HTTP {status} from {route.url}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__} from {route.url}: {exc}".rstrip(": ")
        decision = self.policy.decide(status, attempts, self.clock() - delivery.created_at,
                                      retry_after, self.random)
        reason = f"{error}; {decision.reason}" if decision.reason else error
        await self._settle(delivery, attempts, status, decision.outcome, decision.delay_s,
                           reason)

    async def _settle(self, delivery: Delivery, attempts: int, status: int | None,
                      outcome: Outcome, delay_s: float, error: str) -> None:
        try:
            if outcome is Outcome.DONE:
                await self.store.done(delivery.id)
                self.delivered += 1
            elif outcome is Outcome.RETRY:
                self._error(delivery.route, error)
                await self.store.retry(delivery.id, attempts, self.clock() + delay_s, error)
            else:
                self._error(delivery.route, error)
                log.warning("outbox: event %s for route %s is a dead letter: %s",
                            delivery.event_id, delivery.route, error)
                await self.store.dead(delivery.id, attempts, status, error, self.clock())
        except OutboxUnavailable as exc:
            # The row stays in flight; the next start sends it again.
            self._error(delivery.route, exc.message)
            return
        settled = Settled(delivery.id, delivery.event_id, delivery.route, outcome, status,
                          attempts)
        for listener in self.listeners:
            listener(settled)

    def _error(self, route: str, message: str) -> None:
        self.last_error = LastError(self.clock(), route, message)
