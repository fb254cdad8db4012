"""Published events reach the outbox: HTTP publishes are committed before the 202, Socket.IO
emits are forwarded too, and a store that cannot be written is a 503 and not ready."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.apiclients import api_section, bearer
from tests.conftest import MakeGateway, gateway_config
from yellowbox_realtime.app import Gateway
from yellowbox_realtime.outbox.store import OutboxStore

from .conftest import outbox_section
from .receiver import Receiver


@pytest.fixture
async def outbox_gateway(make_gateway: MakeGateway, receiver: Receiver,
                         tmp_path: Path) -> Gateway:
    return await make_gateway(gateway_config(
        api=api_section(),
        outbox=outbox_section(receiver.url, path=str(tmp_path / "outbox.sqlite3"),
                              channels={"n8n": ["expense_updates", "user:", "alerts"]})))


@pytest.fixture
async def http(outbox_gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=outbox_gateway.url, timeout=10) as client:
        yield client


async def publish(http: httpx.AsyncClient, path: str, data: object,
                  event: str = "expense_note") -> httpx.Response:
    # Not a domain event, so its data reaches the outbox as sent (a domain event is checked
    # and completed by its domain first: tests/core/test_router.py).
    return await http.post(f"/api/v1/{path}/events", json={"event": event, "data": data},
                           headers=bearer())


async def test_an_http_publish_is_committed_before_the_202(
        http: httpx.AsyncClient, outbox_gateway: Gateway, receiver: Receiver,
        tmp_path: Path) -> None:
    receiver.gate.clear()  # n8n does not answer: the row must stay in the file
    response = await publish(http, "channels/expense_updates", {"expenseId": "e-1"})
    assert response.status_code == 202
    event_id = response.json()["id"]
    # Read by another connection, as the next process would.
    db = sqlite3.connect(tmp_path / "outbox.sqlite3")
    rows = db.execute("SELECT route, event_id FROM deliveries").fetchall()
    db.close()
    assert rows == [("n8n", event_id)]
    receiver.gate.set()
    await receiver.wait_for(lambda r: r.acknowledged == [event_id])
    request = receiver.requests[0]
    assert request.signature_ok
    assert request.json["data"] == {"expenseId": "e-1"}
    assert request.json["channel"] == "expense_updates"


async def test_prefixed_channels_and_server_emits_are_forwarded_and_others_are_not(
        http: httpx.AsyncClient, outbox_gateway: Gateway, receiver: Receiver) -> None:
    assert (await publish(http, "users/rider-7", {"taskId": "t-1"}, "task_assigned")
            ).status_code == 202
    assert (await publish(http, "channels/dashboard", {"n": 1}, "dashboard_update")
            ).status_code == 202
    outbox_gateway.to("alerts").emit("rider_sos", {"riderId": "rider-7"})
    await receiver.wait_for(lambda r: len(r.acknowledged) == 2)
    events = sorted((r.json["event"], r.json["channel"]) for r in receiver.requests)
    assert events == [("rider_sos", "alerts"), ("task_assigned", "user:rider-7")]


async def test_a_retried_publish_with_its_idempotency_key_is_forwarded_once(
        http: httpx.AsyncClient, receiver: Receiver) -> None:
    headers = {**bearer(), "Idempotency-Key": "exp-9-approved"}
    body = {"event": "expense_note", "data": {"expenseId": "e-9"}}
    first = await http.post("/api/v1/channels/expense_updates/events", json=body,
                            headers=headers)
    event_id = first.json()["id"]
    await receiver.wait_for(lambda r: r.acknowledged == [event_id])
    # The client did not see the 202 and retries, after the delivery was made.
    again = await http.post("/api/v1/channels/expense_updates/events", json=body,
                            headers=headers)
    assert again.json()["id"] == event_id
    marker = await publish(http, "channels/expense_updates", {"marker": True})
    await receiver.wait_for(lambda r: marker.json()["id"] in r.acknowledged)
    assert receiver.acknowledged == [event_id, marker.json()["id"]]


async def test_a_publish_refused_by_the_outbox_is_accepted_when_retried(
        http: httpx.AsyncClient, receiver: Receiver, tmp_path: Path) -> None:
    headers = {**bearer(), "Idempotency-Key": "sos-1"}
    body = {"event": "rider_sos", "data": {"riderId": "rider-3"}}
    other = sqlite3.connect(tmp_path / "outbox.sqlite3", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        refused = await http.post("/api/v1/channels/alerts/events", json=body,
                                  headers=headers)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert refused.status_code == 503
    retried = await http.post("/api/v1/channels/alerts/events", json=body, headers=headers)
    assert retried.status_code == 202
    await receiver.wait_for(lambda r: r.acknowledged == [retried.json()["id"]])
    assert receiver.requests[0].json["data"] == {"riderId": "rider-3"}


async def test_a_locked_store_is_a_503_and_not_ready_until_released(
        http: httpx.AsyncClient, tmp_path: Path) -> None:
    assert (await http.get("/readyz")).json() == {"status": "ready"}
    other = sqlite3.connect(tmp_path / "outbox.sqlite3", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        response = await publish(http, "channels/expense_updates", {"expenseId": "e-2"})
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == "outbox_unavailable"
        assert "database is locked" in error["message"]
        ready = await http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] == "not_ready"
        assert "database is locked" in ready.json()["reasons"][0]
        # Events no route takes do not need the store.
        assert (await publish(http, "channels/dashboard", {"n": 2})).status_code == 202
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert (await http.get("/readyz")).status_code == 200
    assert (await publish(http, "channels/expense_updates", {"expenseId": "e-2"})
            ).status_code == 202


async def test_a_full_outbox_is_a_503(make_gateway: MakeGateway, receiver: Receiver,
                                      tmp_path: Path) -> None:
    receiver.gate.clear()
    gateway = await make_gateway(gateway_config(
        api=api_section(),
        outbox=outbox_section(receiver.url, path=str(tmp_path / "o.sqlite3"), max_backlog=2)))
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        for n in range(2):
            assert (await publish(client, "channels/alerts", n)).status_code == 202
        refused = await publish(client, "channels/alerts", 3)
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "outbox_full"
    receiver.gate.set()


async def test_a_store_out_of_space_is_a_503_and_not_ready_until_a_write_succeeds(
        make_gateway: MakeGateway, receiver: Receiver, tmp_path: Path) -> None:
    # outbox.max_file_bytes caps the file the way a full disk would: SQLite fails the write
    # with SQLITE_FULL ("database or disk is full"), whichever of the two ran out.
    receiver.gate.clear()
    gateway = await make_gateway(gateway_config(
        api=api_section(),
        outbox=outbox_section(receiver.url, path=str(tmp_path / "o.sqlite3"),
                              max_file_bytes=64 * 1024)))
    blob = "x" * 4000
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        accepted = 0
        while True:
            response = await publish(client, "channels/alerts", {"n": accepted, "blob": blob})
            if response.status_code != 202:
                break
            accepted += 1
            assert accepted < 100, "the file never filled up"
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == "outbox_unavailable"
        assert "full" in error["message"]
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert "full" in ready.json()["reasons"][0]
        # Deliveries free the space; the next write that fits makes the outbox ready again.
        receiver.gate.set()
        await receiver.wait_for(lambda r: len(r.acknowledged) == accepted)
        retried = await publish(client, "channels/alerts", {"n": "small"})
        assert retried.status_code == 202
        assert (await client.get("/readyz")).status_code == 200


async def test_without_routes_there_is_no_outbox_and_no_file(
        make_gateway: MakeGateway, tmp_path: Path) -> None:
    gateway = await make_gateway(gateway_config(
        outbox={"path": str(tmp_path / "never.sqlite3")}))
    assert gateway.outbox is None
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        assert (await client.get("/readyz")).status_code == 200
    assert not (tmp_path / "never.sqlite3").exists()


async def test_events_are_kept_across_a_gateway_stop(
        make_gateway: MakeGateway, receiver: Receiver, tmp_path: Path) -> None:
    await receiver.down()
    path = tmp_path / "outbox.sqlite3"
    gateway = await make_gateway(gateway_config(
        api=api_section(), outbox=outbox_section(receiver.url, path=str(path))))
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        response = await publish(client, "channels/alerts", {"sos": True}, "rider_sos")
    await gateway.stop()
    store = OutboxStore(path, max_backlog=10)
    await store.open(create=False)
    assert (await store.stats()).backlog == 1
    await store.close()
    await receiver.up()
    await make_gateway(gateway_config(
        api=api_section(), outbox=outbox_section(receiver.url, path=str(path))))
    await receiver.wait_for(lambda r: r.acknowledged == [response.json()["id"]])
