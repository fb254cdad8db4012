"""The dashboard at every width from a phone's up: no sideways scrolling, the key panels on
screen, stacked under a laptop's width. A screenshot at each width is kept as an artifact
(in ``$YELLOWBOX_ARTIFACTS_DIR`` when set, else the test's temporary directory)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.conftest import MakeGateway, MakeToken, gateway_config
from yellowbox_realtime.app import Gateway

from .test_dashboard_alerts import wire
from .test_dashboard_page import open_dashboard, rider
from .tiles import tile_server

pytestmark = pytest.mark.browser

# Where the panels sit side by side (the stylesheet's breakpoint).
SIDE_BY_SIDE_FROM_PX = 1024


def artifacts(tmp_path: Path) -> Path:
    directory = Path(os.environ.get("YELLOWBOX_ARTIFACTS_DIR") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.mark.parametrize("basemap", ["tiles", "plot"])
@pytest.mark.parametrize("width", [390, 768, 1024, 1440])
async def test_no_sideways_scroll_and_the_panels_fit(
        page: Page, make_gateway: MakeGateway, make_token: MakeToken, tmp_path: Path,
        width: int, basemap: str) -> None:
    async with tile_server() as tiles:
        template = tiles.template if basemap == "tiles" else ""
        gateway = await make_gateway(gateway_config(dashboard={"tile_url": template}))
        await check_layout(page, gateway, make_token, artifacts(tmp_path) / (
            f"dashboard-{basemap}-{width}px.png"), width)


async def check_layout(page: Page, gateway: Gateway, make_token: MakeToken, screenshot: Path,
                       width: int) -> None:
    await page.set_viewport_size({"width": width, "height": 844 if width < 768 else 900})
    # A long user name and long alert texts: what would push a careless layout wide.
    await open_dashboard(page, gateway, make_token("operations-night-shift-lead", "operations"))
    gateway.to("fleet").emit("fleet_update", {
        "type": "batch", "at": "2026-11-27T08:00:00.000Z",
        "riders": [rider(1, 25.20, 55.27), rider(2, 25.08, 55.14, "stale")]})
    gateway.to("alerts").emit("alert", wire(1, "sos", 1, message="SOS from rider-1: "
                                            "motorbike skidded on the wet exit ramp near D94"))
    gateway.to("alerts").emit("alert", wire(2, "geofence_breach", 2, fenceName="Airport "
                                            "restricted apron, no deliveries beyond the gate"))
    await expect(page.locator("#alerts > li")).to_have_count(2)
    await expect(page.locator('#alert-counts [data-count="critical"]')).to_have_text("2")
    await expect(page.locator('.rider[data-rider-id="test-rider-2"]')).to_have_count(1)

    for key in ("#sos-banner", "#metrics", ".map:not([hidden])", "#alert-filter", "#alert-counts",
                '#alerts > li[data-alert-id="alert-1"]', "#expenses-empty", "#sign-out"):
        await expect(page.locator(key).first).to_be_visible()
    # Nothing in the alert feed is cut off sideways either.
    feed_overflow = await page.locator("#alerts").evaluate(
        "list => list.scrollWidth - list.clientWidth")
    assert feed_overflow <= 0
    await page.screenshot(path=screenshot, full_page=True)

    scroll_width, inner_width, client_width = await page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth,"
        " document.documentElement.clientWidth]")
    assert scroll_width <= inner_width, f"{scroll_width} px wide in a {inner_width} px window"
    # Nor under the vertical scroll bar, where the window is narrower than innerWidth.
    assert scroll_width <= client_width, f"{scroll_width} px wide, {client_width} px shown"

    map_box = await page.locator(".map-panel").bounding_box()
    feeds_box = await page.locator(".feeds").bounding_box()
    assert map_box is not None
    assert feeds_box is not None
    # The map gets room to be read, whatever the width.
    assert map_box["height"] >= 280
    if width >= SIDE_BY_SIDE_FROM_PX:
        assert feeds_box["x"] >= map_box["x"] + map_box["width"]
    else:
        assert feeds_box["y"] >= map_box["y"] + map_box["height"]
        assert abs(feeds_box["width"] - map_box["width"]) <= 1
