"""Two gateway processes on one Redis keep one state: the timer-driven publishes come from
one node, and the dashboard counts the connections of both."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.conftest import MakeToken
from tests.interop.nodeclient import NodeDriver
from tests.server.ssereader import Reader, open_stream

from .conftest import StartNode

WEBSOCKET: dict[str, Any] = {"transports": ["websocket"]}


async def next_of(sse: Reader, event: str) -> tuple[str, Any]:
    while True:
        got = await sse.next()
        if got.event == event:
            return got.id or "", json.loads(got.data)


async def test_one_fleet_batch_per_interval_and_the_same_dashboard_on_every_node(
        start_node: StartNode, node_driver: NodeDriver, make_token: MakeToken) -> None:
    a, b = await start_node(), await start_node()
    for name, node in (("rider-a", a), ("rider-b", b)):
        await node_driver.connect(name, node.url, auth={"token": make_token(name, "rider")},
                                  **WEBSOCKET)
        await node_driver.expect(name, "connect")
    token = make_token("ops-1", "operations")
    url = "/sse?channels=fleet,dashboard"
    async with httpx.AsyncClient(timeout=15) as http, \
            open_stream(http, a.url + url, token=token) as on_a, \
            open_stream(http, b.url + url, token=token) as on_b:
        fixes: dict[str, str] = {}

        async def move(rider: str, latitude: float) -> tuple[str, str]:
            ack = await node_driver.emit(rider, "publish_location",
                                         {"latitude": latitude, "longitude": 55.27}, ack=True)
            assert ack is not None
            assert ack[0]["ok"] is True, ack
            return rider, str(ack[0]["timestamp"])

        seen: list[tuple[str, str]] = []

        async def batch_with(fix: tuple[str, str]) -> None:
            """Reads A's stream up to the batch carrying ``fix``, keeping every fix seen."""
            while fix not in seen:
                _, data = await next_of(on_a, "fleet_update")
                if data.get("type") == "batch":
                    seen.extend((r["riderId"], str(r["timestamp"])) for r in data["riders"]
                                if "timestamp" in r)

        first = [await move("rider-a", 25.10), await move("rider-b", 25.20)]
        for fix in first:
            await batch_with(fix)
        # Two more batches, each after the one before arrived: they are two intervals of the
        # leading node apart, so any other node's batch carrying the first fixes (one
        # interval after it heard them at most) would have arrived before the last one.
        await batch_with(await move("rider-a", 25.10001))
        await batch_with(await move("rider-a", 25.10002))
        for fix in first:
            assert seen.count(fix) == 1, (fix, seen)
        fixes.update(first)

        # The dashboard counts both nodes' connections, and both streams read the same
        # updates (one node publishes them).
        wanted = {"websocket": 2, "polling": 0, "sse": 2}
        while True:
            update_id, update = await next_of(on_a, "dashboard_update")
            if update["connections"] == wanted:
                break
        assert update["riders"]["total"] == 2
        while True:
            same_id, same = await next_of(on_b, "dashboard_update")
            if same_id == update_id:
                break
        assert same == update
