"""The operations dashboard in real chromium, fed by the rider simulator through a gateway.

The page is the one the gateway serves at ``/dashboard/``; the riders are the simulator's,
real Socket.IO clients publishing positions and one SOS. Nothing here is faked: what the page
shows comes from the gateway's own fleet batches, alerts and metrics over SSE.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, ViewportSize, expect

from tests.conftest import DEV_SECRET, MakeGateway, MakeToken
from yellowbox_realtime.app import Gateway
from yellowbox_realtime.simulator.riders import Rider, build_fleet
from yellowbox_realtime.simulator.run import Simulation

from .conftest import default_origins_config

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
RIDERS = 6
SEED = 5  # its SOS comes about 5 s in
RATE = 4.0  # positions per second per rider, under the gateway's default limit of 5
# Time for the SOS after it is due: the simulator's tick, the gateway's sweep, the stream.
SOS_MARGIN_S = 20.0
LAPTOP: ViewportSize = {"width": 1366, "height": 768}


def artifacts_dir() -> Path:
    directory = Path(os.environ.get("YELLOWBOX_ARTIFACTS_DIR") or REPO / "test-artifacts")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def steady_rider(fleet: tuple[Rider, ...]) -> Rider:
    """A rider that reports throughout the test's first minute, so it keeps moving."""
    return next(r for r in fleet
                if r.sos_at is None and not any(r.is_silent(t) for t in range(60)))


@pytest.fixture
async def gateway(make_gateway: MakeGateway) -> Gateway:
    """On a random port, so the page's own origin is not one the default list names."""
    gateway = await make_gateway(default_origins_config())
    assert f":{gateway.port}" not in " ".join(gateway.config.server.allowed_origins)
    return gateway


@pytest.fixture
async def simulation(gateway: Gateway) -> AsyncIterator[Simulation]:
    """The simulator riding against the gateway for the length of the test."""
    simulation = Simulation(gateway.url, DEV_SECRET, build_fleet(RIDERS, SEED), rate=RATE)
    stop = asyncio.Event()
    running = asyncio.create_task(simulation.run(stop))
    try:
        yield simulation
    finally:
        stop.set()
        await running


async def server_alert(gateway: Gateway, token: str, alert_id: str) -> dict[str, Any]:
    """The alert as the gateway's HTTP API reports it."""
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        response = await client.get("/api/v1/alerts", params={"limit": 100},
                                    headers={"Authorization": f"Bearer {token}"})
    response.raise_for_status()
    alerts: list[dict[str, Any]] = response.json()["alerts"]
    return next(a for a in alerts if str(a["id"]) == alert_id)


async def test_operations_see_riders_move_and_acknowledge_an_sos(
        page: Page, gateway: Gateway, simulation: Simulation, make_token: MakeToken) -> None:
    token = make_token("ops-1", "operations")
    await page.set_viewport_size(LAPTOP)
    await page.goto(f"{gateway.url}/dashboard/#token={token}")
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    # The token left the address bar at once (and the history with it).
    assert "token" not in page.url

    # Riders appear, and one of them moves: new coordinates, drawn somewhere else.
    rider = steady_rider(simulation.riders)
    dot = page.locator(f'.rider[data-rider-id="{rider.uid}"]')
    await expect(dot).to_have_attribute("data-status", "online")
    latitude = await dot.get_attribute("data-latitude")
    drawn_at = await dot.get_attribute("transform")
    assert latitude is not None
    assert drawn_at is not None
    await expect(dot).not_to_have_attribute("data-latitude", latitude)
    await expect(dot).not_to_have_attribute("transform", drawn_at)
    await expect(page.locator(".rider")).not_to_have_count(0)

    # The simulator's SOS arrives as a critical alert with an Acknowledge button.
    [sos_rider] = [r for r in simulation.riders if r.sos_at is not None]
    assert sos_rider.sos_at is not None
    alert = page.locator(f'.alert[data-kind="sos"]:has-text("{sos_rider.uid}")')
    await expect(alert).to_be_visible(timeout=(sos_rider.sos_at + SOS_MARGIN_S) * 1000)
    await expect(alert).to_have_class(re.compile(r"\bseverity-critical\b"))
    alert_id = await alert.get_attribute("data-alert-id")
    assert alert_id is not None

    acknowledge = alert.get_by_role("button", name="Acknowledge")
    await acknowledge.click()
    await expect(alert.get_by_role("status")).to_contain_text("Acknowledged by ops-1")
    await expect(acknowledge).to_have_count(0)
    # The gateway holds it acknowledged too, by the signed-in user.
    acknowledged = await server_alert(gateway, token, alert_id)
    assert acknowledged["acknowledged"] is True
    assert acknowledged["acknowledgedBy"] == "ops-1"

    await page.screenshot(path=artifacts_dir() / "dashboard.png")
