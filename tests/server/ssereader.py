"""Reading an SSE response in tests: httpx streams the bytes, EventStreamParser reads them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx

from yellowbox_realtime.protocol.sse import EventStreamParser, ServerSentEvent

TIMEOUT_S = 10.0


class Reader:
    """The events of one streaming response, read on demand; ``raw`` keeps every byte."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.parser = EventStreamParser()
        self.raw = b""
        self.pending: list[ServerSentEvent] = []
        self.ended = False
        self._chunks = response.aiter_raw()

    async def _read(self) -> bool:
        """One more chunk; False when the server has closed the stream."""
        try:
            chunk = await anext(self._chunks)
        except (StopAsyncIteration, httpx.RemoteProtocolError, httpx.ReadError):
            self.ended = True
            return False
        self.raw += chunk
        self.pending += self.parser.feed(chunk)
        return True

    async def next(self) -> ServerSentEvent:
        while not self.pending:
            if not await self._read():
                raise AssertionError(f"the stream ended; it sent {self.raw!r}")
        return self.pending.pop(0)

    async def next_data(self) -> tuple[ServerSentEvent, Any]:
        event = await self.next()
        return event, json.loads(event.data)

    async def until_raw(self, condition: Callable[[bytes], bool]) -> None:
        while not condition(self.raw):
            if not await self._read():
                raise AssertionError(f"the stream ended; it sent {self.raw!r}")

    async def rest(self) -> list[ServerSentEvent]:
        """Every event until the server closes the stream."""
        while await self._read():
            pass
        events, self.pending = self.pending, []
        return events


@asynccontextmanager
async def open_stream(client: httpx.AsyncClient, url: str, *, token: str | None = None,
                      headers: dict[str, str] | None = None) -> AsyncIterator[Reader]:
    """GET ``url`` as a stream (with ``Authorization: Bearer token`` if given)."""
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    async with client.stream("GET", url, headers=all_headers) as response:
        yield Reader(response)


def client(timeout: float = TIMEOUT_S) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=timeout)
