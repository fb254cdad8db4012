"""A gateway running in a thread of its own, for tests that drive it with blocking sockets
(hypothesis examples are synchronous) and record every error it logs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

from tests.conftest import DEV_SECRET, gateway_config
from yellowbox_realtime.app import Gateway


class ErrorLog(logging.Handler):
    """Every ERROR record: an exception in a handler, a callback or a protocol."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self) -> list[str]:
        return [self.format(r) for r in self.records]


@contextlib.contextmanager
def live_gateway(**sections: dict[str, Any]) -> Iterator[tuple[Gateway, ErrorLog]]:
    errors = ErrorLog()
    root = logging.getLogger()
    root.addHandler(errors)
    loop = asyncio.new_event_loop()
    gateway = Gateway(gateway_config(**sections), dev_secret=DEV_SECRET)
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(gateway.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="live-gateway", daemon=True)
    thread.start()
    assert started.wait(10), "the gateway did not start"
    try:
        yield gateway, errors
    finally:
        asyncio.run_coroutine_threadsafe(gateway.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        root.removeHandler(errors)


def exchange(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send ``data``, end the sending side, and read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(ConnectionError):
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        received = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                received += chunk
        return received


def healthy(port: int) -> bool:
    answer = exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    return answer.startswith(b"HTTP/1.1 200 ")
