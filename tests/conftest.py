"""Fixtures shared by the tests: a real gateway on loopback and development tokens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from yellowbox_realtime.app import Gateway
from yellowbox_realtime.auth.dev import mint_dev_token
from yellowbox_realtime.config import Config

# Fixtures for every test directory: the API (api_gateway, http, listen) and the real peers
# (node_driver, receiver).
pytest_plugins = ("tests.apiclients", "tests.auth.support", "tests.peers")

DEV_SECRET = "tests-only-dev-secret-0123456789abcdef"

MakeGateway = Callable[..., Awaitable[Gateway]]
MakeToken = Callable[..., str]


def gateway_config(**sections: dict[str, Any]) -> Config:
    """A config for tests: loopback, a random port, any origin."""
    base: dict[str, dict[str, Any]] = {
        "server": {"host": "127.0.0.1", "port": 0, "allowed_origins": ["*"]},
        # No tiles from outside: a test that wants a basemap serves its own tiles.
        "dashboard": {"tile_url": ""},
    }
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    return Config.from_mapping(base)


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item,
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Every async test runs on both loops: uvloop in production, asyncio as the fallback."""
    import uvloop

    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


@pytest.fixture
def make_token() -> MakeToken:
    def make(uid: str, role: str = "rider", ttl_s: int = 3600, **extra: Any) -> str:
        return mint_dev_token(DEV_SECRET, uid, role, ttl_s=ttl_s, **extra)
    return make


@pytest.fixture
async def make_gateway() -> AsyncIterator[MakeGateway]:
    started: list[Gateway] = []

    async def make(config: Config | None = None, **kwargs: Any) -> Gateway:
        gateway = Gateway(config or gateway_config(), dev_secret=DEV_SECRET, **kwargs)
        await gateway.start()
        started.append(gateway)
        return gateway

    yield make
    for gateway in started:
        await gateway.stop()


@pytest.fixture
async def gateway(make_gateway: MakeGateway) -> Gateway:
    return await make_gateway()
