"""Drive the built web client package (clients/web/dist) from pytest.

:class:`WebClientDriver` runs ``tests/interop/web/driver.mjs`` with the line protocol and
record handling of :class:`NodeDriver`. The clients' ``getToken`` is answered from Python:
:meth:`WebClientDriver.serve_tokens` answers every ``get_token`` record of a client with a
function of ``forceRefresh``, so a test decides which token each request gets.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .nodeclient import NodeDriver, Record

WEB_CLIENT_DIR = Path(__file__).resolve().parents[2] / "clients" / "web"
DRIVER_DIR = Path(__file__).resolve().parent / "web"
DRIVER = DRIVER_DIR / "driver.mjs"
_LINE_LIMIT = 16 * 1024 * 1024

# What getToken(forceRefresh) resolves to; an exception makes it reject with its message.
TokenSource = Callable[[bool], str]


def web_client_missing_reason() -> str | None:
    """Why the web client tests cannot run here, or None if they can."""
    if shutil.which("node") is None:
        return "node is not on PATH: install Node.js 20+"
    if not (WEB_CLIENT_DIR / "dist" / "index.js").is_file():
        return "clients/web is not built: run `npm ci && npm run build` in clients/web"
    return None


class WebClientDriver(NodeDriver):
    """One Node process running web/driver.mjs; any number of named web clients."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        super().__init__(process)
        self._token_tasks: list[asyncio.Task[None]] = []

    @classmethod
    async def start(cls) -> WebClientDriver:
        node = shutil.which("node")
        if node is None:
            raise AssertionError(web_client_missing_reason())
        process = await asyncio.create_subprocess_exec(
            node, str(DRIVER), cwd=DRIVER_DIR, limit=_LINE_LIMIT,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        return cls(process)

    async def create(self, name: str, url: str, *, events: tuple[str, ...] = (),
                     **options: Any) -> None:
        """``createRealtimeClient({url, getToken, ...options})``; it connects at once unless
        ``autoConnect=False``. ``events`` are further server events to record."""
        await self._ok("create", name=name, url=url, options=options, events=list(events))

    def serve_tokens(self, name: str, source: TokenSource) -> None:
        """Answer every ``getToken`` call of client ``name`` with ``source(forceRefresh)``."""
        self._token_tasks.append(asyncio.create_task(self._serve_tokens(name, source)))

    async def _serve_tokens(self, name: str, source: TokenSource) -> None:
        while True:
            record = await self.expect(name, "get_token", timeout=3600)
            try:
                answer: Record = {"token": source(bool(record["force"]))}
            except Exception as exc:
                answer = {"error": str(exc)}
            await self._ok("token", request=record["request"], **answer)

    def token_requests(self, name: str) -> list[bool]:
        """``forceRefresh`` of every getToken call of client ``name`` so far, in order."""
        return [bool(r["force"]) for r in self.records(name) if r.get("type") == "get_token"]

    async def subscribe(self, name: str, channel: str) -> Record:
        """``subscribe(channel)``: the reply, ``ok`` false with the error if it rejected."""
        return await self.command("subscribe", name=name, channel=channel)

    async def publish(self, name: str, location: Record) -> Record:
        """``publishLocation(location)``: ``ack`` when it resolved, else ``error``."""
        return await self.command("publish", name=name, location=location)

    async def close(self) -> None:
        for task in self._token_tasks:
            task.cancel()
        for task in self._token_tasks:
            with contextlib.suppress(asyncio.CancelledError, AssertionError):
                await task
        await super().close()
