"""Helpers for the limits tests: a gateway on both loopback addresses, clients per address."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import socketio

from tests.conftest import DEV_SECRET, gateway_config
from yellowbox_realtime.app import Gateway

V4, V6 = "127.0.0.1", "::1"


@contextlib.asynccontextmanager
async def dual_stack_gateway(**sections: dict[str, Any]) -> AsyncIterator[Gateway]:
    """A gateway listening on 127.0.0.1 and ::1 (two addresses a limit tells apart)."""
    gateway = Gateway(gateway_config(**sections), dev_secret=DEV_SECRET)
    await gateway.start(host=[V4, V6], port=0)
    try:
        yield gateway
    finally:
        await gateway.stop()


def url(gateway: Gateway, family: str = V4) -> str:
    for host, port in gateway.addresses:
        if host == family:
            return f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"
    raise AssertionError(f"the gateway does not listen on {family}")


def eio(base: str, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"EIO": "4", **params}.items())
    return f"{base}/socket.io/?{query}"


async def polling_session(client: httpx.AsyncClient, base: str) -> httpx.Response:
    return await client.get(eio(base, transport="polling"))


class Listener:
    """A python-socketio client that counts one event."""

    def __init__(self, event: str = "tick") -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.received: asyncio.Queue[Any] = asyncio.Queue()
        # Broadcasts carry the stream offset as a last argument (connection-state recovery).
        self.sio.on(event, lambda first, *_offset: self.received.put_nowait(first))

    async def connect(self, base: str, token: str) -> Listener:
        await self.sio.connect(base, auth={"token": token}, transports=["websocket"],
                               wait_timeout=5)
        return self

    async def still_receives(self, gateway: Gateway, room: str) -> None:
        """An event published now to ``room`` arrives."""
        marker = f"m-{time.monotonic_ns()}"
        gateway.to(room).emit("tick", marker)
        while True:
            got = await asyncio.wait_for(self.received.get(), 5)
            if got == marker:
                return


async def ws_session(http: aiohttp.ClientSession, base: str
                     ) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(eio(base, transport="websocket"))
    opened = await ws.receive_str(timeout=5)
    assert opened.startswith("0")
    return ws


async def ws_join(ws: aiohttp.ClientWebSocketResponse, token: str) -> str:
    """CONNECT to the main namespace; returns the server's answer packet."""
    await ws.send_str("40" + json.dumps({"token": token}))
    while True:
        text = await ws.receive_str(timeout=5)
        if text.startswith("4"):
            return text
