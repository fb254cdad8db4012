"""SIGTERM on a gateway process with clients connected and publishing: it exits 0 within
``server.shutdown_timeout_s``, socket.io-client (npm) reconnects to the next process on the
same port, and every event the first one acknowledged reaches n8n."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.apiclients import BACKOFFICE, api_section, bearer
from tests.conftest import DEV_SECRET
from tests.interop.nodeclient import NodeDriver
from tests.outbox.conftest import outbox_section
from tests.outbox.receiver import Receiver
from tests.processes import GatewayProcess, start_gateway, write_config
from yellowbox_realtime.auth.dev import mint_dev_token

SHUTDOWN_TIMEOUT_S = 3.0
# How long a started process may take to come up and go down on a busy machine, on top of
# the shutdown deadline (a bound for the wait, not a measurement).
SLACK_S = 15.0

Spawn = Callable[[Path, int], Awaitable[GatewayProcess]]


@pytest.fixture
async def spawn(tmp_path: Path) -> AsyncIterator[Spawn]:
    processes: list[GatewayProcess] = []

    async def start(config: Path, port: int) -> GatewayProcess:
        gateway = await start_gateway(config, tmp_path / "state", port, timeout_s=SLACK_S)
        processes.append(gateway)
        return gateway

    yield start
    for gateway in processes:
        with contextlib.suppress(ProcessLookupError):
            await gateway.end(signal.SIGKILL)


async def publish_until_refused(url: str, accepted: list[str], started: asyncio.Event) -> None:
    """The back office publishing over HTTP, one event after another, until the gateway
    stops answering; ``accepted`` gets the id of every 202."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        n = 0
        while True:
            try:
                response = await http.post("/api/v1/channels/alerts/events",
                                           headers=bearer(BACKOFFICE),
                                           json={"event": "rider_sos", "data": {"n": n}})
            except httpx.HTTPError:
                return
            if response.status_code != 202:
                return
            accepted.append(response.json()["id"])
            n += 1
            if n == 5:
                started.set()


def rider_options(uid: str, transport: str) -> dict[str, Any]:
    return {"transports": [transport], "reconnectionDelay": 100, "reconnectionDelayMax": 500,
            "auth": {"token": mint_dev_token(DEV_SECRET, uid, "rider")}}


async def publish_locations(node: NodeDriver, name: str, count: int) -> int:
    acked = 0
    for _ in range(count):
        reply = await node.emit(name, "publish_location",
                                {"latitude": 25.2048, "longitude": 55.2708}, ack=True)
        assert reply is not None
        assert reply[0]["ok"], reply
        acked += 1
    return acked


async def test_sigterm_drains_tells_clients_to_reconnect_and_keeps_the_outbox(
        spawn: Spawn, receiver: Receiver, node_driver: NodeDriver, tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    write_config(config, {
        "server": {"log_level": "info", "shutdown_timeout_s": SHUTDOWN_TIMEOUT_S},
        "auth": {"dev_secret": DEV_SECRET},
        "api": api_section(),
        # Requests to n8n that never end in time, with a grace longer than the shutdown's:
        # the deadline is what ends them.
        "outbox": outbox_section(receiver.url, path=str(tmp_path / "outbox.sqlite3"),
                                 concurrency=2, timeout_s=60.0, close_grace_s=60.0),
    })
    receiver.gate.clear()
    first = await spawn(config, 0)
    port = int(first.url.rsplit(":", 1)[1])
    riders = {"ws": ("rider-ws", "websocket"), "poll": ("rider-poll", "polling")}
    for name, (uid, transport) in riders.items():
        await node_driver.connect(name, first.url, **rider_options(uid, transport))
        await node_driver.expect(name, "connect")
    acked = {name: await publish_locations(node_driver, name, 3) for name in riders}
    await receiver.wait_for(lambda r: len(r.requests) >= 2)  # n8n holds two in flight

    accepted: list[str] = []
    publishing = asyncio.Event()
    publisher = asyncio.create_task(publish_until_refused(first.url, accepted, publishing))
    await asyncio.wait_for(publishing.wait(), 10)
    first.process.send_signal(signal.SIGTERM)
    code = await asyncio.wait_for(first.end(signal.SIGTERM), SHUTDOWN_TIMEOUT_S + SLACK_S)
    assert code == 0
    await asyncio.wait_for(publisher, 10)
    assert len(accepted) >= 5

    # Told to go in a way socket.io-client reconnects after (not "io server disconnect").
    for name in riders:
        gone = await node_driver.expect(name, "disconnect")
        assert gone["reason"] in ("transport close", "transport error"), gone

    receiver.gate.set()
    second = await spawn(config, port)
    assert second.url == first.url
    for name in riders:
        await node_driver.expect(name, "reconnect", timeout=SLACK_S)
        again = await node_driver.expect(name, "connect")
        assert again["transport"] == riders[name][1]
        assert await publish_locations(node_driver, name, 1) == 1

    # Every acknowledged event reaches n8n: the HTTP publishes by id, the riders' acked
    # locations by count (they carry no id the rider saw).
    await receiver.wait_for(lambda r: set(accepted) <= set(r.acknowledged), timeout=30)

    def acknowledged_locations(r: Receiver) -> Counter[str]:
        keys = set(r.acknowledged)
        seen: dict[str, str] = {}
        for request in r.requests:
            body = request.json
            if request.key in keys and body["event"] == "rider_location_update":
                seen[request.key] = body["data"]["riderId"]
        return Counter(seen.values())

    wanted = {uid: acked[name] + 1 for name, (uid, _) in riders.items()}
    await receiver.wait_for(
        lambda r: all(acknowledged_locations(r)[uid] >= n for uid, n in wanted.items()),
        timeout=30)
    assert all(r.signature_ok for r in receiver.requests)
    assert await second.end(signal.SIGTERM) == 0
