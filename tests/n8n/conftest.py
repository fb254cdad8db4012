"""Fixtures for the tests against a real n8n: the n8n (from ``YBRT_N8N_BIN``, or skipped)
with the docs' workflow imported and active, and a receiver standing in for the gateway's
inbound webhook, recording what n8n posts back."""

from __future__ import annotations

import http.server
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .n8nprocess import BIN_VARIABLE, N8n

SECRET = "whsec-n8n-tests-0123456789abcdef"
WORKFLOW = Path(__file__).resolve().parents[2] / "docs" / "n8n" / "gateway-round-trip.json"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """An HTTP server on loopback answering 202 to every POST and queueing what came."""

    def __init__(self) -> None:
        self.requests: queue.Queue[Received] = queue.Queue()
        received = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                received.put(Received(self.path,
                                      {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(202)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def next(self, timeout_s: float = 60.0) -> Received:
        return self.requests.get(timeout=timeout_s)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture(scope="module")
def n8n(receiver: Receiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[N8n]:
    binary = os.environ.get(BIN_VARIABLE)
    if not binary:
        pytest.skip(f"{BIN_VARIABLE} is not set: these tests need a real n8n, which CI does "
                    "not install (see tests/n8n/README.md)")
    instance = N8n(binary, tmp_path_factory.mktemp("n8n"), {
        "YELLOWBOX_WEBHOOK_SECRET": SECRET, "YELLOWBOX_GATEWAY_URL": receiver.url})
    workflow_id = instance.import_workflow(WORKFLOW)
    instance.activate(workflow_id)
    instance.start()
    yield instance
    instance.stop()
