"""The /sse endpoints over real HTTP: authentication both ways, refusals, policy, origins
and CORS, resumption, snapshots."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
import socketio

from tests.conftest import DEV_SECRET, MakeGateway, MakeToken, gateway_config
from yellowbox_realtime.app import Gateway
from yellowbox_realtime.auth.dev import mint_dev_token
from yellowbox_realtime.config import ServerConfig

from .ssereader import client, open_stream


async def ticket_for(http: httpx.AsyncClient, gateway: Gateway, token: str) -> str:
    response = await http.post(f"{gateway.url}/sse/tickets",
                               headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"ticket", "expiresIn"}
    assert 0 < body["expiresIn"] <= gateway.config.sse.ticket_ttl_s
    ticket: str = body["ticket"]
    return ticket


async def refused(http: httpx.AsyncClient, method: str, url: str,
                  **kwargs: Any) -> tuple[int, str, httpx.Headers]:
    """The status and error code of a refused request."""
    response = await http.request(method, url, **kwargs)
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["message"]
    return response.status_code, error["code"], response.headers


async def test_a_bearer_stream_starts_with_retry_ready_and_the_dashboard_snapshot(
        gateway: Gateway, make_token: MakeToken) -> None:
    async with client() as http, open_stream(http, f"{gateway.url}/sse/dashboard",
                                             token=make_token("ops-1", "operations")) as sse:
        headers = sse.response.headers
        assert sse.response.status_code == 200
        assert headers["content-type"] == "text/event-stream; charset=utf-8"
        assert headers["cache-control"] == "no-cache, no-transform"
        assert headers["x-accel-buffering"] == "no"
        assert "content-length" not in headers
        assert "transfer-encoding" not in headers
        assert "content-encoding" not in headers

        ready, data = await sse.next_data()
        position = gateway.broker.position()
        assert (ready.event, data) == ("ready", {"resumed": False})
        assert ready.id == f"{position.epoch}:{position.offset}"
        assert sse.parser.retry == gateway.config.sse.retry_ms

        snapshot, metrics = await sse.next_data()
        assert snapshot.event == "dashboard_metrics"
        assert metrics["connections"] == {"websocket": 0, "polling": 0, "sse": 1}
        assert metrics["riders"]["total"] == 0

        gateway.to("dashboard").emit("dashboard_update", {"activeRiders": 3})
        update, data = await sse.next_data()
        assert (update.event, data) == ("dashboard_update", {"activeRiders": 3})
        now = gateway.broker.position()
        assert update.id == f"{now.epoch}:{now.offset}"


async def test_a_ticket_opens_one_stream_once(gateway: Gateway, make_token: MakeToken) -> None:
    async with client() as http:
        ticket = await ticket_for(http, gateway, make_token("ops-1", "operations"))
        async with open_stream(http, f"{gateway.url}/sse/alerts?ticket={ticket}") as sse:
            assert [(await sse.next()).event for _ in range(2)] == ["ready", "alerts_snapshot"]
            gateway.to("alerts").emit("alert", {"kind": "sos", "riderId": "r-7"})
            alert, data = await sse.next_data()
            assert (alert.event, data) == ("alert", {"kind": "sos", "riderId": "r-7"})
            [stream] = gateway.sse.open_streams
            assert (stream.credentials.uid, stream.credentials.role) == ("ops-1", "operations")

        status, code, headers = await refused(http, "GET",
                                              f"{gateway.url}/sse/alerts?ticket={ticket}")
        assert (status, code) == (401, "authentication_failed")
        assert headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("path", "kwargs", "expected"), [
    ("/sse/alerts", {}, (401, "authentication_failed")),
    # A user id in the query string is never taken for authentication.
    ("/sse/alerts?uid=ops-1&role=operations", {}, (401, "authentication_failed")),
    ("/sse/alerts", {"headers": {"Authorization": "Bearer not-a-token"}},
     (401, "authentication_failed")),
    ("/sse/alerts", {"headers": {"Authorization": "Basic b3BzOm9wcw=="}},
     (401, "authentication_failed")),
    ("/sse/alerts?ticket=made-up", {}, (401, "authentication_failed")),
    ("/sse/alerts", {"headers": {"Last-Event-ID": "no-colon"}}, (400, "invalid_last_event_id")),
    ("/sse/alerts?lastEventId=abc:01", {}, (400, "invalid_last_event_id")),
    ("/sse", {}, (400, "bad_request")),
    ("/sse?channels=,,", {}, (400, "bad_request")),
    ("/sse/nothing-here", {}, (404, "not_found")),
    ("/sse/tickets", {}, (405, "method_not_allowed")),
])
async def test_malformed_and_unauthenticated_requests_are_refused_clearly(
        gateway: Gateway, path: str, kwargs: dict[str, Any], expected: tuple[int, str]) -> None:
    async with client() as http:
        status, code, _ = await refused(http, "GET", gateway.url + path, **kwargs)
    assert (status, code) == expected
    assert gateway.sse.open_streams == set()


async def test_too_many_channels_are_refused(make_gateway: MakeGateway,
                                            make_token: MakeToken) -> None:
    gateway = await make_gateway(gateway_config(sse={"max_channels": 2}))
    async with client() as http:
        status, code, _ = await refused(
            http, "GET", f"{gateway.url}/sse?channels=alerts,fleet,dashboard",
            headers={"Authorization": f"Bearer {make_token('ops-1', 'operations')}"})
    assert (status, code) == (400, "bad_request")


async def test_tickets_need_a_valid_bearer_token(gateway: Gateway,
                                                 make_token: MakeToken) -> None:
    async with client() as http:
        url = f"{gateway.url}/sse/tickets"
        assert (await refused(http, "POST", url))[:2] == (401, "authentication_failed")
        expired = mint_dev_token(DEV_SECRET, "ops-1", "operations", ttl_s=60,
                                 now=time.time() - 3600)
        assert (await refused(http, "POST", url, headers={
            "Authorization": f"Bearer {expired}"}))[:2] == (401, "authentication_failed")
        # A ticket is not a token: it cannot buy another ticket.
        ticket = await ticket_for(http, gateway, make_token("ops-1", "operations"))
        assert (await refused(http, "POST", f"{url}?ticket={ticket}"))[:2] == (
            401, "authentication_failed")
        assert (await refused(http, "GET", url))[:2] == (405, "method_not_allowed")


async def test_tickets_are_bounded_in_number(make_gateway: MakeGateway,
                                             make_token: MakeToken) -> None:
    gateway = await make_gateway(gateway_config(sse={"max_tickets": 2}))
    token = make_token("ops-1", "operations")
    async with client() as http:
        first = await ticket_for(http, gateway, token)
        await ticket_for(http, gateway, token)
        status, code, headers = await refused(http, "POST", f"{gateway.url}/sse/tickets",
                                              headers={"Authorization": f"Bearer {token}"})
        assert (status, code) == (429, "rate_limited")
        assert "retry-after" in headers
        # Using one frees its place.
        async with open_stream(http, f"{gateway.url}/sse/alerts?ticket={first}") as sse:
            assert (await sse.next()).event == "ready"
        await ticket_for(http, gateway, token)


@pytest.mark.parametrize(("role", "path", "allowed"), [
    ("operations", "/sse/fleet", True),
    ("admin", "/sse/alerts", True),
    ("rider", "/sse/fleet", False),
    ("rider", "/sse/dashboard", False),
    ("finance", "/sse/alerts", False),
    ("rider", "/sse?channels=user:u-1", True),
    ("operations", "/sse?channels=user:someone-else", False),
    ("operations", "/sse?channels=alerts,role:rider", False),
    ("operations", "/sse?channels=no_such_channel", False),
])
async def test_the_policy_decides_who_reads_which_channel(
        gateway: Gateway, make_token: MakeToken, role: str, path: str, allowed: bool) -> None:
    token = make_token("u-1", role)
    async with client() as http:
        if allowed:
            async with open_stream(http, gateway.url + path, token=token) as sse:
                assert sse.response.status_code == 200
                assert (await sse.next()).event == "ready"
            return
        status, code, _ = await refused(http, "GET", gateway.url + path,
                                        headers={"Authorization": f"Bearer {token}"})
    assert (status, code) == (403, "forbidden")


async def test_one_stream_of_several_channels_gets_each_event_once(
        gateway: Gateway, make_token: MakeToken) -> None:
    async with client() as http, open_stream(
            http, f"{gateway.url}/sse?channels=alerts,user:ops-1",
            token=make_token("ops-1", "operations")) as sse:
        assert [(await sse.next()).event for _ in range(2)] == ["ready", "alerts_snapshot"]
        gateway.to("alerts").emit("alert", {"n": 1})
        gateway.to_user("ops-1").emit("note", {"n": 2})
        gateway.to("alerts", "user:ops-1").emit("both", {"n": 3})
        received = [(e.event, json.loads(e.data)) for e in
                    [await sse.next(), await sse.next(), await sse.next()]]
        assert received == [("alert", {"n": 1}), ("note", {"n": 2}), ("both", {"n": 3})]
        gateway.to("alerts").emit("after", {"n": 4})
        assert (await sse.next()).event == "after"


async def test_origins_are_checked_and_cors_allows_credentials(
        make_gateway: MakeGateway, make_token: MakeToken) -> None:
    app = "http://app.example"
    gateway = await make_gateway(gateway_config(server={"allowed_origins": [app]}))
    token = make_token("ops-1", "operations")
    async with client() as http:
        status, code, headers = await refused(
            http, "GET", f"{gateway.url}/sse/alerts",
            headers={"Origin": "http://evil.example", "Authorization": f"Bearer {token}"})
        assert (status, code) == (403, "forbidden")
        assert "access-control-allow-origin" not in headers
        status, code, _ = await refused(http, "POST", f"{gateway.url}/sse/tickets",
                                        headers={"Origin": "http://evil.example",
                                                 "Authorization": f"Bearer {token}"})
        assert (status, code) == (403, "forbidden")

        preflight = await http.options(f"{gateway.url}/sse/tickets", headers={
            "Origin": app, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization"})
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == app
        assert preflight.headers["access-control-allow-credentials"] == "true"
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()

        ticket = await http.post(f"{gateway.url}/sse/tickets", headers={
            "Origin": app, "Authorization": f"Bearer {token}"})
        assert ticket.headers["access-control-allow-origin"] == app
        async with open_stream(http, f"{gateway.url}/sse/alerts?ticket="
                               f"{ticket.json()['ticket']}", headers={"Origin": app}) as sse:
            assert sse.response.headers["access-control-allow-origin"] == app
            assert sse.response.headers["access-control-allow-credentials"] == "true"
            assert (await sse.next()).event == "ready"


async def test_the_gateways_own_origin_may_take_tickets_and_streams(
        make_gateway: MakeGateway, make_token: MakeToken) -> None:
    # The default allow-list names port 3001; this gateway listens on another.
    gateway = await make_gateway(gateway_config(server={"allowed_origins": list(
        ServerConfig().allowed_origins)}))
    assert gateway.port != 3001
    own = f"http://localhost:{gateway.port}"
    auth = {"Authorization": f"Bearer {make_token('ops-1', 'operations')}"}
    async with client() as http:
        for foreign in (f"http://localhost:{gateway.port + 1}", "http://evil.example"):
            status, code, _ = await refused(http, "POST", f"{gateway.url}/sse/tickets",
                                            headers={"Origin": foreign, **auth})
            assert (status, code) == (403, "forbidden")
            status, code, _ = await refused(http, "GET", f"{gateway.url}/sse/alerts",
                                            headers={"Origin": foreign, **auth})
            assert (status, code) == (403, "forbidden")
        ticket = await http.post(f"{gateway.url}/sse/tickets", headers={"Origin": own, **auth})
        assert ticket.status_code == 200
        assert ticket.headers["access-control-allow-origin"] == own
        async with open_stream(http, f"{gateway.url}/sse/alerts?ticket="
                               f"{ticket.json()['ticket']}", headers={"Origin": own}) as sse:
            assert sse.response.headers["access-control-allow-origin"] == own
            assert (await sse.next()).event == "ready"


@pytest.mark.parametrize("resume_with", ["header", "query"])
async def test_a_stream_resumes_after_the_last_event_id(
        gateway: Gateway, make_token: MakeToken, resume_with: str) -> None:
    token = make_token("ops-1", "operations")
    url = f"{gateway.url}/sse/alerts"
    async with client() as http:
        async with open_stream(http, url, token=token) as sse:
            assert [(await sse.next()).event for _ in range(2)] == ["ready", "alerts_snapshot"]
            for n in (1, 2):
                gateway.to("alerts").emit("alert", {"n": n})
            seen = [await sse.next(), await sse.next()]
            last = seen[-1].id
        assert last is not None
        # While away: the channel goes on, and so do others.
        for n in (3, 4):
            gateway.to("alerts").emit("alert", {"n": n})
            gateway.to("dashboard").emit("dashboard_update", {"n": n})
        if resume_with == "header":
            resume = open_stream(http, url, token=token, headers={"Last-Event-ID": last})
        else:
            resume = open_stream(http, f"{url}?lastEventId={last}", token=token)
        async with resume as sse:
            missed = [await sse.next_data(), await sse.next_data()]
            assert [(e.event, d) for e, d in missed] == [("alert", {"n": 3}),
                                                         ("alert", {"n": 4})]
            ready, data = await sse.next_data()
            position = gateway.broker.position()
            assert (ready.event, data) == ("ready", {"resumed": True})
            assert ready.id == f"{position.epoch}:{position.offset}"
            gateway.to("alerts").emit("alert", {"n": 5})
            assert (await sse.next_data())[1] == {"n": 5}


async def test_the_header_wins_over_the_query_when_both_are_sent(
        gateway: Gateway, make_token: MakeToken) -> None:
    token = make_token("ops-1", "operations")
    async with client() as http:
        start = gateway.broker.position()
        gateway.to("alerts").emit("alert", {"n": 1})
        newer = gateway.broker.position()
        gateway.to("alerts").emit("alert", {"n": 2})
        async with open_stream(
                http, f"{gateway.url}/sse/alerts?lastEventId={start.epoch}:{start.offset}",
                token=token, headers={"Last-Event-ID": f"{newer.epoch}:{newer.offset}"}) as sse:
            assert (await sse.next_data())[1] == {"n": 2}
            assert (await sse.next()).event == "ready"


async def rider_publishes(gateway: Gateway, token: str,
                          locations: list[dict[str, float]]) -> None:
    rider = socketio.AsyncClient(reconnection=False)
    await rider.connect(gateway.url, auth={"token": token}, transports=["websocket"],
                        wait_timeout=5)
    try:
        for location in locations:
            answer = await rider.call("publish_location", location, timeout=5)
            assert answer["ok"] is True, answer
    finally:
        await rider.disconnect()


async def test_the_fleet_stream_starts_with_every_riders_last_position_then_changes(
        gateway: Gateway, make_token: MakeToken) -> None:
    await rider_publishes(gateway, make_token("rider-1"), [
        {"latitude": 25.0, "longitude": 55.0}, {"latitude": 25.0001, "longitude": 55.0001}])
    await rider_publishes(gateway, make_token("rider-2"), [{"latitude": 24.5, "longitude": 54.4}])
    async with client() as http, open_stream(http, f"{gateway.url}/sse/fleet",
                                             token=make_token("ops-1", "operations")) as sse:
        assert (await sse.next()).event == "ready"
        snapshot, data = await sse.next_data()
        assert snapshot.event == "fleet_update"
        assert data["type"] == "snapshot"
        riders = {r["riderId"]: (r["latitude"], r["longitude"]) for r in data["riders"]}
        assert riders == {"rider-1": (25.0001, 55.0001), "rider-2": (24.5, 54.4)}

        await rider_publishes(gateway, make_token("rider-2"), [
            {"latitude": 24.5001, "longitude": 54.4001, "speed": 3.0}])
        # Conflated: the riders that moved since the last batch, once per interval.
        while True:
            batch, data = await sse.next_data()
            assert (batch.event, data["type"]) == ("fleet_update", "batch")
            moved = {r["riderId"]: r for r in data["riders"]}
            if "rider-2" in moved and moved["rider-2"].get("speed") == 3.0:
                break
        assert (moved["rider-2"]["latitude"], moved["rider-2"]["status"]) == (24.5001, "online")


async def test_dashboard_metrics_count_live_connections_and_recent_riders(
        gateway: Gateway, make_token: MakeToken) -> None:
    await rider_publishes(gateway, make_token("rider-1"), [{"latitude": 25.0, "longitude": 55.0}])
    ops = socketio.AsyncClient(reconnection=False)
    await ops.connect(gateway.url, auth={"token": make_token("ops-9", "operations")},
                      transports=["polling"], wait_timeout=5)
    try:
        async with client() as http, \
                open_stream(http, f"{gateway.url}/sse/fleet",
                            token=make_token("ops-1", "operations")), \
                open_stream(http, f"{gateway.url}/sse/dashboard",
                            token=make_token("ops-2", "admin")) as dashboard:
            assert (await dashboard.next()).event == "ready"
            _, metrics = await dashboard.next_data()
    finally:
        await ops.disconnect()
    assert metrics["connections"] == {"websocket": 0, "polling": 1, "sse": 2}
    assert metrics["riders"]["total"] == 1


async def test_a_gap_in_the_history_is_reported_then_a_fresh_snapshot_follows(
        make_gateway: MakeGateway, make_token: MakeToken) -> None:
    # No batches of their own: the test makes the gap with two events the fleet channel
    # cannot both keep.
    gateway = await make_gateway(gateway_config(
        history={"channel_max_entries": {"fleet": 1}},
        fleet={"conflate_interval_s": 3600.0}))
    token = make_token("ops-1", "operations")
    async with client() as http:
        async with open_stream(http, f"{gateway.url}/sse/fleet", token=token) as sse:
            ready = await sse.next()
        assert ready.id is not None
        await rider_publishes(gateway, make_token("rider-1"), [
            {"latitude": 25.0, "longitude": 55.0}, {"latitude": 25.0002, "longitude": 55.0002}])
        for _ in range(2):
            gateway.to("fleet").emit("fleet_update", {"type": "batch", "riders": []})
        async with open_stream(http, f"{gateway.url}/sse/fleet", token=token,
                               headers={"Last-Event-ID": ready.id}) as sse:
            reset, data = await sse.next_data()
            position = gateway.broker.position()
            assert reset.event == "stream_reset"
            assert reset.id == f"{position.epoch}:{position.offset}"
            assert data["reason"] == "history_gap"
            assert data["lastEventId"] == ready.id
            assert data["channels"] == ["fleet"]
            snapshot, data = await sse.next_data()
            assert snapshot.event == "fleet_update"
            assert data["type"] == "snapshot"
            assert [(r["riderId"], r["latitude"], r["longitude"]) for r in data["riders"]] == [
                ("rider-1", 25.0002, 55.0002)]


async def test_an_id_from_another_epoch_resets_the_stream(
        gateway: Gateway, make_token: MakeToken) -> None:
    gateway.to("alerts").emit("alert", {"n": 1})
    async with client() as http, open_stream(
            http, f"{gateway.url}/sse/alerts", token=make_token("ops-1", "operations"),
            headers={"Last-Event-ID": "an0therEpoch:1"}) as sse:
        reset, data = await sse.next_data()
        assert (reset.event, data["reason"]) == ("stream_reset", "epoch_changed")
        assert (await sse.next()).event == "alerts_snapshot"
        gateway.to("alerts").emit("alert", {"n": 2})
        assert (await sse.next_data())[1] == {"n": 2}
