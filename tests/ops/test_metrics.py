"""``GET /metrics`` after real traffic, parsed with prometheus_client's own parser."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import pytest
import socketio
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from starlette.requests import Request

from tests.conftest import MakeGateway, MakeToken, gateway_config
from tests.server.test_slow_consumer import read_to_end, stalled_client
from yellowbox_realtime.api.metrics import CONTENT_TYPE, MetricsApi
from yellowbox_realtime.app import Gateway
from yellowbox_realtime.config import MetricsConfig
from yellowbox_realtime.errors import AuthenticationError, ForbiddenError

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample by name and labels; fails on anything the official parser refuses."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[name, frozenset(labels.items())]


async def scrape(gateway: Gateway, **headers: str) -> Samples:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{gateway.url}/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == CONTENT_TYPE
    return parse(response.text)


async def test_metrics_describe_connections_traffic_and_refusals(
        gateway: Gateway, make_token: MakeToken) -> None:
    before = await scrape(gateway)
    ops = socketio.AsyncClient(reconnection=False)
    rider = socketio.AsyncClient(reconnection=False)
    updates: asyncio.Queue[Any] = asyncio.Queue()
    ops.on("rider_location_update", lambda *args: updates.put_nowait(args))
    await ops.connect(gateway.url, auth={"token": make_token("ops-1", "operations")},
                      transports=["websocket"], wait_timeout=5)
    await rider.connect(gateway.url, auth={"token": make_token("rider-1", "rider")},
                        transports=["polling"], wait_timeout=5)
    async with httpx.AsyncClient(timeout=5) as http, http.stream(
            "GET", f"{gateway.url}/sse/alerts",
            headers={"Authorization": f"Bearer {make_token('ops-2', 'operations')}"}) as sse:
        assert sse.status_code == 200
        try:
            assert (await ops.call("subscribe_rider_locations", timeout=5))["ok"]
            for _ in range(3):
                answer = await rider.call("publish_location",
                                          {"latitude": 25.2, "longitude": 55.27},
                                          timeout=5)
                assert answer["ok"], answer
            refused = await rider.call("publish_location", {"latitude": 500}, timeout=5)
            assert refused["code"] == "validation_failed"
            for _ in range(3):
                await asyncio.wait_for(updates.get(), 5)
            after = await scrape(gateway)
        finally:
            await ops.disconnect()
            await rider.disconnect()

    assert value(after, "ybrt_connections", transport="websocket", role="operations") == 1
    assert value(after, "ybrt_connections", transport="polling", role="rider") == 1
    assert value(after, "ybrt_connections", transport="sse", role="operations") == 1
    assert value(after, "ybrt_sse_streams", channel="alerts") == 1
    # Three updates reached the operator, and at least the rider's acks went with them.
    delivered = value(after, "ybrt_deliveries_total") - value(before, "ybrt_deliveries_total")
    assert delivered >= 3
    assert value(after, "ybrt_publishes_total") > value(before, "ybrt_publishes_total")
    assert value(after, "ybrt_broker_published_total") >= 3
    assert value(after, "ybrt_refused_events_total", code="validation_failed") == 1
    # The flushes that carried the updates were sampled.
    assert value(after, "ybrt_publish_flush_latency_seconds_count") >= 1
    assert value(after, "ybrt_publish_flush_latency_seconds_bucket", le="+Inf") == \
        value(after, "ybrt_publish_flush_latency_seconds_count")
    assert value(after, "ybrt_history_entries") >= 3
    assert value(after, "ybrt_alerts_open") == 0
    assert value(after, "ybrt_broker_up", broker="memory") == 1
    assert value(after, "ybrt_outbox_enabled") == 0
    assert value(after, "ybrt_ready") == 1
    assert value(after, "ybrt_http_responses_total", status="200") >= 1
    for transport in ("websocket", "polling", "sse"):
        assert value(after, "ybrt_output_buffer_bytes", transport=transport) >= 0
        assert value(after, "ybrt_slow_consumer_disconnects_total", transport=transport) == 0


async def test_a_slow_consumer_is_counted_with_the_bytes_dropped(
        make_gateway: MakeGateway, make_token: MakeToken) -> None:
    gateway = await make_gateway(gateway_config(server={"max_buffer_bytes": 64 * 1024}))
    slow, _ = await stalled_client(gateway.port, make_token("slow", "operations"))
    try:
        for sent in range(1, 20_001):
            gateway.to_role("operations").emit("flood", {"blob": "x" * 1000})
            if sent % 20 == 0:
                await asyncio.sleep(0)
                if gateway.counters.slow_consumers:
                    break
        samples = await scrape(gateway)
    finally:
        slow.setblocking(False)
        await read_to_end(slow)
        slow.close()
    assert value(samples, "ybrt_slow_consumer_disconnects_total", transport="websocket") == 1
    assert value(samples, "ybrt_dropped_bytes_total", transport="websocket") > 0
    assert value(samples, "ybrt_connections", transport="websocket", role="none") == 0


async def test_outbox_figures_appear_when_the_outbox_is_on(
        make_gateway: MakeGateway, tmp_path: Any) -> None:
    gateway = await make_gateway(gateway_config(outbox={
        "urls": {"n8n": "http://127.0.0.1:9/hook"}, "secrets": {"n8n": "s" * 32},
        "path": str(tmp_path / "outbox.sqlite3")}))
    samples = await scrape(gateway)
    assert value(samples, "ybrt_outbox_enabled") == 1
    for name in ("ybrt_outbox_backlog", "ybrt_outbox_dead_letters", "ybrt_outbox_in_flight",
                 "ybrt_outbox_delivered_total", "ybrt_outbox_dropped_total"):
        assert value(samples, name) == 0


async def test_a_token_is_required_when_configured(make_gateway: MakeGateway) -> None:
    token = "metrics-test-token-0123456789"
    gateway = await make_gateway(gateway_config(metrics={"token": token}))
    async with httpx.AsyncClient() as http:
        url = f"{gateway.url}/metrics"
        assert (await http.get(url)).status_code == 401
        wrong = await http.get(url, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert wrong.headers["www-authenticate"].startswith("Bearer")
    samples = await scrape(gateway, Authorization=f"Bearer {token}")
    assert ("ybrt_deliveries_total", frozenset()) in samples


async def test_metrics_can_be_turned_off(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(gateway_config(metrics={"enabled": False}))
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{gateway.url}/metrics")).status_code == 404


def request_from(host: str, **headers: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/metrics", "query_string": b"",
                    "client": (host, 40000),
                    "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]})


async def nothing() -> list[Metric]:
    return []


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "127.0.0.53"])
def test_loopback_clients_may_scrape_without_a_token(host: str) -> None:
    MetricsApi(MetricsConfig(), nothing).authorize(request_from(host))


@pytest.mark.parametrize("host", ["10.0.0.7", "192.168.1.2", "2001:db8::1", "unknown"])
def test_other_clients_are_refused_without_a_token(host: str) -> None:
    with pytest.raises(ForbiddenError):
        MetricsApi(MetricsConfig(), nothing).authorize(request_from(host))


def test_with_a_token_any_address_may_scrape_with_it() -> None:
    api = MetricsApi(MetricsConfig(token="t0ken"), nothing)
    api.authorize(request_from("10.0.0.7", Authorization="Bearer t0ken"))
    with pytest.raises(AuthenticationError):
        api.authorize(request_from("127.0.0.1"))
    with pytest.raises(AuthenticationError):
        api.authorize(request_from("127.0.0.1", Authorization="Basic t0ken"))


def test_loopback_check_does_not_resolve_names() -> None:
    # "localhost" is a name, not an address: the ASGI client field is always an address.
    with pytest.raises(ForbiddenError):
        MetricsApi(MetricsConfig(), nothing).authorize(request_from(socket.gethostname()))


async def test_user_channels_are_counted_without_user_ids(
        gateway: Gateway, make_token: MakeToken) -> None:
    async with httpx.AsyncClient(timeout=5) as http, http.stream(
            "GET", f"{gateway.url}/sse?channels=user:ops-3,alerts",
            headers={"Authorization": f"Bearer {make_token('ops-3', 'operations')}"}) as sse:
        assert sse.status_code == 200
        text = (await http.get(f"{gateway.url}/metrics")).text
    samples = parse(text)
    assert value(samples, "ybrt_sse_streams", channel="user:*") == 1
    assert value(samples, "ybrt_sse_streams", channel="alerts") == 1
    assert "ops-3" not in text
