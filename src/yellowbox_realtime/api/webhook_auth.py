"""Who may call an inbound webhook (n8n, Firebase Cloud Functions): signature or shared secret.

A sender proves it holds the webhook's secret in one of two ways:

- **Signature** (preferred): ``X-Yellowbox-Timestamp`` and ``X-Yellowbox-Signature``, the
  format the outbox signs its deliveries with; :mod:`yellowbox_realtime.signing` owns it
  (any configured secret may match; the timestamp within ``tolerance_s``).
- **Shared secret** (only when ``accept_shared_secret``): ``X-Yellowbox-Secret: <secret>``.
  Easier to send from a tool that cannot compute an HMAC, weaker: the secret travels with
  every request and nothing ties it to the body or a time, so a replay is caught only by the
  event-id idempotency of the endpoint. Use it over TLS only.

Replays: a signed request that verifies is remembered (by the digest of timestamp and body,
whichever secret signed it) until its timestamp leaves the window; the same request again is
refused with 409 (see :class:`~yellowbox_realtime.errors.ReplayedRequest` for why not 401).
Only verified requests are remembered, so forged traffic cannot fill the memory. The memory
is bounded: at the bound, new signed requests are refused with a temporary 503 rather than
accepted unchecked. An endpoint that fails to process a verified request calls
:meth:`WebhookVerifier.release`, so the sender's retry of the same bytes is not a replay.

Bodies larger than ``max_body_bytes`` are refused with 413, by their declared
``Content-Length`` before reading and by their length after.

Everything here is pure: the time is passed in, headers are a mapping looked up as
:func:`yellowbox_realtime.signing.header` does.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from .. import signing
from ..errors import (
    ConfigError,
    PayloadTooLarge,
    ReplayedRequest,
    ReplayWindowFull,
    SignatureInvalid,
)

__all__ = ["SECRET_HEADER", "ReplayCache", "Verified", "WebhookAuthConfig", "WebhookVerifier"]

SECRET_HEADER = "X-Yellowbox-Secret"

DEFAULT_TOLERANCE_S = signing.DEFAULT_TOLERANCE_S
DEFAULT_MAX_BODY_BYTES = 256 * 1024
DEFAULT_MAX_REMEMBERED = 100_000

_MAX_SECRET_HEADER = 1024


@dataclass(frozen=True, slots=True)
class WebhookAuthConfig:
    """How one webhook source (``n8n``, ``firebase``) authenticates.

    ``secrets``: every secret currently valid (more than one while rotating).
    """

    secrets: tuple[str, ...]
    tolerance_s: float = DEFAULT_TOLERANCE_S
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    accept_shared_secret: bool = False
    max_remembered: int = DEFAULT_MAX_REMEMBERED

    def validated(self, where: str) -> WebhookAuthConfig:
        """This configuration, or ConfigError naming the key under ``where`` that is wrong."""
        if not self.secrets:
            raise ConfigError(f"{where}.secrets: at least one secret is required")
        signing.check_secrets(f"{where}.secrets", self.secrets)
        for name in ("tolerance_s", "max_body_bytes", "max_remembered"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{where}.{name}: must be positive")
        return self


@dataclass(frozen=True, slots=True)
class Verified:
    """How a request proved itself. ``replay_key`` is set for signed requests."""

    method: Literal["signature", "shared_secret"]
    timestamp: int | None = None
    replay_key: bytes | None = None


class ReplayCache:
    """Keys seen recently, each until its own expiry, at most ``capacity`` at a time.

    Expiries are not in arrival order (a timestamp may lie ahead of or behind the clock), so
    a heap finds the next one to drop; a key released early stays in the heap until then and
    is skipped.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._expiry: dict[bytes, float] = {}
        self._heap: list[tuple[float, bytes]] = []

    def __len__(self) -> int:
        return len(self._expiry)

    def add(self, key: bytes, expires_at: float, now: float) -> bool:
        """Remember ``key`` until ``expires_at``; False if it is remembered already.

        Raises ReplayWindowFull when ``capacity`` unexpired keys are remembered."""
        self._drop_expired(now)
        if key in self._expiry:
            return False
        if len(self._expiry) >= self.capacity:
            raise ReplayWindowFull("too many signed webhook requests within the replay "
                                   "window; retry shortly")
        self._expiry[key] = expires_at
        heapq.heappush(self._heap, (expires_at, key))
        return True

    def discard(self, key: bytes) -> None:
        self._expiry.pop(key, None)

    def _drop_expired(self, now: float) -> None:
        # Strictly before now: at expires_at itself the timestamp is still within tolerance.
        while self._heap and self._heap[0][0] < now:
            expires_at, key = heapq.heappop(self._heap)
            if self._expiry.get(key) == expires_at:
                del self._expiry[key]


class WebhookVerifier:
    """Checks requests to one webhook endpoint against its :class:`WebhookAuthConfig`."""

    def __init__(self, config: WebhookAuthConfig, *, where: str = "webhooks") -> None:
        self.config = config.validated(where)
        self._secret_digests = tuple(hashlib.sha256(secret.encode()).digest()
                                     for secret in config.secrets)
        self._seen = ReplayCache(config.max_remembered)

    def check_length(self, headers: Mapping[str, str]) -> None:
        """Refuse (413) a body whose declared length is over the limit, before reading it."""
        declared = signing.header(headers, "Content-Length")
        if declared is not None and declared.strip().isdigit() and \
                int(declared) > self.config.max_body_bytes:
            raise self._too_large()

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> Verified:
        """How the request proved itself, or the error to answer with (413, 401, 409, 503).

        A signed request that verifies is remembered as seen; see :meth:`release`."""
        if len(body) > self.config.max_body_bytes:
            raise self._too_large()
        signed = signing.header(headers, signing.TIMESTAMP_HEADER) is not None or \
            signing.header(headers, signing.SIGNATURE_HEADER) is not None
        if signed:
            return self._verify_signature(headers, body, now)
        secret = signing.header(headers, SECRET_HEADER)
        if secret is not None:
            return self._verify_secret(secret)
        if self.config.accept_shared_secret:
            raise SignatureInvalid("unsigned request: send X-Yellowbox-Timestamp and "
                                   "X-Yellowbox-Signature, or X-Yellowbox-Secret")
        raise SignatureInvalid("unsigned request: send X-Yellowbox-Timestamp and "
                               "X-Yellowbox-Signature")

    def release(self, verified: Verified) -> None:
        """Forget a verified request the endpoint could not process, so that the sender's
        retry of the very same bytes is accepted instead of refused as a replay."""
        if verified.replay_key is not None:
            self._seen.discard(verified.replay_key)

    def _verify_signature(self, headers: Mapping[str, str], body: bytes,
                          now: float) -> Verified:
        tolerance = self.config.tolerance_s
        timestamp = signing.verify(self.config.secrets, headers, body, now, tolerance)
        # Whichever secret signed it, and however its signatures are arranged: one request.
        replay_key = hashlib.sha256(f"{timestamp}.".encode() + body).digest()
        if not self._seen.add(replay_key, timestamp + tolerance, now):
            raise ReplayedRequest("this signed request was already received (same timestamp "
                                  "and body); sign a retry afresh, with the same event id")
        return Verified("signature", timestamp, replay_key)

    def _verify_secret(self, presented: str) -> Verified:
        if not self.config.accept_shared_secret:
            raise SignatureInvalid("this webhook accepts signed requests only: send "
                                   "X-Yellowbox-Timestamp and X-Yellowbox-Signature")
        if len(presented) > _MAX_SECRET_HEADER:
            raise SignatureInvalid("invalid X-Yellowbox-Secret")
        # Hashing first makes the comparison length-independent.
        digest = hashlib.sha256(presented.strip().encode()).digest()
        matched = False
        for known in self._secret_digests:
            matched |= hmac.compare_digest(digest, known)
        if not matched:
            raise SignatureInvalid("invalid X-Yellowbox-Secret")
        return Verified("shared_secret")

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"webhook bodies are limited to {self.config.max_body_bytes} "
                               "bytes")
