"""A connection that ends is freed by reference counting, not left for the cycle collector:
the gateway runs with what startup loaded frozen out of the collector's scans (``serve``),
and full collections that walk thousands of live connections pause every client. This keeps
connections out of cycles, so their memory returns when they close, with the collector off."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

import socketio

from tests.conftest import MakeToken
from tests.waiting import until
from yellowbox_realtime.app import Gateway
from yellowbox_realtime.server.engineio import EngineSession, WebSocketTransport
from yellowbox_realtime.server.http import HttpConnection
from yellowbox_realtime.server.namespaces import Socket

TRANSPORTS = ["websocket", "websocket", "websocket", "polling", "polling"]


@contextlib.contextmanager
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def connection_objects(gateway: Gateway) -> list[object]:
    """The gateway's HTTP connections, sessions, sockets and WebSocket connections that the
    collector tracks: live, or unreachable and waiting for a collection that is off. (HTTP
    connections are not told apart by gateway: ``collector_off`` collected older ones.)"""
    main = gateway.main
    found: list[object] = []
    for obj in gc.get_objects():
        if isinstance(obj, HttpConnection) \
                or (isinstance(obj, Socket) and obj.namespace is main) \
                or (isinstance(obj, EngineSession | WebSocketTransport)
                    and obj.server is gateway.engine):
            found.append(obj)
    return found


async def test_closed_connections_are_freed_without_the_cycle_collector(
        gateway: Gateway, make_token: MakeToken) -> None:
    with collector_off():
        clients = [socketio.AsyncClient(reconnection=False) for _ in TRANSPORTS]
        for n, (client, transport) in enumerate(zip(clients, TRANSPORTS, strict=True)):
            await client.connect(gateway.url, auth={"token": make_token(f"ops{n}", "operations")},
                                 transports=[transport], wait_timeout=5)
            await client.call("subscribe_rider_locations", timeout=5)
        assert len(connection_objects(gateway)) >= 2 * len(clients)
        for client in clients:
            await client.disconnect()
        # Until the server has torn them down; cyclic garbage would stay, and time out.
        await until(lambda: not connection_objects(gateway), timeout=5.0)
