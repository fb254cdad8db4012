"""Two gateway processes while their Redis is away for a while, then back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest

from tests.apiclients import bearer
from tests.conftest import MakeToken
from tests.interop.nodeclient import NodeDriver
from tests.redis_server import RedisServer, redis_server
from tests.server.ssereader import open_stream

from .conftest import Node, StartNode


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    """This module's own redis-server: its tests stop and start it."""
    with redis_server() as server:
        yield server


async def until_ready(node: Node, ready: bool) -> None:
    """Poll ``/readyz`` (the gateway's own reconnection has no event to await)."""
    async with httpx.AsyncClient(base_url=node.url, timeout=5) as http, asyncio.timeout(20):
        while True:
            if ((await http.get("/readyz")).status_code == 200) == ready:
                return
            await asyncio.sleep(0.05)


async def test_nodes_serve_local_clients_during_an_outage_and_tell_everyone_about_the_gap(
        start_node: StartNode, node_driver: NodeDriver, make_token: MakeToken,
        redis: RedisServer) -> None:
    a, b = await start_node(), await start_node()
    await node_driver.connect("rider", a.url, auth={"token": make_token("rider-1", "rider")},
                              transports=["websocket"])
    await node_driver.expect("rider", "connect")
    token = make_token("ops-1", "operations")
    url = "/sse?channels=rider_locations"
    async with httpx.AsyncClient(timeout=15) as http, \
            open_stream(http, a.url + url, token=token) as on_a, \
            open_stream(http, b.url + url, token=token) as on_b:
        assert (await on_a.next()).event == "ready"
        assert (await on_b.next()).event == "ready"

        redis.stop(save=True)
        await until_ready(a, False)
        await until_ready(b, False)
        refused = await http.post(f"{a.url}/api/v1/channels/rider_locations/events",
                                  json={"event": "note", "data": {}}, headers=bearer())
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "broker_unavailable"
        metrics = (await http.get(f"{a.url}/metrics")).text
        assert 'ybrt_broker_up{broker="redis"} 0.0' in metrics
        # A's rider still reaches A's subscribers.
        ack = await node_driver.emit("rider", "publish_location",
                                     {"latitude": 25.2, "longitude": 55.27}, ack=True)
        assert ack is not None
        assert ack[0]["ok"] is True
        local = await on_a.next()
        assert local.event == "rider_location_update"
        assert json.loads(local.data)["riderId"] == "rider-1"

        redis.start()
        await until_ready(a, True)
        await until_ready(b, True)
        # Both streams are told (B never got the rider's fix; A's stream cannot know what
        # the others delivered only locally).
        for stream in (on_a, on_b):
            reset = await stream.next()
            assert reset.event == "stream_reset"
            data = json.loads(reset.data)
            assert data["reason"] in ("broker_outage", "history_gap")
            assert data["channels"] == ["rider_locations"]
        published = await http.post(f"{b.url}/api/v1/channels/rider_locations/events",
                                    json={"event": "note", "data": {"n": 1}}, headers=bearer())
        assert published.status_code == 202
        for stream in (on_a, on_b):
            live = await stream.next()
            assert (live.event, json.loads(live.data)) == ("note", {"n": 1})
            assert live.id == published.json()["id"]
