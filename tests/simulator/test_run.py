"""The simulator against the real in-process gateway, watched by an operations client."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import DEV_SECRET
from tests.simulator.conftest import TIMEOUT, Watcher
from yellowbox_realtime.app import Gateway
from yellowbox_realtime.client import Backoff
from yellowbox_realtime.core.hub import Sink, Wire
from yellowbox_realtime.server.namespaces import Socket
from yellowbox_realtime.simulator.geofences import demo_fences
from yellowbox_realtime.simulator.progress import Counters
from yellowbox_realtime.simulator.riders import Rider, build_fleet
from yellowbox_realtime.simulator.run import Simulation


class Departures:
    """Riders whose connection the gateway saw end."""

    def __init__(self, gateway: Gateway, expected: set[str]) -> None:
        self.expected = expected
        self.gone: set[str] = set()
        self.all_gone = asyncio.Event()
        gateway.main.on_disconnect(self._left)

    def _left(self, socket: Socket, _reason: str) -> None:
        if socket.uid in self.expected:
            self.gone.add(socket.uid)
            if self.gone == self.expected:
                self.all_gone.set()


async def ride(simulation: Simulation, until: Callable[[], Any]) -> Counters:
    stop = asyncio.Event()
    running = asyncio.create_task(simulation.run(stop))
    try:
        await until()
    finally:
        stop.set()
    return await asyncio.wait_for(running, TIMEOUT)


async def test_every_rider_is_seen_by_operations_and_the_run_stops_cleanly(
        gateway: Gateway, watcher: Watcher) -> None:
    fleet = build_fleet(6, seed=4)
    uids = {rider.uid for rider in fleet}
    departures = Departures(gateway, uids)
    simulation = Simulation(gateway.url, DEV_SECRET, fleet, rate=5.0)

    counts = await ride(simulation, lambda: watcher.until(
        lambda seen: all(seen[uid] >= 2 for uid in uids)))

    assert set(watcher.seen) == uids
    assert counts.acked >= 2 * len(uids)
    assert counts.refused == 0
    assert counts.connected == 0
    assert counts.reconnects == 0
    assert not any(client.connected for client in simulation.clients.values())
    await asyncio.wait_for(departures.all_gone.wait(), TIMEOUT)


async def test_the_sos_reaches_operations_as_a_critical_alert_and_riding_goes_on(
        gateway: Gateway, watcher: Watcher) -> None:
    (rider,) = build_fleet(1, seed=2)
    rider = dataclasses.replace(rider, sos_at=0.0)
    simulation = Simulation(gateway.url, DEV_SECRET, [rider], rate=5.0)

    # The SOS goes before the first position, so later positions mean it was answered.
    counts = await ride(simulation, lambda: watcher.until(
        lambda seen: seen[rider.uid] >= 3))

    assert counts.sos_sent == 1
    alert = await watcher.next_alert("sos")
    assert (alert["riderId"], alert["severity"]) == (rider.uid, "critical")


class FenceUpdates:
    """A subscriber of the gateway's ``geofences`` channel, counting fence updates."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.all_in = asyncio.Event()

    def deliver(self, message: Wire) -> None:
        self.count += sum(event.event == "geofence_update" for event in message.events)
        if self.count >= self.expected:
            self.all_in.set()

    @property
    def sink(self) -> Sink:
        return self.deliver


async def test_the_demo_geofences_are_put_on_the_gateway(gateway: Gateway) -> None:
    updates = FenceUpdates(len(demo_fences()))
    gateway.hub.subscribe("geofences", updates)
    simulation = Simulation(gateway.url, DEV_SECRET, build_fleet(1, seed=3), rate=5.0)

    await ride(simulation, lambda: asyncio.wait_for(updates.all_in.wait(), TIMEOUT))

    assert gateway.operations is not None
    kinds = {f.id: f.kind for f in gateway.operations.geofences.fences()}
    assert kinds == {"dubai-marina": "zone", "downtown-dubai": "zone", "business-bay": "no_go",
                     "deira": "zone", "al-quoz-depot": "depot"}


async def test_a_silent_rider_publishes_nothing_while_the_others_ride_on(
        gateway: Gateway, watcher: Watcher) -> None:
    talking, quiet = build_fleet(2, seed=5)
    quiet = dataclasses.replace(quiet, silent=((0.0, 3600.0),))
    simulation = Simulation(gateway.url, DEV_SECRET, [talking, quiet], rate=5.0)

    counts = await ride(simulation, lambda: watcher.until(
        lambda seen: seen[talking.uid] >= 5))

    assert watcher.seen[quiet.uid] == 0
    # Every position published was the talking rider's (and the gateway took them all).
    assert counts.published == counts.acked
    assert counts.acked >= 5


async def test_a_wrong_secret_is_reported_once_not_once_per_rider(
        gateway: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    fleet: list[Rider] = list(build_fleet(4, seed=1))
    simulation = Simulation(gateway.url, "not-the-gateway-secret-0123456789abcdef", fleet)
    refused = asyncio.Event()

    class Spy(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "refused" in record.getMessage():
                refused.set()

    spy = Spy()
    logger = logging.getLogger("yellowbox_realtime.simulator")
    logger.addHandler(spy)
    try:
        with caplog.at_level(logging.ERROR, logger="yellowbox_realtime.simulator"):
            counts = await ride(simulation, lambda: asyncio.wait_for(refused.wait(), TIMEOUT))
    finally:
        logger.removeHandler(spy)

    assert counts.connected == 0
    assert counts.published == 0
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "token secret" in errors[0].getMessage()


async def test_a_rider_the_gateway_disconnects_comes_back_and_is_counted(
        gateway: Gateway, watcher: Watcher) -> None:
    fleet = build_fleet(2, seed=6)
    kicked = fleet[0].uid
    simulation = Simulation(gateway.url, DEV_SECRET, fleet, rate=5.0,
                            backoff=Backoff(initial=0.05, maximum=0.2, rng=random.Random(3)))

    async def kick_then_see_it_again() -> None:
        await watcher.until(lambda seen: seen[kicked] >= 2)
        (socket,) = [s for s in gateway.main.sockets.values() if s.uid == kicked]
        socket.disconnect()
        before = watcher.seen[kicked]
        await watcher.until(lambda seen: seen[kicked] >= before + 3)

    counts = await ride(simulation, kick_then_see_it_again)

    assert counts.reconnects == 1
    assert counts.connected == 0
