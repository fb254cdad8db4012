"""Many distinct rider accounts, each connecting once, reporting a fix inside a no-go area at
speeding speed, and leaving: what the gateway keeps per rider (the fleet, fence memberships,
speeding episodes, per-user connection counts) stays within ``fleet.max_riders``, and a
rider connected all along is served throughout."""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp
import httpx
import pytest

from tests.apiclients import api_section
from tests.conftest import MakeGateway, MakeToken, gateway_config
from tests.server.test_engineio import eio_url
from yellowbox_realtime.app import Gateway

pytestmark = pytest.mark.interop

MAX_RIDERS = 40
RIDERS = 5 * MAX_RIDERS
SQUARE = [{"latitude": 25.180, "longitude": 55.260}, {"latitude": 25.180, "longitude": 55.270},
          {"latitude": 25.190, "longitude": 55.270}, {"latitude": 25.190, "longitude": 55.260}]
INSIDE = {"latitude": 25.185, "longitude": 55.265}


class Rider:
    """One rider's Socket.IO connection over a bare WebSocket: connect, then calls."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ack = 0

    @classmethod
    async def join(cls, http: aiohttp.ClientSession, gateway: Gateway, token: str) -> Rider:
        ws = await http.ws_connect(eio_url(gateway, transport="websocket"))
        assert (await ws.receive_str(timeout=5)).startswith("0")
        await ws.send_str("40" + json.dumps({"token": token}))
        assert (await ws.receive_str(timeout=5)).startswith("40{")
        return cls(ws)

    async def call(self, event: str, data: dict[str, Any]) -> Any:
        self._ack += 1
        await self.ws.send_str(f"42{self._ack}" + json.dumps([event, data]))
        while True:
            packet = await self.ws.receive_str(timeout=5)
            if packet == "2":
                await self.ws.send_str("3")
            elif packet.startswith(f"43{self._ack}"):
                return json.loads(packet[len(f"43{self._ack}"):])[0]


def fix(**extra: Any) -> dict[str, Any]:
    return {**INSIDE, "timestamp": int(time.time() * 1000), **extra}


async def test_per_rider_state_stays_within_max_riders(
        make_gateway: MakeGateway, make_token: MakeToken) -> None:
    gateway = await make_gateway(gateway_config(
        api=api_section(), fleet={"max_riders": MAX_RIDERS, "speeding_mps": 20.0},
        limits={"handshakes_per_ip_per_s": 0, "handshake_burst": 0}))
    operations = gateway.operations
    assert operations is not None
    assert gateway.limits is not None
    async with httpx.AsyncClient(base_url=gateway.url) as api:
        created = await api.put(
            "/api/v1/geofences/works", json={"name": "Works", "kind": "no_go",
                                              "polygon": SQUARE},
            headers={"Authorization": f"Bearer {make_token('ops-1', 'operations')}"})
        assert created.status_code == 201, created.text
    async with aiohttp.ClientSession() as http:
        regular_token = make_token("rider-regular")
        regular = await Rider.join(http, gateway, regular_token)
        most = {"fleet": 0, "inside": 0, "speeding": 0, "users": 0}
        for i in range(RIDERS):
            rider = await Rider.join(http, gateway, make_token(f"rider-{i}"))
            answer = await rider.call("publish_location", fix(speed=30.0))
            assert answer["ok"] is True, answer
            await rider.ws.close()
            # The rider connected all along is served between the others.
            if i % 10 == 0:
                answer = await regular.call("refresh_token", {"token": regular_token})
                assert answer["ok"] is True, answer
            for name, size in (("fleet", len(operations.fleet)),
                               ("inside", operations.geofences.riders()),
                               ("speeding", len(operations.speeding)),
                               ("users", len(gateway.limits.by_user))):
                most[name] = max(most[name], size)
        assert most["fleet"] == MAX_RIDERS
        assert most["inside"] <= MAX_RIDERS
        assert most["speeding"] <= MAX_RIDERS
        # Connections, not accounts: the regular rider and the one connecting.
        assert most["users"] <= 2
        # The latest riders are kept; the earliest were dropped everywhere.
        assert operations.fleet.view(f"rider-{RIDERS - 1}") is not None
        assert operations.fleet.view("rider-0") is None
        assert operations.geofences.inside("rider-0") == frozenset()
        assert (await regular.call("publish_location", fix()))["ok"] is True
        assert operations.fleet.view("rider-regular") is not None
        await regular.ws.close()
