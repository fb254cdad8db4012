"""No user can starve another of SSE stream tickets: one user holds at most its share of the
table and mints them at a bounded rate, one address too; past either it gets 429 with
Retry-After while everyone else still gets tickets and opens streams."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import MakeToken
from tests.limits.support import V4, V6, dual_stack_gateway, url
from tests.server.ssereader import client, open_stream
from yellowbox_realtime.app import Gateway
from yellowbox_realtime.server.sse_tickets import TicketStore


async def ask(http: httpx.AsyncClient, base: str, token: str) -> httpx.Response:
    return await http.post(f"{base}/sse/tickets", headers={"Authorization": f"Bearer {token}"})


async def is_served(gateway: Gateway, base: str, token: str) -> None:
    """Gets a ticket, and the ticket opens a stream."""
    async with client() as http:
        answer = await ask(http, base, token)
        assert answer.status_code == 200, answer.text
        ticket = answer.json()["ticket"]
        async with open_stream(http, f"{base}/sse/alerts?ticket={ticket}") as sse:
            assert (await sse.next()).event == "ready"


def assert_refusals_say_when(refused: list[httpx.Response]) -> None:
    assert refused
    for answer in refused:
        assert answer.json()["error"]["code"] == "rate_limited"
        assert int(answer.headers["retry-after"]) >= 1


async def test_one_user_holds_at_most_its_share_of_the_tickets(make_token: MakeToken) -> None:
    # A table of 50 that one user could fill on its own before.
    async with dual_stack_gateway(sse={"max_tickets": 50}) as gateway:
        tickets = gateway.sse.tickets
        assert isinstance(tickets, TicketStore)
        base = url(gateway, V4)
        rider = make_token("rider-1", "rider")
        async with client() as http:
            answers = await asyncio.gather(*(ask(http, base, rider) for _ in range(60)))
        granted = [a for a in answers if a.status_code == 200]
        assert_refusals_say_when([a for a in answers if a.status_code != 200])
        share = gateway.config.sse.max_tickets_per_user
        assert len(granted) == share
        # What the table holds for it: its share, no more.
        assert tickets.held_by("rider-1") == len(tickets) == share
        # Another user, from the same address even, is served meanwhile.
        await is_served(gateway, base, make_token("ops-1", "operations"))
        assert gateway.counters.limited["tickets_per_user"] > 0


async def test_one_address_mints_tickets_at_a_bounded_rate(make_token: MakeToken) -> None:
    # Many users behind one address (or one client with many tokens).
    async with dual_stack_gateway(limits={"handshakes_per_ip_per_s": 0.01,
                                          "handshake_burst": 20},
                                  sse={"max_tickets": 50}) as gateway:
        tickets = gateway.sse.tickets
        assert isinstance(tickets, TicketStore)
        crowd = url(gateway, V4)
        async with client() as http:
            answers = await asyncio.gather(*(ask(http, crowd, make_token(f"rider-{i}"))
                                             for i in range(60)))
        assert len([a for a in answers if a.status_code == 200]) == 20
        assert_refusals_say_when([a for a in answers if a.status_code != 200])
        assert len(tickets) == 20
        # An operations user from another address is served meanwhile.
        await is_served(gateway, url(gateway, V6), make_token("ops-1", "operations"))
        assert gateway.counters.limited["tickets_per_address"] == 40
