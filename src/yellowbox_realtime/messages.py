"""Message types shared by every layer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import AuthenticationError


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

    def lifetime_within(self, ttl_s: float, now: float) -> float:
        """How long something granted on these credentials (an SSE ticket) may live:
        ``ttl_s``, never past the token's own expiry; ``now`` is wall-clock seconds.
        AuthenticationError when the token has expired."""
        lifetime = ttl_s
        if self.expires_at is not None:
            lifetime = min(lifetime, self.expires_at - now)
        if lifetime <= 0:
            raise AuthenticationError("token expired")
        return lifetime
