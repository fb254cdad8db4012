"""The access log cannot be driven faster than its budget: a client sending requests as
fast as it can gets at most ``server.access_log_burst`` lines, then the refill, while
everyone is still served."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from tests.conftest import MakeGateway, gateway_config

BURST = 20


async def test_a_request_flood_writes_at_most_the_access_log_budget(
        make_gateway: MakeGateway, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="yellowbox_realtime.access")
    gateway = await make_gateway(gateway_config(server={
        "access_logs_per_s": 1.0, "access_log_burst": BURST}))
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with httpx.AsyncClient(base_url=gateway.url) as flood:
        statuses = [(await flood.get("/healthz")).status_code for _ in range(500)]
    elapsed = loop.time() - started
    assert statuses == [200] * 500
    logged = [r for r in caplog.records if r.name == "yellowbox_realtime.access"]
    # The burst, and what refilled at one a second while the flood ran.
    assert BURST <= len(logged) <= BURST + int(elapsed) + 1
    # Another client is served, and its requests are counted as ever.
    async with httpx.AsyncClient(base_url=gateway.url) as other:
        assert (await other.get("/healthz")).status_code == 200
    assert gateway.counters.http_responses[200] >= 501
