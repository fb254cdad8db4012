"""Two gateway processes on one Redis behave as one gateway."""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

import httpx
import redis.asyncio as aioredis

from tests.apiclients import bearer
from tests.conftest import MakeToken
from tests.interop.nodeclient import NodeDriver
from tests.redis_server import RedisServer
from tests.server.ssereader import open_stream

from .conftest import StartNode
from .proxy import Proxy

WEBSOCKET: dict[str, Any] = {"transports": ["websocket"]}


async def publish(node_url: str, channel: str, event: str, data: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=node_url, timeout=10) as http:
        response = await http.post(f"/api/v1/channels/{channel}/events",
                                   json={"event": event, "data": data}, headers=bearer())
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


async def reconnecting_ops(node_driver: NodeDriver, url: str, token: str) -> dict[str, Any]:
    """socket.io-client "ops", reconnecting within 300 ms (to whichever node the proxy then
    leads to); returns its first connect event."""
    await node_driver.connect("ops", url, auth={"token": token}, reconnection=True,
                              reconnectionDelay=200, reconnectionDelayMax=300, **WEBSOCKET)
    return await node_driver.expect("ops", "connect")


async def test_user_role_and_channel_broadcasts_reach_both_nodes(
        start_node: StartNode, node_driver: NodeDriver, make_token: MakeToken) -> None:
    a, b = await start_node(), await start_node()
    token = make_token("ops-1", "operations")
    for name, node in (("on_a", a), ("on_b", b)):
        await node_driver.connect(name, node.url, auth={"token": token}, **WEBSOCKET)
        await node_driver.expect(name, "connect")
        assert await node_driver.emit(name, "subscribe_rider_locations", ack=True) == [
            {"ok": True, "channel": "rider_locations"}]
    for sender, channel, event in ((a, "user:ops-1", "task_assigned"),
                                   (b, "role:operations", "shift_note"),
                                   (a, "rider_locations", "rider_location_update")):
        await publish(sender.url, channel, event, {"via": channel})
        for name in ("on_a", "on_b"):
            record = await node_driver.expect(name, "event", event=event)
            assert record["args"] == [{"via": channel}]
    # Each once: a last marker is the next event on both.
    await publish(b.url, "user:ops-1", "marker", {})
    for name in ("on_a", "on_b"):
        await node_driver.expect(name, "event", event="marker")
        events = [r["event"] for r in node_driver.records(name) if r["type"] == "event"]
        assert events == ["task_assigned", "shift_note", "rider_location_update", "marker"]


async def test_socketio_recovers_on_the_other_node(
        start_node: StartNode, node_driver: NodeDriver, make_token: MakeToken) -> None:
    a, b = await start_node(), await start_node()
    proxy = Proxy(a.address)
    await proxy.start()
    try:
        first = await reconnecting_ops(node_driver, proxy.url, make_token("ops-1", "operations"))
        assert first["recovered"] is False
        await node_driver.emit("ops", "subscribe_rider_locations", ack=True)
        await publish(b.url, "rider_locations", "rider_location_update", {"n": 0})
        assert (await node_driver.expect("ops", "event", event="rider_location_update")
                )["args"] == [{"n": 0}]

        # Node A's connection is gone; the balancer sends the client to B.
        proxy.cut(b.address)
        await node_driver.expect("ops", "disconnect")
        for n in (1, 2, 3):
            await publish(a.url, "rider_locations", "rider_location_update", {"n": n})
        second = await node_driver.expect("ops", "connect")
        assert second["recovered"] is True
        assert second["id"] == first["id"]
        await publish(a.url, "rider_locations", "rider_location_update", {"n": 4})
        got = [(await node_driver.expect("ops", "event", event="rider_location_update"))
               ["args"][0]["n"] for _ in range(4)]
        assert got == [1, 2, 3, 4]
        # Rooms came back on B too: a user message, then nothing repeated.
        await publish(a.url, "user:ops-1", "marker", {})
        await node_driver.expect("ops", "event", event="marker")
        assert len([r for r in node_driver.records("ops") if r["type"] == "event"
                    and r["event"] == "rider_location_update"]) == 5
    finally:
        await proxy.close()


async def test_sse_resumes_on_the_other_node(start_node: StartNode,
                                             make_token: MakeToken) -> None:
    a, b = await start_node(), await start_node()
    token = make_token("fin-1", "finance")
    async with httpx.AsyncClient(timeout=10) as http:
        async with open_stream(http, f"{a.url}/sse?channels=user:fin-1", token=token) as sse:
            assert (await sse.next()).event == "ready"
            await publish(b.url, "user:fin-1", "note", {"n": 1})
            seen = await sse.next()
            assert (seen.event, json.loads(seen.data)) == ("note", {"n": 1})
        for n in (2, 3):
            await publish(a.url, "user:fin-1", "note", {"n": n})
        async with open_stream(http, f"{b.url}/sse?channels=user:fin-1", token=token,
                               headers={"Last-Event-ID": seen.id or ""}) as sse:
            got = [await sse.next() for _ in range(3)]
            assert [(e.event, json.loads(e.data)) for e in got[:2]] == [
                ("note", {"n": 2}), ("note", {"n": 3})]
            assert (got[2].event, json.loads(got[2].data)) == ("ready", {"resumed": True})
            await publish(a.url, "user:fin-1", "note", {"n": 4})
            live = await sse.next()
            assert json.loads(live.data) == {"n": 4}


async def test_a_ticket_from_one_node_opens_a_stream_on_the_other_once(
        start_node: StartNode, make_token: MakeToken) -> None:
    a, b = await start_node(), await start_node()
    async with httpx.AsyncClient(timeout=10) as http:
        issued = await http.post(f"{a.url}/sse/tickets",
                                 headers={"Authorization":
                                          f"Bearer {make_token('fin-1', 'finance')}"})
        assert issued.status_code == 200
        ticket = issued.json()["ticket"]
        url = f"{b.url}/sse?channels=user:fin-1&ticket={ticket}"
        async with open_stream(http, url) as sse:
            assert (await sse.next()).event == "ready"
        again = await http.get(f"{a.url}/sse?channels=user:fin-1&ticket={ticket}")
        assert again.status_code == 401



async def test_a_node_killed_under_load_loses_nothing_acknowledged_and_its_clients_recover(
        start_node: StartNode, node_driver: NodeDriver, make_token: MakeToken,
        redis: RedisServer) -> None:
    a, b = await start_node(), await start_node()
    proxy = Proxy(a.address)
    await proxy.start()
    try:
        first = await reconnecting_ops(node_driver, proxy.url, make_token("ops-1", "operations"))
        await node_driver.emit("ops", "subscribe_rider_locations", ack=True)
        # A subscriber on the surviving node too.
        await node_driver.connect("watcher", b.url, auth={"token": make_token("ops-2",
                                                                              "operations")},
                                  **WEBSOCKET)
        await node_driver.expect("watcher", "connect")
        await node_driver.emit("watcher", "subscribe_rider_locations", ack=True)
        # The socket's live record in Redis has the room it joined (it is rewritten
        # periodically; a room joined just before a crash may not be in it yet).
        await until_recorded(redis, first["id"], "rider_locations")

        acknowledged: list[int] = []

        async def back_office() -> None:
            async with httpx.AsyncClient(base_url=a.url, timeout=10) as http:
                for n in range(1000):
                    try:
                        response = await http.post(
                            "/api/v1/channels/rider_locations/events", headers=bearer(),
                            json={"event": "rider_location_update", "data": {"n": n}})
                    except httpx.TransportError:
                        return  # the node is gone: what it did not acknowledge is not owed
                    if response.status_code != 202:
                        return
                    acknowledged.append(n)

        load = asyncio.create_task(back_office())
        await node_driver.expect("ops", "event", event="rider_location_update")
        await node_driver.expect("watcher", "event", event="rider_location_update")
        await a.end(signal.SIGKILL)
        await load
        proxy.cut(b.address)
        await node_driver.expect("ops", "disconnect")
        second = await node_driver.expect("ops", "connect")
        assert second["recovered"] is True
        assert second["id"] == first["id"]
        await publish(b.url, "rider_locations", "rider_location_update", {"n": "last"})
        for name in ("ops", "watcher"):
            while True:
                record = await node_driver.expect(name, "event", event="rider_location_update")
                if record["args"] == [{"n": "last"}]:
                    break
            got = [r["args"][0]["n"] for r in node_driver.records(name)
                   if r["type"] == "event" and r["event"] == "rider_location_update"]
            # Every acknowledged event once, in order (and possibly the one the node took
            # but could not acknowledge before it died).
            assert got[:len(acknowledged)] == acknowledged, name
            assert got[-1] == "last"
            assert len(got) - 1 - len(acknowledged) in (0, 1)
    finally:
        await proxy.close()


async def until_recorded(redis: RedisServer, sid: str, room: str) -> None:
    """Wait until the recovery record of socket ``sid`` in Redis lists ``room`` (state
    written by a node's own periodic task: there is no event to await)."""
    client = aioredis.from_url(redis.url, decode_responses=True)
    try:
        async with asyncio.timeout(10):
            while True:
                async for key in client.scan_iter(match="*s:*"):
                    value = await client.get(key)
                    record = json.loads(value) if value else {}
                    if record.get("sid") == sid and room in record["rooms"]:
                        return
                await asyncio.sleep(0.05)
    finally:
        await client.aclose()
