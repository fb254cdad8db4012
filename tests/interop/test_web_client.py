"""The web app's client package (clients/web, built) against the real gateway."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest

from tests.conftest import MakeGateway, MakeToken, gateway_config
from yellowbox_realtime.app import Gateway
from yellowbox_realtime.server.namespaces import Socket

from .nodeclient import Record
from .web_client_driver import WebClientDriver, web_client_missing_reason

pytestmark = pytest.mark.interop

# Short retry delays so a reconnect takes milliseconds, not the production second.
FAST: dict[str, Any] = {"reconnect": {"initialDelayMs": 20, "maxDelayMs": 200},
                        "ackTimeoutMs": 5000}


@pytest.fixture
async def web() -> AsyncIterator[WebClientDriver]:
    reason = web_client_missing_reason()
    if reason is not None:
        pytest.skip(reason)
    driver = await WebClientDriver.start()
    try:
        yield driver
    finally:
        await driver.close()
    assert driver.errors == []


def track_sockets(gateway: Gateway) -> dict[str, Socket]:
    """Every socket the gateway accepts, by id, so a test can act on the server side."""
    sockets: dict[str, Socket] = {}
    gateway.main.on_connect(lambda socket: sockets.__setitem__(socket.id, socket))
    return sockets


def status_is(status: str) -> Any:
    return lambda record: record["status"] == status


def expiry(token: str) -> int:
    exp: int = jwt.decode(token, options={"verify_signature": False})["exp"]
    return exp


def types(web: WebClientDriver, name: str, wanted: set[str]) -> list[Record]:
    return [r for r in web.records(name) if r["type"] in wanted]


async def start(web: WebClientDriver, gateway: Gateway, name: str, token: str,
                **options: Any) -> Record:
    """A client that always gets ``token``; returns its first connect record."""
    web.serve_tokens(name, lambda _force: token)
    await web.create(name, gateway.url, **{**FAST, **options})
    return await web.expect(name, "connect")


async def test_connects_with_a_token_getter_and_follows_channels(
        gateway: Gateway, web: WebClientDriver, make_token: MakeToken) -> None:
    web.serve_tokens("ops", lambda _force: make_token("ops-1", "operations"))
    await web.create("ops", gateway.url, **FAST)
    await web.expect("ops", "status", predicate=status_is("connecting"))
    await web.expect("ops", "connect")
    await web.expect("ops", "status", predicate=status_is("connected"))
    assert web.token_requests("ops") == [False]
    assert (await web.subscribe("ops", "rider_locations"))["ok"] is True
    assert (await web.subscribe("ops", "expense_updates"))["ok"] is True

    await start(web, gateway, "rider", make_token("rider-1", "rider"))
    published = await web.publish("rider", {"latitude": 25.2, "longitude": 55.27, "speed": 8})
    assert published["ok"] is True
    assert published["ack"]["ok"] is True
    update = await web.expect("ops", "event", event="rider_location_update")
    assert update["args"] == [{"riderId": "rider-1", "latitude": 25.2, "longitude": 55.27,
                               "speed": 8, "timestamp": published["ack"]["timestamp"]}]

    assert gateway.operations is not None
    await gateway.operations.change_expense(
        {"expenseId": "e-1", "status": "approved", "amount": 20}, None)
    expense = await web.expect("ops", "event", event="expense_status_change")
    (data,) = expense["args"]
    assert (data["expenseId"], data["status"], data["amount"]) == ("e-1", "approved", 20)


async def test_the_servers_refusals_reach_the_caller(
        gateway: Gateway, web: WebClientDriver, make_token: MakeToken) -> None:
    await start(web, gateway, "fin", make_token("fin-1", "finance"))
    refused = await web.subscribe("fin", "rider_locations")
    assert refused == {"id": refused["id"], "ok": False, "kind": "refused",
                       "error": "role 'finance' may not subscribe to 'rider_locations'"}
    assert (await web.subscribe("fin", "expense_updates"))["ok"] is True
    assert (await web.state("fin"))["channels"] == ["expense_updates"]

    await start(web, gateway, "rider", make_token("rider-1", "rider"))
    bad = await web.publish("rider", {"latitude": 91, "longitude": 55})
    assert (bad["ok"], bad["kind"], bad["error"]) == (
        False, "refused", "latitude must be between -90 and 90")

    await web.command("close", name="rider")
    await web.expect("rider", "status", predicate=status_is("disconnected"))
    closed = await web.publish("rider", {"latitude": 25, "longitude": 55})
    assert (closed["ok"], closed["kind"]) == (False, "closed")


async def test_a_refused_token_is_replaced_by_a_forced_refresh(
        gateway: Gateway, web: WebClientDriver, make_token: MakeToken) -> None:
    good = make_token("ops-1", "operations")
    web.serve_tokens("ops", lambda force: good if force else "stale.cached.token")
    await web.create("ops", gateway.url, **FAST)
    error = await web.expect("ops", "client_error")
    assert error["kind"] == "refused"
    assert "token" in error["message"]
    await web.expect("ops", "status", predicate=status_is("reconnecting"))
    await web.expect("ops", "connect")
    assert web.token_requests("ops") == [False, True]
    assert (await web.state("ops"))["status"] == "connected"


async def test_a_failing_token_getter_is_retried(
        gateway: Gateway, web: WebClientDriver, make_token: MakeToken) -> None:
    calls = itertools.count()
    token = make_token("ops-1", "operations")

    def source(_force: bool) -> str:
        if next(calls) == 0:
            raise RuntimeError("network down")
        return token

    web.serve_tokens("ops", source)
    await web.create("ops", gateway.url, **FAST)
    error = await web.expect("ops", "client_error")
    assert (error["kind"], error["message"]) == ("token", "getToken(false) failed: network down")
    await web.expect("ops", "connect")
    assert web.token_requests("ops") == [False, False]


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_a_dropped_transport_reconnects_and_resubscribes(
        gateway: Gateway, web: WebClientDriver, make_token: MakeToken, transport: str) -> None:
    sockets = track_sockets(gateway)
    first = await start(web, gateway, "ops", make_token("ops-1", "operations"),
                        transports=[transport])
    assert (await web.subscribe("ops", "rider_locations"))["ok"] is True
    await web.expect("ops", "subscribed")

    # The server loses the connection without a word, as a dropped network would.
    sockets[first["id"]].session.close("test: connection dropped", notify=False)
    gone = await web.expect("ops", "disconnect")
    assert gone["reason"] in {"transport close", "transport error"}
    await web.expect("ops", "status", predicate=status_is("reconnecting"))
    second = await web.expect("ops", "connect")
    assert second["id"] != first["id"]
    assert second["recovered"] is False
    resubscribed = await web.expect("ops", "subscribed")
    assert resubscribed["channel"] == "rider_locations"
    assert "rider_locations" in sockets[second["id"]].rooms

    update = {"riderId": "rider-9", "latitude": 25.0, "longitude": 55.0,
              "timestamp": "2025-01-01T00:00:00Z"}
    gateway.to("rider_locations").emit("rider_location_update", update)
    received = await web.expect("ops", "event", event="rider_location_update")
    assert received["args"] == [update]
    # A lost transport says nothing against the token: no forced refresh.
    assert web.token_requests("ops") == [False, False]


async def test_a_server_disconnect_reconnects_with_a_fresh_token(
        gateway: Gateway, web: WebClientDriver, make_token: MakeToken) -> None:
    sockets = track_sockets(gateway)
    web.serve_tokens("ops", lambda _force: make_token("ops-1", "operations"))
    await web.create("ops", gateway.url, **FAST)
    first = await web.expect("ops", "connect")
    assert (await web.subscribe("ops", "expense_updates"))["ok"] is True
    await web.expect("ops", "subscribed")

    sockets[first["id"]].disconnect()
    gone = await web.expect("ops", "disconnect")
    assert gone["reason"] == "io server disconnect"
    second = await web.expect("ops", "connect")
    assert second["id"] != first["id"]
    assert web.token_requests("ops") == [False, True]
    await web.expect("ops", "subscribed")

    assert gateway.operations is not None
    await gateway.operations.change_expense(
        {"expenseId": "e-2", "status": "paid", "amount": 5}, None)
    received = await web.expect("ops", "event", event="expense_status_change")
    assert [(a["expenseId"], a["status"]) for a in received["args"]] == [("e-2", "paid")]


async def expire_control(web: WebClientDriver, gateway: Gateway, token: str) -> None:
    """A client with ``token`` that never gets another: wait until the server evicts it.

    It proves that the server's expiry deadline for ``token`` (plus the grace period) has
    passed, so the tests need not sleep to get past it.
    """
    def no_new_token(force: bool) -> str:
        if force:
            raise RuntimeError("no new token")
        return token

    web.serve_tokens("control", no_new_token)
    await web.create("control", gateway.url, proactiveRefresh=False, **FAST)
    await web.expect("control", "connect")
    await web.expect("control", "event", event="auth_expired", timeout=15)
    gone = await web.expect("control", "disconnect")
    assert gone["reason"] == "io server disconnect"


async def test_tokens_are_refreshed_before_they_expire(
        make_gateway: MakeGateway, web: WebClientDriver, make_token: MakeToken) -> None:
    gateway = await make_gateway(gateway_config(auth={"refresh_grace_s": 0.5}))
    sockets = track_sockets(gateway)
    # exp is whole seconds: a 3 s token has 2-3 s left, and the refresh is due 2 s early.
    short, renewed = make_token("ops-1", "operations", ttl_s=3), make_token("ops-1", "operations")
    web.serve_tokens("ops", lambda force: renewed if force else short)
    await web.create("ops", gateway.url, refreshMarginMs=2000, **FAST)
    first = await web.expect("ops", "connect")
    refreshed = await web.expect("ops", "token_refreshed")
    assert refreshed["expiresAt"] == expiry(renewed)
    assert web.token_requests("ops") == [False, True]
    credentials = sockets[first["id"]].credentials
    assert credentials is not None
    assert credentials.expires_at == expiry(renewed)

    # The control's token outlives the short one by a second: once the server has evicted
    # it, the short token's deadline has passed too.
    await expire_control(web, gateway, make_token("ops-2", "operations", ttl_s=4))
    state = await web.state("ops")
    assert (state["connected"], state["socketId"]) == (True, first["id"])
    assert types(web, "ops", {"disconnect", "event"}) == []


async def test_auth_refresh_required_is_answered(
        make_gateway: MakeGateway, web: WebClientDriver, make_token: MakeToken) -> None:
    gateway = await make_gateway(gateway_config(auth={"refresh_grace_s": 1.0}))
    sockets = track_sockets(gateway)
    short, renewed = make_token("ops-1", "operations", ttl_s=1), make_token("ops-1", "operations")
    web.serve_tokens("ops", lambda force: renewed if force else short)
    await web.create("ops", gateway.url, proactiveRefresh=False, **FAST)
    first = await web.expect("ops", "connect")
    asked = await web.expect("ops", "event", event="auth_refresh_required")
    assert asked["args"] == [{"reason": "token expired", "graceSeconds": 1.0}]
    refreshed = await web.expect("ops", "token_refreshed")
    assert refreshed["expiresAt"] == expiry(renewed)
    assert web.token_requests("ops") == [False, True]
    credentials = sockets[first["id"]].credentials
    assert credentials is not None
    assert credentials.expires_at == expiry(renewed)

    await expire_control(web, gateway, make_token("ops-2", "operations", ttl_s=2))
    state = await web.state("ops")
    assert (state["connected"], state["socketId"]) == (True, first["id"])
    assert types(web, "ops", {"disconnect"}) == []
    assert [r["event"] for r in types(web, "ops", {"event"})] == ["auth_refresh_required"]


async def test_a_recovered_reconnect_keeps_subscriptions_and_misses_nothing(
        gateway: Gateway, web: WebClientDriver, make_token: MakeToken) -> None:
    sockets = track_sockets(gateway)
    first = await start(web, gateway, "ops", make_token("ops-1", "operations"),
                        transports=["websocket"])
    assert (await web.subscribe("ops", "rider_locations"))["ok"] is True
    await web.expect("ops", "subscribed")
    broadcast = gateway.to("rider_locations")
    broadcast.emit("rider_location_update", {"n": 0})
    await web.expect("ops", "event", event="rider_location_update")

    # A recoverable drop: what is published meanwhile comes back with the recovered session.
    sockets[first["id"]].session.close("transport close", notify=False)
    for n in (1, 2):
        broadcast.emit("rider_location_update", {"n": n})
    await web.expect("ops", "disconnect")
    second = await web.expect("ops", "connect")
    assert second["recovered"] is True
    assert second["id"] == first["id"]
    got = [(await web.expect("ops", "event", event="rider_location_update"))["args"][0]["n"]
           for _ in range(2)]
    assert got == [1, 2]
    # Recovered: the subscription was restored by the server, not sent again.
    assert not [r for r in web.records("ops") if r.get("type") == "subscribed"][1:]
