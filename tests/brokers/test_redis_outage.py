"""The Redis broker when Redis goes away and comes back: local service meanwhile, the
outage recorded as a gap, reconnection and catch-up, restarts with and without the data."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
import redis.asyncio as aioredis

from yellowbox_realtime.brokers.redis import BrokerUnavailable, RedisBroker
from yellowbox_realtime.core.history import HistoryLimits
from yellowbox_realtime.core.hub import Hub, Outgoing
from yellowbox_realtime.core.idempotency import IdempotencyKey
from yellowbox_realtime.messages import StreamPosition

from ..redis_server import RedisServer, redis_server
from ..waiting import until
from .conftest import Recorder

LIMITS = HistoryLimits(1000, 300.0)


@dataclass
class Gaps:
    """What a broker's ``on_gap`` hook was told."""

    told: list[tuple[tuple[str, ...], StreamPosition, str]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, channels: tuple[str, ...], position: StreamPosition,
                 reason: str) -> None:
        self.told.append((channels, position, reason))
        self.changed.set()

    async def wait_for(self, count: int, timeout: float = 15.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.told) < count:
                self.changed.clear()
                await self.changed.wait()


@dataclass
class Node:
    hub: Hub
    broker: RedisBroker
    gaps: Gaps


MakeNode = Callable[..., Awaitable[Node]]


@pytest.fixture
async def own() -> AsyncIterator[RedisServer]:
    """A redis-server of this test's own, which it may stop and start."""
    with redis_server() as server:
        yield server


@pytest.fixture
async def make_node(own: RedisServer) -> AsyncIterator[MakeNode]:
    prefix = f"o{uuid.uuid4().hex[:8]}:"
    made: list[RedisBroker] = []

    async def make(name: str = "node") -> Node:
        hub, gaps = Hub(), Gaps()
        broker = RedisBroker(hub, aioredis.from_url(own.url, client_name=name), LIMITS,
                             prefix=prefix, timeout_s=2.0)
        broker.on_gap = gaps
        await broker.start()
        made.append(broker)
        return Node(hub, broker, gaps)

    yield make
    for broker in made:
        await broker.close()


async def listening(node: Node, channel: str) -> None:
    await until(lambda: channel in node.broker._subscribed and not node.broker._activate)


async def test_during_an_outage_local_clients_are_served_and_then_told_about_the_gap(
        own: RedisServer, make_node: MakeNode) -> None:
    a, b = await make_node(), await make_node()
    on_a, on_b = Recorder(), Recorder()
    a.hub.subscribe("user:1", on_a)
    b.hub.subscribe("user:1", on_b)
    await listening(a, "user:1")
    await listening(b, "user:1")
    before = await a.broker.publish(["user:1"], Outgoing("n", (0,)))
    await on_a.wait_for(1)
    await on_b.wait_for(1)

    # Unreachable for a while (it keeps its data).
    own.stop(save=True)
    await until(lambda: not a.broker.up and not b.broker.up)
    assert await a.broker.check() is not None
    with pytest.raises(BrokerUnavailable) as refused:
        await a.broker.publish(["user:1"], Outgoing("n", ("refused",)))
    assert refused.value.temporary
    assert refused.value.http_status == 503
    with pytest.raises(BrokerUnavailable):
        await b.broker.since(["user:1"], before)
    # A rider on A keeps reaching A's subscribers, at A's last position, not numbered.
    a.broker.publish_nowait(["user:1"], Outgoing("n", ("local",)))
    received = await on_a.wait_for(2)
    assert received[1].args == ("local",)
    assert (received[1].epoch, received[1].offset) == (before.epoch, before.offset)
    assert a.broker.local_only == 1
    assert len(on_b.received) == 1

    own.start()
    await until(lambda: a.broker.up and b.broker.up)
    assert await a.broker.check() is None
    # Both nodes' live subscribers are told: one offset stands for the outage. (Through the
    # gap entry on pub/sub, or, for a node that was not listening again yet when it went out,
    # through the catch-up finding it in the channel's history.)
    await a.gaps.wait_for(1)
    await b.gaps.wait_for(1)
    gap = StreamPosition(before.epoch, before.offset + 1)
    for gaps in (a.gaps, b.gaps):
        channels, position, reason = gaps.told[0]
        assert channels == ("user:1",)
        assert reason in ("broker_outage", "history_gap")
        assert position.epoch == gap.epoch
        assert before.offset <= position.offset <= gap.offset
    # A client resuming from before the outage is told it missed something; from the gap on,
    # it misses nothing.
    assert not (await b.broker.since(["user:1"], before)).complete
    after = await b.broker.publish(["user:1"], Outgoing("n", (1,)))
    assert after == StreamPosition(before.epoch, gap.offset + 1)
    recovery = await a.broker.since(["user:1"], gap)
    assert recovery.complete
    assert [m.args for m in recovery.entries] == [(1,)]
    await on_a.wait_for(3)
    await on_b.wait_for(2)
    assert a.broker.outages == b.broker.outages == 1
    assert len(a.gaps.told) == len(b.gaps.told) == 1


async def test_an_outage_without_local_publishes_is_no_gap(
        own: RedisServer, make_node: MakeNode) -> None:
    a = await make_node()
    on_a = Recorder()
    a.hub.subscribe("user:1", on_a)
    await listening(a, "user:1")
    before = await a.broker.publish(["user:1"], Outgoing("n", (0,)))
    own.stop(save=True)
    await until(lambda: not a.broker.up)
    own.start()
    await until(lambda: a.broker.up)
    after = await a.broker.publish(["user:1"], Outgoing("n", (1,)))
    assert after == StreamPosition(before.epoch, before.offset + 1)
    assert (await a.broker.since(["user:1"], before)).complete
    await on_a.wait_for(2)
    assert a.gaps.told == []


async def test_pubsub_reconnects_resubscribes_and_catches_up_from_history(
        own: RedisServer, make_node: MakeNode) -> None:
    """Only B's pub/sub connection is cut: what A publishes meanwhile reaches B's subscriber
    from the history, in order and once, and live events follow."""
    a, b = await make_node("node-a"), await make_node("node-b")
    on_b = Recorder()
    b.hub.subscribe("user:1", on_b)
    await listening(b, "user:1")
    admin = aioredis.from_url(own.url, decode_responses=True)
    try:
        positions = [await a.broker.publish(["user:1"], Outgoing("n", (0,)))]
        await on_b.wait_for(1)
        b_pubsub = [c for c in await admin.client_list(_type="pubsub")
                    if c["name"] == "node-b"]
        assert len(b_pubsub) == 1
        await admin.client_kill_filter(_id=b_pubsub[0]["id"])
        for i in range(1, 20):
            positions.append(await a.broker.publish(["user:1"], Outgoing("n", (i,))))
        received = await on_b.wait_for(20)
        assert [m.offset for m in received] == [p.offset for p in positions]
        await until(lambda: b.broker.up)
        assert b.gaps.told == []
        positions.append(await a.broker.publish(["user:1"], Outgoing("n", (20,))))
        received = await on_b.wait_for(21)
        assert [m.args[0] for m in received] == list(range(21))
    finally:
        await admin.aclose()


async def test_redis_restarted_with_its_data_under_load_loses_nothing_acknowledged(
        own: RedisServer, make_node: MakeNode) -> None:
    a, b = await make_node(), await make_node()
    on_b = Recorder()
    b.hub.subscribe("orders", on_b)
    await listening(b, "orders")
    acknowledged: dict[int, StreamPosition] = {}
    stop = asyncio.Event()

    async def back_office() -> None:
        """Publishes with an idempotency key and retries until acknowledged."""
        n = 0
        while not stop.is_set():
            while True:
                try:
                    acknowledged[n] = await a.broker.publish(
                        ["orders"], Outgoing("order", (n,)),
                        idempotency_key=IdempotencyKey("test", f"order-{n}"))
                    break
                except BrokerUnavailable:
                    await asyncio.sleep(0.02)  # the client's retry interval
            n += 1

    load = asyncio.create_task(back_office())
    try:
        await until(lambda: len(acknowledged) >= 50)
        own.stop(save=True)
        await until(lambda: not a.broker.up)
        at_stop = len(acknowledged)
        own.start()
        await until(lambda: len(acknowledged) >= at_stop + 50)
    finally:
        stop.set()
        await load
    epoch = acknowledged[0].epoch
    assert {p.epoch for p in acknowledged.values()} == {epoch}
    # The other node notices Redis is back on its own probe's schedule.
    await until(lambda: b.broker.up)
    recovery = await b.broker.since(["orders"], StreamPosition(epoch, 0))
    kept = {m.args[0]: m.offset for m in recovery.entries}
    assert kept == {n: p.offset for n, p in acknowledged.items()}
    # Every acknowledged event reached B's live subscriber once (from pub/sub, or from the
    # history when B caught up after reconnecting).
    received = await on_b.wait_for(len(acknowledged))
    assert sorted(m.args[0] for m in received) == sorted(acknowledged)


async def test_redis_restarted_without_its_data_is_a_new_epoch_and_subscribers_are_told(
        own: RedisServer, make_node: MakeNode) -> None:
    a, b = await make_node(), await make_node()
    on_b = Recorder()
    b.hub.subscribe("alerts", on_b)
    await listening(b, "alerts")
    before = await a.broker.publish(["alerts"], Outgoing("alert", (1,)))
    await on_b.wait_for(1)
    own.stop()
    await until(lambda: not a.broker.up and not b.broker.up)
    own.start()
    await until(lambda: a.broker.up and b.broker.up)
    after = await a.broker.publish(["alerts"], Outgoing("alert", (2,)))
    assert after.epoch != before.epoch
    received = await on_b.wait_for(2)
    assert received[1].epoch == after.epoch
    await b.gaps.wait_for(1)
    channels, position, reason = b.gaps.told[0]
    assert (channels, reason) == (("alerts",), "epoch_changed")
    assert position.epoch == after.epoch
    recovery = await b.broker.since(["alerts"], before)
    assert not recovery.complete
    assert recovery.position.epoch == after.epoch
