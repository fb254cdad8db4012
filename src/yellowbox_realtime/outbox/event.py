"""What the outbox forwards: one published event and the JSON body a webhook receives."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..domain.wiretime import iso


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """A published event as the outbox sees it.

    ``id`` is stable for the event (its stream position ``<epoch>:<offset>``): it becomes
    the ``Idempotency-Key`` of every delivery attempt, so n8n can drop a repeat.
    ``published_at`` is wall-clock seconds.
    """

    id: str
    event: str
    channels: tuple[str, ...]
    data: Any
    published_at: float


def body(event: OutboxEvent, route: str, channel: str) -> str:
    """The webhook's JSON body. Built once, when the event is accepted, and stored: every
    attempt sends the same bytes (and a fresh signature over them)."""
    return json.dumps({
        "id": event.id,
        "event": event.event,
        "channel": channel,
        "data": event.data,
        "publishedAt": iso(event.published_at),
        "route": route,
    }, separators=(",", ":"), ensure_ascii=False)
