"""One-time stream tickets: single use, short-lived, bounded, never outliving the token."""

from __future__ import annotations

import pytest

from yellowbox_realtime.errors import AuthenticationError, RateLimited
from yellowbox_realtime.messages import Credentials
from yellowbox_realtime.server.sse_tickets import TicketStore

WALL = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def store(clock: Clock, ttl_s: float = 30.0, max_tickets: int = 10) -> TicketStore:
    # Both clocks move together: the wall clock is the monotonic one shifted.
    return TicketStore(ttl_s, max_tickets, clock=clock,
                       wall_clock=lambda: WALL + clock.now)


OPS = Credentials("ops-1", "operations")


def test_a_ticket_stands_for_the_credentials_once() -> None:
    tickets = store(Clock())
    ticket, lifetime = tickets.issue(OPS)
    assert lifetime == 30.0
    assert tickets.redeem(ticket) == OPS
    with pytest.raises(AuthenticationError, match="unknown, used or expired"):
        tickets.redeem(ticket)
    assert len(tickets) == 0


def test_tickets_are_random_and_unguessable() -> None:
    tickets = store(Clock())
    issued = {tickets.issue(OPS)[0] for _ in range(5)}
    assert len(issued) == 5
    assert all(len(t) >= 32 for t in issued)
    with pytest.raises(AuthenticationError):
        tickets.redeem("x" * 10_000)


def test_a_ticket_expires() -> None:
    clock = Clock()
    tickets = store(clock)
    ticket, _ = tickets.issue(OPS)
    clock.now += 30.0
    with pytest.raises(AuthenticationError):
        tickets.redeem(ticket)


def test_a_ticket_never_outlives_its_token() -> None:
    clock = Clock()
    tickets = store(clock)
    soon = Credentials("ops-1", "operations", expires_at=WALL + clock.now + 5)
    ticket, lifetime = tickets.issue(soon)
    assert lifetime == 5
    clock.now += 5
    with pytest.raises(AuthenticationError):
        tickets.redeem(ticket)
    with pytest.raises(AuthenticationError, match="expired"):
        tickets.issue(soon)


def test_the_table_is_bounded_and_refuses_rather_than_evicts() -> None:
    clock = Clock()
    tickets = store(clock, max_tickets=2)
    first, _ = tickets.issue(OPS)
    tickets.issue(OPS)
    with pytest.raises(RateLimited):
        tickets.issue(OPS)
    assert tickets.redeem(first) == OPS  # the refusal voided nobody's ticket
    tickets.issue(OPS)
    # Expired tickets make room, including ones cut short by their token (out of order).
    short = Credentials("ops-2", "operations", expires_at=WALL + clock.now + 1)
    tickets = store(clock, max_tickets=2)
    tickets.issue(OPS)
    tickets.issue(short)
    clock.now += 1
    tickets.issue(OPS)
    assert len(tickets) == 2


def test_one_user_holds_at_most_its_share_until_one_is_used_or_expires() -> None:
    clock = Clock()
    tickets = TicketStore(30.0, 10, 2, clock=clock, wall_clock=lambda: WALL + clock.now)
    first, _ = tickets.issue(OPS)
    tickets.issue(OPS)
    with pytest.raises(RateLimited, match="at most 2") as refused:
        tickets.issue(OPS)
    assert refused.value.retry_after_s == 30  # type: ignore[attr-defined]
    tickets.issue(Credentials("ops-2", "operations"))  # another user has a share of its own
    tickets.redeem(first)
    assert tickets.held_by("ops-1") == 1
    tickets.issue(OPS)
    clock.now += 30.0
    tickets.issue(Credentials("ops-3", "operations"))  # expired ones are dropped as met
    assert (tickets.held_by("ops-1"), tickets.held_by("ops-2"), len(tickets)) == (0, 0, 1)
