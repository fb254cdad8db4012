"""What a client keeps across connections (pure): recovery position and token timing.

Connection-state recovery works as in socket.io-client 4.6+: the server's CONNECT answer
may carry a ``pid`` (private session id) besides the ``sid``. While a ``pid`` is known, an
event whose last argument is a string records that string as the last offset seen; a new
CONNECT then sends ``{pid, offset}`` with the auth, and the connection counts as recovered
when the server answers with the same ``pid`` (it replayed what was missed). The offset is
left in the arguments handlers see, as socket.io-client does.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Any

__all__ = ["Recovery", "refresh_delay", "token_expiry"]


@dataclass(slots=True)
class Recovery:
    pid: str | None = None
    offset: str | None = None

    def connect_auth(self, token: str) -> dict[str, Any]:
        """The CONNECT payload: the token, plus where to resume when there is a session."""
        auth: dict[str, Any] = {"token": token}
        if self.pid is not None:
            auth["pid"] = self.pid
            if self.offset is not None:
                auth["offset"] = self.offset
        return auth

    def connected(self, ack: Any, sent_pid: str | None) -> bool:
        """Take the server's CONNECT answer; whether the session was recovered."""
        pid = ack.get("pid") if isinstance(ack, dict) else None
        if not isinstance(pid, str):
            pid = None
        recovered = pid is not None and pid == sent_pid
        if not recovered:
            # A new session: offsets of the old one mean nothing to it.
            self.offset = None
        self.pid = pid
        return recovered

    def event(self, args: list[Any]) -> None:
        if self.pid is not None and args and isinstance(args[-1], str):
            self.offset = args[-1]


def token_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT, read without checking the signature (the server checks
    it; the client only needs to know when to refresh). None when absent or unreadable."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    body = parts[1]
    try:
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError):
        return None
    exp = payload.get("exp") if isinstance(payload, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, (int, float)) or not math.isfinite(exp):
        return None
    return float(exp)


def refresh_delay(expires_at: float | None, now: float, margin_s: float) -> float | None:
    """Seconds until a proactive refresh: ``margin_s`` before expiry, or halfway there when
    less than the margin is left (a token shorter-lived than the margin would otherwise be
    refreshed in a tight loop). None when the token does not expire or already has."""
    if expires_at is None:
        return None
    remaining = expires_at - now
    if remaining <= 0:
        return None
    before_margin = remaining - margin_s
    return before_margin if before_margin > 0 else remaining / 2
