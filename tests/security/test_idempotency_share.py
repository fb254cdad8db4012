"""No caller can push another's idempotency keys out: one API key that floods the publish
API with fresh keys holds at most its share of the tables, and another key's retry within
its window is still answered with the first publish's id instead of publishing again."""

from __future__ import annotations

import httpx

from tests.apiclients import BACKOFFICE, KEYS, api_section
from tests.conftest import MakeGateway, gateway_config
from yellowbox_realtime.core.broker import MemoryBroker

SHARE = 20


async def test_a_flood_of_fresh_keys_costs_the_flooder_its_own_keys_only(
        make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(gateway_config(
        api=api_section(rate_per_s=1e6, burst=1_000_000)))
    broker = gateway.base_broker
    assert isinstance(broker, MemoryBroker)
    # Small tables, so the flood fills them many times over: the same code as 100,000 keys
    # in all and 10,000 per owner.
    for table in (broker.keys, gateway.publish_api.fingerprints):
        table.max_keys, table.max_per_owner = 5 * SHARE, SHARE

    async def publish(key: str, idempotency_key: str, n: int) -> httpx.Response:
        return await http.post("/api/v1/channels/orders/events",
                               json={"event": "note", "data": {"n": n}},
                               headers={"Authorization": f"Bearer {key}",
                                        "Idempotency-Key": idempotency_key})

    async with httpx.AsyncClient(base_url=gateway.url) as http:
        victim = KEYS["publisher"][0]
        first = await publish(victim, "order-7", 7)
        assert first.status_code == 202
        published = broker.published
        for n in range(50 * SHARE):
            assert (await publish(BACKOFFICE, f"flood-{n}", n)).status_code == 202
        assert broker.published == published + 50 * SHARE
        # What the flood holds: its share of each table, no more.
        for table in (broker.keys, gateway.publish_api.fingerprints):
            assert table.held_by("api:backoffice") == SHARE
            assert len(table) == SHARE + 1
        # The victim's retry is answered from the table, not published again.
        retry = await publish(victim, "order-7", 7)
        assert retry.status_code == 202
        assert retry.json()["id"] == first.json()["id"]
        assert broker.published == published + 50 * SHARE
