"""Fixtures for tests of the HTTP API and what it publishes: a gateway with API keys
(``api_gateway``; a test module overrides it to configure more), an HTTP client on it
(``http``), and real Socket.IO clients (python-socketio) that record what reaches them
(``listen``). Loaded for every test by ``tests/conftest.py``."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import socketio

from tests.conftest import MakeGateway, gateway_config
from tests.interop.offsets import split_offset
from yellowbox_realtime.api.keys import hash_key
from yellowbox_realtime.app import Gateway
from yellowbox_realtime.signing import signed_headers

# Keys for the tests, by name: (key, scopes, channels or None for all).
KEYS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...] | None]] = {
    "backoffice": ("ybrt_test-backoffice-key-0123456789", ("publish", "history"), None),
    "publisher": ("ybrt_test-publisher-key-0123456789", ("publish",), None),
    "reader": ("ybrt_test-reader-key-0123456789", ("history",), None),
    "users-only": ("ybrt_test-users-only-key-0123456789", ("publish", "history"),
                   ("user:", "expense_updates")),
}
BACKOFFICE = KEYS["backoffice"][0]


def api_section(**extra: Any) -> dict[str, Any]:
    """The [api] section configuring :data:`KEYS`."""
    return {
        "keys": {name: hash_key(key) for name, (key, _, _) in KEYS.items()},
        "scopes": {name: list(scopes) for name, (_, scopes, _) in KEYS.items()},
        "channels": {name: list(channels) for name, (_, _, channels) in KEYS.items()
                     if channels is not None},
        **extra,
    }


def bearer(key: str = BACKOFFICE) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def send_webhook(http: httpx.AsyncClient, source: str, body: Any, *, secret: str,
                       at: float | None = None) -> httpx.Response:
    """POST ``body`` as JSON to ``/api/v1/webhooks/<source>``, signed with ``secret`` as
    sent at ``at`` (now by default)."""
    raw = json.dumps(body, separators=(",", ":")).encode()
    return await http.post(f"/api/v1/webhooks/{source}", content=raw, headers={
        "Content-Type": "application/json",
        **signed_headers(secret, raw, time.time() if at is None else at)})


@pytest.fixture
async def api_gateway(make_gateway: MakeGateway) -> Gateway:
    return await make_gateway(gateway_config(api=api_section()))


@pytest.fixture
async def http(api_gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api_gateway.url, timeout=10) as client:
        yield client


class Listener:
    """A python-socketio client that queues every event with its stream offset."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: asyncio.Queue[tuple[str, list[Any], str | None]] = asyncio.Queue()
        self.sio.on("*", self._record)

    async def _record(self, event: str, *all_args: Any) -> None:
        args, offset = split_offset(list(all_args))
        await self.events.put((event, args, offset))

    async def next(self, timeout: float = 5.0) -> tuple[str, list[Any], str | None]:
        return await asyncio.wait_for(self.events.get(), timeout)


Listen = Callable[[str], Awaitable[Listener]]


@pytest.fixture
async def listen(api_gateway: Gateway) -> AsyncIterator[Listen]:
    """Connect a Socket.IO client with a token; it is in its user and role rooms."""
    listeners: list[Listener] = []

    async def connect(token: str) -> Listener:
        listener = Listener()
        listeners.append(listener)
        await listener.sio.connect(api_gateway.url, auth={"token": token},
                                   transports=["websocket"], wait_timeout=5)
        return listener

    yield connect
    for listener in listeners:
        await listener.sio.disconnect()
