"""The outbox's errors, in the gateway's one hierarchy."""

from __future__ import annotations

from ..errors import GatewayError


class OutboxUnavailable(GatewayError):
    """The outbox's store cannot be written (locked by another process, disk full, ...).

    Temporary: the event was not accepted, and the same request can succeed later."""

    code = "outbox_unavailable"
    http_status = 503
    temporary = True


class OutboxFull(OutboxUnavailable):
    """The backlog reached ``outbox.max_backlog``: n8n is not keeping up (or is down), and
    accepting more would grow the file without bound."""

    code = "outbox_full"
