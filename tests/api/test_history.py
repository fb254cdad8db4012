"""History reads: what a channel kept, from a position, in pages, and when some is gone."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.apiclients import api_section, bearer
from tests.conftest import MakeGateway, gateway_config
from yellowbox_realtime.app import Gateway


async def publish(http: httpx.AsyncClient, channel: str, event: str, data: Any) -> str:
    response = await http.post(f"/api/v1/channels/{channel}/events",
                               json={"event": event, "data": data}, headers=bearer())
    assert response.status_code == 202
    identifier = response.json()["id"]
    assert isinstance(identifier, str)
    return identifier


async def history(http: httpx.AsyncClient, channel: str, **params: Any) -> dict[str, Any]:
    response = await http.get(f"/api/v1/channels/{channel}/history", params=params,
                              headers=bearer())
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body, dict)
    return body


async def test_history_returns_what_the_channel_published_in_order(
        http: httpx.AsyncClient) -> None:
    ids = [await publish(http, "alerts", "geofence_breach", {"n": n}) for n in range(3)]
    await publish(http, "dashboard", "metrics", {"other": True})
    body = await history(http, "alerts")
    assert [e["id"] for e in body["entries"]] == ids
    assert [e["data"] for e in body["entries"]] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert {e["event"] for e in body["entries"]} == {"geofence_breach"}
    assert all(e["publishedAt"].endswith("Z") for e in body["entries"])
    assert body["complete"] is True
    assert body["more"] is False
    # The position is the stream's (the dashboard event came after the alerts).
    assert body["position"].split(":")[0] == ids[0].split(":")[0]
    assert int(body["position"].split(":")[1]) == int(ids[-1].split(":")[1]) + 1


async def test_since_returns_only_what_came_after(http: httpx.AsyncClient) -> None:
    ids = [await publish(http, "alerts", "a", n) for n in range(4)]
    body = await history(http, "alerts", since=ids[1])
    assert [e["data"] for e in body["entries"]] == [2, 3]
    assert body["complete"] is True
    caught_up = await history(http, "alerts", since=body["position"])
    assert caught_up == {"entries": [], "complete": True, "position": body["position"],
                         "more": False}


async def test_limit_pages_through_the_history(http: httpx.AsyncClient) -> None:
    for n in range(5):
        await publish(http, "alerts", "a", n)
    seen: list[int] = []
    since: str | None = None
    pages = 0
    while True:
        body = await history(http, "alerts", limit=2, **({"since": since} if since else {}))
        pages += 1
        seen += [e["data"] for e in body["entries"]]
        since = body["position"]
        if not body["more"]:
            break
    assert seen == [0, 1, 2, 3, 4]
    assert pages == 3


async def test_history_says_when_some_of_it_is_gone(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(gateway_config(api=api_section(),
                                                history={"max_entries": 2}))
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        ids = [await publish(http, "alerts", "a", n) for n in range(4)]
        trimmed = await history(http, "alerts")
        assert [e["data"] for e in trimmed["entries"]] == [2, 3]
        assert trimmed["complete"] is False
        # From a position still covered, nothing is missing.
        covered = await history(http, "alerts", since=ids[1])
        assert [e["data"] for e in covered["entries"]] == [2, 3]
        assert covered["complete"] is True
        behind = await history(http, "alerts", since=ids[0])
        assert behind["complete"] is False
        # A position from another epoch (an earlier run) cannot be trusted either.
        other_epoch = await history(http, "alerts", since="earlier:1")
        assert other_epoch["complete"] is False
        assert [e["data"] for e in other_epoch["entries"]] == [2, 3]


async def test_history_includes_what_socketio_emitters_published(
        api_gateway: Gateway, http: httpx.AsyncClient) -> None:
    api_gateway.to("alerts").emit("sos", {"riderId": "r-1"}, b"\x00\xff")
    body = await history(http, "alerts")
    assert [(e["event"], e["data"]) for e in body["entries"]] == [
        ("sos", [{"riderId": "r-1"}, {"base64": "AP8="}])]


@pytest.mark.parametrize("params", [{"since": "nocolon"}, {"since": "e:-1"},
                                    {"since": "e:01"}, {"since": "bad epoch:1"},
                                    {"limit": "0"}, {"limit": "1001"}, {"limit": "ten"},
                                    {"limit": "1.5"}])
async def test_bad_query_parameters_are_refused(http: httpx.AsyncClient,
                                                params: dict[str, str]) -> None:
    response = await http.get("/api/v1/channels/alerts/history", params=params,
                              headers=bearer())
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
