"""Fixtures for the tests against a real n8n: the n8n (from ``YELLOWBOX_N8N_BIN``, or skipped)
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

from .n8nprocess import BIN_VARIABLE, N8n, free_port

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


def n8n_binary() -> str:
    binary = os.environ.get(BIN_VARIABLE)
    if not binary:
        pytest.skip(f"{BIN_VARIABLE} is not set: these tests need a real n8n (.ci/run "
                    "installs one with scripts/install-n8n.sh; see tests/n8n/README.md)")
    return binary


def started_n8n(folder: Path, gateway_url: str) -> N8n:
    """An n8n running the docs' workflow, posting its replies to ``gateway_url``."""
    instance = N8n(n8n_binary(), folder, {
        "YELLOWBOX_WEBHOOK_SECRET": SECRET, "YELLOWBOX_GATEWAY_URL": gateway_url})
    workflow_id = instance.import_workflow(WORKFLOW)
    instance.activate(workflow_id)
    instance.start()
    return instance


@pytest.fixture(scope="module")
def n8n(receiver: Receiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[N8n]:
    instance = started_n8n(tmp_path_factory.mktemp("n8n"), receiver.url)
    yield instance
    instance.stop()


@dataclass(frozen=True)
class N8nForGateway:
    n8n: N8n
    # The port the gateway must listen on: n8n posts its replies there.
    gateway_port: int


@pytest.fixture(scope="module")
def n8n_for_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[N8nForGateway]:
    port = free_port()
    instance = started_n8n(tmp_path_factory.mktemp("n8n-gw"), f"http://127.0.0.1:{port}")
    yield N8nForGateway(instance, port)
    instance.stop()
