"""Two gateway nodes on one Redis behind nginx, configured as docs/production.md says: npm
socket.io-client over polling, WebSocket and polling upgraded to WebSocket, and SSE."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import MakeToken
from tests.interop.nodeclient import NodeDriver
from tests.server.ssereader import open_stream

from .conftest import Node, StartNode
from .nginx import CONFIG, Nginx
from .test_cluster import publish

PRODUCTION_GUIDE = Path(__file__).resolve().parents[2] / "docs" / "production.md"
CONNECTIONS = re.compile(r"^ybrt_connections\{([^}]*)\} (\S+)$", re.M)
LABEL = re.compile(r'(\w+)="([^"]*)"')

Cluster = tuple[Node, Node, Nginx]


@pytest.fixture
async def cluster(start_node: StartNode, tmp_path: Path) -> AsyncIterator[Cluster]:
    a, b = await start_node(), await start_node()
    nginx = await Nginx.start([a.address, b.address], tmp_path / "nginx")
    try:
        yield a, b, nginx
    finally:
        await nginx.stop()


async def connections(node: Node) -> dict[str, int]:
    """Open connections on ``node`` by transport, from its /metrics (asked directly)."""
    async with httpx.AsyncClient(base_url=node.url, timeout=5) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    counts: dict[str, int] = {}
    for labels, value in CONNECTIONS.findall(response.text):
        transport = dict(LABEL.findall(labels))["transport"]
        counts[transport] = counts.get(transport, 0) + int(float(value))
    return counts


async def subscribed(driver: NodeDriver, name: str, url: str, token: str,
                     **options: Any) -> dict[str, Any]:
    """A client connected through ``url`` and subscribed to rider_locations."""
    await driver.connect(name, url, auth={"token": token}, **options)
    connected = await driver.expect(name, "connect")
    assert await driver.emit(name, "subscribe_rider_locations", ack=True) == [
        {"ok": True, "channel": "rider_locations"}]
    return connected


async def gets_broadcasts_from_both(driver: NodeDriver, names: list[str], a: Node,
                                    b: Node) -> None:
    """Broadcasts published on node A and on node B each reach every client once."""
    for n, node in enumerate((a, b, a, b)):
        await publish(node.url, "rider_locations", "rider_location_update", {"n": n})
        for name in names:
            record = await driver.expect(name, "event", event="rider_location_update")
            assert record["args"] == [{"n": n}]
    await publish(b.url, "user:ops-1", "marker", {})
    for name in names:
        await driver.expect(name, "event", event="marker")
        updates = [r for r in driver.records(name)
                   if r["type"] == "event" and r["event"] == "rider_location_update"]
        assert len(updates) == 4


def test_the_production_guide_shows_the_shipped_nginx_config() -> None:
    blocks = re.findall(r"```nginx\n(.*?)```", PRODUCTION_GUIDE.read_text(), re.S)
    assert CONFIG.read_text() in blocks


async def test_polling_sessions_stick_to_one_node_and_get_broadcasts_from_both(
        cluster: Cluster, node_driver: NodeDriver, make_token: MakeToken) -> None:
    a, b, nginx = cluster
    token = make_token("ops-1", "operations")
    connected = await subscribed(node_driver, "polling", nginx.url, token,
                                 transports=["polling"])
    assert connected["transport"] == "polling"
    # Every poll of the session went to the node that holds it: a poll reaching the other
    # node would be refused (unknown sid) and the client would disconnect.
    await gets_broadcasts_from_both(node_driver, ["polling"], a, b)
    counts = [(await connections(node)).get("polling", 0) for node in (a, b)]
    assert sorted(counts) == [0, 1]
    assert not [r for r in node_driver.records("polling") if r["type"] == "disconnect"]


async def test_websocket_clients_land_on_either_node_and_get_broadcasts_from_both(
        cluster: Cluster, node_driver: NodeDriver, make_token: MakeToken) -> None:
    a, b, nginx = cluster
    token = make_token("ops-1", "operations")
    for name in ("ws-1", "ws-2"):
        connected = await subscribed(node_driver, name, nginx.url, token,
                                     transports=["websocket"])
        assert connected["transport"] == "websocket"
    # No stickiness for WebSocket sessions: nginx spread them, one on each node.
    assert [(await connections(node)).get("websocket", 0) for node in (a, b)] == [1, 1]
    await gets_broadcasts_from_both(node_driver, ["ws-1", "ws-2"], a, b)


async def test_polling_upgrades_to_websocket_on_the_node_of_its_session(
        cluster: Cluster, node_driver: NodeDriver, make_token: MakeToken) -> None:
    a, b, nginx = cluster
    token = make_token("ops-1", "operations")
    await node_driver.connect("web", nginx.url, auth={"token": token})
    assert (await node_driver.expect("web", "open"))["transport"] == "polling"
    assert (await node_driver.expect("web", "upgrade"))["transport"] == "websocket"
    await node_driver.expect("web", "connect")
    # The ack comes over the WebSocket, after the upgrade packet on that same connection.
    assert await node_driver.emit("web", "subscribe_rider_locations", ack=True) == [
        {"ok": True, "channel": "rider_locations"}]
    counts = [await connections(node) for node in (a, b)]
    assert sorted(c.get("websocket", 0) for c in counts) == [0, 1]
    assert [c.get("polling", 0) for c in counts] == [0, 0]
    await gets_broadcasts_from_both(node_driver, ["web"], a, b)


async def test_an_sse_stream_through_nginx_gets_events_from_both_nodes(
        cluster: Cluster, make_token: MakeToken) -> None:
    a, b, nginx = cluster
    token = make_token("fin-1", "finance")
    async with (httpx.AsyncClient(timeout=10) as http,
                open_stream(http, f"{nginx.url}/sse?channels=user:fin-1", token=token) as sse):
        assert sse.response.status_code == 200
        assert (await sse.next()).event == "ready"
        for n, node in enumerate((a, b, a)):
            await publish(node.url, "user:fin-1", "note", {"n": n})
            event = await sse.next()
            assert (event.event, json.loads(event.data)) == ("note", {"n": n})


async def test_metrics_are_not_served_through_nginx(cluster: Cluster) -> None:
    a, _, nginx = cluster
    async with httpx.AsyncClient(timeout=5) as http:
        assert (await http.get(f"{nginx.url}/metrics")).status_code == 404
        assert (await http.get(f"{a.url}/metrics")).status_code == 200
        assert (await http.get(f"{nginx.url}/healthz")).status_code == 200
