"""What only the Redis broker does: several nodes on one stream, listening per channel,
a Redis that lost its data."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis

from yellowbox_realtime.app import redis_broker
from yellowbox_realtime.brokers.redis import BrokerUnavailable, RedisBroker
from yellowbox_realtime.config import BrokerConfig, HistoryConfig
from yellowbox_realtime.core.history import HistoryLimits
from yellowbox_realtime.core.hub import Hub, Outgoing
from yellowbox_realtime.messages import StreamPosition

from ..redis_server import RedisServer, redis_server
from .conftest import Recorder

LIMITS = HistoryLimits(1000, 300.0)


@pytest.fixture
def prefix() -> str:
    """Keys of one test, apart from every other's on the shared server."""
    return f"r{uuid.uuid4().hex[:8]}:"


async def node(redis: RedisServer, prefix: str) -> tuple[Hub, RedisBroker]:
    hub = Hub()
    broker = RedisBroker(hub, aioredis.from_url(redis.url), LIMITS, prefix=prefix)
    await broker.start()
    return hub, broker


async def channels_listened(redis: RedisServer, prefix: str) -> set[str]:
    client = aioredis.from_url(redis.url, decode_responses=True)
    try:
        names = await client.pubsub_channels(f"{prefix}c:*")
    finally:
        await client.aclose()
    return {str(name).removeprefix(f"{prefix}c:") for name in names}


async def wait_until(condition: object, timeout: float = 5.0) -> None:
    """Polls Redis's own view (there is no event for another client's SUBSCRIBE)."""
    assert callable(condition)
    async with asyncio.timeout(timeout):
        while True:
            if await condition():
                return
            await asyncio.sleep(0.01)


async def test_two_nodes_share_one_stream_and_deliver_to_each_other(
        redis: RedisServer, prefix: str) -> None:
    hub_a, a = await node(redis, prefix)
    hub_b, b = await node(redis, prefix)
    try:
        on_a, on_b = Recorder(), Recorder()
        hub_a.subscribe("user:1", on_a)
        hub_b.subscribe("user:1", on_b)
        await wait_until(lambda: _has(redis, prefix, "user:1"))
        for i in range(10):
            (a if i % 2 else b).publish_nowait(["user:1"], Outgoing("n", (i,)))
        await a.publish(["user:1"], Outgoing("n", (10,)))
        for recorder in (on_a, on_b):
            received = await recorder.wait_for(11)
            offsets = [m.offset for m in received]
            assert offsets == sorted(offsets)
            assert len(set(offsets)) == 11
        assert [m.offset for m in on_a.received] == [m.offset for m in on_b.received]
        assert a.position().epoch == b.position().epoch
        recovery = await b.since(["user:1"], StreamPosition(a.position().epoch, 0))
        assert [m.offset for m in recovery.entries] == [m.offset for m in on_a.received]
    finally:
        await a.close()
        await b.close()


async def _has(redis: RedisServer, prefix: str, channel: str) -> bool:
    return channel in await channels_listened(redis, prefix)


async def test_a_node_listens_only_to_channels_with_local_subscribers(
        redis: RedisServer, prefix: str) -> None:
    hub, broker = await node(redis, prefix)
    try:
        first, second = Recorder(), Recorder()
        hub.subscribe("fleet", first)
        hub.subscribe("fleet", second)
        await wait_until(lambda: _has(redis, prefix, "fleet"))
        assert await channels_listened(redis, prefix) == {"fleet"}
        hub.unsubscribe("fleet", first)
        await broker.publish(["fleet"], Outgoing("still", ()))
        await second.wait_for(1)
        assert "fleet" in await channels_listened(redis, prefix)
        hub.unsubscribe("fleet", second)

        async def gone() -> bool:
            return not await _has(redis, prefix, "fleet")
        await wait_until(gone)
    finally:
        await broker.close()


async def test_a_channel_joined_meanwhile_is_caught_up_from_history(
        redis: RedisServer, prefix: str) -> None:
    """Events another node publishes while this node is still subscribing are not lost."""
    _hub_a, a = await node(redis, prefix)
    hub_b, b = await node(redis, prefix)
    try:
        for round_ in range(10):
            channel = f"user:{round_}"
            recorder = Recorder()
            hub_b.subscribe(channel, recorder)  # B subscribes in Redis later
            for i in range(5):
                a.publish_nowait([channel], Outgoing("n", (i,)))
            await a.publish([channel], Outgoing("n", (5,)))
            received = await recorder.wait_for(6)
            assert [m.args[0] for m in received] == list(range(6))
            await a.publish([channel], Outgoing("n", (6,)))
            await recorder.wait_for(7)
            assert len(recorder.received) == 7
    finally:
        await a.close()
        await b.close()


async def test_a_redis_that_lost_its_data_starts_a_new_epoch(
        redis: RedisServer, prefix: str) -> None:
    hub, broker = await node(redis, prefix)
    try:
        recorder = Recorder()
        hub.subscribe("a", recorder)
        before = await broker.publish(["a"], Outgoing("n", (1,)))
        await recorder.wait_for(1)
        client = aioredis.from_url(redis.url)
        try:
            for key in await client.keys(f"{prefix}*"):
                await client.delete(key)
        finally:
            await client.aclose()
        after = await broker.publish(["a"], Outgoing("n", (2,)))
        assert after.epoch != before.epoch
        assert after.offset == 1
        await recorder.wait_for(2)
        assert broker.position() == after
        recovery = await broker.since(["a"], before)
        assert not recovery.complete
        assert recovery.position.epoch == after.epoch
    finally:
        await broker.close()


async def test_unreachable_redis_fails_publishes_with_a_temporary_error(prefix: str) -> None:
    with redis_server() as own:
        hub = Hub()
        broker = RedisBroker(hub, aioredis.from_url(own.url), LIMITS, prefix=prefix,
                             timeout_s=1.0)
        await broker.start()
        try:
            assert await broker.check() is None
            own.stop()
            with pytest.raises(BrokerUnavailable) as caught:
                await broker.publish(["a"], Outgoing("n", ()))
            assert caught.value.temporary
            assert caught.value.http_status == 503
            with pytest.raises(BrokerUnavailable):
                await broker.since(["a"], StreamPosition("x", 0))
            assert await broker.check() is not None
        finally:
            await broker.close()


async def test_the_gateways_redis_client_waits_for_a_connection_in_a_burst(
        redis: RedisServer) -> None:
    # A thousand sockets dropping at once each write a recovery record: with more requests
    # than broker.max_connections, they wait for a connection instead of failing with
    # "Too many connections".
    config = BrokerConfig(kind="redis", url=redis.url, prefix=f"t{uuid.uuid4().hex[:8]}:",
                          max_connections=2)
    broker = redis_broker(Hub(), config, HistoryConfig())
    try:
        keys = [f"{config.prefix}burst:{n}" for n in range(50)]
        await asyncio.gather(*(broker.redis.set(key, n) for n, key in enumerate(keys)))
        assert await broker.redis.mget(keys) == [str(n).encode() for n in range(50)]
    finally:
        await broker.close()
