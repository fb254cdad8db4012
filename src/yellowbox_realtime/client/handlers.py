"""Event handlers of one client, called in the order events arrive.

Plain functions run inline, in the caller (the connection's reader). Coroutine functions,
and every event behind one so that order is kept, go through one bounded queue drained by a
task that exists only while there is work: no task per event, and a coroutine handler may
await the server (``client.call``) without stalling the reader. When the queue is full,
:meth:`Handlers.dispatch` waits for room -- backpressure on the reader, which then reads
nothing until the handlers catch up.

A handler's return value is the answer when the server asked for an ack; with several
handlers for one event, the first value that is not None.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

__all__ = ["Answer", "Handler", "Handlers"]

log = logging.getLogger(__name__)

Handler: TypeAlias = Callable[..., Any]
# answer(context, ack_id, result): send the ack; context says which connection asked.
Answer: TypeAlias = Callable[[object, int | None, Any], Awaitable[None]]


@dataclass(slots=True)
class _Entry:
    functions: list[Handler] = field(default_factory=list)
    any_async: bool = False


_Job: TypeAlias = tuple[str, list[Handler], list[Any], int | None, object]


class Handlers:
    def __init__(self, answer: Answer, max_queued: int = 1000,
                 task_name: str = "yellowbox-client handlers") -> None:
        self._answer = answer
        self._task_name = task_name
        self._entries: dict[str, _Entry] = {}
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(max_queued)
        self._drainer: asyncio.Task[None] | None = None

    def add(self, event: str, handler: Handler) -> None:
        entry = self._entries.setdefault(event, _Entry())
        entry.functions.append(handler)
        entry.any_async = entry.any_async or inspect.iscoroutinefunction(handler)

    async def dispatch(self, event: str, args: list[Any], ack_id: int | None = None,
                       context: object = None) -> None:
        entry = self._entries.get(event)
        if entry is None:
            return
        if entry.any_async or self._drainer is not None:
            # Behind queued work, even a plain handler waits its turn: order is kept.
            await self._queue.put((event, entry.functions, args, ack_id, context))
            if self._drainer is None:
                self._drainer = asyncio.get_running_loop().create_task(
                    self._drain(), name=self._task_name)
            return
        answer = None
        for handler in entry.functions:
            try:
                result = handler(*args)
            except Exception:
                log.exception("handler %r for %r failed", handler, event)
                continue
            if inspect.isawaitable(result):
                _discard(result)
                log.error("handler %r for %r returned an awaitable; register a coroutine"
                          " function instead", handler, event)
            elif answer is None:
                answer = result
        if ack_id is not None:
            await self._answer(context, ack_id, answer)

    async def _drain(self) -> None:
        try:
            while True:
                try:
                    event, functions, args, ack_id, context = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                answer = None
                for handler in functions:
                    try:
                        result = handler(*args)
                        if inspect.isawaitable(result):
                            result = await result
                    except Exception:
                        log.exception("handler %r for %r failed", handler, event)
                        continue
                    if answer is None:
                        answer = result
                if ack_id is not None:
                    await self._answer(context, ack_id, answer)
        finally:
            self._drainer = None

    async def close(self, grace: float = 0.0) -> None:
        """Let queued handlers run for up to ``grace`` seconds, then cancel the rest."""
        drainer = self._drainer
        # A handler that closes its own client must not cancel itself.
        if drainer is not None and drainer is not asyncio.current_task():
            if grace > 0:
                await asyncio.wait({drainer}, timeout=grace)
            drainer.cancel()
            await asyncio.gather(drainer, return_exceptions=True)
        while not self._queue.empty():
            self._queue.get_nowait()


def _discard(awaitable: Awaitable[Any]) -> None:
    close = getattr(awaitable, "close", None)
    if callable(close):
        close()
