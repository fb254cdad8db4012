"""Tasks the gateway starts for its clients, owned by the gateway and ended at shutdown.

Async event handlers, Socket.IO connects (which await the authenticator), token refreshes
and SSE openings each run as a task. asyncio keeps only weak references to tasks, so these
are held here until they end; at shutdown the gateway cancels what is left, after the
connections are closed, so no handler outlives the server.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class Background:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run a coroutine in the background, holding it until it ends."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def run_handler(self, handler: Callable[..., Any], *args: Any) -> None:
        """Call a sync or async application callback, logging (not raising) its failures."""
        try:
            result = handler(*args)
        except Exception:
            log.exception("callback %r failed", handler)
            return
        if inspect.isawaitable(result):
            self.spawn(_logged(handler, result))

    def __len__(self) -> int:
        return len(self._tasks)

    async def close(self) -> None:
        """Cancel what is still running and wait for it to end."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait until it has ended. Its own CancelledError ends the wait; a
    cancellation of the caller meanwhile goes on up, rather than being taken for the task's
    and swallowed (a stop that is itself stopped must stop)."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise


async def _logged(handler: Callable[..., Any], result: Any) -> None:
    try:
        await result
    except Exception:
        log.exception("callback %r failed", handler)
