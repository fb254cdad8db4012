"""Message types shared by every layer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who a connection is, as an authenticator established it.

    ``expires_at`` is a UNIX time in seconds (``None``: never), so the transport can ask
    the client to refresh before the token lapses.
    """

    uid: str
    role: str
    expires_at: float | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)
