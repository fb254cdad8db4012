"""The web app's real client, npm socket.io-client, against the gateway."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.auth.support import PROJECT, KeyServer, firebase_claims, self_signed_pem, sign
from tests.conftest import DEV_SECRET, MakeGateway, MakeToken, gateway_config
from yellowbox_realtime.app import Gateway
from yellowbox_realtime.auth.dev import DEV_AUDIENCE, DEV_ISSUER
from yellowbox_realtime.errors import AckTimeout, Disconnected

from .nodeclient import NodeDriver

pytestmark = pytest.mark.interop

TRANSPORTS = {
    "websocket": {"transports": ["websocket"]},
    "polling": {"transports": ["polling"]},
    "upgrade": {"transports": ["polling", "websocket"]},
}
NO_RETRY: dict[str, Any] = {"reconnection": False}


async def connect(node: NodeDriver, gateway: Gateway, name: str, token: str | None,
                  **options: Any) -> dict[str, Any]:
    auth = {"token": token} if token is not None else {}
    await node.connect(name, gateway.url, auth=auth, **NO_RETRY, **options)
    return await node.expect(name, "connect")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_location_updates_on_every_transport(gateway: Gateway, node_driver: NodeDriver,
                                                   make_token: MakeToken,
                                                   transport: str) -> None:
    options = TRANSPORTS[transport]
    ops = await connect(node_driver, gateway, "ops", make_token("ops-1", "operations"),
                        **options)
    await connect(node_driver, gateway, "rider", make_token("rider-7", "rider"), **options)
    opened = await node_driver.expect("ops", "open")
    if transport == "upgrade":
        assert opened["transport"] == "polling"
        assert (await node_driver.expect("ops", "upgrade"))["transport"] == "websocket"
    else:
        assert opened["transport"] == ops["transport"] == transport
    assert await node_driver.emit("ops", "subscribe_rider_locations", ack=True) == [
        {"ok": True, "channel": "rider_locations"}]
    ack = await node_driver.emit("rider", "publish_location",
                                 {"latitude": 25.1972, "longitude": 55.2744, "heading": 45},
                                 ack=True)
    assert ack is not None
    assert ack[0]["ok"] is True
    update = await node_driver.expect("ops", "event", event="rider_location_update")
    assert update["args"] == [{"riderId": "rider-7", "latitude": 25.1972,
                               "longitude": 55.2744, "heading": 45,
                               "timestamp": ack[0]["timestamp"]}]


async def test_two_tabs_of_one_user_and_closing_one(gateway: Gateway, node_driver: NodeDriver,
                                                    make_token: MakeToken) -> None:
    token = make_token("ops-1", "operations")
    await connect(node_driver, gateway, "tab1", token, transports=["websocket"])
    await connect(node_driver, gateway, "tab2", token, transports=["polling"])
    gateway.to_user("ops-1").emit("assignment", {"orderId": "o-1"})
    for tab in ("tab1", "tab2"):
        record = await node_driver.expect(tab, "event", event="assignment")
        assert record["args"] == [{"orderId": "o-1"}]
    await node_driver.command("disconnect", name="tab1")
    await node_driver.expect("tab1", "disconnect")
    gateway.to_user("ops-1").emit("assignment", {"orderId": "o-2"})
    record = await node_driver.expect("tab2", "event", event="assignment")
    assert record["args"] == [{"orderId": "o-2"}]
    state = await node_driver.command("state", name="tab2")
    assert state["connected"] is True


async def test_a_rider_cannot_publish_as_another_rider(gateway: Gateway,
                                                       node_driver: NodeDriver,
                                                       make_token: MakeToken) -> None:
    await connect(node_driver, gateway, "ops", make_token("ops-1", "operations"))
    await node_driver.emit("ops", "subscribe_rider_locations", ack=True)
    await connect(node_driver, gateway, "rider", make_token("rider-1", "rider"))
    refused = await node_driver.emit("rider", "publish_location",
                                     {"riderId": "rider-2", "latitude": 1, "longitude": 1},
                                     ack=True)
    assert refused == [{"ok": False, "code": "validation_failed",
                        "error": "riderId must be the rider id of the connection's token "
                                 "(or left out)"}]
    await node_driver.emit("rider", "publish_location",
                           {"riderId": "rider-1", "latitude": 1, "longitude": 1}, ack=True)
    update = await node_driver.expect("ops", "event", event="rider_location_update")
    assert update["args"][0]["riderId"] == "rider-1"


async def test_finance_cannot_subscribe_to_rider_locations(gateway: Gateway,
                                                           node_driver: NodeDriver,
                                                           make_token: MakeToken) -> None:
    await connect(node_driver, gateway, "fin", make_token("fin-1", "finance"))
    assert await node_driver.emit("fin", "subscribe_rider_locations", ack=True) == [
        {"ok": False, "code": "forbidden",
         "error": "role 'finance' may not subscribe to 'rider_locations'"}]
    assert await node_driver.emit("fin", "subscribe_expense_updates", ack=True) == [
        {"ok": True, "channel": "expense_updates"}]
    # A rider cannot publish what riders do not publish, and the connection carries on.
    assert await node_driver.emit("fin", "publish_location", {"latitude": 1, "longitude": 1},
                                  ack=True) == [
        {"ok": False, "code": "forbidden",
         "error": "role 'finance' may not publish 'publish_location'"}]
    assert (await node_driver.command("state", name="fin"))["connected"] is True


def dev_token(**claims: Any) -> str:
    now = int(time.time())
    base = {"sub": "rider-1", "role": "rider", "iss": DEV_ISSUER, "aud": DEV_AUDIENCE,
            "iat": now, "exp": now + 600}
    return jwt.encode({**base, **claims}, DEV_SECRET, algorithm="HS256")


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (None, "authentication required"),
        (dev_token(exp=int(time.time()) - 3600), "token has expired"),
        (jwt.encode({"sub": "rider-1"}, "another-secret-that-is-long-enough-32b",
                    algorithm="HS256"), "token signature is invalid"),
        (dev_token(aud="someone-else"), "token audience is wrong"),
        (dev_token(iss="https://evil.example"), "token issuer is wrong"),
        ("not-a-token", "token is malformed"),
    ],
    ids=["missing", "expired", "forged", "wrong-audience", "wrong-issuer", "malformed"],
)
async def test_bad_dev_tokens_are_refused_with_a_clear_message(
        gateway: Gateway, node_driver: NodeDriver, token: str | None, message: str) -> None:
    await node_driver.connect("c", gateway.url, auth={"token": token} if token else {},
                              **NO_RETRY)
    error = await node_driver.expect("c", "connect_error")
    assert message in error["message"]
    # The server carries on for everyone else.
    assert gateway.stats()["sockets"]["/"] == 0


@pytest.fixture
async def firebase_gateway(make_gateway: MakeGateway) -> AsyncIterator[tuple[Gateway, Any]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server = KeyServer()
    await server.start()
    server.serve_certs({"k1": self_signed_pem(key)})
    gateway = await make_gateway(gateway_config(auth={
        "provider": "firebase", "firebase_project_id": PROJECT,
        "firebase_cert_url": server.url}))
    yield gateway, key
    await server.stop()


async def test_firebase_id_tokens_end_to_end(firebase_gateway: tuple[Gateway, Any],
                                             node_driver: NodeDriver) -> None:
    gateway, key = firebase_gateway
    now = time.time()
    good = sign(key, firebase_claims(now, sub="ops-9", role="operations"))
    connected = await connect(node_driver, gateway, "ok", good)
    assert connected["id"]
    assert await node_driver.emit("ok", "subscribe_rider_locations", ack=True) == [
        {"ok": True, "channel": "rider_locations"}]
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cases = {
        "expired": (sign(key, firebase_claims(now - 7200)), "token has expired"),
        "forged": (sign(other_key, firebase_claims(now)), "token signature is invalid"),
        "audience": (sign(key, firebase_claims(now, aud="other-project")),
                     "token audience is wrong"),
        "issuer": (sign(key, firebase_claims(now, iss="https://securetoken.google.com/x")),
                   "token issuer is wrong"),
    }
    for name, (token, message) in cases.items():
        await node_driver.connect(name, gateway.url, auth={"token": token}, **NO_RETRY)
        error = await node_driver.expect(name, "connect_error")
        assert message in error["message"], name
    assert (await node_driver.command("state", name="ok"))["connected"] is True


async def test_acks_both_ways_and_binary(gateway: Gateway, node_driver: NodeDriver,
                                         make_token: MakeToken) -> None:
    sockets: list[Any] = []
    gateway.main.on_connect(sockets.append)

    @gateway.main.on("reverse")
    def reverse(socket: Any, data: bytes, label: str) -> dict[str, Any]:
        return {"label": label, "data": data[::-1]}

    await connect(node_driver, gateway, "c", make_token("ops-1", "operations"),
                  transports=["polling"])
    await node_driver.command("on_ack", name="c", event="confirm", reply=[{"$bin": "AAEC"}, 7])
    answer = await sockets[0].call("confirm", {"orderId": "o-1"}, timeout=5)
    assert answer == [b"\x00\x01\x02", 7]
    reply = await node_driver.emit("c", "reverse", {"$bin": "AQID"}, "x", ack=True)
    assert reply == [{"label": "x", "data": {"$bin": "AwIB"}}]
    gateway.to_role("operations").emit("photo", b"\xff\x00")
    photo = await node_driver.expect("c", "event", event="photo")
    assert photo["args"] == [{"$bin": "/wA="}]


async def test_server_disconnect_and_token_refresh(make_gateway: MakeGateway,
                                                   node_driver: NodeDriver,
                                                   make_token: MakeToken) -> None:
    gateway = await make_gateway(gateway_config(auth={"refresh_grace_s": 0.5}))
    await connect(node_driver, gateway, "short", make_token("ops-1", "operations", ttl_s=1))
    await connect(node_driver, gateway, "renews", make_token("ops-2", "operations", ttl_s=1))
    await node_driver.expect("renews", "event", event="auth_refresh_required")
    renewed = await node_driver.emit("renews", "refresh_token",
                                     {"token": make_token("ops-2", "operations")}, ack=True)
    assert renewed is not None
    assert renewed[0]["ok"] is True
    wrong_user = await node_driver.emit("renews", "refresh_token",
                                        {"token": make_token("ops-3", "operations")}, ack=True)
    assert wrong_user == [{"ok": False, "code": "authentication_failed",
                           "error": "refresh_token: the new token is for another user"}]
    await node_driver.expect("short", "event", event="auth_refresh_required")
    await node_driver.expect("short", "event", event="auth_expired")
    gone = await node_driver.expect("short", "disconnect")
    assert gone["reason"] == "io server disconnect"
    assert (await node_driver.command("state", name="renews"))["connected"] is True


async def test_an_unanswered_server_call_times_out_and_is_forgotten(
        gateway: Gateway, node_driver: NodeDriver, make_token: MakeToken) -> None:
    sockets: list[Any] = []
    gateway.main.on_connect(sockets.append)
    await connect(node_driver, gateway, "c", make_token("ops-1", "operations"))
    await node_driver.command("on_ack", name="c", event="answered", reply=["yes"])
    # socket.io-client acks only when its handler calls back; nothing handles "unanswered".
    with pytest.raises(AckTimeout, match="no acknowledgement for 'unanswered'"):
        await sockets[0].call("unanswered", {"n": 1}, timeout=0.2)
    assert sockets[0].pending_acks == 0
    assert await sockets[0].call("answered", timeout=5) == ["yes"]
    assert sockets[0].pending_acks == 0


async def test_a_call_fails_at_once_when_the_client_goes(gateway: Gateway,
                                                         node_driver: NodeDriver,
                                                         make_token: MakeToken) -> None:
    sockets: list[Any] = []
    gateway.main.on_connect(sockets.append)
    await connect(node_driver, gateway, "c", make_token("ops-1", "operations"))
    pending = asyncio.ensure_future(sockets[0].call("unanswered", timeout=30))
    await node_driver.command("disconnect", name="c")
    with pytest.raises(Disconnected, match="socket closed before it answered"):
        await asyncio.wait_for(pending, 5)  # well before the call's own 30 s timeout


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_connection_state_recovery_replays_what_was_missed_exactly_once(
        gateway: Gateway, node_driver: NodeDriver, make_token: MakeToken,
        transport: str) -> None:
    token = make_token("ops-1", "operations")
    options: dict[str, Any] = {"reconnection": True, "reconnectionDelay": 50,
                               "reconnectionDelayMax": 100, **TRANSPORTS[transport]}
    await node_driver.connect("ops", gateway.url, auth={"token": token}, **options)
    first = await node_driver.expect("ops", "connect")
    assert first["recovered"] is False
    assert await node_driver.emit("ops", "subscribe_rider_locations", ack=True) == [
        {"ok": True, "channel": "rider_locations"}]
    broadcast = gateway.to("rider_locations")
    broadcast.emit("rider_location_update", {"n": 0})
    seen = await node_driver.expect("ops", "event", event="rider_location_update")
    assert seen["args"] == [{"n": 0}]
    assert seen["offset"] is not None

    # The network drops; what is published meanwhile never reaches the client.
    (socket,) = gateway.main.sockets.values()
    socket.session.close("transport close", notify=False)
    for n in (1, 2, 3):
        broadcast.emit("rider_location_update", {"n": n})
    await node_driver.expect("ops", "disconnect")

    second = await node_driver.expect("ops", "connect")
    assert second["recovered"] is True
    assert second["id"] == first["id"]
    broadcast.emit("rider_location_update", {"n": 4})
    replayed = [(await node_driver.expect("ops", "event", event="rider_location_update"))
                ["args"][0]["n"] for _ in range(4)]
    assert replayed == [1, 2, 3, 4]
    # Exactly once: a marker sent after everything else is the next event.
    gateway.to_user("ops-1").emit("marker")
    await node_driver.expect("ops", "event", event="marker")
    assert not [r for r in node_driver.records("ops") if r.get("type") == "event"
                and r.get("event") == "rider_location_update"][5:]


async def test_no_recovery_when_what_was_missed_is_gone(
        make_gateway: MakeGateway, node_driver: NodeDriver, make_token: MakeToken) -> None:
    gateway = await make_gateway(gateway_config(history={
        "channel_max_entries": {"rider_locations": 2}}))
    token = make_token("ops-1", "operations")
    await node_driver.connect("ops", gateway.url, auth={"token": token}, reconnection=True,
                              reconnectionDelay=50, reconnectionDelayMax=100,
                              transports=["websocket"])
    first = await node_driver.expect("ops", "connect")
    await node_driver.emit("ops", "subscribe_rider_locations", ack=True)
    broadcast = gateway.to("rider_locations")
    broadcast.emit("rider_location_update", {"n": 0})
    await node_driver.expect("ops", "event", event="rider_location_update")
    (socket,) = gateway.main.sockets.values()
    socket.session.close("transport close", notify=False)
    for n in (1, 2, 3):  # one more than the channel keeps
        broadcast.emit("rider_location_update", {"n": n})
    await node_driver.expect("ops", "disconnect")
    second = await node_driver.expect("ops", "connect")
    assert second["recovered"] is False
    assert second["id"] != first["id"]
