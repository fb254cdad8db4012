"""A gateway process killed with SIGKILL while deliveries are in flight, then restarted:
every event reaches n8n, and the only repeats are of requests that were in flight, with
the same idempotency key and body."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from tests.apiclients import BACKOFFICE, api_section, bearer
from tests.conftest import DEV_SECRET
from tests.processes import GatewayProcess, start_gateway, write_config

from .conftest import outbox_section
from .receiver import Receiver

EVENTS = 30
CONCURRENCY = 4
Spawn = Callable[[Path], Awaitable[GatewayProcess]]


@pytest.fixture
async def spawn(tmp_path: Path) -> AsyncIterator[Spawn]:
    processes: list[GatewayProcess] = []

    async def start(config: Path) -> GatewayProcess:
        gateway = await start_gateway(config, tmp_path / "state")
        processes.append(gateway)
        return gateway

    yield start
    for gateway in processes:
        await gateway.end(signal.SIGKILL)


async def test_sigkill_with_deliveries_in_flight_loses_nothing(
        spawn: Spawn, receiver: Receiver, tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    write_config(config, {
        "server": {"log_level": "info"},
        "auth": {"dev_secret": DEV_SECRET},
        "api": api_section(),
        "outbox": outbox_section(receiver.url, path=str(tmp_path / "outbox.sqlite3"),
                                 concurrency=CONCURRENCY, timeout_s=60.0,
                                 close_grace_s=1.0),
    })
    receiver.gate.clear()  # n8n takes the requests and does not answer yet
    first = await spawn(config)
    async with httpx.AsyncClient(base_url=first.url, timeout=10) as http:
        published = []
        for n in range(EVENTS):
            response = await http.post(
                "/api/v1/channels/alerts/events", headers=bearer(BACKOFFICE),
                json={"event": "rider_sos", "data": {"n": n}})
            assert response.status_code == 202
            published.append(response.json()["id"])
    await receiver.wait_for(lambda r: len(r.requests) == CONCURRENCY)
    assert await first.end(signal.SIGKILL) == -signal.SIGKILL
    in_flight = {r.key for r in receiver.requests}
    assert len(in_flight) == CONCURRENCY
    receiver.gate.set()

    second = await spawn(config)
    await receiver.wait_for(lambda r: set(r.acknowledged) == set(published), timeout=30)
    assert await second.end(signal.SIGTERM) == 0

    assert all(r.signature_ok for r in receiver.requests)
    arrivals = Counter(r.key for r in receiver.requests)
    assert set(arrivals) == set(published)
    # Only what was in flight came twice (n8n drops the repeat by its Idempotency-Key) ...
    assert {key for key, count in arrivals.items() if count > 1} == in_flight
    assert all(arrivals[key] == 2 for key in in_flight)
    # ... and a repeat is the same event, byte for byte.
    bodies: dict[str, set[bytes]] = {}
    for request in receiver.requests:
        bodies.setdefault(request.key, set()).add(request.body)
    assert all(len(b) == 1 for b in bodies.values())
    assert {json.loads(next(iter(bodies[k])))["data"]["n"] for k in published} == set(
        range(EVENTS))

    # Nothing is left: the CLI reads the file the gateways used.
    cli = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "yellowbox_realtime.cli", "outbox", "--config", str(config),
        "status", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(cli.communicate(), 20)
    assert cli.returncode == 0, err
    status = json.loads(out)
    assert (status["backlog"], status["inFlight"], status["deadLetters"]) == (0, 0, 0)
