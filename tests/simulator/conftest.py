"""An operations client that watches the riders the simulator moves."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.conftest import MakeToken
from yellowbox_realtime.app import Gateway
from yellowbox_realtime.client import Client

TIMEOUT = 15.0


class Watcher:
    """An operations client counting ``rider_location_update`` per rider, and keeping the
    alerts operations receive."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.alerts: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._waiters: list[tuple[Callable[[Counter[str]], bool], asyncio.Event]] = []

    def alert(self, data: dict[str, Any], *_offset: Any) -> None:
        self.alerts.put_nowait(data)

    async def next_alert(self, kind: str) -> dict[str, Any]:
        while True:
            alert = await asyncio.wait_for(self.alerts.get(), TIMEOUT)
            if alert["kind"] == kind:
                return alert

    def update(self, data: dict[str, Any], *_offset: Any) -> None:
        self.seen[data["riderId"]] += 1
        for condition, event in self._waiters:
            if condition(self.seen):
                event.set()

    async def until(self, condition: Callable[[Counter[str]], bool]) -> None:
        event = asyncio.Event()
        self._waiters.append((condition, event))
        if condition(self.seen):
            event.set()
        await asyncio.wait_for(event.wait(), TIMEOUT)


@pytest.fixture
async def watcher(gateway: Gateway, make_token: MakeToken) -> AsyncIterator[Watcher]:
    token = make_token("ops-1", "operations")

    async def get_token(_force: bool) -> str:
        return token

    watching = Watcher()
    client = Client(gateway.url, get_token)
    client.on("rider_location_update", watching.update)
    client.on("alert", watching.alert)
    await client.connect()
    await client.subscribe("rider_locations")
    yield watching
    await client.close()


