"""What the gateway relies on from redis-py itself, on a real redis-server."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from ..redis_server import RedisServer


async def test_cancelling_a_task_mid_command_cancels_it(redis: RedisServer) -> None:
    """Every Redis loop (broker, cluster lease, outbox) stops by being cancelled, so a
    cancellation that lands while a command is in flight must end the task, not be
    swallowed (redis-py 8.0 to 8.2 swallow some, and a stop then waits forever). Each
    round cancels at a later point of a run of commands, walking through the points at
    which a command can be when the cancellation arrives."""
    client = aioredis.from_url(redis.url)

    async def commands() -> None:
        while True:
            await client.get("k")
            async with client.pipeline(transaction=False) as pipe:
                pipe.set("k", "v")
                pipe.hgetall("h")
                await pipe.execute()

    swallowed: list[int] = []
    try:
        for turns in range(200):
            task = asyncio.create_task(commands())
            for _ in range(turns):
                await asyncio.sleep(0)
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=5)
            if not done:
                swallowed.append(turns)
                while not task.done():  # keep cancelling until it ends, to clean up
                    task.cancel()
                    await asyncio.wait({task}, timeout=0.1)
                break
            if not task.cancelled():
                task.result()  # a command's own error, shown as it is
        assert swallowed == [], f"cancellation swallowed after {swallowed} loop turns"
    finally:
        await client.aclose()
