"""One-time stream tickets: how a browser's ``EventSource`` authenticates.

``EventSource`` cannot send an ``Authorization`` header, and a token in the URL would sit in
browser history and proxy logs for its whole lifetime. So the page POSTs its token to
``/sse/tickets`` and gets a random ticket that opens one stream, once, within seconds. What a
ticket stands for is the credentials its token proved, expiry included, so the stream still
ends when the token would have.

Bounded: at most ``max_tickets`` are outstanding, and at most ``max_per_user`` of one user.
Expired ones are dropped as they are met and all at once when the table is full; a full
table of live tickets refuses new ones (429) rather than evicting, so a flood cannot void
the tickets of other users, and the per-user share means one user cannot fill it either.
"""

from __future__ import annotations

import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..errors import AuthenticationError, TooManyRequests
from ..messages import Credentials

__all__ = ["TicketStore", "Tickets"]

# A ticket is 32 URL-safe characters; anything much longer is not one of ours.
_MAX_TICKET_CHARS = 64


@dataclass(frozen=True, slots=True)
class _Ticket:
    credentials: Credentials
    expires_at: float  # on the monotonic clock


class Tickets(Protocol):
    """Where tickets are kept: this process (:class:`TicketStore`) or, in a cluster,
    somewhere every node reads (a ticket issued by one node opens a stream on another)."""

    async def grant(self, credentials: Credentials) -> tuple[str, float]:
        """A new ticket and its lifetime in seconds (see :meth:`TicketStore.issue`)."""

    async def claim(self, ticket: str) -> Credentials:
        """The credentials behind a ticket, used up (see :meth:`TicketStore.redeem`)."""


class TicketStore:
    def __init__(self, ttl_s: float, max_tickets: int, max_per_user: int = 0, *,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.ttl_s = ttl_s
        self.max_tickets = max_tickets
        # 0: no share per user (the table's bound only).
        self.max_per_user = max_per_user
        # Outstanding tickets by user id, for the share; users holding none are not kept.
        self._held: dict[str, int] = {}
        self._clock = clock
        self._wall = wall_clock
        self._tickets: OrderedDict[str, _Ticket] = OrderedDict()

    def issue(self, credentials: Credentials) -> tuple[str, float]:
        """A new ticket for ``credentials`` and how many seconds it is good for (never past
        the token's expiry)."""
        now = self._clock()
        self._drop_expired(now, everything=len(self._tickets) >= self.max_tickets)
        if len(self._tickets) >= self.max_tickets:
            # Most tickets share one lifetime, so the oldest is about the first to go.
            oldest = next(iter(self._tickets.values())).expires_at
            raise TooManyRequests(f"too many stream tickets outstanding (at most "
                                  f"{self.max_tickets}); try again shortly",
                                  max(1, math.ceil(oldest - now)))
        uid, share = credentials.uid, self.max_per_user
        held = self._held.get(uid, 0)
        if share and held >= share:
            raise TooManyRequests(f"user {uid} holds {held} unused stream tickets (at most "
                                  f"{share}): open a stream with one, or wait for them to "
                                  "expire", max(1, math.ceil(self.ttl_s)))
        lifetime = credentials.lifetime_within(self.ttl_s, self._wall())
        ticket = secrets.token_urlsafe(24)
        self._tickets[ticket] = _Ticket(credentials, now + lifetime)
        self._held[uid] = held + 1
        return ticket, lifetime

    def redeem(self, ticket: str) -> Credentials:
        """The credentials behind ``ticket``, which is used up; unknown, used or expired
        tickets are refused alike."""
        now = self._clock()
        self._drop_expired(now)
        found = self._tickets.pop(ticket, None) if len(ticket) <= _MAX_TICKET_CHARS else None
        if found is not None:
            self._release(found)
        if found is None or found.expires_at <= now:
            raise AuthenticationError("stream ticket is unknown, used or expired: get a new "
                                      "one from POST /sse/tickets")
        return found.credentials

    async def grant(self, credentials: Credentials) -> tuple[str, float]:
        return self.issue(credentials)

    async def claim(self, ticket: str) -> Credentials:
        return self.redeem(ticket)

    def __len__(self) -> int:
        return len(self._tickets)

    def _drop_expired(self, now: float, *, everything: bool = False) -> None:
        """From the oldest end while expired (cheap, most tickets share one lifetime), or
        the whole table (tickets cut short by their token's expiry are out of order)."""
        tickets = self._tickets
        if everything:
            for ticket in [t for t, v in tickets.items() if v.expires_at <= now]:
                self._release(tickets.pop(ticket))
            return
        while tickets:
            ticket, value = next(iter(tickets.items()))
            if value.expires_at > now:
                break
            del tickets[ticket]
            self._release(value)

    def _release(self, ticket: _Ticket) -> None:
        uid = ticket.credentials.uid
        left = self._held.get(uid, 0) - 1
        if left > 0:
            self._held[uid] = left
        else:
            self._held.pop(uid, None)

    def held_by(self, uid: str) -> int:
        return self._held.get(uid, 0)
