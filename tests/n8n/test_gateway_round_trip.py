"""The docs' n8n workflow in a real n8n: signed events are answered 200 and a signed
event comes back; unsigned, wrongly signed and stale ones are refused with 401."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from yellowbox_realtime.api.webhook_auth import WebhookAuthConfig, WebhookVerifier
from yellowbox_realtime.signing import signed_headers

from .conftest import SECRET, Receiver
from .n8nprocess import N8n

pytestmark = pytest.mark.n8n

PATH = "yellowbox-gateway"


def delivery(event_id: str) -> bytes:
    """A body as the gateway's outbox sends it."""
    return json.dumps({
        "id": event_id, "event": "expense_status_change", "channel": "expense_updates",
        "data": {"expenseId": "exp-1042", "status": "approved"},
        "publishedAt": "2026-01-01T08:30:00.000Z", "route": "expenses",
    }, separators=(",", ":")).encode()


def post(n8n: N8n, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(n8n.webhook(PATH), content=body, timeout=60,
                      headers={"content-type": "application/json", **headers})


def test_a_signed_event_is_answered_200_and_a_signed_event_comes_back(
        n8n: N8n, receiver: Receiver) -> None:
    body = delivery("1:42")
    answer = post(n8n, body, {"idempotency-key": "1:42",
                              **signed_headers(SECRET, body, time.time())})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"ok": True, "duplicate": False}

    reply = receiver.next()
    assert reply.path == "/api/v1/webhooks/n8n"
    # The gateway's own verifier accepts what n8n signed.
    verified = WebhookVerifier(WebhookAuthConfig(secrets=(SECRET,))).verify(
        reply.headers, reply.body, time.time())
    assert verified.method == "signature"
    assert reply.headers["idempotency-key"] == "n8n:1:42"
    assert json.loads(reply.body) == {
        "id": "n8n:1:42", "event": "n8n_processed", "channel": "expense_updates",
        "data": {"receivedId": "1:42", "receivedEvent": "expense_status_change",
                 "workflow": "gateway-round-trip"}}


def test_unsigned_wrongly_signed_and_stale_events_are_refused_401(
        n8n: N8n, receiver: Receiver) -> None:
    body = delivery("1:43")
    now = time.time()
    tampered = signed_headers(SECRET, body, now)
    refusals = {
        "unsigned": ({}, "X-Yellowbox-Timestamp"),
        "wrong secret": (signed_headers("whsec-someone-else-0123456789ab", body, now),
                         "does not match"),
        "stale": (signed_headers(SECRET, body, now - 3600), "too far"),
        "body changed": (tampered, "does not match"),
    }
    for name, (headers, reason) in refusals.items():
        sent = body.replace(b"approved", b"rejected") if name == "body changed" else body
        answer = post(n8n, sent, headers)
        assert answer.status_code == 401, (name, answer.text)
        assert reason in answer.json()["reason"], name

    # Nothing was posted back for the refusals: the next reply is this event's.
    accepted = delivery("1:44")
    assert post(n8n, accepted, signed_headers(SECRET, accepted, time.time())).status_code == 200
    assert json.loads(receiver.next().body)["id"] == "n8n:1:44"
