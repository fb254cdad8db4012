"""The operations service end to end: real Socket.IO clients (python-socketio) and HTTP
requests against a running gateway, watching what the fleet, geofences, alerts, expenses,
orders and metrics turn into on the wire."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.apiclients import KEYS, Listen, Listener, api_section, bearer
from tests.conftest import MakeGateway, MakeToken, gateway_config
from yellowbox_realtime.app import Gateway

pytestmark = pytest.mark.interop

# Short timers, so statuses change within a test's patience (waits end on the event).
FLEET = {"stale_after_s": 0.4, "offline_after_s": 0.8, "disconnect_grace_s": 0.2,
         "conflate_interval_s": 0.05, "speeding_mps": 20.0}
OPERATIONS = {"dashboard_interval_s": 0.05}
# A square around Business Bay, and points outside, inside and beyond it on one line.
SQUARE = [{"latitude": 25.180, "longitude": 55.260}, {"latitude": 25.180, "longitude": 55.270},
          {"latitude": 25.190, "longitude": 55.270}, {"latitude": 25.190, "longitude": 55.260}]
WEST, INSIDE = (25.185, 55.2585), (25.185, 55.2605)


@pytest.fixture
async def api_gateway(make_gateway: MakeGateway) -> Gateway:
    return await make_gateway(gateway_config(api=api_section(), fleet=FLEET,
                                             operations=OPERATIONS))


@pytest.fixture
def gateway(api_gateway: Gateway) -> Gateway:
    return api_gateway


async def next_event(listener: Listener, name: str, timeout: float = 5.0) -> Any:
    """The data of the next ``name`` event (others are passed over)."""
    while True:
        event, args, _ = await listener.next(timeout)
        if event == name:
            return args[0]


async def next_matching(listener: Listener, name: str, **fields: Any) -> Any:
    while True:
        data = await next_event(listener, name)
        if all(data.get(k) == v for k, v in fields.items()):
            return data


def fix(lat: float, lon: float, at: float, **extra: Any) -> dict[str, Any]:
    return {"latitude": lat, "longitude": lon, "timestamp": int(at * 1000), **extra}


async def publish(rider: Listener, location: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = await rider.sio.call("publish_location", location, timeout=5)
    return answer


def user(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- the fleet --------------------------------------------------------------------------


async def test_a_fleet_subscriber_gets_the_snapshot_then_batches_of_moved_riders(
        listen: Listen, make_token: MakeToken) -> None:
    rider = await listen(make_token("rider-1"))
    now = time.time()
    assert (await publish(rider, fix(25.2, 55.27, now)))["ok"] is True
    ops = await listen(make_token("ops-1", "operations"))
    assert await ops.sio.call("subscribe_fleet", timeout=5) == {"ok": True, "channel": "fleet"}
    snapshot = await next_event(ops, "fleet_update")
    assert snapshot["type"] == "snapshot"
    assert [(r["riderId"], r["status"]) for r in snapshot["riders"]] == [("rider-1", "online")]

    assert (await publish(rider, fix(25.2001, 55.2701, now + 1, speed=5.0)))["ok"] is True
    batch = await next_matching(ops, "fleet_update", type="batch")
    (moved,) = [r for r in batch["riders"] if r["riderId"] == "rider-1"]
    assert (moved["latitude"], moved["longitude"], moved["speed"]) == (25.2001, 55.2701, 5.0)


async def test_a_fix_older_than_the_last_or_an_impossible_jump_is_refused_with_a_reason(
        listen: Listen, make_token: MakeToken) -> None:
    rider = await listen(make_token("rider-1"))
    now = time.time()
    assert (await publish(rider, fix(25.2, 55.27, now)))["ok"] is True
    older = await publish(rider, fix(25.2, 55.27, now - 60))
    assert older["ok"] is False
    assert "older" in older["error"]
    jump = await publish(rider, fix(25.9, 55.27, now + 1))  # 78 km in a second
    assert jump["ok"] is False
    assert "jump" in jump["error"]
    assert (await publish(rider, fix(25.2002, 55.2702, now + 2)))["ok"] is True


async def test_a_silent_rider_goes_stale_then_offline_and_each_raises_an_alert(
        listen: Listen, make_token: MakeToken) -> None:
    ops = await listen(make_token("ops-1", "operations"))
    rider = await listen(make_token("rider-1"))
    assert (await publish(rider, fix(25.2, 55.27, time.time())))["ok"] is True
    stale = await next_matching(ops, "alert", kind="rider_stale")
    assert (stale["riderId"], stale["severity"]) == ("rider-1", "info")
    offline = await next_matching(ops, "alert", kind="rider_offline")
    assert (offline["riderId"], offline["severity"]) == ("rider-1", "warning")
    # Offline says more than stale: the stale alert is closed by the system.
    superseded = await next_matching(ops, "alert_resolved", id=stale["id"])
    assert (superseded["state"], superseded["resolvedBy"]) == ("resolved", "system")


async def test_a_rider_that_comes_back_resolves_its_alerts_and_a_reconnect_is_not_stale(
        listen: Listen, make_token: MakeToken, gateway: Gateway) -> None:
    ops = await listen(make_token("ops-1", "operations"))
    rider = await listen(make_token("rider-3"))
    now = time.time()
    assert (await publish(rider, fix(25.2, 55.27, now)))["ok"] is True
    await rider.sio.disconnect()
    offline = await next_matching(ops, "alert", kind="rider_offline", riderId="rider-3")
    assert gateway.operations is not None
    # The reconnect turns the rider stale (no fix yet) and closes the offline alert ...
    rider = await listen(make_token("rider-3"))
    resolved = await next_matching(ops, "alert_resolved", id=offline["id"])
    assert (resolved["state"], resolved["resolvedBy"]) == ("resolved", "system")
    # ... without a stale alert: the first alert after the reconnect is the next offline.
    assert (await publish(rider, fix(25.2001, 55.2701, time.time())))["ok"] is True
    # Silent again: the stale alert that follows is for the new fix, raised after it.
    changed = await next_event(ops, "alert")
    assert (changed["kind"], changed["riderId"]) == ("rider_stale", "rider-3")
    assert changed["at"] > resolved["resolvedAt"]
    history = gateway.operations.alerts.recent(states=("resolved",))
    assert offline["id"] in [a.id for a in history]


async def test_a_rider_that_disconnects_goes_offline_after_the_grace_period(
        listen: Listen, make_token: MakeToken, gateway: Gateway) -> None:
    ops = await listen(make_token("ops-1", "operations"))
    await ops.sio.call("subscribe_fleet", timeout=5)
    rider = await listen(make_token("rider-2"))
    assert (await publish(rider, fix(25.2, 55.27, time.time())))["ok"] is True
    await next_matching(ops, "fleet_update", type="batch")
    await rider.sio.disconnect()
    while True:
        batch = await next_matching(ops, "fleet_update", type="batch")
        statuses = {r["riderId"]: r["status"] for r in batch["riders"]}
        if statuses.get("rider-2") == "offline":
            break
    assert gateway.operations is not None
    assert gateway.operations.fleet.counts()["offline"] == 1


# -- alerts -----------------------------------------------------------------------------


async def test_an_sos_alerts_operations_and_one_of_them_acknowledges_it(
        listen: Listen, make_token: MakeToken, http: httpx.AsyncClient) -> None:
    ops = await listen(make_token("ops-1", "operations"))
    admin = await listen(make_token("admin-1", "admin"))
    rider = await listen(make_token("rider-1"))
    answer = await rider.sio.call("rider_sos", {"latitude": 25.2, "longitude": 55.27,
                                                "message": "fell off the bike"}, timeout=5)
    assert answer["ok"] is True
    alert = await next_matching(ops, "alert", kind="sos")
    assert alert["id"] == answer["alertId"]
    assert (alert["severity"], alert["riderId"], alert["acknowledged"]) == (
        "critical", "rider-1", False)
    assert "fell off the bike" in alert["message"]
    assert (await next_matching(admin, "alert", kind="sos"))["id"] == alert["id"]

    listed = (await http.get("/api/v1/alerts?open=true",
                             headers=user(make_token("ops-1", "operations")))).json()
    assert [a["id"] for a in listed["alerts"]] == [alert["id"]]

    acked = await ops.sio.call("acknowledge_alert", {"alertId": alert["id"]}, timeout=5)
    assert acked["ok"] is True
    assert acked["alert"]["acknowledgedBy"] == "ops-1"
    seen = await next_event(admin, "alert_acknowledged")
    assert (seen["id"], seen["acknowledged"], seen["acknowledgedBy"]) == (
        alert["id"], True, "ops-1")
    listed = (await http.get("/api/v1/alerts?open=true",
                             headers=user(make_token("ops-1", "operations")))).json()
    assert listed["alerts"] == []


async def test_acknowledging_over_http_needs_the_role_and_a_known_alert(
        listen: Listen, make_token: MakeToken, http: httpx.AsyncClient) -> None:
    rider = await listen(make_token("rider-1"))
    answer = await rider.sio.call("rider_sos", {"latitude": 25.2, "longitude": 55.27},
                                  timeout=5)
    path = f"/api/v1/alerts/{answer['alertId']}/ack"
    assert (await http.post(path)).status_code == 401
    refused = await http.post(path, headers=user(make_token("rider-1")))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    missing = await http.post("/api/v1/alerts/al_nope/ack",
                              headers=user(make_token("ops-1", "operations")))
    assert missing.status_code == 404
    done = await http.post(path, headers=user(make_token("ops-1", "operations")))
    assert done.status_code == 200
    assert done.json()["alert"]["acknowledgedBy"] == "ops-1"
    # The alerts scope is a key's permission to acknowledge; publish is not.
    keyed = await http.post(path, headers=bearer(KEYS["publisher"][0]))
    assert keyed.status_code == 403


async def test_an_alert_is_resolved_over_http_and_stays_in_the_filtered_history(
        listen: Listen, make_token: MakeToken, http: httpx.AsyncClient) -> None:
    ops_headers = user(make_token("ops-1", "operations"))
    ops = await listen(make_token("ops-1", "operations"))
    rider = await listen(make_token("rider-1"))
    where = {"latitude": 25.2, "longitude": 55.27}
    first = await rider.sio.call("rider_sos", where, timeout=5)
    repeat = await rider.sio.call("rider_sos", {**where, "message": "again"}, timeout=5)
    assert repeat["alertId"] == first["alertId"]
    counted = await next_matching(ops, "alert", kind="sos", count=2)
    assert "again" in counted["message"]
    path = f"/api/v1/alerts/{first['alertId']}/resolve"
    assert (await http.post(path, headers=user(make_token("rider-1")))).status_code == 403
    done = await http.post(path, headers=ops_headers)
    assert done.status_code == 200, done.text
    assert (done.json()["alert"]["state"], done.json()["alert"]["resolvedBy"]) == (
        "resolved", "ops-1")
    seen = await next_event(ops, "alert_resolved")
    assert seen["id"] == first["alertId"]

    resolved = (await http.get("/api/v1/alerts?state=resolved&kind=sos",
                               headers=ops_headers)).json()
    assert [a["id"] for a in resolved["alerts"]] == [first["alertId"]]
    assert resolved["counts"]["resolved"] == 1
    assert (await http.get("/api/v1/alerts?state=open",
                           headers=ops_headers)).json()["alerts"] == []
    for query, named in (("state=closed", "state"), ("kind=fire", "kind"),
                         ("severity=huge", "severity"), ("sort=colour", "sort")):
        bad = await http.get(f"/api/v1/alerts?{query}", headers=ops_headers)
        assert bad.status_code == 422, query
        assert named in bad.json()["error"]["message"]
    # A new SOS after the resolution is a new alert.
    again = await rider.sio.call("rider_sos", where, timeout=5)
    assert again["alertId"] != first["alertId"]


async def test_a_rider_may_not_acknowledge_and_an_sos_needs_a_position(
        listen: Listen, make_token: MakeToken) -> None:
    rider = await listen(make_token("rider-1"))
    refused = await rider.sio.call("acknowledge_alert", {"alertId": "al_x"}, timeout=5)
    assert (refused["ok"], refused["code"]) == (False, "forbidden")
    invalid = await rider.sio.call("rider_sos", {"latitude": 95, "longitude": 55}, timeout=5)
    assert invalid["ok"] is False
    assert "latitude" in invalid["error"]


async def test_speeding_raises_one_alert_per_episode(
        listen: Listen, make_token: MakeToken) -> None:
    ops = await listen(make_token("ops-1", "operations"))
    rider = await listen(make_token("rider-1"))
    now = time.time()
    speeds = [25.0, 26.0, 10.0, 24.0]
    for i, speed in enumerate(speeds):
        answer = await publish(rider, fix(25.2 + i * 0.0002, 55.27, now + i, speed=speed))
        assert answer["ok"] is True, answer
    first = await next_matching(ops, "alert", kind="speeding")
    second = await next_matching(ops, "alert", kind="speeding")
    assert (first["speed"], second["speed"]) == (25.0, 24.0)
    # The second episode, while the first alert is open, is a repeat of it.
    assert (second["id"], first["count"], second["count"]) == (first["id"], 1, 2)
    assert second["lastSeen"] > first["lastSeen"]


# -- geofences --------------------------------------------------------------------------


async def test_entering_a_no_go_area_is_a_breach_and_every_crossing_an_event(
        listen: Listen, make_token: MakeToken, http: httpx.AsyncClient) -> None:
    ops_token = make_token("ops-1", "operations")
    created = await http.put("/api/v1/geofences/works", headers=user(ops_token), json={
        "name": "Road works", "kind": "no_go", "polygon": SQUARE})
    assert created.status_code == 201, created.text
    ops = await listen(ops_token)
    assert (await ops.sio.call("subscribe_geofences", timeout=5))["ok"] is True
    snapshot = await next_event(ops, "geofences_snapshot")
    assert [f["id"] for f in snapshot["fences"]] == ["works"]

    rider = await listen(make_token("rider-1"))
    now = time.time()
    for i, (lat, lon) in enumerate([WEST, INSIDE, WEST]):
        assert (await publish(rider, fix(lat, lon, now + i * 10)))["ok"] is True
    seen: dict[tuple[str, str], Any] = {}
    wanted = {("geofence_event", "enter"), ("geofence_event", "exit"),
              ("alert", "geofence_breach")}
    while not wanted <= set(seen):
        event, args, _ = await ops.next()
        if event in ("geofence_event", "alert"):
            seen[(event, args[0]["kind"])] = args[0]
    enter, leave = seen[("geofence_event", "enter")], seen[("geofence_event", "exit")]
    assert (enter["riderId"], enter["fenceId"], enter["fenceKind"]) == (
        "rider-1", "works", "no_go")
    assert leave["fenceId"] == "works"
    breach = seen[("alert", "geofence_breach")]
    assert (breach["fenceId"], breach["severity"]) == ("works", "critical")


async def test_geofences_are_managed_over_http_and_checked(
        make_token: MakeToken, http: httpx.AsyncClient) -> None:
    ops = user(make_token("ops-1", "operations"))
    depot = {"name": "Depot", "kind": "depot",
             "circle": {"latitude": 25.2, "longitude": 55.27, "radius": 300}}
    assert (await http.put("/api/v1/geofences/depot", headers=ops, json=depot)).status_code \
        == 201
    assert (await http.put("/api/v1/geofences/depot", headers=ops,
                           json={**depot, "name": "Main depot"})).status_code == 200
    listed = (await http.get("/api/v1/geofences", headers=ops)).json()
    assert [(f["id"], f["name"]) for f in listed["fences"]] == [("depot", "Main depot")]

    bad = await http.put("/api/v1/geofences/bad", headers=ops,
                         json={"name": "x", "kind": "zone", "circle": {
                             "latitude": 25.2, "longitude": 55.27, "radius": -1}})
    assert bad.status_code == 422
    other = await http.put("/api/v1/geofences/a", headers=ops, json={**depot, "id": "b"})
    assert other.status_code == 422
    rider = await http.put("/api/v1/geofences/r", headers=user(make_token("rider-1")),
                           json=depot)
    assert rider.status_code == 403
    scoped = await http.get("/api/v1/geofences", headers=bearer(KEYS["publisher"][0]))
    assert scoped.status_code == 403

    assert (await http.delete("/api/v1/geofences/depot", headers=ops)).status_code == 204
    assert (await http.delete("/api/v1/geofences/depot", headers=ops)).status_code == 404
    assert (await http.get("/api/v1/geofences", headers=ops)).json() == {"fences": []}


async def test_geofences_from_the_api_survive_a_restart_in_the_geofences_file(
        make_gateway: MakeGateway, make_token: MakeToken, tmp_path: Path) -> None:
    path = tmp_path / "geofences.json"
    config = gateway_config(fleet={"geofences_file": str(path)})
    first = await make_gateway(config)
    ops = user(make_token("ops-1", "operations"))
    async with httpx.AsyncClient(base_url=first.url, timeout=10) as http:
        response = await http.put("/api/v1/geofences/works", headers=ops, json={
            "name": "Road works", "kind": "no_go", "polygon": SQUARE})
        assert response.status_code == 201
    assert [f["id"] for f in json.loads(path.read_text())] == ["works"]
    second = await make_gateway(config)
    async with httpx.AsyncClient(base_url=second.url, timeout=10) as http:
        listed = (await http.get("/api/v1/geofences", headers=ops)).json()
    assert [f["name"] for f in listed["fences"]] == ["Road works"]


# -- expenses, orders and metrics -------------------------------------------------------


async def test_an_expense_change_reaches_finance_the_rider_and_the_metrics(
        listen: Listen, make_token: MakeToken, http: httpx.AsyncClient) -> None:
    finance = await listen(make_token("fin-1", "finance"))
    assert (await finance.sio.call("subscribe_expense_updates", timeout=5))["ok"] is True
    await finance.sio.call("subscribe_dashboard", timeout=5)
    first = await next_event(finance, "dashboard_metrics")
    assert first["expenses"] == {"pending": 0, "approvedTotal": {"AED": 0.0}}
    rider = await listen(make_token("rider-7"))

    body = {"expenseId": "exp-1", "status": "submitted", "amount": 120.5, "riderId": "rider-7"}
    headers = user(make_token("fin-1", "finance"))
    response = await http.post("/api/v1/expenses", headers=headers, json=body)
    assert response.status_code == 202, response.text
    change = await next_event(finance, "expense_status_change")
    assert (change["expenseId"], change["status"], change["currency"]) == (
        "exp-1", "submitted", "AED")
    update = await next_matching(finance, "dashboard_update")
    while update["expenses"]["pending"] != 1:
        update = await next_event(finance, "dashboard_update")

    response = await http.post("/api/v1/expenses", headers=headers,
                               json={**body, "status": "approved"})
    assert response.status_code == 202
    # The rider hears of every change to its expense, in order.
    notes = [await next_event(rider, "notification") for _ in range(2)]
    assert [(n["type"], n["expense"]["status"]) for n in notes] == [
        ("expense", "submitted"), ("expense", "approved")]
    update = await next_event(finance, "dashboard_update")
    while update["expenses"]["approvedTotal"] != {"AED": 120.5}:
        update = await next_event(finance, "dashboard_update")
    assert update["expenses"]["pending"] == 0

    invalid = await http.post("/api/v1/expenses", headers=headers,
                              json={**body, "status": "lost"})
    assert invalid.status_code == 422
    refused = await http.post("/api/v1/expenses", headers=user(make_token("rider-7")),
                              json=body)
    assert refused.status_code == 403


async def test_a_delivered_order_counts_once_in_todays_revenue(
        make_token: MakeToken, http: httpx.AsyncClient, gateway: Gateway) -> None:
    order = {"orderId": "o-1", "status": "delivered", "amount": 42.0}
    for _ in range(2):  # a retry changes nothing
        response = await http.post("/api/v1/orders", headers=bearer(), json=order)
        assert response.status_code == 202, response.text
    metrics = (await http.get("/api/v1/dashboard",
                              headers=user(make_token("fin-1", "finance")))).json()
    assert metrics["revenue"]["deliveredOrders"] == 1
    assert metrics["revenue"]["total"] == {"AED": 42.0}


async def test_metrics_count_connections_riders_and_events(
        listen: Listen, make_token: MakeToken, http: httpx.AsyncClient) -> None:
    rider = await listen(make_token("rider-1"))
    await publish(rider, fix(25.2, 55.27, time.time()))
    metrics = (await http.get("/api/v1/dashboard",
                              headers=user(make_token("ops-1", "operations")))).json()
    assert metrics["connections"] == {"websocket": 1, "polling": 0, "sse": 0}
    assert metrics["riders"]["total"] == 1
    assert metrics["riders"]["active"] + metrics["riders"]["stale"] == 1
    fleet = (await http.get("/api/v1/fleet", headers=user(make_token("ops-1", "operations"))))
    assert [r["riderId"] for r in fleet.json()["riders"]] == ["rider-1"]
    assert (await http.get("/api/v1/fleet", headers=user(make_token("rider-1")))).status_code \
        == 403
