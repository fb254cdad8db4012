"""Publishing over HTTP reaches real Socket.IO clients: channels, users, roles, retries."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.apiclients import BACKOFFICE, KEYS, Listen, Listener, api_section, bearer
from tests.conftest import MakeGateway, MakeToken, gateway_config

EXPENSE = {"expenseId": "exp-9", "status": "approved", "amount": 120.5}


async def publish(http: httpx.AsyncClient, path: str, event: str, data: Any,
                  **headers: str) -> httpx.Response:
    return await http.post(f"/api/v1/{path}/events", json={"event": event, "data": data},
                           headers={**bearer(), **headers})


async def assert_next_is(listener: Listener, event: str) -> tuple[list[Any], str | None]:
    got, args, offset = await listener.next()
    assert got == event
    return args, offset


async def test_a_channel_publish_reaches_its_subscribers_with_its_id(
        http: httpx.AsyncClient, listen: Listen, make_token: MakeToken) -> None:
    finance = await listen(make_token("fin-1", "finance"))
    assert (await finance.sio.call("subscribe_expense_updates", timeout=5))["ok"] is True
    await assert_next_is(finance, "expenses_snapshot")
    response = await publish(http, "channels/expense_updates", "expense_status_change", EXPENSE)
    assert response.status_code == 202
    body = response.json()
    assert body["channel"] == "expense_updates"
    assert body["event"] == "expense_status_change"
    args, offset = await assert_next_is(finance, "expense_status_change")
    # As the expenses endpoint publishes it: checked, with the default currency and a time.
    [expense] = args
    assert expense == {**EXPENSE, "currency": "AED", "updatedAt": expense["updatedAt"]}
    # The id is the stream offset socket.io-client keeps for connection-state recovery.
    assert offset == body["id"]


async def test_a_domain_event_is_checked_by_its_domain_at_this_door_too(
        http: httpx.AsyncClient, make_token: MakeToken) -> None:
    # Refused here as POST /api/v1/expenses refuses it: no amount.
    incomplete = {"expenseId": "e-9", "status": "approved"}
    response = await publish(http, "channels/expense_updates", "expense_status_change",
                             incomplete)
    assert response.status_code == 422
    assert response.json()["error"] == {"code": "validation_failed",
                                        "message": "expense needs amount"}
    assert (await publish(http, "channels/expense_updates", "expense_status_change",
                          EXPENSE)).status_code == 202
    # What was published through this door counts in the approved total.
    metrics = (await http.get("/api/v1/dashboard", headers={
        "Authorization": f"Bearer {make_token('fin-1', 'finance')}"})).json()
    assert metrics["expenses"]["approvedTotal"] == {"AED": 120.5}


async def test_a_user_publish_reaches_every_connection_of_that_user_only(
        http: httpx.AsyncClient, listen: Listen, make_token: MakeToken) -> None:
    phone = await listen(make_token("rider-7", "rider"))
    tablet = await listen(make_token("rider-7", "rider"))
    other = await listen(make_token("rider-8", "rider"))
    response = await publish(http, "users/rider-7", "task_assigned", {"taskId": "t-1"})
    assert response.status_code == 202
    assert response.json()["channel"] == "user:rider-7"
    for connection in (phone, tablet):
        assert (await assert_next_is(connection, "task_assigned"))[0] == [{"taskId": "t-1"}]
    # Were rider-8 to get the first event, it would arrive before this one.
    assert (await publish(http, "users/rider-8", "marker", 1)).status_code == 202
    assert (await assert_next_is(other, "marker"))[0] == [1]


async def test_a_role_publish_reaches_that_role_only(
        http: httpx.AsyncClient, listen: Listen, make_token: MakeToken) -> None:
    ops = [await listen(make_token(f"ops-{i}", "operations")) for i in range(2)]
    rider = await listen(make_token("rider-1", "rider"))
    response = await publish(http, "roles/operations", "sos_alert", {"riderId": "rider-1"})
    assert (response.status_code, response.json()["channel"]) == (202, "role:operations")
    for listener in ops:
        assert (await assert_next_is(listener, "sos_alert"))[0] == [{"riderId": "rider-1"}]
    assert (await publish(http, "roles/rider", "marker", None)).status_code == 202
    assert (await assert_next_is(rider, "marker"))[0] == [None]


async def test_a_retried_publish_is_delivered_once_with_the_first_id(
        http: httpx.AsyncClient, listen: Listen, make_token: MakeToken) -> None:
    rider = await listen(make_token("rider-3", "rider"))
    first = await publish(http, "users/rider-3", "payout", {"n": 1}, **{"Idempotency-Key": "k-1"})
    again = await publish(http, "users/rider-3", "payout", {"n": 1}, **{"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    await publish(http, "users/rider-3", "marker", 2)
    assert await assert_next_is(rider, "payout") == ([{"n": 1}], first.json()["id"])
    # The retry was not delivered: the next event is the one published after it.
    assert (await assert_next_is(rider, "marker"))[0] == [2]


async def test_an_idempotency_key_reused_for_another_request_is_a_conflict(
        http: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "k-2"}
    assert (await publish(http, "users/rider-3", "payout", {"n": 1}, **headers)).status_code \
        == 202
    for path, event, data in [("users/rider-3", "payout", {"n": 2}),
                              ("users/rider-4", "payout", {"n": 1}),
                              ("users/rider-3", "payment", {"n": 1})]:
        response = await publish(http, path, event, data, **headers)
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "idempotency_conflict"


async def test_idempotency_keys_belong_to_the_api_key_that_sent_them(
        http: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "shared"}
    mine = await publish(http, "users/rider-3", "payout", {"n": 1}, **headers)
    theirs = await http.post("/api/v1/users/rider-3/events",
                             json={"event": "payout", "data": {"n": 1}},
                             headers={**bearer(KEYS["publisher"][0]), **headers})
    assert mine.status_code == theirs.status_code == 202
    assert mine.json()["id"] != theirs.json()["id"]


async def test_the_key_may_come_in_x_api_key(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/v1/channels/alerts/events",
                               json={"event": "geofence_breach", "data": {}},
                               headers={"X-API-Key": BACKOFFICE})
    assert response.status_code == 202


def error_of(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert isinstance(body["error"]["message"], str)
    return response.status_code, body["error"]["code"]


BAD_BODIES: list[tuple[str, bytes, str, int, str]] = [
    # id, body, content type, status, code
    ("not-json", b"{event:", "application/json", 400, "bad_request"),
    ("not-utf8", b'{"event": "a", "data": "\xff"}', "application/json", 400, "bad_request"),
    ("nan", b'{"event": "a", "data": NaN}', "application/json", 400, "bad_request"),
    ("too-deep", b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "bad_request"),
    ("text", b'{"event": "a", "data": 1}', "text/plain", 415, "unsupported_media_type"),
    ("binary", b"\x00\x01", "application/octet-stream", 415, "unsupported_media_type"),
    ("form", b"event=a&data=1", "application/x-www-form-urlencoded", 415,
     "unsupported_media_type"),
    ("array", b'[{"event": "a", "data": 1}]', "application/json", 422, "validation_failed"),
    ("no-event", b'{"data": 1}', "application/json", 422, "validation_failed"),
    ("no-data", b'{"event": "a"}', "application/json", 422, "validation_failed"),
    ("extra-field", b'{"event": "a", "data": 1, "room": "x"}', "application/json", 422,
     "validation_failed"),
    ("event-not-string", b'{"event": 5, "data": 1}', "application/json", 422,
     "validation_failed"),
    ("empty-event", b'{"event": "", "data": 1}', "application/json", 422,
     "validation_failed"),
    ("long-event", b'{"event": "' + b"a" * 101 + b'", "data": 1}', "application/json", 422,
     "validation_failed"),
    ("event-charset", b'{"event": "new task", "data": 1}', "application/json", 422,
     "validation_failed"),
    ("lone-surrogate", b'{"event": "a", "data": "\\ud800"}', "application/json", 422,
     "validation_failed"),
]


@pytest.mark.parametrize(("body", "content_type", "status", "code"),
                         [case[1:] for case in BAD_BODIES], ids=[c[0] for c in BAD_BODIES])
async def test_bad_bodies_are_refused(http: httpx.AsyncClient, body: bytes, content_type: str,
                                      status: int, code: str) -> None:
    response = await http.post("/api/v1/channels/alerts/events", content=body,
                               headers={**bearer(), "Content-Type": content_type})
    assert error_of(response) == (status, code)


@pytest.mark.parametrize("event", ["connect", "connect_error", "disconnect", "disconnecting",
                                   "error", "gateway_error", "auth_expired",
                                   "auth_refresh_required", "refresh_token", "newListener"])
async def test_reserved_event_names_are_refused(http: httpx.AsyncClient, event: str) -> None:
    response = await publish(http, "channels/alerts", event, {})
    assert error_of(response) == (422, "validation_failed")
    assert "reserved" in response.json()["error"]["message"]


@pytest.mark.parametrize("path", ["channels/a%23b", "channels/-x", "channels/" + "c" * 201,
                                  "channels/caf%C3%A9", "users/a%20b", "users/" + "u" * 129,
                                  "roles/ops:x", "roles/" + "r" * 65])
async def test_bad_channel_user_and_role_names_are_refused(http: httpx.AsyncClient,
                                                           path: str) -> None:
    response = await publish(http, path, "a", 1)
    assert error_of(response) == (400, "bad_request")


@pytest.mark.parametrize("key", ["", "has space", "é", "k" * 256])
async def test_bad_idempotency_keys_are_refused(http: httpx.AsyncClient, key: str) -> None:
    response = await http.post("/api/v1/channels/alerts/events",
                               json={"event": "a", "data": 1},
                               headers=[(b"Authorization", f"Bearer {BACKOFFICE}".encode()),
                                        (b"Idempotency-Key", key.encode())])
    assert error_of(response) == (400, "bad_request")


async def test_the_longest_idempotency_key_is_accepted(http: httpx.AsyncClient) -> None:
    response = await publish(http, "channels/alerts", "a", 1, **{"Idempotency-Key": "k" * 255})
    assert response.status_code == 202


async def test_data_larger_than_half_a_subscriber_buffer_is_refused(
        make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(gateway_config(api=api_section(),
                                                server={"max_buffer_bytes": 4096}))
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        fits = await publish(http, "channels/alerts", "a", "x" * (2048 - 2))
        assert fits.status_code == 202
        response = await publish(http, "channels/alerts", "a", "x" * 2048)
    assert error_of(response) == (413, "payload_too_large")


async def test_a_body_beyond_the_server_limit_is_refused_before_the_api(
        make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(gateway_config(api=api_section(),
                                                server={"max_body_bytes": 1024}))
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        response = await publish(http, "channels/alerts", "a", "x" * 2000)
    assert response.status_code == 413


async def test_unknown_routes_and_methods_answer_in_the_error_shape(
        http: httpx.AsyncClient) -> None:
    assert error_of(await http.get("/api/v1/nothing", headers=bearer())) == (404, "not_found")
    assert error_of(await http.get("/api/v1/channels/alerts/events", headers=bearer())) == (
        405, "method_not_allowed")
