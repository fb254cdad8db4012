"""The whole loop through a real n8n: the gateway's outbox delivers a routed event to the
docs' workflow, n8n checks the signature and posts ``n8n_processed`` back to the gateway's
n8n webhook, signed, and a Socket.IO subscriber receives it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.apiclients import Listener, send_webhook
from tests.conftest import MakeGateway, MakeToken, gateway_config

from .conftest import SECRET, N8nForGateway

pytestmark = pytest.mark.n8n

# n8n runs a workflow per delivery and posts back over HTTP; slower than the stand-in.
TIMEOUT_S = 60.0


async def next_event(listener: Listener, event: str) -> Any:
    got, args, _ = await listener.next(timeout=TIMEOUT_S)
    assert got == event, (got, args)
    return args[0]


async def test_gateway_to_n8n_and_back_to_a_subscriber(
        n8n_for_gateway: N8nForGateway, make_gateway: MakeGateway, make_token: MakeToken,
        tmp_path: Path) -> None:
    n8n = n8n_for_gateway.n8n
    gateway = await make_gateway(gateway_config(
        server={"port": n8n_for_gateway.gateway_port},
        outbox={"urls": {"n8n": n8n.webhook("yellowbox-gateway")}, "secrets": {"n8n": SECRET},
                "events": {"n8n": ["expense_status_change"]},
                "path": str(tmp_path / "outbox.sqlite3"), "backoff_base_s": 0.2,
                "backoff_cap_s": 1.0, "poll_interval_s": 0.2},
        webhooks={"secrets": {"n8n": [SECRET], "firebase": [SECRET]}}))
    finance = Listener()
    await finance.sio.connect(gateway.url, auth={"token": make_token("fin-1", "finance")},
                              transports=["websocket"], wait_timeout=5)
    try:
        assert (await finance.sio.call("subscribe_expense_updates", timeout=5))["ok"]
        await next_event(finance, "expenses_snapshot")
        change = {"id": "ce-42", "type": "expense", "change": "updated",
                  "data": {"documentId": "exp-1042",
                           "document": {"status": "approved", "amount": 120.5}},
                  "occurredAt": "2026-01-01T08:30:00.000Z"}
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
            accepted = await send_webhook(http, "firebase", change, secret=SECRET)
            assert accepted.status_code == 202, accepted.text
            event_id = accepted.json()["id"]

            assert (await next_event(finance, "expense_status_change"))["status"] == \
                "approved"
            processed = await next_event(finance, "n8n_processed")
            assert processed == {"receivedId": event_id,
                                 "receivedEvent": "expense_status_change",
                                 "workflow": "gateway-round-trip"}
        # n8n answered the delivery 200: nothing went to the dead letters.
        assert gateway.outbox is not None
        status = await gateway.outbox.stats()
        assert status["deadLetters"] == 0, status
    finally:
        await finance.sio.disconnect()
