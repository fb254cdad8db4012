"""Deliveries to a real HTTP receiver that behaves like n8n's webhook node: successes,
retries, n8n down and back, Retry-After, permanent failures, the retry budget, timeouts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from yellowbox_realtime.outbox import Outbox, OutboxEvent
from yellowbox_realtime.outbox.retry import Outcome
from yellowbox_realtime.outbox.worker import Settled

from .conftest import outbox_config
from .receiver import Receiver, Reply

TIMEOUT = 15.0


class Running:
    """An outbox and what its worker settled, in order."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self.settled: asyncio.Queue[Settled] = asyncio.Queue()
        outbox.on_settled(self.settled.put_nowait)

    async def next(self) -> Settled:
        return await asyncio.wait_for(self.settled.get(), TIMEOUT)

    async def until(self, outcome: Outcome) -> Settled:
        while True:
            settled = await self.next()
            if settled.outcome is outcome:
                return settled


Start = Callable[..., Awaitable[Running]]


@pytest.fixture
async def start(tmp_path: Path, receiver: Receiver) -> AsyncIterator[Start]:
    started: list[Outbox] = []

    async def make(url: str | None = None, **settings: Any) -> Running:
        outbox = Outbox(outbox_config(url or receiver.url, **settings),
                        tmp_path / "outbox.sqlite3")
        running = Running(outbox)
        await outbox.start()
        started.append(outbox)
        return running

    yield make
    for outbox in started:
        await outbox.close()


def event(n: int = 1, **data: Any) -> OutboxEvent:
    return OutboxEvent(f"ep:{n}", "expense_status_change", ("expense_updates",),
                       {"expenseId": f"e-{n}", **data}, 1_800_000_000.0)


async def test_a_2xx_is_done_and_the_request_is_signed_and_keyed(
        start: Start, receiver: Receiver) -> None:
    running = await start()
    assert await running.outbox.accept(event(1, status="approved")) == 1
    settled = await running.next()
    assert (settled.outcome, settled.status, settled.attempts) == (Outcome.DONE, 200, 1)
    (request,) = receiver.requests
    assert request.signature_ok, request.signature_error
    assert request.key == "ep:1"
    assert request.headers["content-type"] == "application/json"
    assert request.json == {
        "id": "ep:1", "event": "expense_status_change", "channel": "expense_updates",
        "data": {"expenseId": "e-1", "status": "approved"},
        "publishedAt": "2027-01-15T08:00:00.000Z", "route": "n8n"}
    stats = await running.outbox.stats()
    assert (stats["backlog"], stats["delivered"], stats["deadLetters"]) == (0, 1, 0)


async def test_500_then_200_is_delivered_once(start: Start, receiver: Receiver) -> None:
    receiver.script(500)
    running = await start()
    await running.outbox.accept(event())
    assert (await running.next()).outcome is Outcome.RETRY
    assert (await running.next()).outcome is Outcome.DONE
    assert [r.key for r in receiver.requests] == ["ep:1", "ep:1"]
    assert receiver.acknowledged == ["ep:1"]
    stats = await running.outbox.stats()
    assert "HTTP 500" in stats["lastError"]["message"]


async def test_n8n_down_for_a_while_then_up_gets_everything(
        start: Start, receiver: Receiver) -> None:
    await receiver.down()
    running = await start()
    for n in range(1, 6):
        await running.outbox.accept(event(n))
    # Refused connections are retried, not dropped.
    for _ in range(10):
        assert (await running.until(Outcome.RETRY)).status is None
    assert "ConnectError" in (await running.outbox.stats())["lastError"]["message"]
    await receiver.up()
    await receiver.wait_for(lambda r: len(set(r.acknowledged)) == 5)
    assert sorted(receiver.acknowledged) == [f"ep:{n}" for n in range(1, 6)]
    assert (await running.outbox.stats())["deadLetters"] == 0


async def test_429_with_retry_after_is_honoured(start: Start, receiver: Receiver) -> None:
    receiver.script(Reply(429, {"Retry-After": "1"}))
    running = await start(retry_after_cap_s=5.0)
    await running.outbox.accept(event())
    assert (await running.next()).outcome is Outcome.RETRY
    assert (await running.next()).outcome is Outcome.DONE
    first, second = receiver.requests
    # Not before Retry-After (the backoff alone is at most 0.05 s here).
    assert second.at - first.at >= 1.0


async def test_404_is_a_dead_letter_after_one_try_and_can_be_replayed(
        start: Start, receiver: Receiver) -> None:
    receiver.script(404)
    running = await start()
    await running.outbox.accept(event())
    settled = await running.next()
    assert (settled.outcome, settled.status, settled.attempts) == (Outcome.PERMANENT, 404, 1)
    (letter,) = await running.outbox.dead_letters()
    assert (letter.event_id, letter.last_status, letter.attempts) == ("ep:1", 404, 1)
    assert "HTTP 404" in letter.last_error
    assert (await running.outbox.stats())["backlog"] == 0
    await running.outbox.replay(letter.id)
    assert (await running.next()).outcome is Outcome.DONE
    assert receiver.acknowledged == ["ep:1"]
    assert await running.outbox.dead_letters() == []


async def test_an_exhausted_budget_is_a_dead_letter(start: Start, receiver: Receiver) -> None:
    receiver.script(500, 503, 502)
    running = await start(max_attempts=3)
    await running.outbox.accept(event())
    settled = await running.until(Outcome.PERMANENT)
    assert (settled.status, settled.attempts) == (502, 3)
    assert len(receiver.requests) == 3
    (letter,) = await running.outbox.dead_letters()
    assert "max_attempts" in letter.last_error


async def test_a_slow_n8n_times_out_and_is_retried(start: Start, receiver: Receiver) -> None:
    receiver.gate.clear()  # requests arrive and get no answer
    running = await start(timeout_s=0.3)
    await running.outbox.accept(event())
    settled = await running.until(Outcome.RETRY)
    assert settled.status is None
    assert "Timeout" in (await running.outbox.stats())["lastError"]["message"]
    receiver.gate.set()
    await running.until(Outcome.DONE)
    assert {r.key for r in receiver.requests} == {"ep:1"}


async def test_offered_events_are_committed_in_batches_and_delivered(
        start: Start, receiver: Receiver) -> None:
    running = await start(concurrency=8)
    for n in range(200):
        running.outbox.offer(event(n))
    await receiver.wait_for(lambda r: len(set(r.acknowledged)) == 200)
    assert all(r.signature_ok for r in receiver.requests)


async def test_events_no_route_takes_are_not_stored(start: Start, receiver: Receiver) -> None:
    running = await start(events={"n8n": ["other_event"]})
    assert await running.outbox.accept(event()) == 0
    running.outbox.offer(event(2))
    assert await running.outbox.accept(OutboxEvent("x:1", "other_event", ("c",), 1, 0.0)) == 1
    await running.until(Outcome.DONE)
    assert [r.key for r in receiver.requests] == ["x:1"]


async def test_requests_in_flight_at_close_are_sent_again_after_a_restart(
        start: Start, receiver: Receiver, tmp_path: Path) -> None:
    receiver.gate.clear()
    first = await start()
    await first.outbox.accept(event())
    await receiver.wait_for(lambda r: len(r.requests) == 1)
    await first.outbox.close()  # the grace runs out with the request unanswered
    receiver.gate.set()
    second = await start()
    await second.until(Outcome.DONE)
    assert [r.key for r in receiver.requests] == ["ep:1", "ep:1"]
