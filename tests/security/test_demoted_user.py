"""Privileges follow the current token: a user whose new token carries a lesser role keeps
none of the rooms the old role allowed, whether the token comes by ``refresh_token`` or by
connection-state recovery; the client is told which rooms it left."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import aiohttp
import pytest
import socketio

from tests.conftest import MakeGateway, MakeToken
from tests.limits.support import ws_join, ws_session
from tests.waiting import until
from yellowbox_realtime.app import Gateway

LOCATION = "rider_location_update"


class Recorder:
    """A python-socketio client that keeps every event it receives, in order."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.sio.on("*", lambda event, *args: self.events.put_nowait(
            (event, args[0] if args else None)))

    async def connect(self, base: str, token: str) -> Recorder:
        await self.sio.connect(base, auth={"token": token}, transports=["websocket"],
                               wait_timeout=5)
        return self

    async def until_marker(self, marker: str) -> list[tuple[str, Any]]:
        """Every event received up to the ``tick`` carrying ``marker`` (that one excluded)."""
        seen: list[tuple[str, Any]] = []
        while True:
            event, first = await asyncio.wait_for(self.events.get(), 5)
            if (event, first) == ("tick", marker):
                return seen
            seen.append((event, first))


def publish_then_mark(gateway: Gateway, uid: str) -> str:
    """A location to ``rider_locations``, a tick to each role room, then a marker to
    ``uid``: what arrives before the marker is what the user's rooms let through."""
    gateway.to("rider_locations").emit(LOCATION, {"riderId": "r-9"})
    gateway.to_role("operations").emit("tick", "for operations")
    gateway.to_role("rider").emit("tick", "for riders")
    marker = f"m-{time.monotonic_ns()}"
    gateway.to_user(uid).emit("tick", marker)
    return marker


async def test_a_refresh_to_a_lesser_role_leaves_the_rooms_it_no_longer_allows(
        make_gateway: MakeGateway, make_token: MakeToken,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="yellowbox_realtime")
    gateway = await make_gateway()
    internal = gateway.hub.count("rider_locations")  # the gateway's own (the fleet's)
    other = await Recorder().connect(gateway.url, make_token("ops-2", "operations"))
    demoted = await Recorder().connect(gateway.url, make_token("ops-1", "operations"))
    for client in (other, demoted):
        answer = await client.sio.call("subscribe_rider_locations", timeout=5)
        assert answer["ok"], answer
    assert gateway.hub.count("rider_locations") == internal + 2

    answer = await demoted.sio.call("refresh_token", {"token": make_token("ops-1", "rider")},
                                    timeout=5)
    assert answer["ok"], answer
    seen = await demoted.until_marker(publish_then_mark(gateway, "ops-1"))

    revoked = [first for event, first in seen if event == "subscription_revoked"]
    assert [r["channel"] for r in revoked] == ["rider_locations"]
    assert "rider" in revoked[0]["reason"]
    assert LOCATION not in [event for event, _ in seen]
    # The role room followed the new role.
    ticks = [first for event, first in seen if event == "tick"]
    assert ticks == ["for riders"]
    # What the server holds for it: one subscriber left, the other operations user.
    assert gateway.hub.count("rider_locations") == internal + 1
    # ... who is served meanwhile.
    while (await asyncio.wait_for(other.events.get(), 5))[0] != LOCATION:
        pass
    # A new subscribe is refused too, and the role change is on record.
    refused = await demoted.sio.call("subscribe_rider_locations", timeout=5)
    assert refused["ok"] is False
    changes = [r for r in caplog.records if "role changed" in r.getMessage()]
    assert [(r.uid, r.role, r.previous) for r in changes] == [  # type: ignore[attr-defined]
        ("ops-1", "rider", "operations")]
    await demoted.sio.disconnect()
    await other.sio.disconnect()


async def test_recovery_with_a_lesser_role_restores_only_the_rooms_it_allows(
        make_gateway: MakeGateway, make_token: MakeToken) -> None:
    gateway = await make_gateway()
    internal = gateway.hub.count("rider_locations")
    other = await Recorder().connect(gateway.url, make_token("ops-2", "operations"))
    assert (await other.sio.call("subscribe_rider_locations", timeout=5))["ok"]
    async with aiohttp.ClientSession() as http:
        first = await ws_session(http, gateway.url)
        accepted = json.loads((await ws_join(first, make_token("ops-1", "operations")))[2:])
        await first.send_str('421["subscribe_rider_locations"]')
        assert (await first.receive_str(timeout=5)).startswith('431[{"ok":true')
        await first.close()  # a transport close: the socket can come back
        await until(lambda: gateway.hub.count("rider_locations") == internal + 1)
        # Missed while away: a rider's token must not get it replayed.
        gateway.to("rider_locations").emit(LOCATION, {"riderId": "r-8"})

        second = await ws_session(http, gateway.url)
        await second.send_str("40" + json.dumps(
            {"token": make_token("ops-1", "rider"), "pid": accepted["pid"]}))
        answer = await second.receive_str(timeout=5)
        assert json.loads(answer[2:])["sid"] == accepted["sid"]  # recovered, same socket
        marker = publish_then_mark(gateway, "ops-1")
        texts: list[str] = []
        while marker not in (text := await second.receive_str(timeout=5)):
            texts.append(text)
        await second.close()
    events = [json.loads(t[2:]) for t in texts if t.startswith("42")]
    assert [e[1]["channel"] for e in events if e[0] == "subscription_revoked"] == [
        "rider_locations"]
    assert LOCATION not in [e[0] for e in events]
    assert [e[1] for e in events if e[0] == "tick"] == ["for riders"]
    assert gateway.hub.count("rider_locations") == internal + 1
    while (await asyncio.wait_for(other.events.get(), 5))[0] != LOCATION:
        pass
    await other.sio.disconnect()
