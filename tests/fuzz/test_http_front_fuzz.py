"""Arbitrary bytes and mangled requests to a running gateway over raw TCP: every connection
is answered or closed (never left hanging), nothing is logged as an error, and a normal
client is served after each one."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.live import ErrorLog, exchange, healthy, live_gateway
from tests.fuzz.strategies import ws_stream
from yellowbox_realtime.app import Gateway

PATHS = ["/", "/healthz", "/readyz", "/metrics", "/socket.io/",
         "/socket.io/?EIO=4&transport=polling",
         "/socket.io/?EIO=4&transport=websocket", "/socket.io/?EIO=4&transport=polling&sid=x",
         "/sse/dashboard", "/sse?channels=a,b", "/sse/tickets", "/api/v1/webhooks/n8n",
         "/api/v1/channels/alerts/events", "/api/v1/openapi.json"]
HEADERS = ["Host", "Content-Length", "Transfer-Encoding", "Upgrade", "Connection",
           "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Origin", "Authorization",
           "Content-Type", "Last-Event-ID", "X-Request-Id", "X-Forwarded-For", "Expect"]
VALUES = ["websocket", "Upgrade", "13", "dGhlIHNhbXBsZSBub25jZQ==", "chunked", "0", "10",
          "99999999999999999999", "-1", "Bearer x.y.z", "application/json", "1:2",
          "http://evil.example", "keep-alive, Upgrade", "100-continue", ""]

header_lines = st.lists(st.tuples(
    st.sampled_from(HEADERS) | st.text(max_size=12),
    st.sampled_from(VALUES) | st.text(max_size=30)), max_size=8)

requests = st.one_of(
    st.binary(max_size=400),
    st.builds(
        lambda method, path, version, headers, body: (
            f"{method} {path} {version}\r\n".encode("utf-8", "surrogateescape")
            + b"".join(f"{n}: {v}\r\n".encode("utf-8", "surrogateescape") for n, v in headers)
            + b"\r\n" + body),
        st.sampled_from(["GET", "POST", "OPTIONS", "PUT", "DELETE", "HEAD"]) | st.text(max_size=8),
        st.sampled_from(PATHS) | st.text(max_size=40).map(lambda t: "/" + t),
        st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/2.0"]) | st.text(max_size=10),
        header_lines,
        st.binary(max_size=200) | ws_stream | st.just(b"0\r\n\r\n"),
    ),
)


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[Gateway, ErrorLog]]:
    with live_gateway(server={"header_timeout_s": 2.0, "idle_timeout_s": 2.0},
                      engineio={"connect_timeout_ms": 500}) as running:
        yield running


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requests)
def test_any_request_is_answered_or_closed_and_others_are_served(
        live: tuple[Gateway, ErrorLog], request_bytes: bytes) -> None:
    gateway, errors = live
    answer = exchange(gateway.port, request_bytes)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 "), answer[:200]
    assert healthy(gateway.port)
    assert errors.messages() == []


def test_the_gateway_still_opens_sessions_after_the_fuzzing(
        live: tuple[Gateway, ErrorLog]) -> None:
    gateway, errors = live
    answer = exchange(gateway.port, b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n"
                                    b"Host: x\r\nConnection: close\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert json.loads(body[1:])["sid"]
    assert errors.messages() == []
