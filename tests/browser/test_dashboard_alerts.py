"""The dashboard's alert panel in chromium: the worst first with an open SOS on top, counts
by severity, filters, the SOS banner, and acknowledging then resolving through the real API.

The alerts are published into the gateway's ``alerts`` channel by the test, so the gateway's
own alert book holds them and the page's buttons act on them for real.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.conftest import MakeToken
from yellowbox_realtime.app import Gateway
from yellowbox_realtime.domain.alerts import SEVERITY, AlertKind

from .test_dashboard_page import open_dashboard

pytestmark = pytest.mark.browser


def wire(n: int, kind: AlertKind, second: int, **fields: Any) -> dict[str, Any]:
    at = f"2026-11-27T08:00:{second:02d}.000Z"
    return {"id": f"alert-{n}", "kind": kind, "severity": SEVERITY[kind],
            "riderId": f"rider-{n}", "message": f"{kind} of rider-{n}", "at": at,
            "lastSeen": at, "acknowledged": False, "state": "open", "count": 1, **fields}


async def shown_ids(page: Page) -> list[str]:
    ids: list[str] = await page.locator("#alerts > li:not([hidden])").evaluate_all(
        "items => items.map(item => item.dataset.alertId)")
    return ids


async def counts(page: Page) -> dict[str, str]:
    found: dict[str, str] = await page.locator("#alert-counts [data-count]").evaluate_all(
        "nodes => Object.fromEntries(nodes.map(n => [n.dataset.count, n.textContent]))")
    return found


async def test_the_panel_sorts_counts_filters_and_pins_an_sos_until_acknowledged(
        page: Page, gateway: Gateway, make_token: MakeToken) -> None:
    token = make_token("ops-1", "operations")
    await open_dashboard(page, gateway, token)
    banner = page.locator("#sos-banner")
    await expect(banner).to_be_hidden()

    # The SOS is the oldest of them, and still goes on top.
    for alert in (wire(1, "sos", 1), wire(2, "speeding", 5), wire(3, "geofence_breach", 3),
                  wire(4, "rider_stale", 9), wire(5, "geofence_breach", 7)):
        gateway.to("alerts").emit("alert", alert)
    await expect(page.locator("#alerts > li")).to_have_count(5)
    assert await shown_ids(page) == ["alert-1", "alert-5", "alert-3", "alert-2", "alert-4"]
    await expect(page.locator('#alert-counts [data-count="critical"]')).to_have_text("3")
    assert await counts(page) == {"critical": "3", "warning": "1", "info": "1"}

    # Impossible to miss: a banner, the tab's title, the alarm's state (sound is opt-in).
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("SOS from rider-1")
    await expect(page).to_have_title(re.compile(r"^\(SOS 1\) "))
    await expect(page.locator("body")).to_have_attribute("data-alarm", "ringing")

    # A repeat of the same alert is counted on the one line, not a new line.
    gateway.to("alerts").emit("alert", wire(2, "speeding", 5, count=2,
                                            lastSeen="2026-11-27T08:00:10.000Z"))
    speeding = page.locator('#alerts > li[data-alert-id="alert-2"]')
    await expect(speeding.locator(".count")).to_have_text("\u00d72")
    await expect(page.locator("#alerts > li")).to_have_count(5)

    # Filters choose by kind and by severity.
    filters = page.get_by_role("form", name="Filter alerts")
    await filters.get_by_label("Kind").select_option("speeding")
    await expect(page.locator("#alerts > li:not([hidden])")).to_have_count(1)
    assert await shown_ids(page) == ["alert-2"]
    await filters.get_by_label("Kind").select_option("")
    await filters.get_by_label("Severity").select_option("critical")
    await expect(page.locator("#alerts > li:not([hidden])")).to_have_count(3)
    await filters.get_by_label("Severity").select_option("")

    # Acknowledged, the SOS stops ringing and takes its place among the critical ones.
    sos = page.locator('#alerts > li[data-alert-id="alert-1"]')
    await sos.get_by_role("button", name="Acknowledge").click()
    await expect(sos.get_by_role("status")).to_contain_text("Acknowledged by ops-1")
    await expect(banner).to_be_hidden()
    await expect(page.locator("body")).to_have_attribute("data-alarm", "quiet")
    await expect(page).to_have_title("Yellow Box · Operations")
    assert await shown_ids(page) == ["alert-5", "alert-3", "alert-1", "alert-2", "alert-4"]

    # Resolved, it leaves the unresolved view and the counts, and stays in the history.
    await sos.get_by_role("button", name="Resolve").click()
    await expect(sos).to_be_hidden()
    await expect(page.locator('#alert-counts [data-count="critical"]')).to_have_text("2")
    await filters.get_by_label("State").select_option("resolved")
    await expect(sos).to_be_visible()
    await expect(sos.get_by_role("status")).to_contain_text("Resolved by ops-1")
    await expect(sos.get_by_role("button")).to_have_count(0)
    assert await shown_ids(page) == ["alert-1"]

    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        response = await client.get("/api/v1/alerts", params={"state": "resolved"},
                                    headers={"Authorization": f"Bearer {token}"})
    response.raise_for_status()
    [resolved] = response.json()["alerts"]
    assert resolved["id"] == "alert-1"
    assert resolved["acknowledgedBy"] == "ops-1"
    assert resolved["resolvedBy"] == "ops-1"
    assert resolved["state"] == "resolved"


async def test_a_second_sos_is_counted_on_the_banner(
        page: Page, gateway: Gateway, make_token: MakeToken) -> None:
    await page.context.grant_permissions(["notifications"], origin=gateway.url)
    await open_dashboard(page, gateway, make_token("ops-1", "operations"))
    # The sound and notifications are opt-in (browsers allow them only after a click).
    alarm = page.get_by_role("button", name="Enable SOS alarm")
    await alarm.click()
    await expect(page.get_by_role("button", name="SOS alarm on")).to_have_attribute(
        "aria-pressed", "true")
    gateway.to("alerts").emit("alert", wire(1, "sos", 1))
    gateway.to("alerts").emit("alert", wire(2, "sos", 2))
    banner = page.locator("#sos-banner")
    await expect(banner).to_contain_text("2 SOS alerts not acknowledged yet")
    # "Show" brings the unresolved alerts back whatever the filter was.
    await page.get_by_role("form", name="Filter alerts").get_by_label("Kind").select_option(
        "speeding")
    await expect(page.locator("#alerts > li:not([hidden])")).to_have_count(0)
    await banner.get_by_role("button", name="Show").click()
    await expect(page.locator("#alerts > li:not([hidden])")).to_have_count(2)
    assert await shown_ids(page) == ["alert-2", "alert-1"]
