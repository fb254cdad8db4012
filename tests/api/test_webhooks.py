"""The inbound webhooks on a real gateway: what they refuse (and that nothing is published
then), what they publish, once, to real Socket.IO subscribers, and what reaches the domain."""

from __future__ import annotations

import functools
import json
import time
from typing import Any

import httpx
import pytest

from tests.apiclients import Listen, Listener, api_section, bearer, send_webhook
from tests.conftest import MakeGateway, MakeToken, gateway_config
from yellowbox_realtime.app import Gateway
from yellowbox_realtime.signing import signed_headers

SECRET = "tests-only-webhook-secret-0123456789"
OTHER = "tests-only-someone-else-0123456789"
MAX_BODY = 4096


def webhooks_section(**extra: Any) -> dict[str, Any]:
    return {"secrets": {"n8n": [SECRET], "firebase": [SECRET]}, "max_body_bytes": MAX_BODY,
            "shared_secret": ["firebase"], **extra}


@pytest.fixture
async def api_gateway(make_gateway: MakeGateway) -> Gateway:
    return await make_gateway(gateway_config(api=api_section(), webhooks=webhooks_section(),
                                             operations={"dashboard_interval_s": 0.05}))


def encode(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


async def post(http: httpx.AsyncClient, source: str, body: bytes,
               headers: dict[str, str]) -> httpx.Response:
    return await http.post(f"/api/v1/webhooks/{source}", content=body,
                           headers={"Content-Type": "application/json", **headers})


send = functools.partial(send_webhook, secret=SECRET)


def n8n_event(event_id: str, event: str = "n8n_processed", channel: str = "user:ops-1",
              data: Any = None) -> dict[str, Any]:
    return {"id": event_id, "event": event, "channel": channel,
            "data": {"receivedId": event_id} if data is None else data}


def firestore(event_id: str, kind: str, change: str, document_id: str,
              document: dict[str, Any]) -> dict[str, Any]:
    return {"id": event_id, "type": kind, "change": change,
            "data": {"documentId": document_id, "document": document},
            "occurredAt": "2026-01-01T08:30:00.000Z"}


async def next_event(listener: Listener, event: str) -> Any:
    got, args, _ = await listener.next()
    assert got == event, (got, args)
    return args[0]


async def history(http: httpx.AsyncClient, channel: str) -> list[dict[str, Any]]:
    response = await http.get(f"/api/v1/channels/{channel}/history", headers=bearer())
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries


async def test_a_signed_n8n_event_is_published_once_even_when_sent_twice(
        http: httpx.AsyncClient, listen: Listen, make_token: MakeToken) -> None:
    ops = await listen(make_token("ops-1", "operations"))
    event = n8n_event("n8n:k1:42")
    now = time.time()
    first = await send(http, "n8n", event, at=now)
    assert first.status_code == 202, first.text
    assert first.json()["duplicate"] is False
    # The retry is signed afresh (a new timestamp), so it is no replay: the id makes it one.
    again = await send(http, "n8n", event, at=now + 1)
    assert again.status_code == 202, again.text
    assert again.json() == {"id": first.json()["id"], "duplicate": True}
    marker = await send(http, "n8n", n8n_event("marker", "marker"))
    assert marker.status_code == 202
    assert await next_event(ops, "n8n_processed") == {"receivedId": "n8n:k1:42"}
    assert await next_event(ops, "marker") == {"receivedId": "marker"}
    entries = await history(http, "user:ops-1")
    assert [(e["id"], e["event"]) for e in entries] == [
        (first.json()["id"], "n8n_processed"), (marker.json()["id"], "marker")]


def refusal(name: str, now: float) -> tuple[bytes, dict[str, str]]:
    """A request that does not prove it holds the secret, signed (or not) at ``now``."""
    body = encode(n8n_event("bad-1"))
    return {
        "unsigned": (body, {}),
        "wrong secret": (body, signed_headers(OTHER, body, now)),
        "stale": (body, signed_headers(SECRET, body, now - 301)),
        "from the future": (body, signed_headers(SECRET, body, now + 600)),
        "body changed": (body.replace(b"bad-1", b"bad-2"), signed_headers(SECRET, body, now)),
        "shared secret on n8n": (body, {"X-Yellowbox-Secret": SECRET}),
    }[name]


@pytest.mark.parametrize("name", ["unsigned", "wrong secret", "stale", "from the future",
                                  "body changed", "shared secret on n8n"])
async def test_requests_that_do_not_prove_the_secret_are_refused_and_publish_nothing(
        http: httpx.AsyncClient, listen: Listen, make_token: MakeToken, name: str) -> None:
    ops = await listen(make_token("ops-1", "operations"))
    body, headers = refusal(name, time.time())
    response = await post(http, "n8n", body, headers)
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "signature_invalid"
    await assert_only_the_marker_arrives(http, ops)


async def assert_only_the_marker_arrives(http: httpx.AsyncClient, ops: Listener) -> None:
    """Nothing was published before: the subscriber's next event and the channel's whole
    history are a marker sent now."""
    marker = await send(http, "n8n", n8n_event(f"marker-{time.monotonic_ns()}", "marker"))
    assert marker.status_code == 202, marker.text
    assert (await ops.next())[0] == "marker"
    assert [e["event"] for e in await history(http, "user:ops-1")] == ["marker"]


async def test_a_replayed_request_is_409_and_delivered_once(
        http: httpx.AsyncClient, listen: Listen, make_token: MakeToken) -> None:
    ops = await listen(make_token("ops-1", "operations"))
    body = encode(n8n_event("once", "marker"))
    headers = signed_headers(SECRET, body, time.time())
    assert (await post(http, "n8n", body, headers)).status_code == 202
    replay = await post(http, "n8n", body, headers)
    assert replay.status_code == 409
    assert replay.json()["error"]["code"] == "replayed"
    assert (await ops.next())[0] == "marker"
    assert len(await history(http, "user:ops-1")) == 1


@pytest.mark.parametrize(("body", "content_type", "status"), [
    (b"x" * (MAX_BODY + 1), "application/json", 413),
    (b'{"id": "a", "event": ', "application/json", 400),
    (encode(n8n_event("a")), "text/plain", 415),
    (encode({"id": "a", "event": "marker"}), "application/json", 422),
    (encode({**n8n_event("a"), "extra": 1}), "application/json", 422),
    (encode(n8n_event("a", "connect")), "application/json", 422),
    (encode(n8n_event("a", "auth_ok")), "application/json", 422),
    (encode(n8n_event("a", channel="no spaces")), "application/json", 422),
    (encode(n8n_event("has space")), "application/json", 422),
    (encode(n8n_event("a", data="d" * 2000 + "\ud800")), "application/json", 422),
    (encode(n8n_event("a", "expense_status_change", "expense_updates",
                      {"expenseId": "e-1", "status": "lost", "amount": 1})),
     "application/json", 422),
    (encode(n8n_event("a", "expense_status_change", "orders",
                      {"expenseId": "e-1", "status": "approved", "amount": 1})),
     "application/json", 422),
], ids=["oversized", "malformed JSON", "not JSON", "missing channel and data",
        "unknown field", "reserved event", "reserved prefix", "invalid channel",
        "invalid id", "invalid unicode", "refused by the domain", "domain event elsewhere"])
async def test_verified_but_invalid_bodies_are_refused_publish_nothing_and_may_be_retried(
        http: httpx.AsyncClient, listen: Listen, make_token: MakeToken, body: bytes,
        content_type: str, status: int) -> None:
    ops = await listen(make_token("ops-1", "operations"))
    headers = {"Content-Type": content_type, **signed_headers(SECRET, body, time.time())}
    response = await http.post("/api/v1/webhooks/n8n", content=body, headers=headers)
    assert response.status_code == status, response.text
    # Released from the replay cache: the same bytes again are judged again, not a replay.
    again = await http.post("/api/v1/webhooks/n8n", content=body, headers=headers)
    assert again.status_code == status, again.text
    await assert_only_the_marker_arrives(http, ops)


async def test_a_firebase_expense_change_moves_the_dashboards_pending_count(
        http: httpx.AsyncClient, listen: Listen, make_token: MakeToken) -> None:
    finance = await listen(make_token("fin-1", "finance"))
    assert (await finance.sio.call("subscribe_dashboard", timeout=5))["ok"] is True
    assert (await next_event(finance, "dashboard_metrics"))["expenses"]["pending"] == 0
    assert (await finance.sio.call("subscribe_expense_updates", timeout=5))["ok"] is True
    # The dashboard's updates (every 50 ms while its figures change) may come first.
    while (event := await finance.next())[0] != "expenses_snapshot":
        assert event[0] == "dashboard_update"
    rider = await listen(make_token("rider-7"))

    change = firestore("cloud-event-1", "expense", "created", "exp-1042", {
        "status": "submitted", "amount": 120.5, "currency": "AED",
        "rider": "riders/rider-7", "description": "Fuel", "receiptUrl": "gs://r/1.jpg",
        "submittedAt": "2026-01-01T08:29:00.000Z"})
    response = await send(http, "firebase", change)
    assert response.status_code == 202, response.text
    again = await send(http, "firebase", change, at=time.time() + 1)
    assert again.json() == {"id": response.json()["id"], "duplicate": True}

    while (event := await finance.next())[0] != "expense_status_change":
        assert event[0] == "dashboard_update"
    expense = event[1][0]
    assert {k: v for k, v in expense.items() if k != "updatedAt"} == {
        "expenseId": "exp-1042", "status": "submitted", "amount": 120.5, "currency": "AED",
        "riderId": "rider-7", "description": "Fuel"}
    while True:
        got, args, _ = await finance.next()
        assert got in ("dashboard_update", "expense_status_change")
        if got == "dashboard_update" and args[0]["expenses"]["pending"] == 1:
            break
    # The rider owning it is told, once.
    note = await next_event(rider, "notification")
    assert note["expense"]["expenseId"] == "exp-1042"
    entries = await history(http, "expense_updates")
    assert [e["id"] for e in entries] == [response.json()["id"]]


async def test_firebase_rider_changes_reach_the_riders_channel_and_deletes_say_so(
        http: httpx.AsyncClient, listen: Listen, make_token: MakeToken) -> None:
    ops = await listen(make_token("ops-1", "operations"))
    assert (await ops.sio.call("subscribe_riders", timeout=5))["ok"] is True
    rider = await listen(make_token("rider-7"))
    refused = await rider.sio.call("subscribe_riders", timeout=5)
    assert refused["ok"] is False

    profile = {"name": "Ahmed", "vehicle": "bike", "zone": "marina"}
    assert (await send(http, "firebase", firestore("ce-1", "rider", "updated", "rider-7",
                                                   profile))).status_code == 202
    assert await next_event(ops, "rider_profile_change") == {
        "riderId": "rider-7", "change": "updated", "profile": profile,
        "occurredAt": "2026-01-01T08:30:00.000Z"}
    assert (await send(http, "firebase", firestore("ce-2", "rider", "deleted", "rider-7",
                                                   profile))).status_code == 202
    deleted = await next_event(ops, "rider_profile_change")
    assert (deleted["change"], deleted["profile"]) == ("deleted", None)


async def test_a_deleted_expense_is_announced_and_leaves_the_counts_alone(
        http: httpx.AsyncClient, api_gateway: Gateway) -> None:
    document = {"status": "submitted", "amount": 10}
    assert (await send(http, "firebase", firestore("ce-1", "expense", "created", "exp-1",
                                                   document))).status_code == 202
    assert (await send(http, "firebase", firestore("ce-2", "expense", "deleted", "exp-1",
                                                   document))).status_code == 202
    entries = await history(http, "expense_updates")
    assert [e["event"] for e in entries] == ["expense_status_change", "expense_deleted"]
    assert entries[1]["data"] == {"expenseId": "exp-1",
                                  "occurredAt": "2026-01-01T08:30:00.000Z"}
    assert api_gateway.operations is not None
    assert api_gateway.operations.expenses.pending() == 1


async def test_an_n8n_order_change_goes_through_the_domain(
        http: httpx.AsyncClient, api_gateway: Gateway) -> None:
    order = {"orderId": "o-1", "status": "delivered", "amount": 42.0}
    response = await send(http, "n8n", n8n_event("o-1-delivered", "order_status_change",
                                                 "orders", order))
    assert response.status_code == 202, response.text
    [entry] = await history(http, "orders")
    assert entry["data"]["currency"] == "AED"
    assert "updatedAt" in entry["data"]
    assert api_gateway.operations is not None
    assert api_gateway.operations.orders.revenue(time.time())["total"] == {"AED": 42.0}


async def test_the_firebase_schema_is_checked(http: httpx.AsyncClient) -> None:
    good = firestore("ce-1", "order", "created", "o-1", {"status": "created", "amount": 1})
    for broken in ({**good, "type": "invoice"}, {**good, "change": "moved"},
                   {**good, "occurredAt": "yesterday"}, {**good, "data": {"documentId": "o"}},
                   {**good, "data": {"documentId": "", "document": {}}},
                   {**good, "data": {"documentId": "o", "document": []}},
                   {k: v for k, v in good.items() if k != "id"},
                   firestore("ce-1", "order", "created", "o-1", {"status": "created"})):
        response = await send(http, "firebase", broken)
        assert response.status_code == 422, (broken, response.text)
    assert (await send(http, "firebase", good)).status_code == 202


async def test_a_shared_secret_is_accepted_where_configured(http: httpx.AsyncClient) -> None:
    body = encode(firestore("ce-9", "rider", "created", "rider-9", {"name": "Sara"}))
    wrong = await post(http, "firebase", body, {"X-Yellowbox-Secret": OTHER})
    assert wrong.status_code == 401
    right = await post(http, "firebase", body, {"X-Yellowbox-Secret": SECRET})
    assert right.status_code == 202, right.text


async def test_a_source_without_a_secret_is_off(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(gateway_config(webhooks={"secrets": {"n8n": [SECRET]}}))
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
        response = await send(http, "firebase", firestore("ce-1", "rider", "created", "r",
                                                          {}))
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "webhook_not_configured"
        assert "[webhooks.secrets]" in response.json()["error"]["message"]
        assert (await send(http, "n8n", n8n_event("x"))).status_code == 202
