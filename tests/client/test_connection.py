"""The Python client against the real in-process gateway."""

from __future__ import annotations

import asyncio
import random
import socket as stdlib_socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.conftest import MakeGateway, MakeToken, gateway_config
from tests.interop.offsets import split_offset
from yellowbox_realtime.app import Gateway
from yellowbox_realtime.client import Backoff, Client
from yellowbox_realtime.client.session import token_expiry
from yellowbox_realtime.errors import ConnectRefused, Disconnected, RequestRefused
from yellowbox_realtime.server.namespaces import Socket

TIMEOUT = 5.0


class Tokens:
    """A token getter that mints development tokens and remembers how it was asked."""

    def __init__(self, make_token: MakeToken, uid: str, role: str, ttl_s: int = 3600,
                 refreshed_ttl_s: int = 3600) -> None:
        self.make_token, self.uid, self.role = make_token, uid, role
        self.ttl_s, self.refreshed_ttl_s = ttl_s, refreshed_ttl_s
        self.calls: list[bool] = []
        self.issued: list[str] = []
        self.bad = False

    async def __call__(self, force_refresh: bool) -> str:
        self.calls.append(force_refresh)
        token = "not-a-token" if self.bad else self.make_token(
            self.uid, self.role, ttl_s=self.refreshed_ttl_s if force_refresh else self.ttl_s)
        self.issued.append(token)
        return token


class Events:
    """Records what a client's handlers receive, to wait on."""

    def __init__(self, client: Client, *names: str) -> None:
        self.queues: dict[str, asyncio.Queue[tuple[Any, ...]]] = {}
        for name in names:
            queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
            self.queues[name] = queue
            client.on(name, self._recorder(queue))

    @staticmethod
    def _recorder(queue: asyncio.Queue[tuple[Any, ...]]) -> Callable[..., None]:
        def record(*args: Any) -> None:
            # Broadcasts end with their stream offset (socket.io recovery); compare the rest.
            queue.put_nowait(tuple(split_offset(list(args))[0]))
        return record

    async def next(self, name: str) -> tuple[Any, ...]:
        return await asyncio.wait_for(self.queues[name].get(), TIMEOUT)

    def seen(self, name: str) -> bool:
        return not self.queues[name].empty()


MakeClient = Callable[..., Client]


@pytest.fixture
async def make_client(gateway: Gateway) -> AsyncIterator[MakeClient]:
    clients: list[Client] = []

    def make(tokens: Tokens, **kwargs: Any) -> Client:
        kwargs.setdefault("backoff", Backoff(initial=0.05, maximum=0.2, rng=random.Random(7)))
        client = Client(gateway.url, tokens, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


def server_socket(gateway: Gateway, client: Client) -> Socket:
    assert client.sid is not None
    return gateway.main.sockets[client.sid]


def client_tasks() -> set[asyncio.Task[Any]]:
    return {t for t in asyncio.all_tasks() if t.get_name().startswith("yellowbox-client")}


async def test_rider_location_reaches_a_subscribed_operations_client(
        make_client: MakeClient, make_token: MakeToken) -> None:
    ops = make_client(Tokens(make_token, "ops-1", "operations"))
    rider = make_client(Tokens(make_token, "rider-1", "rider"))
    updates = Events(ops, "rider_location_update")
    await ops.connect()
    await rider.connect()
    assert ops.connected
    assert rider.connected
    assert not ops.recovered
    assert await ops.subscribe("rider_locations") == {"ok": True, "channel": "rider_locations"}
    assert ops.subscriptions == ("rider_locations",)
    ack = await rider.publish_location(25.2048, 55.2708, speed=7.5)
    (update,) = await updates.next("rider_location_update")
    assert update["riderId"] == "rider-1"
    assert (update["latitude"], update["longitude"], update["speed"]) == (25.2048, 55.2708, 7.5)
    assert update["timestamp"] == ack["timestamp"]


async def test_refusals_in_acks_raise_request_refused(make_client: MakeClient,
                                                      make_token: MakeToken) -> None:
    rider = make_client(Tokens(make_token, "rider-1", "rider"))
    await rider.connect()
    with pytest.raises(RequestRefused, match="subscribe_rider_locations") as forbidden:
        await rider.subscribe("rider_locations")
    assert forbidden.value.reason == "forbidden"
    assert rider.subscriptions == ()
    with pytest.raises(RequestRefused, match="latitude") as invalid:
        await rider.publish_location(123.0, 55.0)
    assert invalid.value.reason == "validation_failed"


async def test_events_and_acks_both_ways(gateway: Gateway, make_client: MakeClient,
                                         make_token: MakeToken) -> None:
    @gateway.main.on("echo")
    def echo(socket: Socket, *args: Any) -> tuple[Any, ...]:
        return args

    @gateway.main.on("note")
    def note(socket: Socket, text: str) -> None:
        socket.emit("noted", text, len(text))

    client = make_client(Tokens(make_token, "ops-1", "operations"))
    events = Events(client, "noted")
    client.on("confirm", lambda order: {"confirmed": order["id"]})
    await client.connect()

    assert await client.call("echo", {"a": [1, 2]}) == {"a": [1, 2]}
    assert await client.call("echo", 1, "two") == (1, "two")
    assert await client.call("echo") is None
    assert await client.call("echo", b"\x00\xff") == b"\x00\xff"  # binary attachment
    await client.emit("note", "hello")
    assert await events.next("noted") == ("hello", 5)
    answer = await server_socket(gateway, client).call("confirm", {"id": 7}, timeout=TIMEOUT)
    assert answer == [{"confirmed": 7}]


async def test_events_reach_sync_and_async_handlers_in_order(
        gateway: Gateway, make_client: MakeClient, make_token: MakeToken) -> None:
    client = make_client(Tokens(make_token, "ops-1", "operations"))
    seen: list[tuple[str, int]] = []
    done = asyncio.Event()

    async def slow(n: int) -> None:
        # While this waits on the server, the events behind it must wait too.
        await client.call("subscribe_expense_updates")
        seen.append(("slow", n))

    def fast(n: int) -> None:
        seen.append(("fast", n))
        if n == 10:
            done.set()

    client.on("slow", slow)
    client.on("fast", fast)
    await client.connect()
    emitter = server_socket(gateway, client)
    for n in range(11):
        emitter.emit("slow" if n % 3 == 0 else "fast", n)
    await asyncio.wait_for(done.wait(), TIMEOUT)
    assert [n for _, n in seen] == list(range(11))
    assert [kind for kind, n in seen if n % 3 == 0] == ["slow"] * 4


async def test_a_bad_token_is_refused_with_the_servers_message(
        make_client: MakeClient, make_token: MakeToken) -> None:
    tokens = Tokens(make_token, "rider-1", "rider")
    tokens.bad = True
    client = make_client(tokens)
    errors = Events(client, "connect_error")
    with pytest.raises(ConnectRefused) as refused:
        await client.connect()
    assert "token" in refused.value.message.lower()
    assert not client.connected
    (error,) = await errors.next("connect_error")
    assert error is refused.value


async def test_an_unreachable_server_is_disconnected(make_token: MakeToken) -> None:
    with stdlib_socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = Client(f"http://127.0.0.1:{port}", Tokens(make_token, "rider-1", "rider"))
    with pytest.raises(Disconnected, match="cannot connect"):
        await client.connect()


async def test_reconnects_after_a_drop_and_recovers_what_it_missed_exactly_once(
        gateway: Gateway, make_client: MakeClient, make_token: MakeToken) -> None:
    tokens = Tokens(make_token, "ops-1", "operations")
    ops = make_client(tokens)
    events = Events(ops, "connect", "disconnect", "rider_location_update")
    await ops.connect()
    await events.next("connect")
    await ops.subscribe("rider_locations")
    first_sid = ops.sid
    broadcast = gateway.to("rider_locations")
    broadcast.emit("rider_location_update", {"n": 0})
    assert await events.next("rider_location_update") == ({"n": 0},)

    transport = server_socket(gateway, ops).session.websocket
    assert transport is not None
    transport.transport.abort()
    # Published while the connection is going down: queued for a socket whose bytes never
    # leave, so only recovery can bring them.
    for n in (1, 2, 3):
        broadcast.emit("rider_location_update", {"n": n})

    (reason,) = await events.next("disconnect")
    assert reason in ("transport close", "transport error")
    await events.next("connect")
    assert ops.recovered
    assert ops.sid == first_sid
    broadcast.emit("rider_location_update", {"n": 4})
    received = [(await events.next("rider_location_update"))[0]["n"] for _ in range(4)]
    assert received == [1, 2, 3, 4]
    assert not events.seen("rider_location_update")


async def test_without_recovery_a_reconnect_resubscribes(
        make_gateway: MakeGateway, make_token: MakeToken) -> None:
    gateway = await make_gateway(gateway_config(history={"recovery_window_s": 0}))
    tokens = Tokens(make_token, "ops-1", "operations")
    ops = Client(gateway.url, tokens,
                 backoff=Backoff(initial=0.05, maximum=0.2, rng=random.Random(7)))
    events = Events(ops, "connect", "disconnect", "rider_location_update")
    try:
        await ops.connect()
        await events.next("connect")
        await ops.subscribe("rider_locations")
        first_sid = ops.sid

        transport = server_socket(gateway, ops).session.websocket
        assert transport is not None
        transport.transport.abort()

        (reason,) = await events.next("disconnect")
        assert reason in ("transport close", "transport error")
        # "connect" comes once the subscriptions are back (no session to recover).
        await events.next("connect")
        assert ops.connected
        assert not ops.recovered
        assert ops.sid != first_sid
        assert tokens.calls == [False, False]
        gateway.to("rider_locations").emit("rider_location_update", {"riderId": "r9"})
        assert await events.next("rider_location_update") == ({"riderId": "r9"},)
    finally:
        await ops.close()


async def test_io_server_disconnect_reconnects_with_a_fresh_token(
        gateway: Gateway, make_client: MakeClient, make_token: MakeToken) -> None:
    tokens = Tokens(make_token, "rider-1", "rider")
    rider = make_client(tokens)
    events = Events(rider, "connect", "disconnect")
    await rider.connect()
    await events.next("connect")

    server_socket(gateway, rider).disconnect()

    assert await events.next("disconnect") == ("io server disconnect",)
    await events.next("connect")
    assert rider.connected
    assert tokens.calls == [False, True]
    assert (await rider.publish_location(25.0, 55.0))["ok"] is True


async def test_a_refused_reconnect_is_retried_with_a_fresh_token(
        gateway: Gateway, make_client: MakeClient, make_token: MakeToken) -> None:
    tokens = Tokens(make_token, "rider-1", "rider")
    rider = make_client(tokens)
    events = Events(rider, "connect", "disconnect", "connect_error")
    await rider.connect()
    await events.next("connect")
    tokens.bad = True
    transport = server_socket(gateway, rider).session.websocket
    assert transport is not None
    transport.transport.abort()
    await events.next("disconnect")
    (error,) = await events.next("connect_error")
    assert isinstance(error, ConnectRefused)
    tokens.bad = False
    await events.next("connect")
    # Asked normally first; after the refusal, for a fresh token.
    assert tokens.calls[:2] == [False, False]
    assert tokens.calls[-1] is True


async def test_the_token_is_refreshed_a_margin_before_it_expires(
        gateway: Gateway, make_client: MakeClient, make_token: MakeToken) -> None:
    tokens = Tokens(make_token, "ops-1", "operations", ttl_s=30, refreshed_ttl_s=3600)
    client = make_client(tokens, refresh_margin_s=29.0)
    events = Events(client, "token_refresh", "auth_refresh_required")
    await client.connect()
    first_expiry = token_expiry(tokens.issued[0])
    assert first_expiry is not None

    (answer,) = await events.next("token_refresh")

    assert time.time() < first_expiry
    assert not events.seen("auth_refresh_required")
    assert tokens.calls == [False, True]
    new_expiry = token_expiry(tokens.issued[1])
    assert answer == {"ok": True, "expiresAt": new_expiry}
    credentials = server_socket(gateway, client).credentials
    assert credentials is not None
    assert credentials.expires_at == new_expiry


async def test_auth_refresh_required_from_the_server_triggers_a_refresh(
        gateway: Gateway, make_client: MakeClient, make_token: MakeToken) -> None:
    tokens = Tokens(make_token, "rider-1", "rider")
    client = make_client(tokens)
    events = Events(client, "token_refresh")
    await client.connect()

    server_socket(gateway, client).emit("auth_refresh_required",
                                        {"reason": "token expired", "graceSeconds": 30})

    (answer,) = await events.next("token_refresh")
    assert answer["ok"] is True
    assert tokens.calls == [False, True]


async def test_close_leaves_the_namespace_and_stops(
        gateway: Gateway, make_client: MakeClient, make_token: MakeToken) -> None:
    left: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    @gateway.main.on_disconnect
    def gone(socket: Socket, reason: str) -> None:
        if not left.done():
            left.set_result(reason)

    tokens = Tokens(make_token, "rider-1", "rider")
    client = make_client(tokens)
    events = Events(client, "disconnect")
    await client.connect()
    assert client_tasks()

    await client.close()

    assert await asyncio.wait_for(left, TIMEOUT) == "client namespace disconnect"
    assert await events.next("disconnect") == ("io client disconnect",)
    assert not client.connected
    assert client_tasks() == set()
    with pytest.raises(Disconnected, match="closed"):
        await client.emit("anything")


async def test_close_during_reconnect_backoff_stops_for_good(
        gateway: Gateway, make_client: MakeClient, make_token: MakeToken) -> None:
    tokens = Tokens(make_token, "rider-1", "rider")
    # A long, fixed delay: close() has to end the wait, not outlast it.
    client = make_client(tokens, backoff=Backoff(initial=60.0, maximum=60.0, jitter="none"))
    events = Events(client, "disconnect")
    await client.connect()
    server_socket(gateway, client).disconnect()
    await events.next("disconnect")

    await asyncio.wait_for(client.close(), TIMEOUT)

    assert client_tasks() == set()
    assert tokens.calls == [False]
    assert not client.connected


async def test_engineio_pings_are_answered(make_gateway: MakeGateway,
                                           make_token: MakeToken) -> None:
    gateway = await make_gateway(gateway_config(engineio={
        "ping_interval_ms": 50, "ping_timeout_ms": 100}))
    client = Client(gateway.url, Tokens(make_token, "rider-1", "rider"))
    events = Events(client, "disconnect", "tick")
    await client.connect()
    try:
        # Many ping rounds fit before the tick; an unanswered one would end the session.
        asyncio.get_running_loop().call_later(
            0.6, server_socket(gateway, client).emit, "tick")
        assert await events.next("tick") == ()
        assert client.connected
        assert not events.seen("disconnect")
        assert server_socket(gateway, client).connected
    finally:
        await client.close()
