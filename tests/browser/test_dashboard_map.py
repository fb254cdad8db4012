"""The dashboard's map on real tiles in chromium: Leaflet from the gateway, tiles from a
tile server the test runs on loopback. The right tiles are asked for, a rider sits on the
pixel Web Mercator puts it on, trails and fences are drawn, a click shows the rider, and a
tile server that is down is said so on the page while the riders stay drawn."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.conftest import MakeGateway, MakeToken, gateway_config
from yellowbox_realtime.app import Gateway

from .test_dashboard_alerts import wire
from .test_dashboard_page import open_dashboard, rider
from .tiles import TILE_PX, TileServer, tile_server, world_px

pytestmark = pytest.mark.browser

# Burj Khalifa, well inside the view the map starts with.
LATITUDE, LONGITUDE = 25.1972, 55.2744


@pytest.fixture
async def tiles() -> AsyncIterator[TileServer]:
    async with tile_server() as server:
        yield server


async def tiled_gateway(make_gateway: MakeGateway, template: str) -> Gateway:
    return await make_gateway(gateway_config(dashboard={
        "tile_url": template, "tile_attribution": "Test tiles & co", "tile_max_zoom": 18}))


def free_port() -> int:
    """A loopback port nothing listens on (bound, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_the_right_tiles_are_asked_for_and_a_rider_sits_on_its_pixel(
        page: Page, make_gateway: MakeGateway, make_token: MakeToken,
        tiles: TileServer) -> None:
    gateway = await tiled_gateway(make_gateway, tiles.template)
    await page.set_viewport_size({"width": 1280, "height": 800})
    await open_dashboard(page, gateway, make_token("ops-1", "operations"))
    gateway.to("fleet").emit("fleet_update", {
        "type": "batch", "at": "2026-11-27T08:00:00.000Z",
        "riders": [rider(1, LATITUDE, LONGITUDE)]})
    marker = page.locator('.rider-marker[data-rider-id="test-rider-1"]')
    await expect(marker).to_have_attribute("data-status", "online")
    container = page.locator("#tile-map")
    await expect(container).to_have_attribute("data-zoom", re.compile(r"^\d+$"))
    await expect(page.locator(".leaflet-control-attribution")).to_contain_text("Test tiles & co")
    # The plain plot is not there beside it.
    await expect(page.locator("svg#map")).to_have_count(0)

    zoom = int(await container.get_attribute("data-zoom") or "")
    x, y = world_px(LATITUDE, LONGITUDE, zoom)
    tile_x, tile_y = int(x // TILE_PX), int(y // TILE_PX)
    tile = page.locator(f'img.leaflet-tile[src="{tiles.url}/{zoom}/{tile_x}/{tile_y}.png"]')
    await expect(tile).to_have_class(re.compile(r"\bleaflet-tile-loaded\b"))
    assert (zoom, tile_x, tile_y) in tiles.requested

    tile_box, marker_box, map_box = (await tile.bounding_box(), await marker.bounding_box(),
                                     await container.bounding_box())
    assert tile_box is not None
    assert marker_box is not None
    assert map_box is not None
    assert round(tile_box["width"]) == TILE_PX
    expected = (tile_box["x"] + x - tile_x * TILE_PX, tile_box["y"] + y - tile_y * TILE_PX)
    drawn = (marker_box["x"] + marker_box["width"] / 2,
             marker_box["y"] + marker_box["height"] / 2)
    assert abs(drawn[0] - expected[0]) <= 1.5, (drawn, expected)
    assert abs(drawn[1] - expected[1]) <= 1.5, (drawn, expected)

    # Every tile asked for at this zoom covers part of the view, and none beyond it.
    left = x - (drawn[0] - map_box["x"])
    top = y - (drawn[1] - map_box["y"])
    columns = range(int(left // TILE_PX), int((left + map_box["width"]) // TILE_PX) + 1)
    rows = range(int(top // TILE_PX), int((top + map_box["height"]) // TILE_PX) + 1)
    at_zoom = {(tx, ty) for z, tx, ty in tiles.requested if z == zoom}
    assert at_zoom <= {(tx, ty) for tx in columns for ty in rows}
    assert len(at_zoom) >= 2


async def test_riders_leave_a_short_trail_fences_are_drawn_and_a_click_shows_the_rider(
        page: Page, make_gateway: MakeGateway, make_token: MakeToken,
        tiles: TileServer) -> None:
    gateway = await tiled_gateway(make_gateway, tiles.template)
    await open_dashboard(page, gateway, make_token("ops-1", "operations"))
    for n in range(12):
        gateway.to("fleet").emit("fleet_update", {
            "type": "batch", "at": f"2026-11-27T08:00:{n:02d}.000Z",
            "riders": [rider(1, LATITUDE + n * 0.001, LONGITUDE)]})
    marker = page.locator('.rider-marker[data-rider-id="test-rider-1"]')
    await expect(marker).to_have_attribute("data-latitude", str(LATITUDE + 11 * 0.001))
    # Moving east: the heading shows, turned to 90 degrees.
    await expect(marker.locator(".heading")).to_have_attribute(
        "style", re.compile(r"rotate\(90deg\)"))
    trail = page.locator('path.trail[data-rider-id="test-rider-1"]')
    # The last ten fixes: nine segments.
    await expect(trail).to_have_attribute("d", re.compile(r"^M[^L]*(L[^L]*){9}$"))

    token = make_token("admin-1", "admin")
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10,
                                 headers={"Authorization": f"Bearer {token}"}) as api:
        response = await api.put("/api/v1/geofences/depot-1", json={
            "name": "Downtown depot", "kind": "depot",
            "circle": {"latitude": LATITUDE, "longitude": LONGITUDE + 0.01, "radius": 400}})
        assert response.is_success, response.text
    fence = page.locator('path.fence[data-fence-id="depot-1"]')
    await expect(fence).to_have_class(re.compile(r"\bfence-depot\b"))
    await expect(page.locator(".fence-label")).to_have_text("Downtown depot")

    gateway.to("alerts").emit("alert", {**wire(1, "sos", 1), "riderId": "test-rider-1"})
    await expect(page.locator("#sos-banner")).to_be_visible()
    await marker.click()
    details = page.get_by_role("region", name="test-rider-1")
    await expect(details).to_be_visible()
    await expect(details.locator('[data-detail="status"]')).to_have_text("Online")
    await expect(details.locator('[data-detail="speed"]')).to_have_text("29 km/h")
    await expect(details.locator('[data-detail="fix"]')).to_contain_text("ago")
    await expect(details.locator('[data-detail="alerts"] li')).to_have_text(
        re.compile(r"^SOS \(open\): sos of rider-1$", re.I))
    await details.get_by_role("button", name="Close rider details").click()
    await expect(details).to_be_hidden()


async def test_a_tile_server_that_is_down_is_said_so_and_riders_stay_drawn(
        page: Page, make_gateway: MakeGateway, make_token: MakeToken) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    gateway = await tiled_gateway(make_gateway, down + "/{z}/{x}/{y}.png")
    await open_dashboard(page, gateway, make_token("ops-1", "operations"))
    gateway.to("fleet").emit("fleet_update", {
        "type": "batch", "at": "2026-11-27T08:00:00.000Z",
        "riders": [rider(1, LATITUDE, LONGITUDE)]})
    problem = page.locator(".tile-problem")
    await expect(problem).to_be_visible()
    await expect(problem).to_contain_text("cannot be loaded")
    await expect(page.locator("#tile-map")).to_have_attribute("data-tiles", "failed")
    await expect(page.locator('.rider-marker[data-rider-id="test-rider-1"]')).to_be_visible()
