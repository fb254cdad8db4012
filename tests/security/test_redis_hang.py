"""A Redis that stops answering without closing its connections (its process frozen with
SIGSTOP) is noticed by the broker's health check, with nothing published: the gateway then
says it is not ready, the publish API answers 503 at once instead of after a timeout, local
clients are served, and all is back once Redis answers again."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import httpx
import pytest
import socketio

from tests.apiclients import api_section, bearer
from tests.conftest import MakeGateway, MakeToken, gateway_config
from tests.redis_server import RedisServer, redis_server
from tests.waiting import until

TIMEOUT_S = 1.0
HEALTH_CHECK_INTERVAL_S = 0.2


@pytest.fixture
def frozen_redis() -> Iterator[RedisServer]:
    """A redis-server of the test's own, resumed (SIGCONT) before it is stopped, whatever
    the test did to it."""
    with redis_server() as server:
        try:
            yield server
        finally:
            os.kill(server.process.pid, signal.SIGCONT)


async def publish(api: httpx.AsyncClient, n: int) -> httpx.Response:
    return await api.post("/api/v1/users/rider-1/events", headers=bearer(),
                          json={"event": "marker", "data": n})


async def test_a_frozen_redis_is_noticed_without_a_publish(
        make_gateway: MakeGateway, make_token: MakeToken, frozen_redis: RedisServer) -> None:
    gateway = await make_gateway(gateway_config(
        api=api_section(),
        broker={"kind": "redis", "url": frozen_redis.url, "timeout_s": TIMEOUT_S,
                "health_check_interval_s": HEALTH_CHECK_INTERVAL_S}))
    broker = gateway.redis_broker
    assert broker is not None
    loop = asyncio.get_running_loop()
    rider = socketio.AsyncClient(reconnection=False)
    markers: asyncio.Queue[int] = asyncio.Queue()
    # Each event comes with its stream offset after the data.
    rider.on("marker", lambda data, *_: markers.put_nowait(data))
    await rider.connect(gateway.url, auth={"token": make_token("rider-1")},
                        transports=["websocket"], wait_timeout=5)
    async with httpx.AsyncClient(base_url=gateway.url) as api:
        assert (await api.get("/readyz")).status_code == 200
        assert (await publish(api, 1)).status_code == 202
        assert await asyncio.wait_for(markers.get(), 5) == 1

        os.kill(frozen_redis.process.pid, signal.SIGSTOP)
        frozen_at, published = loop.time(), broker.published
        await until(lambda: not broker.up)
        noticed_s = loop.time() - frozen_at
        # Noticed by the health check: nothing was published meanwhile.
        assert broker.published == published
        print(f"frozen Redis noticed after {noticed_s:.2f} s (health check every "
              f"{HEALTH_CHECK_INTERVAL_S} s, answered within {TIMEOUT_S} s)")

        # Not ready, said without waiting on Redis; publishes refused at once (503, retry).
        started = loop.time()
        ready = await api.get("/readyz")
        refused = await publish(api, 2)
        answered_s = loop.time() - started
        assert ready.status_code == 503
        assert refused.status_code == 503
        assert answered_s < TIMEOUT_S, answered_s
        # This node's clients are served meanwhile: a rider's call is answered.
        answer = await rider.call("refresh_token", {"token": make_token("rider-1")},
                                  timeout=5)
        assert answer["ok"] is True
        assert (await api.get("/healthz")).status_code == 200

        os.kill(frozen_redis.process.pid, signal.SIGCONT)
        await until(lambda: broker.up)
        assert (await api.get("/readyz")).status_code == 200
        assert (await publish(api, 3)).status_code == 202
        assert await asyncio.wait_for(markers.get(), 5) == 3
    await rider.disconnect()
