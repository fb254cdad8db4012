"""Message types shared by every layer."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import AuthenticationError

# A stream's epoch, as positions carry it ("<epoch>:<offset>"), and the bound of its offsets:
# a signed 64-bit integer, as Redis stream counters are.
EPOCH = re.compile(r"[A-Za-z0-9_-]{1,32}")
MAX_OFFSET = 2**63


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


@dataclass(frozen=True, slots=True)
class StreamPosition:
    """Where a client is in a channel's history: the epoch and the last offset it saw."""

    epoch: str
    offset: int

    def __post_init__(self) -> None:
        # Checked here so the server never sends an id it would refuse when it comes back.
        if not EPOCH.fullmatch(self.epoch):
            raise ValueError(f"epoch must be 1-32 characters of A-Z a-z 0-9 _ -, "
                             f"got {self.epoch!r}")
        if isinstance(self.offset, bool) or not 0 <= self.offset < MAX_OFFSET:
            raise ValueError(f"offset must be 0 to 2**63-1, got {self.offset!r}")

    def __str__(self) -> str:
        """``<epoch>:<offset>``, as SSE ids and the API write positions."""
        return f"{self.epoch}:{self.offset}"
