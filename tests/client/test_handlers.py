"""Handler dispatch: order across plain and coroutine handlers, answers, failures, bounds."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from yellowbox_realtime.client.handlers import Handlers


class Answers:
    def __init__(self) -> None:
        self.sent: asyncio.Queue[tuple[object, int | None, Any]] = asyncio.Queue()

    async def __call__(self, context: object, ack_id: int | None, result: Any) -> None:
        self.sent.put_nowait((context, ack_id, result))

    async def next(self) -> tuple[object, int | None, Any]:
        return await asyncio.wait_for(self.sent.get(), 5)


async def test_plain_handlers_run_inline_and_answer() -> None:
    answers = Answers()
    handlers = Handlers(answers)
    seen: list[int] = []
    handlers.add("n", seen.append)
    handlers.add("n", lambda n: n * 2)
    await handlers.dispatch("n", [3], ack_id=7, context="link")
    # Inline: done when dispatch returns; the first value that is not None is the answer.
    assert seen == [3]
    assert answers.sent.get_nowait() == ("link", 7, 6)


async def test_no_answer_without_an_ack_id_or_a_handler() -> None:
    answers = Answers()
    handlers = Handlers(answers)
    handlers.add("n", lambda n: n)
    await handlers.dispatch("n", [1])
    await handlers.dispatch("unknown", [1], ack_id=3)
    assert answers.sent.empty()


async def test_order_is_kept_behind_a_coroutine_handler() -> None:
    handlers = Handlers(Answers())
    release = asyncio.Event()
    seen: list[str] = []

    async def slow(tag: str) -> None:
        await release.wait()
        seen.append(tag)

    handlers.add("slow", slow)
    handlers.add("fast", seen.append)
    await handlers.dispatch("slow", ["a"])
    await handlers.dispatch("fast", ["b"])
    await handlers.dispatch("slow", ["c"])
    await handlers.dispatch("fast", ["d"])
    assert seen == []  # "b" waits behind "a"
    release.set()
    done = asyncio.Event()
    handlers.add("fast", lambda tag: done.set() if tag == "e" else None)
    await handlers.dispatch("fast", ["e"])
    await asyncio.wait_for(done.wait(), 5)
    assert seen == ["a", "b", "c", "d", "e"]


async def test_a_coroutine_handler_answers_after_it_finishes() -> None:
    answers = Answers()
    handlers = Handlers(answers)

    async def double(n: int) -> int:
        await asyncio.sleep(0)
        return n * 2

    handlers.add("double", double)
    await handlers.dispatch("double", [21], ack_id=1, context="link")
    assert await answers.next() == ("link", 1, 42)


async def test_a_failing_handler_is_logged_and_the_next_one_still_runs(
        caplog: pytest.LogCaptureFixture) -> None:
    answers = Answers()
    handlers = Handlers(answers)

    def broken(n: int) -> int:
        raise RuntimeError("boom")

    handlers.add("n", broken)
    handlers.add("n", lambda n: n + 1)
    await handlers.dispatch("n", [1], ack_id=2)
    assert answers.sent.get_nowait() == (None, 2, 2)
    assert "boom" in caplog.text


async def test_a_full_queue_makes_dispatch_wait() -> None:
    handlers = Handlers(Answers(), max_queued=2)
    started, release = asyncio.Event(), asyncio.Event()

    async def wait(_: int) -> None:
        started.set()
        await release.wait()

    handlers.add("w", wait)
    await handlers.dispatch("w", [0])
    await asyncio.wait_for(started.wait(), 5)
    for n in (1, 2):  # the queue is full now
        await handlers.dispatch("w", [n])
    blocked = asyncio.ensure_future(handlers.dispatch("w", [3]))
    await asyncio.sleep(0)  # one turn: the dispatch runs up to the full queue and waits there
    assert not blocked.done()
    release.set()
    await asyncio.wait_for(blocked, 5)
    await handlers.close(grace=5)


async def test_close_lets_queued_handlers_finish_within_the_grace() -> None:
    handlers = Handlers(Answers())
    seen: list[str] = []

    async def record(tag: str) -> None:
        await asyncio.sleep(0)
        seen.append(tag)

    handlers.add("r", record)
    await handlers.dispatch("r", ["disconnect"])
    await handlers.close(grace=5)
    assert seen == ["disconnect"]


async def test_close_without_grace_cancels_a_stuck_handler() -> None:
    handlers = Handlers(Answers())
    started = asyncio.Event()

    async def stuck(_: int) -> None:
        started.set()
        await asyncio.Event().wait()

    handlers.add("s", stuck)
    await handlers.dispatch("s", [1])
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.wait_for(handlers.close(), 5)
