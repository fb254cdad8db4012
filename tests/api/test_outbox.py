"""The outbox's operator endpoints: stats, dead letters, replay; the outbox scope."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest

from tests.apiclients import api_section, bearer
from tests.conftest import MakeGateway, gateway_config
from tests.outbox.conftest import outbox_section
from tests.outbox.receiver import Receiver
from yellowbox_realtime.api.keys import hash_key
from yellowbox_realtime.app import Gateway
from yellowbox_realtime.outbox.retry import Outcome
from yellowbox_realtime.outbox.worker import Settled

OPERATOR = "ybrt_test-outbox-operator-key-0123456789"
PUBLISHER = "ybrt_test-publisher-key-0123456789"


def keys() -> dict[str, Any]:
    section = api_section()
    section["keys"]["operator"] = hash_key(OPERATOR)
    section["scopes"]["operator"] = ["outbox"]
    return section


@pytest.fixture
async def gateway(make_gateway: MakeGateway, receiver: Receiver, tmp_path: Path) -> Gateway:
    return await make_gateway(gateway_config(
        api=keys(), outbox=outbox_section(receiver.url, path=str(tmp_path / "o.sqlite3"))))


@pytest.fixture
async def http(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        yield client


async def assert_described(http: httpx.AsyncClient, schema: str, instance: Any) -> None:
    """The response matches the schema the served OpenAPI document gives it (schemathesis
    checks the error answers; a gateway with an outbox is needed for these)."""
    document = (await http.get("/api/v1/openapi.json")).json()
    jsonschema_rs.validate({"$ref": f"#/components/schemas/{schema}",
                            "components": document["components"]}, instance)


async def publish(http: httpx.AsyncClient, n: int) -> str:
    response = await http.post("/api/v1/channels/alerts/events",
                               json={"event": "rider_sos", "data": {"n": n}},
                               headers=bearer(PUBLISHER))
    assert response.status_code == 202
    return str(response.json()["id"])


async def test_stats_show_the_backlog_and_its_age(http: httpx.AsyncClient,
                                                  receiver: Receiver) -> None:
    receiver.gate.clear()
    await publish(http, 1)
    await receiver.wait_for(lambda r: len(r.requests) == 1)
    response = await http.get("/api/v1/outbox", headers=bearer(OPERATOR))
    assert response.status_code == 200
    stats = response.json()
    assert (stats["backlog"], stats["inFlight"], stats["deadLetters"]) == (1, 1, 0)
    assert stats["oldestAgeS"] >= 0
    assert stats["routes"] == ["n8n"]
    assert stats["lastError"] is None
    await assert_described(http, "OutboxStats", stats)
    receiver.gate.set()
    await receiver.wait_for(lambda r: len(r.acknowledged) == 1)


async def test_dead_letters_listed_and_replayed(
        http: httpx.AsyncClient, gateway: Gateway, receiver: Receiver) -> None:
    assert gateway.outbox is not None
    settled: asyncio.Queue[Settled] = asyncio.Queue()
    gateway.outbox.on_settled(settled.put_nowait)
    receiver.script(404, 410)
    first = await publish(http, 1)
    second = await publish(http, 2)
    for _ in range(2):
        outcome = (await asyncio.wait_for(settled.get(), 10)).outcome
        assert outcome is Outcome.PERMANENT
    listed = await http.get("/api/v1/outbox/dead-letters", headers=bearer(OPERATOR))
    letters = listed.json()["deadLetters"]
    assert {d["eventId"] for d in letters} == {first, second}
    await assert_described(http, "DeadLetters", listed.json())
    assert {d["lastStatus"] for d in letters} == {404, 410}
    assert all(d["attempts"] == 1 and d["body"]["event"] == "rider_sos" for d in letters)
    target = next(d for d in letters if d["eventId"] == first)
    replay = await http.post(f"/api/v1/outbox/dead-letters/{target['id']}/replay",
                             headers=bearer(OPERATOR))
    assert replay.status_code == 202
    await assert_described(http, "Replayed", replay.json())
    await receiver.wait_for(lambda r: r.acknowledged == [first])
    again = await http.post(f"/api/v1/outbox/dead-letters/{target['id']}/replay",
                            headers=bearer(OPERATOR))
    assert again.status_code == 404
    limited = await http.get("/api/v1/outbox/dead-letters?limit=1", headers=bearer(OPERATOR))
    assert [d["eventId"] for d in limited.json()["deadLetters"]] == [second]


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/v1/outbox"), ("GET", "/api/v1/outbox/dead-letters"),
    ("POST", "/api/v1/outbox/dead-letters/1/replay")])
async def test_the_outbox_scope_is_required(http: httpx.AsyncClient, method: str,
                                            path: str) -> None:
    assert (await http.request(method, path)).status_code == 401
    refused = await http.request(method, path, headers=bearer(PUBLISHER))
    assert refused.status_code == 403
    assert "'outbox' scope" in refused.json()["error"]["message"]


async def test_bad_ids_and_limits_are_400(http: httpx.AsyncClient) -> None:
    for path in ("/api/v1/outbox/dead-letters/abc/replay", "/api/v1/outbox/dead-letters/-1/replay"):
        assert (await http.post(path, headers=bearer(OPERATOR))).status_code == 400
    response = await http.get("/api/v1/outbox/dead-letters?limit=0", headers=bearer(OPERATOR))
    assert response.status_code == 400


async def test_with_the_outbox_off_the_endpoints_say_so(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(gateway_config(api=keys()))
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        response = await client.get("/api/v1/outbox", headers=bearer(OPERATOR))
    assert response.status_code == 404
    assert "outbox is off" in response.json()["error"]["message"]
