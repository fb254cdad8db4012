"""What the outbox forwards: one published event and the JSON body a webhook receives."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


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


def event_data(args: tuple[Any, ...]) -> Any:
    """The data of an event with these arguments, as JSON can carry it: the one argument, or
    the list of them; bytes as ``{"base64": ...}`` (as the history API shows them)."""
    return _jsonable(args[0] if len(args) == 1 else list(args))


def body(event: OutboxEvent, route: str, channel: str) -> str:
    """The webhook's JSON body. Built once, when the event is accepted, and stored: every
    attempt sends the same bytes (and a fresh signature over them)."""
    published = datetime.fromtimestamp(event.published_at, UTC)
    return json.dumps({
        "id": event.id,
        "event": event.event,
        "channel": channel,
        "data": event.data,
        "publishedAt": published.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "route": route,
    }, separators=(",", ":"), ensure_ascii=False)


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value
