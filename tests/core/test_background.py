"""Background tasks: held until they end, their failures logged, cancelled at shutdown."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.conftest import MakeGateway
from yellowbox_realtime.core.background import Background, cancel_and_wait


async def test_failures_are_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    background = Background()
    done = asyncio.Event()

    def broken() -> None:
        raise RuntimeError("sync boom")

    async def broken_later() -> None:
        done.set()
        raise RuntimeError("async boom")

    with caplog.at_level(logging.ERROR):
        background.run_handler(broken)
        background.run_handler(broken_later)
        await asyncio.wait_for(done.wait(), 5)
        await background.close()
    messages = "".join(r.exc_text or "" for r in caplog.records)
    assert "sync boom" in messages
    assert "async boom" in messages
    assert len(background) == 0


async def test_the_gateway_cancels_handlers_still_running_when_it_stops(
        make_gateway: MakeGateway) -> None:
    gateway = await make_gateway()
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    gateway.background.spawn(forever())
    await asyncio.wait_for(started.wait(), 5)
    await gateway.stop()
    assert cancelled.is_set()
    assert len(gateway.background) == 0


async def test_cancel_and_wait_ends_the_task_and_returns() -> None:
    task = asyncio.create_task(asyncio.Event().wait())
    await asyncio.sleep(0)  # let it start
    await cancel_and_wait(task)
    assert task.cancelled()


async def test_a_caller_cancelled_while_it_waits_is_cancelled_too() -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow_to_stop() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            await release.wait()  # a stop that takes a while (a Redis command in flight)

    task = asyncio.create_task(slow_to_stop())
    await started.wait()
    caller = asyncio.create_task(cancel_and_wait(task))
    await asyncio.sleep(0)  # the caller is now waiting for the task
    caller.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert caller.cancelled()
    assert task.cancelled()
