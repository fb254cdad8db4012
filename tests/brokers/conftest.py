"""The broker conformance suite's fixtures: every test runs against each broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
import redis.asyncio as aioredis

from yellowbox_realtime.brokers.redis import RedisBroker
from yellowbox_realtime.core.broker import Broker, MemoryBroker
from yellowbox_realtime.core.history import HistoryLimits
from yellowbox_realtime.core.hub import Hub, Outgoing, Sink, Wire

from ..redis_server import RedisServer, redis_server


class Clock:
    """Seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Recorder:
    """A subscriber that keeps what it receives and wakes whoever waits for a count."""

    def __init__(self) -> None:
        self.received: list[Outgoing] = []
        self._changed = asyncio.Event()

    def deliver(self, message: Wire) -> None:
        self.received.extend(message.events)
        self._changed.set()

    @property
    def sink(self) -> Sink:
        return self.deliver

    @property
    def offsets(self) -> list[int]:
        return [m.offset for m in self.received]

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Outgoing]:
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.received


DEFAULT_LIMITS = HistoryLimits(100, 300.0)
MakeBroker = Callable[..., Awaitable[tuple[Hub, Broker]]]


@pytest.fixture(scope="session")
def redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", "redis"])
async def make_broker(request: pytest.FixtureRequest,
                      clock: Clock) -> AsyncIterator[MakeBroker]:
    """Brokers of one kind sharing one store: with Redis, one prefix per test (so nodes
    made by one test see each other); with memory, each is its own world."""
    kind = request.param
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    made: list[Broker] = []
    server: RedisServer | None = request.getfixturevalue("redis") if kind == "redis" else None

    async def make(default: HistoryLimits = DEFAULT_LIMITS,
                   per_channel: dict[str, HistoryLimits] | None = None) -> tuple[Hub, Broker]:
        hub = Hub()
        broker: Broker
        if kind == "memory":
            broker = MemoryBroker(hub, default, per_channel, clock=clock)
        else:
            assert server is not None
            client = aioredis.from_url(server.url)
            redis_broker = RedisBroker(hub, client, default, per_channel, prefix=prefix,
                                       clock=clock)
            await redis_broker.start()
            broker = redis_broker
        made.append(broker)
        return hub, broker

    yield make
    for broker in made:
        await broker.close()
