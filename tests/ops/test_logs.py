"""Structured logs: a request id on every HTTP request and Socket.IO connection, and no
credential in any log line, wherever a client puts it."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import socketio

from tests.apiclients import BACKOFFICE, api_section
from tests.conftest import DEV_SECRET, MakeGateway, MakeToken, gateway_config
from yellowbox_realtime.logs import JsonFormatter, configure

# Loggers the gateway writes to (the test's own clients log under other names).
SERVER_LOGGERS = ("yellowbox_realtime", "starlette", "asyncio")


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every record of the server's loggers at DEBUG, formatted as JSON lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    saved = []
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
    yield stream
    for logger, level in saved:
        logger.removeHandler(handler)
        logger.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


async def test_no_token_appears_in_the_logs_wherever_it_was_sent(
        make_gateway: MakeGateway, make_token: MakeToken, captured: io.StringIO) -> None:
    metrics_token = "metrics-secret-6b1f0c0e5a"
    gateway = await make_gateway(gateway_config(api=api_section(),
                                                metrics={"token": metrics_token}))
    good = make_token("ops-1", "operations")
    refreshed = make_token("ops-1", "operations")
    # Well-formed but wrongly signed, malformed, and a plain string: each refused somewhere.
    forged = good[:-6] + ("AAAAAA" if not good.endswith("AAAAAA") else "BBBBBB")
    malformed = "eyJhbGciOiJIUzI1NiJ9.not-json-at-all.c2lnbmF0dXJl"
    plain = "plain-secret-token-3d9f27"
    wrong_key = "ybrt_wrong-api-key-0123456789"
    secrets = [good, refreshed, forged, malformed, plain, wrong_key, BACKOFFICE,
               metrics_token, DEV_SECRET]
    url = gateway.url

    # Socket.IO: the auth payload (good, forged, malformed), a refresh, and the token also
    # in the handshake's query string, headers and cookie.
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(f"{url}?token={plain}&access_token={good}", auth={"token": good},
                         headers={"Authorization": f"Bearer {good}", "Cookie": f"t={good}",
                                  "X-Token": plain},
                         transports=["polling"], wait_timeout=5)
    answer = await client.call("refresh_token", {"token": refreshed}, timeout=5)
    assert answer["ok"], answer
    bad = await client.call("refresh_token", {"token": forged}, timeout=5)
    assert bad["ok"] is False
    await client.disconnect()
    for token in (forged, malformed, plain):
        refused = socketio.AsyncClient(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await refused.connect(url, auth={"token": token}, transports=["websocket"],
                                  wait_timeout=5)
        await refused.disconnect()

    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        # SSE: bearer header, a ticket in the query, a bad ticket, bad bearer.
        ticket = (await http.post("/sse/tickets",
                                  headers={"Authorization": f"Bearer {good}"})).json()["ticket"]
        secrets.append(ticket)
        async with http.stream("GET", f"/sse/alerts?ticket={ticket}") as stream:
            assert stream.status_code == 200
        async with http.stream("GET", "/sse/alerts",
                               headers={"Authorization": f"Bearer {good}"}) as stream:
            assert stream.status_code == 200
        assert (await http.get(f"/sse/alerts?ticket={plain}")).status_code == 401
        assert (await http.get("/sse/alerts",
                               headers={"Authorization": f"Bearer {malformed}"})
                ).status_code == 401
        # The publish API with a good key, a wrong one, and a person's token.
        ok = await http.post("/api/v1/channels/alerts/events",
                             headers={"Authorization": f"Bearer {BACKOFFICE}"},
                             json={"event": "note", "data": {"n": 1}})
        assert ok.status_code == 202
        for key in (wrong_key, forged):
            refused_api = await http.post("/api/v1/channels/alerts/events",
                                          headers={"Authorization": f"Bearer {key}"},
                                          json={"event": "note", "data": {}})
            assert refused_api.status_code in (401, 403)
        # Metrics with and without the right token, and a token in a path's query.
        assert (await http.get("/metrics", headers={"Authorization": f"Bearer {plain}"})
                ).status_code == 401
        assert (await http.get("/metrics",
                               headers={"Authorization": f"Bearer {metrics_token}"})
                ).status_code == 200
        assert (await http.get(f"/healthz?token={plain}&key={wrong_key}")).status_code == 200

    text = captured.getvalue()
    assert "socket connected" in text
    assert "GET /healthz 200" in text
    leaked = [secret for secret in secrets if secret in text]
    assert leaked == [], "credentials in the logs"
    # Not even a recognisable part: each JWT's signature.
    assert all(token.rsplit(".", 1)[-1] not in text for token in (good, refreshed))


async def test_requests_and_connections_carry_ids(
        make_gateway: MakeGateway, make_token: MakeToken, captured: io.StringIO) -> None:
    gateway = await make_gateway()
    async with httpx.AsyncClient(base_url=gateway.url, timeout=5) as http:
        first = await http.get("/healthz")
        second = await http.get("/healthz", headers={"X-Request-Id": "lb-7f3a.42"})
        unsafe = await http.get("/healthz", headers={"X-Request-Id": "a b\"c"})
    assert first.headers["x-request-id"] != unsafe.headers["x-request-id"]
    assert second.headers["x-request-id"] == "lb-7f3a.42"
    assert unsafe.headers["x-request-id"] != "a b\"c"
    logged = asyncio.Event()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("socket disconnected"):
                logged.set()

    watch = Watch()
    logging.getLogger("yellowbox_realtime").addHandler(watch)
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(gateway.url, auth={"token": make_token("rider-9", "rider")},
                         transports=["websocket"], wait_timeout=5)
    await client.disconnect()
    try:
        await asyncio.wait_for(logged.wait(), 5)
    finally:
        logging.getLogger("yellowbox_realtime").removeHandler(watch)

    entries = lines(captured)
    access = [e for e in entries if e["logger"] == "yellowbox_realtime.access"]
    assert {e["request_id"] for e in access} >= {first.headers["x-request-id"], "lb-7f3a.42"}
    for entry in access:
        assert {"method", "path", "status", "duration_ms", "client", "time", "level"} <= set(entry)
        assert "?" not in entry["path"]
    upgrade = next(e for e in access if e["status"] == 101)
    connected = next(e for e in entries if e["message"].startswith("socket connected"))
    gone = next(e for e in entries if e["message"].startswith("socket disconnected"))
    # The socket's lines point at the request that opened its connection.
    assert connected["request_id"] == gone["request_id"] == upgrade["request_id"]
    assert connected["uid"] == "rider-9"
    assert connected["role"] == "rider"
    assert connected["transport"] == "websocket"
    assert gone["reason"] in ("client namespace disconnect", "transport close")


def test_configure_picks_the_format(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    try:
        configure("info", "json")
        logging.getLogger("yellowbox_realtime.test").info("hello %s", "there",
                                                          extra={"request_id": "r-1"})
        entry = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
        assert entry["message"] == "hello there"
        assert entry["request_id"] == "r-1"
        assert entry["level"] == "info"
        assert entry["time"].endswith("Z")
        configure("info", "text")
        logging.getLogger("yellowbox_realtime.test").info("plain")
        assert capsys.readouterr().err.rstrip().endswith("INFO yellowbox_realtime.test: plain")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[1]:
            root.addHandler(handler)
        root.setLevel(saved[0])
