"""A real redis-server and gateway PROCESSES (``yellowbox-realtime serve``) on loopback,
configured with ``[broker] kind = "redis"``: a cluster as it runs in production."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.apiclients import api_section
from tests.conftest import DEV_SECRET
from tests.interop.nodeclient import NodeDriver, node_missing_reason
from tests.outbox.test_restart import write_config
from tests.redis_server import RedisServer, redis_server

LISTENING = re.compile(r"listening on (http://\S+)")


class Node:
    """One gateway process; stopped by its pid."""

    def __init__(self, process: asyncio.subprocess.Process, url: str) -> None:
        self.process = process
        self.url = url
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.address = (host, int(port))
        self._drain = asyncio.get_running_loop().create_task(self._discard())

    async def _discard(self) -> None:
        assert self.process.stderr is not None
        while await self.process.stderr.readline():
            pass

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.returncode is None:
            os.kill(self.process.pid, sig)
        try:
            await asyncio.wait_for(self.process.wait(), 20)
        except TimeoutError:
            os.kill(self.process.pid, signal.SIGKILL)
            await self.process.wait()
        await self._drain


StartNode = Callable[[], Awaitable[Node]]


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture
async def start_node(redis: RedisServer, tmp_path: Path) -> AsyncIterator[StartNode]:
    """Nodes of one cluster (one key prefix per test)."""
    config = tmp_path / "gateway.toml"
    write_config(config, {
        "server": {"host": "127.0.0.1", "allowed_origins": ["*"], "log_level": "info"},
        "auth": {"dev_secret": DEV_SECRET},
        "api": api_section(),
        "outbox": {"enabled": False},
        "broker": {"kind": "redis", "url": redis.url,
                   "prefix": f"c{uuid.uuid4().hex[:8]}:"},
    })
    nodes: list[Node] = []

    async def start() -> Node:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "yellowbox_realtime.cli", "serve", "--config", str(config),
            "--port", "0", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "YELLOWBOX_STATE_DIR": str(tmp_path / "state")})
        assert process.stderr is not None
        seen = []
        while True:
            line = (await asyncio.wait_for(process.stderr.readline(), 20)).decode()
            seen.append(line)
            assert line, "the gateway exited:\n" + "".join(seen)
            found = LISTENING.search(line)
            if found:
                break
        node = Node(process, found.group(1))
        nodes.append(node)
        async with httpx.AsyncClient(base_url=node.url, timeout=5) as http:
            assert (await http.get("/healthz")).status_code == 200
            assert (await http.get("/readyz")).status_code == 200
        return node

    yield start
    for node in nodes:
        await node.stop()


@pytest.fixture
async def node_driver() -> AsyncIterator[NodeDriver]:
    reason = node_missing_reason()
    if reason is not None:
        pytest.skip(reason)
    driver = await NodeDriver.start()
    yield driver
    await driver.close()
