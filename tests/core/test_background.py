"""Background tasks: held until they end, their failures logged, cancelled at shutdown."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.conftest import MakeGateway
from yellowbox_realtime.core.background import Background


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
