"""A real ``yellowbox-realtime serve`` for the MCP tests, the official SDK's clients on its
``/mcp`` (streamable HTTP, handshake-era or 2026-07-28), and riders over python-socketio
that move so that subscribed resources change."""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx2
import pytest
import socketio
from mcp.client.session import ClientSession, MessageHandlerFnT
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from tests.apiclients import api_section
from tests.conftest import DEV_SECRET, MakeGateway, gateway_config
from tests.processes import GatewayProcess, start_gateway, write_config
from yellowbox_realtime.api.keys import hash_key
from yellowbox_realtime.app import Gateway
from yellowbox_realtime.auth.dev import mint_dev_token
from yellowbox_realtime.cli import MCP_TOKEN_ENV

# A key an assistant might be given: everything but the outbox.
ASSISTANT_KEY = "ybrt_test-assistant-key-0123456789"
# The bounds the tests push past (small, so that reaching them is cheap).
SESSIONS_PER_USER = 3
SUBSCRIPTIONS_PER_USER = 2
RESOURCES_PER_SUBSCRIPTION = 4
MAX_BODY_BYTES = 64 * 1024
UPDATE_INTERVAL_S = 0.2

Session = Callable[..., AbstractAsyncContextManager[ClientSession]]


def token(uid: str, role: str = "operations") -> str:
    return mint_dev_token(DEV_SECRET, uid, role)


def mcp_sections() -> dict[str, dict[str, Any]]:
    api = api_section()
    api["keys"]["assistant"] = hash_key(ASSISTANT_KEY)
    api["scopes"]["assistant"] = ["publish", "history", "read", "geofences", "alerts"]
    return {
        "server": {"host": "127.0.0.1", "max_body_bytes": MAX_BODY_BYTES},
        "auth": {"provider": "dev", "dev_secret": DEV_SECRET},
        "api": api,
        "mcp": {"max_sessions_per_user": SESSIONS_PER_USER,
                "max_subscriptions_per_user": SUBSCRIPTIONS_PER_USER,
                "max_resources_per_subscription": RESOURCES_PER_SUBSCRIPTION,
                "update_interval_s": UPDATE_INTERVAL_S},
    }


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[GatewayProcess]:
    """``yellowbox-realtime serve`` in a process of its own, MCP on, with dev tokens."""
    config = tmp_path / "gateway.toml"
    write_config(config, mcp_sections())
    gateway = await start_gateway(config, tmp_path / "state")
    yield gateway
    with contextlib.suppress(ProcessLookupError):
        await gateway.end(signal.SIGTERM)


@asynccontextmanager
async def open_session(url: str, credential: str, *, handshake: bool = False,
                       message_handler: MessageHandlerFnT | None = None,
                       ) -> AsyncIterator[ClientSession]:
    """An MCP client session on ``url``/mcp with ``credential`` as the bearer;
    ``handshake``: the handshake-era protocol (initialize, a session id) instead of
    2026-07-28's stateless requests."""
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {credential}"},
                              timeout=httpx2.Timeout(30.0, read=300.0))
    async with (http, streamable_http_client(url + "/mcp", http_client=http) as (read, write),
                ClientSession(read, write, read_timeout_seconds=15,
                              message_handler=message_handler) as client):
        await begin(client, handshake)
        yield client


async def begin(client: ClientSession, handshake: bool) -> None:
    """Open the session in the dialect asked for: ``initialize`` (handshake-era) or
    ``discover`` (stateless)."""
    if handshake:
        await client.initialize()
    else:
        await client.discover()


@asynccontextmanager
async def open_stdio_session(url: str, credential: str, *, handshake: bool = False,
                             message_handler: MessageHandlerFnT | None = None,
                             ) -> AsyncIterator[ClientSession]:
    """The same through ``yellowbox-realtime mcp`` (the stdio relay a desktop assistant
    starts), with the credential in its environment."""
    relay = StdioServerParameters(
        command=sys.executable, args=["-m", "yellowbox_realtime.cli", "mcp", "--url", url],
        env={MCP_TOKEN_ENV: credential})
    async with (stdio_client(relay) as (read, write),
                ClientSession(read, write, read_timeout_seconds=15,
                              message_handler=message_handler) as client):
        await begin(client, handshake)
        yield client


@pytest.fixture
def session(served: GatewayProcess) -> Session:
    """:func:`open_session` on ``served``."""
    return partial(open_session, served.url)


@pytest.fixture(params=["http", "stdio"])
def any_session(request: pytest.FixtureRequest, served: GatewayProcess) -> Session:
    """:func:`open_session` or :func:`open_stdio_session` on ``served``: each test that
    takes it runs over both transports."""
    opener = open_session if request.param == "http" else open_stdio_session
    return partial(opener, served.url)


@pytest.fixture
async def in_process(make_gateway: MakeGateway) -> Gateway:
    """The same gateway in this process, for tests that look at what it holds."""
    sections = mcp_sections()
    del sections["auth"]
    return await make_gateway(gateway_config(**sections))


class Rider:
    """Rider ``rider-1`` connected over Socket.IO, as the app connects."""

    def __init__(self, sio: socketio.AsyncClient) -> None:
        self.sio = sio

    async def move(self, latitude: float, longitude: float) -> dict[str, Any]:
        return await self._call("publish_location", {
            "latitude": latitude, "longitude": longitude,
            "timestamp": int(time.time() * 1000)})

    async def sos(self, latitude: float, longitude: float) -> dict[str, Any]:
        return await self._call("rider_sos", {"latitude": latitude, "longitude": longitude})

    async def _call(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = await self.sio.call(event, data, timeout=10)
        assert answer["ok"], answer
        return answer


@pytest.fixture
async def rider(served: GatewayProcess) -> AsyncIterator[Rider]:
    async with connect_rider(served.url) as connected:
        yield connected


@asynccontextmanager
async def connect_rider(url: str, uid: str = "rider-1") -> AsyncIterator[Rider]:
    sio = socketio.AsyncClient(reconnection=False)
    await sio.connect(url, auth={"token": token(uid, "rider")}, transports=["websocket"],
                      wait_timeout=10)
    try:
        yield Rider(sio)
    finally:
        await sio.disconnect()
