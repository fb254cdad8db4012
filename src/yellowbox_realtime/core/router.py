"""The one path an event takes into the broker: authorize -> validate -> route -> publish.

Each door authorizes its caller as it must (a socket's role, an API key's scopes, a
webhook's signature), then publishes through the router, which is the broker every door
holds. A domain event published on a domain channel is validated here by its domain, so
the same event gets the same checks whichever door it came in by: an expense status change
sent to the publish API is refused for a missing amount, as it is on ``POST
/api/v1/expenses``. The router then hands the event, with its data as the domain returned
it, to the broker underneath (the outbox's tap, then the memory or Redis broker).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..errors import ValidationError
from ..messages import StreamPosition
from .broker import Broker, BrokerLayer
from .hub import Outgoing, Subscriber
from .idempotency import IdempotencyKey

__all__ = ["Check", "Router"]

# A domain's check of an event's data: the data to publish, or ValidationError.
Check = Callable[[Any], Any]


class Router(BrokerLayer):
    """A :class:`~.broker.Broker` that validates domain events before the one under it."""

    def __init__(self, inner: Broker) -> None:
        super().__init__(inner)
        # By channel, then event: most publishes are on channels with no checks at all.
        self._checks: dict[str, dict[str, Check]] = {}

    def check(self, channel: str, event: str, check: Check) -> None:
        """Validate ``event`` on ``channel`` with ``check``, from every door."""
        self._checks.setdefault(channel, {})[event] = check

    def publish_nowait(self, channels: Sequence[str], message: Outgoing,
                       exclude: frozenset[Subscriber] = frozenset()) -> None:
        self._validate(channels, message)
        self.inner.publish_nowait(channels, message, exclude)

    async def publish(self, channels: Sequence[str], message: Outgoing, *,
                      idempotency_key: IdempotencyKey | None = None) -> StreamPosition:
        self._validate(channels, message)
        return await self.inner.publish(channels, message, idempotency_key=idempotency_key)

    def _validate(self, channels: Sequence[str], message: Outgoing) -> None:
        checks = self._checks
        for channel in channels:
            by_event = checks.get(channel)
            check = by_event.get(message.event) if by_event is not None else None
            if check is not None:
                if len(message.args) != 1:
                    raise ValidationError(f"{message.event} takes one object")
                # Before anything is encoded: the message carries what the domain returned.
                message.args = (check(message.args[0]),)
                return
