"""A real redis-server and gateway PROCESSES (``yellowbox-realtime serve``) on loopback,
configured with ``[broker] kind = "redis"``: a cluster as it runs in production."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.apiclients import api_section
from tests.conftest import DEV_SECRET
from tests.processes import GatewayProcess, start_gateway, write_config
from tests.redis_server import RedisServer, redis_server

# A cluster node is a gateway process.
Node = GatewayProcess


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
        node = await start_gateway(config, tmp_path / "state")
        nodes.append(node)
        async with httpx.AsyncClient(base_url=node.url, timeout=5) as http:
            assert (await http.get("/healthz")).status_code == 200
            assert (await http.get("/readyz")).status_code == 200
        return node

    yield start
    for node in nodes:
        await node.end()


