"""The durable outbox: published events forwarded to webhooks (n8n), signed, retried,
kept across restarts, dead-lettered after their retry budget."""

from .errors import OutboxFull, OutboxUnavailable
from .event import OutboxEvent
from .service import Outbox, dead_letter_json

__all__ = ["Outbox", "OutboxEvent", "OutboxFull", "OutboxUnavailable", "dead_letter_json"]
