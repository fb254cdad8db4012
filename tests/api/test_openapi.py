"""The OpenAPI description matches the implementation: schemathesis generates requests from
the document the gateway serves and checks every response against it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.apiclients import api_section, bearer
from tests.conftest import DEV_SECRET, gateway_config
from yellowbox_realtime.app import Gateway

WEBHOOK_SECRET = "tests-only-webhook-secret-0123456789"


@pytest.fixture
def served_url() -> Iterator[str]:
    """A gateway on its own event loop in a thread: schemathesis calls it synchronously."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    # A generous rate: the test sends many requests with one key.
    gateway = Gateway(gateway_config(api=api_section(rate_per_s=1e6, burst=1_000_000),
                                     webhooks={"secrets": {"n8n": [WEBHOOK_SECRET],
                                                           "firebase": [WEBHOOK_SECRET]}}),
                      dev_secret=DEV_SECRET)
    asyncio.run_coroutine_threadsafe(gateway.start(), loop).result(10)
    try:
        yield gateway.url
    finally:
        asyncio.run_coroutine_threadsafe(gateway.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.mark.parametrize("operation_id", ["publishToChannel", "publishToUser", "publishToRole",
                                          "readHistory", "openapi", "outboxStats",
                                          "outboxDeadLetters", "outboxReplay",
                                          "webhookN8n", "webhookFirebase"])
def test_responses_match_the_description(served_url: str, operation_id: str) -> None:
    # Loaded from the gateway, so what is checked is the document it serves.
    api = schemathesis.openapi.from_url(f"{served_url}/api/v1/openapi.json")
    operation = api.find_operation_by_id(operation_id)

    @given(operation.as_strategy())
    @settings(max_examples=60, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate(headers=bearer())

    check()


def test_the_document_is_openapi_3_1_and_lists_every_route(served_url: str) -> None:
    document = httpx.get(f"{served_url}/api/v1/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == {
        "/api/v1/channels/{channel}/events", "/api/v1/users/{uid}/events",
        "/api/v1/roles/{role}/events", "/api/v1/channels/{channel}/history",
        "/api/v1/openapi.json", "/api/v1/outbox", "/api/v1/outbox/dead-letters",
        "/api/v1/outbox/dead-letters/{id}/replay", "/api/v1/webhooks/n8n",
        "/api/v1/webhooks/firebase"}
