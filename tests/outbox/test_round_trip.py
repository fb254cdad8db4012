"""Gateway -> outbox -> an n8n stand-in -> a signed POST back to the gateway's n8n webhook
-> a Socket.IO subscriber: the whole loop the docs' workflow makes, without n8n itself
(tests/n8n/ runs the same loop through a real n8n where one is installed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.apiclients import Listener, send_webhook
from tests.conftest import MakeGateway, MakeToken, gateway_config

from .conftest import outbox_section
from .receiver import SECRET, Received, Receiver


async def next_event(listener: Listener, event: str) -> Any:
    got, args, _ = await listener.next(timeout=15)
    assert got == event, (got, args)
    return args[0]


async def test_an_event_for_n8n_comes_back_as_n8n_processed(
        make_gateway: MakeGateway, make_token: MakeToken, receiver: Receiver,
        tmp_path: Path) -> None:
    gateway = await make_gateway(gateway_config(
        outbox=outbox_section(receiver.url, path=str(tmp_path / "outbox.sqlite3"),
                              events={"n8n": ["expense_status_change"]}),
        webhooks={"secrets": {"n8n": [SECRET], "firebase": [SECRET]}}))
    answers: list[httpx.Response] = []

    async def workflow(request: Received) -> None:
        # What the docs' workflow posts back: an event id derived from the received one.
        received = request.json
        reply = {
            "id": f"n8n:{received['id']}", "event": "n8n_processed",
            "channel": received["channel"],
            "data": {"receivedId": received["id"], "receivedEvent": received["event"],
                     "workflow": "gateway-round-trip"}}
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
            answers.append(await send_webhook(http, "n8n", reply, secret=SECRET))

    receiver.then = workflow
    finance = Listener()
    await finance.sio.connect(gateway.url, auth={"token": make_token("fin-1", "finance")},
                              transports=["websocket"], wait_timeout=5)
    try:
        assert (await finance.sio.call("subscribe_expense_updates", timeout=5))["ok"]
        await next_event(finance, "expenses_snapshot")
        change = {"id": "ce-1", "type": "expense", "change": "updated",
                  "data": {"documentId": "exp-7", "document": {"status": "approved",
                                                               "amount": 80}},
                  "occurredAt": "2026-01-01T08:30:00.000Z"}
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
            accepted = await send_webhook(http, "firebase", change, secret=SECRET)
        assert accepted.status_code == 202, accepted.text
        event_id = accepted.json()["id"]

        assert (await next_event(finance, "expense_status_change"))["expenseId"] == "exp-7"
        processed = await next_event(finance, "n8n_processed")
        assert processed == {"receivedId": event_id, "receivedEvent": "expense_status_change",
                             "workflow": "gateway-round-trip"}
        assert [a.status_code for a in answers] == [202]
        # n8n_processed is no route's event: the loop ends here, one delivery in all.
        assert [r.key for r in receiver.requests] == [event_id]
        assert all(r.signature_ok for r in receiver.requests)
    finally:
        await finance.sio.disconnect()
