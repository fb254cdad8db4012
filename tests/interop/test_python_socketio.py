"""The python-socketio client against the gateway: the seed's events end to end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import socketio

from tests.conftest import MakeGateway, MakeToken
from tests.interop.offsets import split_offset
from yellowbox_realtime.app import Gateway

pytestmark = pytest.mark.interop

TRANSPORTS = [["websocket"], ["polling"], ["polling", "websocket"]]


class Client:
    """A python-socketio AsyncClient that records every event it receives."""

    def __init__(self, namespace: str = "/") -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.connect_errors: asyncio.Queue[Any] = asyncio.Queue()
        self.sio.on("*", self._record, namespace=namespace)
        self.sio.on("connect_error", self._connect_error, namespace=namespace)

    async def _record(self, event: str, *all_args: Any) -> None:
        args, _ = split_offset(list(all_args))
        await self.events.put((event, args[0] if len(args) == 1 else args))

    async def _connect_error(self, data: Any) -> None:
        await self.connect_errors.put(data)

    async def next_event(self, name: str, timeout: float = 5.0) -> Any:
        while True:
            event, data = await asyncio.wait_for(self.events.get(), timeout)
            if event == name:
                return data


Connect = Callable[..., Awaitable[Client]]


@pytest.fixture
async def connect(gateway: Gateway) -> AsyncIterator[Connect]:
    clients: list[Client] = []

    async def make(token: str | None, transports: list[str] | None = None,
                   namespace: str = "/") -> Client:
        client = Client()
        clients.append(client)
        await client.sio.connect(gateway.url, auth={"token": token} if token else None,
                                 transports=transports or ["websocket"],
                                 namespaces=[namespace], wait_timeout=5)
        return client

    yield make
    for client in clients:
        await client.sio.disconnect()


@pytest.mark.parametrize("transports", TRANSPORTS, ids=lambda t: "+".join(t))
async def test_rider_location_reaches_operations(connect: Connect, make_token: MakeToken,
                                                 transports: list[str]) -> None:
    ops = await connect(make_token("ops-1", "operations"), transports)
    rider = await connect(make_token("rider-1", "rider"), transports)
    assert await ops.sio.call("subscribe_rider_locations", timeout=5) == {
        "ok": True, "channel": "rider_locations"}
    ack = await rider.sio.call("publish_location",
                               {"latitude": 25.2048, "longitude": 55.2708, "speed": 7.5},
                               timeout=5)
    assert ack["ok"] is True
    update = await ops.next_event("rider_location_update")
    assert update["riderId"] == "rider-1"
    assert update["latitude"] == 25.2048
    assert update["speed"] == 7.5
    assert update["timestamp"] == ack["timestamp"]


async def test_finance_cannot_subscribe_to_rider_locations(connect: Connect,
                                                           make_token: MakeToken) -> None:
    finance = await connect(make_token("fin-1", "finance"))
    answer = await finance.sio.call("subscribe_rider_locations", timeout=5)
    assert answer == {"ok": False, "code": "forbidden",
                      "error": "role 'finance' may not subscribe to 'rider_locations'"}
    assert await finance.sio.call("subscribe_expense_updates", timeout=5) == {
        "ok": True, "channel": "expense_updates"}


async def test_rider_cannot_publish_as_another_rider(connect: Connect,
                                                     make_token: MakeToken) -> None:
    ops = await connect(make_token("ops-1", "operations"))
    await ops.sio.call("subscribe_rider_locations", timeout=5)
    rider = await connect(make_token("rider-1", "rider"))
    answer = await rider.sio.call("publish_location", {"latitude": 1, "longitude": 2,
                                                       "riderId": "rider-2"}, timeout=5)
    assert answer["ok"] is False
    assert "riderId" in answer["error"]
    await rider.sio.call("publish_location", {"latitude": 1, "longitude": 2}, timeout=5)
    assert (await ops.next_event("rider_location_update"))["riderId"] == "rider-1"


async def test_bad_input_gets_an_error_and_the_connection_carries_on(
        connect: Connect, make_token: MakeToken) -> None:
    rider = await connect(make_token("rider-1", "rider"))
    for payload, reason in [({"latitude": 200, "longitude": 0}, "latitude must be between"),
                            ("not an object", "must be an object"),
                            ({"latitude": 1}, "longitude is required")]:
        answer = await rider.sio.call("publish_location", payload, timeout=5)
        assert answer["ok"] is False
        assert reason in answer["error"]
    await rider.sio.emit("publish_location", {"latitude": "x", "longitude": 0})
    error = await rider.next_event("gateway_error")
    assert error == {"event": "publish_location", "code": "validation_failed",
                     "message": "latitude must be a number"}
    answer = await rider.sio.call("no_such_event", timeout=5)
    assert answer == {"ok": False, "code": "validation_failed",
                      "error": "unknown event 'no_such_event'"}
    assert (await rider.sio.call("publish_location", {"latitude": 1, "longitude": 2},
                                 timeout=5))["ok"] is True


async def test_rate_limit_per_rider(make_gateway: MakeGateway, make_token: MakeToken) -> None:
    from tests.conftest import gateway_config

    gateway = await make_gateway(gateway_config(
        riders={"location_rate_per_s": 0.001, "location_burst": 2}))
    client = Client()
    await client.sio.connect(gateway.url, auth={"token": make_token("r1")},
                             transports=["websocket"], wait_timeout=5)
    try:
        answers = [await client.sio.call("publish_location", {"latitude": 1, "longitude": 2},
                                         timeout=5) for _ in range(3)]
    finally:
        await client.sio.disconnect()
    assert [a["ok"] for a in answers] == [True, True, False]
    assert "too many location updates" in answers[2]["error"]


async def test_user_message_reaches_every_tab(gateway: Gateway, connect: Connect,
                                              make_token: MakeToken) -> None:
    tab1 = await connect(make_token("ops-1", "operations"))
    tab2 = await connect(make_token("ops-1", "operations"), ["polling"])
    other = await connect(make_token("ops-2", "operations"))
    gateway.to_user("ops-1").emit("notice", {"text": "hello"})
    assert await tab1.next_event("notice") == {"text": "hello"}
    assert await tab2.next_event("notice") == {"text": "hello"}
    await tab1.sio.disconnect()
    gateway.to_user("ops-1").emit("notice", {"text": "again"})
    assert await tab2.next_event("notice") == {"text": "again"}
    gateway.to_role("operations").emit("shift", {"n": 1})
    assert await other.next_event("shift") == {"n": 1}
    assert other.events.empty() or (await other.events.get())[0] != "notice"


async def test_expense_status_change_broadcast(gateway: Gateway, connect: Connect,
                                               make_token: MakeToken) -> None:
    finance = await connect(make_token("fin-1", "finance"))
    await finance.sio.call("subscribe_expense_updates", timeout=5)
    assert gateway.operations is not None
    _, sent = await gateway.operations.change_expense(
        {"expenseId": "e-1", "status": "approved", "amount": 120.5}, None)
    assert await finance.next_event("expense_status_change") == {
        "expenseId": "e-1", "status": "approved", "amount": 120.5, "currency": "AED",
        "updatedAt": sent["updatedAt"]}
    await finance.sio.call("unsubscribe_expense_updates", timeout=5)
    await gateway.operations.change_expense(
        {"expenseId": "e-2", "status": "rejected", "amount": 1}, None)
    # Events on one connection arrive in order: the marker comes after anything before it.
    gateway.to_user("fin-1").emit("marker", 1)
    assert await finance.events.get() == ("marker", 1)


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (None, "authentication required"),
        ("garbage", "malformed"),
    ],
)
async def test_bad_tokens_are_refused_with_a_clear_message(gateway: Gateway, token: str | None,
                                                           message: str) -> None:
    client = Client()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.sio.connect(gateway.url, auth={"token": token} if token else None,
                                 transports=["websocket"], wait_timeout=5)
    error = await asyncio.wait_for(client.connect_errors.get(), 5)
    assert message in error["message"]


async def test_server_to_client_ack_and_binary(gateway: Gateway, connect: Connect,
                                               make_token: MakeToken) -> None:
    sockets: asyncio.Queue[Any] = asyncio.Queue()
    gateway.main.on_connect(sockets.put_nowait)

    @gateway.main.on("echo_bytes")
    def echo_bytes(socket: Any, data: bytes) -> tuple[str, bytes]:
        return "got", data[::-1]

    client = await connect(make_token("ops-1", "operations"))
    client.sio.on("question", lambda payload: {"answer": payload["n"] * 2})
    server_socket = await asyncio.wait_for(sockets.get(), 5)
    assert await server_socket.call("question", {"n": 21}, timeout=5) == [{"answer": 42}]
    reply = await client.sio.call("echo_bytes", b"\x00\x01\x02", timeout=5)
    assert reply == ("got", b"\x02\x01\x00") or reply == ["got", b"\x02\x01\x00"]


async def test_custom_namespace_with_its_own_handlers(gateway: Gateway,
                                                      make_token: MakeToken) -> None:
    orders = gateway.of("/orders")
    joined: asyncio.Queue[str] = asyncio.Queue()

    @orders.on_connect
    def on_connect(socket: Any) -> None:
        socket.join("depot:marina")
        joined.put_nowait(socket.uid)

    @orders.on("accept_order")
    async def accept(socket: Any, order: dict[str, Any]) -> dict[str, Any]:
        orders.to("depot:marina").emit("order_taken", {"orderId": order["id"],
                                                       "by": socket.uid})
        return {"ok": True}

    client = Client("/orders")
    await client.sio.connect(gateway.url, auth={"token": make_token("rider-1")},
                             namespaces=["/orders"], transports=["websocket"], wait_timeout=5)
    try:
        assert await asyncio.wait_for(joined.get(), 5) == "rider-1"
        ack = await client.sio.call("accept_order", {"id": "o-9"}, namespace="/orders",
                                    timeout=5)
        assert ack == {"ok": True}
        assert await client.next_event("order_taken") == {"orderId": "o-9", "by": "rider-1"}
        # Rooms are per namespace: the main namespace's room of that name is another channel.
        gateway.to("depot:marina").emit("order_taken", {})
    finally:
        await client.sio.disconnect()


async def test_unknown_namespace_is_refused(gateway: Gateway, make_token: MakeToken) -> None:
    client = Client("/nope")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.sio.connect(gateway.url, auth={"token": make_token("rider-1")},
                                 namespaces=["/nope"], transports=["websocket"], wait_timeout=5)
    error = await asyncio.wait_for(client.connect_errors.get(), 5)
    assert error["message"] == "Invalid namespace"


async def test_handler_failures_are_reported_without_leaking_details(
        gateway: Gateway, connect: Connect, make_token: MakeToken) -> None:
    @gateway.main.on("one_arg")
    def one_arg(socket: Any, value: int) -> int:
        return value + 1

    @gateway.main.on("buggy")
    async def buggy(socket: Any, payload: dict[str, Any]) -> None:
        payload["missing"]  # a bug: KeyError

    @gateway.main.on("type_bug")
    def type_bug(socket: Any, value: int) -> int:
        return value + "1"  # type: ignore[operator]  # a bug inside a well-called handler

    client = await connect(make_token("ops-1", "operations"))
    assert await client.sio.call("one_arg", 1, timeout=5) == 2
    assert await client.sio.call("one_arg", (1, 2), timeout=5) == {
        "ok": False, "code": "validation_failed",
        "error": "wrong number of arguments for 'one_arg'"}
    internal = {"ok": False, "code": "internal_error", "error": "internal error"}
    assert await client.sio.call("buggy", {}, timeout=5) == internal
    assert await client.sio.call("type_bug", 1, timeout=5) == internal
    assert await client.sio.call("one_arg", 41, timeout=5) == 42



async def test_the_policy_table_comes_from_configuration(make_gateway: MakeGateway,
                                                         make_token: MakeToken) -> None:
    from tests.conftest import gateway_config

    gateway = await make_gateway(gateway_config(
        policy={"subscribe": {"rider_locations": ["finance"]}}))
    client = Client()
    await client.sio.connect(gateway.url, auth={"token": make_token("fin-1", "finance")},
                             transports=["websocket"], wait_timeout=5)
    try:
        assert await client.sio.call("subscribe_rider_locations", timeout=5) == {
            "ok": True, "channel": "rider_locations"}
        assert await client.sio.call("subscribe_expense_updates", timeout=5) == {
            "ok": True, "channel": "expense_updates"}  # the other defaults stay
    finally:
        await client.sio.disconnect()


async def test_configured_extra_fields_reach_subscribers_and_a_foreign_rider_id_is_refused(
        make_gateway: MakeGateway, make_token: MakeToken) -> None:
    from tests.conftest import gateway_config

    gateway = await make_gateway(gateway_config(
        riders={"extra_fields": {"battery": "integer", "appVersion": "string"}},
        fleet={"conflate_interval_s": 0.05}))
    ops, rider = Client(), Client()
    try:
        for client, token in ((ops, make_token("ops-1", "operations")),
                              (rider, make_token("rider-1"))):
            await client.sio.connect(gateway.url, auth={"token": token},
                                     transports=["websocket"], wait_timeout=5)
        assert (await ops.sio.call("subscribe_rider_locations", timeout=5))["ok"] is True
        assert (await ops.sio.call("subscribe_fleet", timeout=5))["ok"] is True
        here = {"latitude": 25.2048, "longitude": 55.2708}

        foreign = await rider.sio.call("publish_location",
                                       {**here, "riderId": "rider-2", "battery": 80}, timeout=5)
        assert (foreign["ok"], foreign["code"]) == (False, "validation_failed")
        assert "riderId" in foreign["error"]
        misspelt = await rider.sio.call("publish_location", {**here, "batery": 80}, timeout=5)
        assert misspelt["error"] == "unknown location field(s): 'batery'"
        flood = {**here, **{f"{i:04d}" + "x" * 200: i for i in range(2000)}}
        flooded = await rider.sio.call("publish_location", flood, timeout=5)
        assert flooded["error"].endswith(" and 1995 more")
        assert len(flooded["error"]) < 300

        ack = await rider.sio.call("publish_location",
                                   {**here, "riderId": "rider-1", "battery": 80,
                                    "appVersion": "2.4.1"}, timeout=5)
        assert ack["ok"] is True
        # The first update subscribers see is the accepted fix: the refused ones went nowhere.
        update = await ops.next_event("rider_location_update")
        assert (update["riderId"], update["timestamp"]) == ("rider-1", ack["timestamp"])
        assert update["extra"] == {"battery": 80, "appVersion": "2.4.1"}
        while True:
            batch = await ops.next_event("fleet_update")
            moved = [r for r in batch.get("riders", []) if r["riderId"] == "rider-1"]
            if batch["type"] == "batch" and moved:
                break
        assert moved[0]["extra"] == {"battery": 80, "appVersion": "2.4.1"}
        # An SOS is not lost to the same fields either.
        sos = await rider.sio.call("rider_sos", {**here, "riderId": "rider-1", "battery": 80},
                                   timeout=5)
        assert sos["ok"] is True
    finally:
        await ops.sio.disconnect()
        await rider.sio.disconnect()
