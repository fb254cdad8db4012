"""The dashboard page's own behaviour in chromium: signing in and out, drawing what the
stream brings, resuming after a lost connection, starting over after a ``stream_reset``.

The gateway is real; the events are published into its channels by the test, in the shapes
of the issue 5 contract, so each behaviour is driven exactly when the test wants it.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.conftest import MakeGateway, MakeToken
from yellowbox_realtime.app import Gateway

from .conftest import default_origins_config

pytestmark = pytest.mark.browser

def alert(n: int, **fields: Any) -> dict[str, Any]:
    return {"id": f"test-alert-{n}", "kind": "speeding", "severity": "warning",
            "riderId": f"test-rider-{n}", "message": f"test-rider-{n} at 90 km/h",
            "at": f"2026-11-27T08:00:{n:02d}.000Z", "acknowledged": False, **fields}


def rider(n: int, latitude: float, longitude: float, status: str = "online") -> dict[str, Any]:
    return {"riderId": f"test-rider-{n}", "latitude": latitude, "longitude": longitude,
            "speed": 8.0, "heading": 90.0, "timestamp": "2026-11-27T08:00:00.000Z",
            "status": status}


async def open_dashboard(page: Page, gateway: Gateway, token: str) -> None:
    await page.goto(f"{gateway.url}/dashboard/#token={token}")
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")


async def alert_ids(page: Page) -> list[str]:
    ids: list[str] = await page.locator("#alerts > li").evaluate_all(
        "items => items.map(item => item.dataset.alertId)")
    return ids


@pytest.fixture
async def ops_gateway(make_gateway: MakeGateway) -> Gateway:
    return await make_gateway(default_origins_config())


async def test_a_bad_token_brings_back_the_sign_in_with_the_servers_reason(
        page: Page, ops_gateway: Gateway) -> None:
    await page.goto(f"{ops_gateway.url}/dashboard/#token=not-a-token")
    await expect(page.locator("#sign-in")).to_be_visible()
    await expect(page.locator("#sign-in-reason")).to_contain_text("malformed")
    await expect(page.locator("#connection")).to_contain_text("Signed out: ")
    assert await page.evaluate("sessionStorage.length") == 0


async def test_a_role_that_may_not_read_the_fleet_is_told_so(
        page: Page, ops_gateway: Gateway, make_token: MakeToken) -> None:
    await page.goto(f"{ops_gateway.url}/dashboard/#token={make_token('fin-1', 'finance')}")
    await expect(page.locator("#sign-in-reason")).to_contain_text(
        re.compile(r"role 'finance' may not subscribe"))


async def test_signing_in_with_the_field_lasts_the_tab_and_signing_out_forgets_it(
        page: Page, ops_gateway: Gateway, make_token: MakeToken) -> None:
    await page.goto(f"{ops_gateway.url}/dashboard")
    assert page.url.endswith("/dashboard/")
    await expect(page.locator("#sign-in")).to_be_visible()
    await page.get_by_label("Token").fill(make_token("ops-1", "operations"))
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    await expect(page.locator("#who")).to_have_text("ops-1 · operations")

    await page.reload()
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.locator("#sign-in")).to_be_visible()
    await expect(page.locator("#sign-in-reason")).to_be_hidden()
    await expect(page.locator("#connection")).to_have_text("Signed out")
    assert await page.evaluate("sessionStorage.length") == 0


async def test_the_stream_draws_riders_fences_metrics_and_feeds(
        page: Page, ops_gateway: Gateway, make_token: MakeToken) -> None:
    gateway = ops_gateway
    await open_dashboard(page, gateway, make_token("ops-1", "operations"))
    admin = {"Authorization": f"Bearer {make_token('admin-1', 'admin')}"}
    api = httpx.AsyncClient(base_url=gateway.url, timeout=10, headers=admin)

    # Fleet batches as the gateway conflates them (here published by the test, so the
    # riders are exactly these).
    gateway.to("fleet").emit("fleet_update", {
        "type": "batch", "at": "2026-11-27T08:00:00.000Z",
        "riders": [rider(1, 25.20, 55.27), rider(2, 25.08, 55.14, "stale")]})
    one, two = (page.locator(f'.rider[data-rider-id="test-rider-{n}"]') for n in (1, 2))
    await expect(one).to_have_attribute("data-status", "online")
    await expect(two).to_have_attribute("data-status", "stale")
    drawn_at = await one.get_attribute("transform")
    assert drawn_at is not None
    gateway.to("fleet").emit("fleet_update", {
        "type": "batch", "at": "2026-11-27T08:00:01.000Z",
        "riders": [rider(1, 25.19, 55.28, "offline")]})
    await expect(one).to_have_attribute("data-status", "offline")
    await expect(one).not_to_have_attribute("transform", drawn_at)
    await expect(one).to_have_attribute("data-latitude", "25.19")

    async with api:
        # A fence put through the HTTP API is drawn, and goes when it is deleted.
        response = await api.put("/api/v1/geofences/depot-1", json={
            "name": "Al Quoz depot", "kind": "depot",
            "circle": {"latitude": 25.135, "longitude": 55.225, "radius": 600}})
        assert response.is_success, response.text
        fence = page.locator('.fence[data-fence-id="depot-1"]')
        await expect(fence).to_have_class(re.compile(r"\bfence-depot\b"))
        await expect(fence).to_contain_text("Al Quoz depot")
        response = await api.delete("/api/v1/geofences/depot-1")
        assert response.is_success, response.text
        await expect(fence).to_have_count(0)

        # An expense from the back office: the feed and the metrics follow it.
        metrics = page.get_by_role("region", name="Metrics")
        expense = page.locator('#expenses > li[data-expense-id="exp-1"]')
        for status in ("pending", "approved"):
            response = await api.post("/api/v1/expenses", json={
                "expenseId": "exp-1", "status": status, "amount": 85, "currency": "AED",
                "riderId": "test-rider-1"})
            assert response.is_success, response.text
            await expect(expense).to_contain_text(status.capitalize())
            await expect(metrics.locator('[data-metric="expenses.pending"]')).to_have_text(
                "1" if status == "pending" else "0")
    await expect(page.locator("#expenses > li")).to_have_count(1)
    await expect(metrics.locator('[data-metric="expenses.approvedTotal"]')).to_have_text(
        re.compile(r"85\.00\s*AED"))
    # This page's own stream is counted.
    await expect(metrics.locator('[data-metric="connections.detail"]')).to_contain_text(
        "1 SSE")


async def test_acknowledge_says_why_when_the_gateway_refuses(
        page: Page, make_gateway: MakeGateway, make_token: MakeToken) -> None:
    # A site where only admins acknowledge alerts.
    gateway = await make_gateway(default_origins_config(
        policy={"publish": {"acknowledge_alert": ["admin"]}}))
    await open_dashboard(page, gateway, make_token("ops-1", "operations"))
    gateway.to("alerts").emit("alert", alert(1))
    item = page.locator('#alerts > li[data-alert-id="test-alert-1"]')
    # The button says why and stays usable.
    await item.get_by_role("button", name="Acknowledge").click()
    await expect(item.get_by_role("alert")).to_contain_text(
        "Not acknowledged: role 'operations' may not")
    await expect(item.get_by_role("button", name="Acknowledge")).to_be_enabled()

    # Someone allowed to acknowledges it elsewhere: the page shows who.
    gateway.to("alerts").emit("alert_acknowledged", alert(
        1, acknowledged=True, acknowledgedBy="ops-2", acknowledgedAt="2026-11-27T08:01:00.000Z"))
    await expect(item.get_by_role("status")).to_contain_text("Acknowledged by ops-2")
    await expect(item.get_by_role("button")).to_have_count(0)


async def test_a_lost_stream_resumes_with_what_it_missed_once_and_in_order(
        page: Page, ops_gateway: Gateway, make_token: MakeToken) -> None:
    gateway = ops_gateway
    await open_dashboard(page, gateway, make_token("ops-1", "operations"))
    gateway.to("alerts").emit("alert", alert(1))
    await expect(page.locator("#alerts > li")).to_have_count(1)

    # The connection dies under the page, and alerts go on while it is away.
    [stream] = gateway.sse.open_streams
    stream.transport.abort()
    gateway.to("alerts").emit("alert", alert(2))
    gateway.to("alerts").emit("alert", alert(3))

    await expect(page.locator("#alerts > li")).to_have_count(3)
    gateway.to("alerts").emit("alert", alert(4))
    await expect(page.locator("#alerts > li")).to_have_count(4)
    assert await alert_ids(page) == [f"test-alert-{n}" for n in (4, 3, 2, 1)]
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")


async def test_after_a_stream_reset_the_page_shows_the_fresh_snapshots(
        page: Page, make_gateway: MakeGateway, make_token: MakeToken) -> None:
    # Two alerts kept: a page away for more than that cannot be brought up to date.
    gateway = await make_gateway(default_origins_config(
        history={"channel_max_entries": {"alerts": 2}}))
    token = make_token("ops-1", "operations")
    await open_dashboard(page, gateway, token)
    gateway.to("alerts").emit("alert", alert(1))
    # A rider the gateway's fleet does not know: no snapshot brings it back.
    gateway.to("fleet").emit("fleet_update", {
        "type": "batch", "at": "2026-11-27T08:00:00.000Z", "riders": [rider(9, 25.2, 55.27)]})
    await expect(page.locator("#alerts > li")).to_have_count(1)
    ghost = page.locator('.rider[data-rider-id="test-rider-9"]')
    await expect(ghost).to_have_count(1)

    [stream] = gateway.sse.open_streams
    stream.transport.abort()
    for n in (2, 3, 4, 5):
        gateway.to("alerts").emit("alert", alert(n))

    # The page starts over from the snapshots: the gateway's alerts, its fleet.
    await expect(ghost).to_have_count(0)
    await expect(page.locator("#alerts > li")).to_have_count(5)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        response = await client.get("/api/v1/alerts", params={"limit": 100},
                                    headers={"Authorization": f"Bearer {token}"})
    assert await alert_ids(page) == [a["id"] for a in response.json()["alerts"]]
    gateway.to("alerts").emit("alert", alert(6))
    await expect(page.locator("#alerts > li").first).to_have_attribute(
        "data-alert-id", "test-alert-6")
