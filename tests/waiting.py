"""Waiting for state that changes without an event a test could await: another client's
view of Redis, a broker reconnecting, a connection torn down inside the server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Return as soon as ``condition()`` holds; fail after ``timeout`` seconds (a bound on
    failing, so generous: a passing test waits only as long as it must)."""
    async with asyncio.timeout(timeout):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)
