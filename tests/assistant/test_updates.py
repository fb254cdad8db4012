"""Resource subscriptions: a subscribed client hears ``notifications/resources/updated``
when a rider moves (over ``subscriptions/listen`` and the handshake-era
``resources/subscribe``), conflated per interval, and bounded per stream, session and user."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import mcp_types as types
import pytest
from mcp.client.session import ClientSession, IncomingMessage
from mcp.client.subscriptions import ResourceUpdated, Subscription, listen
from mcp.shared.exceptions import MCPError

from tests.assistant.conftest import (
    ASSISTANT_KEY,
    RESOURCES_PER_SUBSCRIPTION,
    SUBSCRIPTIONS_PER_USER,
    Rider,
    Session,
    connect_rider,
    open_session,
    token,
)
from tests.conftest import MakeGateway, gateway_config
from tests.waiting import until
from yellowbox_realtime.app import Gateway
from yellowbox_realtime.assistant.access import LIMITED, REFUSED
from yellowbox_realtime.assistant.resources import ALERTS_URI, FLEET_URI, rider_uri
from yellowbox_realtime.core.hub import Outgoing
from yellowbox_realtime.operations import RIDER_LOCATIONS

# Handshake-era clients (desktop assistants through the stdio relay) still subscribe so.
pytestmark = pytest.mark.filterwarnings("ignore:resources/(un)?subscribe is removed")


async def updated(subscription: Subscription, uris: set[str]) -> None:
    """Wait until every one of ``uris`` has been reported updated."""
    seen: set[str] = set()
    async with asyncio.timeout(15):
        async for event in subscription:
            if isinstance(event, ResourceUpdated):
                seen.add(event.uri)
            if uris <= seen:
                return


class Notifications:
    """Every notifications/resources/updated a handshake-era session receives, in order."""

    def __init__(self) -> None:
        self.uris: list[str] = []
        self.arrived = asyncio.Condition()

    async def __call__(self, message: IncomingMessage) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            async with self.arrived:
                self.uris.append(str(message.params.uri))
                self.arrived.notify_all()

    async def until(self, count: int) -> list[str]:
        async with asyncio.timeout(15), self.arrived:
            await self.arrived.wait_for(lambda: len(self.uris) >= count)
        return self.uris[:count]


async def test_a_listening_client_hears_that_the_fleet_and_the_rider_moved(
        session: Session, rider: Rider) -> None:
    await rider.move(25.08, 55.14)
    async with (session(token("ops-1")) as client,
                listen(client, resource_subscriptions=[FLEET_URI, rider_uri("rider-1"),
                                                       rider_uri("rider-2")]) as stream):
        assert stream.honored.resource_subscriptions == [
            FLEET_URI, rider_uri("rider-1"), rider_uri("rider-2")]
        await rider.move(25.08001, 55.14)
        await updated(stream, {FLEET_URI, rider_uri("rider-1")})
        # Reading again shows the move the notification announced.
        fleet = await client.read_resource(rider_uri("rider-1"))
        assert '"latitude": 25.08001' in getattr(fleet.contents[0], "text", "")


async def test_a_handshake_era_session_hears_it_through_resources_subscribe(
        session: Session, rider: Rider) -> None:
    heard = Notifications()
    async with session(ASSISTANT_KEY, handshake=True, message_handler=heard) as client:
        await client.subscribe_resource(rider_uri("rider-1"))
        await rider.move(25.08, 55.14)
        assert await heard.until(1) == [rider_uri("rider-1")]
        await client.unsubscribe_resource(rider_uri("rider-1"))
        await client.subscribe_resource(FLEET_URI)
        await rider.move(25.08001, 55.14)
        # The next is the fleet's, not the rider's, which nobody watches any more.
        assert await heard.until(2) == [rider_uri("rider-1"), FLEET_URI]


async def test_many_changes_within_an_interval_are_one_notification(
        in_process: Gateway) -> None:
    heard = Notifications()
    async with open_session(in_process.url, token("ops-1"), handshake=True,
                            message_handler=heard) as client:
        await client.subscribe_resource(FLEET_URI)
        await client.subscribe_resource(rider_uri("r1"))
        # Fifty fixes of r1 in one turn of the loop: none of them waits for the interval.
        for n in range(50):
            in_process.hub.publish([RIDER_LOCATIONS], Outgoing("location_update", (
                {"riderId": "r1", "latitude": 25 + n / 1000, "longitude": 55.0},)))
        first = await heard.until(2)
        assert sorted(first) == sorted([FLEET_URI, rider_uri("r1")])
        # Another rider moves: the fleet changes again, r1 does not; had r1's fifty gone
        # out one by one, more of them would come before this.
        in_process.hub.publish([RIDER_LOCATIONS], Outgoing("location_update", (
            {"riderId": "r2", "latitude": 25.0, "longitude": 55.0},)))
        assert (await heard.until(3))[2] == FLEET_URI


async def test_subscribing_needs_what_reading_needs(session: Session) -> None:
    async with session(token("rider-1", "rider")) as client:
        with pytest.raises(MCPError, match="forbidden") as refused:
            async with listen(client, resource_subscriptions=[FLEET_URI]):
                pass
        assert refused.value.error.code == REFUSED
    async with session(token("rider-1", "rider"), handshake=True) as client:
        with pytest.raises(MCPError, match="forbidden"):
            await client.subscribe_resource(ALERTS_URI)
    async with session(token("ops-1"), handshake=True) as client:
        with pytest.raises(MCPError, match="unknown resource") as unknown:
            await client.subscribe_resource("yellowbox://elsewhere")
        assert unknown.value.error.code == types.INVALID_PARAMS
        with pytest.raises(MCPError, match="unknown resource"):
            await client.subscribe_resource(rider_uri("no spaces"))


async def test_a_stream_watches_a_bounded_number_of_resources(in_process: Gateway) -> None:
    too_many = [rider_uri(f"r{n}") for n in range(RESOURCES_PER_SUBSCRIPTION + 1)]
    async with open_session(in_process.url, token("ops-1")) as client:
        with pytest.raises(MCPError, match=f"at most {RESOURCES_PER_SUBSCRIPTION}") as refused:
            async with listen(client, resource_subscriptions=too_many):
                pass
        assert refused.value.error.code == types.INVALID_PARAMS
        async with listen(client, resource_subscriptions=too_many[:-1]) as stream:
            assert stream.honored.resource_subscriptions == too_many[:-1]
    async with open_session(in_process.url, token("ops-1"), handshake=True) as client:
        for uri in too_many[:-1]:
            await client.subscribe_resource(uri)
        await client.subscribe_resource(too_many[0])  # again: still one
        with pytest.raises(MCPError, match="too_many_subscriptions") as refused:
            await client.subscribe_resource(too_many[-1])
        assert refused.value.error.code == LIMITED
        assert in_process.mcp is not None
        assert set(in_process.mcp.watch.watched) == set(too_many[:-1])
    # The session ended (the client's DELETE): what it watched is forgotten.
    assert in_process.mcp is not None
    watch = in_process.mcp.watch
    await until(lambda: not watch.sessions)
    assert not watch.watched


@contextlib.asynccontextmanager
async def streams(client: ClientSession, count: int) -> AsyncIterator[list[Subscription]]:
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(listen(client, resource_subscriptions=[
            FLEET_URI])) for _ in range(count)]


async def test_a_user_holds_a_bounded_number_of_streams(in_process: Gateway) -> None:
    assert in_process.mcp is not None
    bounded = in_process.mcp.listen
    async with open_session(in_process.url, token("ops-1")) as client:
        async with streams(client, SUBSCRIPTIONS_PER_USER):
            assert bounded.streams["user:ops-1"] == SUBSCRIPTIONS_PER_USER
            assert in_process.limits.by_user["ops-1"] == SUBSCRIPTIONS_PER_USER
            with pytest.raises(MCPError, match="too_many_subscriptions") as refused:
                async with listen(client, resource_subscriptions=[FLEET_URI]):
                    pass
            assert refused.value.error.code == LIMITED
            # Another user is not held back by this one.
            async with (open_session(in_process.url, token("ops-2")) as other,
                        listen(other, resource_subscriptions=[FLEET_URI]) as stream,
                        connect_rider(in_process.url) as rider):
                await rider.move(25.08, 55.14)
                await updated(stream, {FLEET_URI})
        # Closed streams give their places back.
        await until(lambda: not bounded.streams)
        assert "ops-1" not in in_process.limits.by_user
        async with streams(client, SUBSCRIPTIONS_PER_USER):
            pass
    watch = in_process.mcp.watch
    await until(lambda: not watch.watched)


async def test_the_gateway_holds_a_bounded_number_of_streams(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(gateway_config(mcp={"max_subscriptions": 2}))
    async with contextlib.AsyncExitStack() as stack:
        for uid in ("ops-1", "ops-2"):
            client = await stack.enter_async_context(open_session(gateway.url, token(uid)))
            await stack.enter_async_context(listen(client, resource_subscriptions=[FLEET_URI]))
        third = await stack.enter_async_context(open_session(gateway.url, token("ops-3")))
        with pytest.raises(MCPError, match="too_many_subscriptions") as refused:
            async with listen(third, resource_subscriptions=[FLEET_URI]):
                pass
        assert refused.value.error.code == LIMITED


async def test_an_idle_session_ends_and_its_subscriptions_with_it(
        make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(gateway_config(mcp={"session_idle_timeout_s": 0.5}))
    assert gateway.mcp is not None
    watch = gateway.mcp.watch
    headers = {"Accept": "application/json, text/event-stream",
               "Authorization": f"Bearer {token('ops-1')}"}
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
        opened = await http.post("/mcp", headers=headers, json={
            "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "idle", "version": "1"}}})
        assert opened.status_code == 200
        headers |= {"Mcp-Session-Id": opened.headers["mcp-session-id"],
                    "MCP-Protocol-Version": "2025-11-25"}
        initialized = await http.post("/mcp", headers=headers, json={
            "jsonrpc": "2.0", "method": "notifications/initialized"})
        assert initialized.status_code == 202
        subscribed = await http.post("/mcp", headers=headers, json={
            "jsonrpc": "2.0", "id": 2, "method": "resources/subscribe",
            "params": {"uri": FLEET_URI}})
        assert subscribed.status_code == 200
        assert '"result"' in subscribed.text
        assert watch.watched[FLEET_URI] == 1
        # No more requests: the session times out, and what it watched goes with it.
        await until(lambda: not watch.sessions)
        assert not watch.watched
        assert (await http.post("/mcp", headers=headers, json={
            "jsonrpc": "2.0", "id": 3, "method": "tools/list"})).status_code == 404
