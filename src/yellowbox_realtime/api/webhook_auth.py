"""Who may call an inbound webhook (n8n, Firebase Cloud Functions): signature or shared secret.

A sender proves it holds the webhook's secret in one of two ways:

- **Signature** (preferred): ``X-Yellowbox-Timestamp: <Unix seconds>`` and
  ``X-Yellowbox-Signature: v1=<hex>``, the HMAC-SHA256 keyed with the secret (UTF-8) over
  ``"<timestamp>.<body>"``, the same format the outbox signs its deliveries with. Several
  comma-separated signatures are accepted (a sender rotating its secret signs with both);
  schemes other than ``v1`` are ignored. The timestamp must be within ``tolerance_s`` of the
  gateway's clock, either way, so a captured request goes stale.
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

Everything here is pure: the time is passed in, headers are a mapping looked up by lower-case
names (as Starlette and httpx present them).
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from ..errors import (
    ConfigError,
    PayloadTooLarge,
    ReplayedRequest,
    ReplayWindowFull,
    SignatureInvalid,
)

__all__ = ["SCHEME", "SECRET_HEADER", "SIGNATURE_HEADER", "TIMESTAMP_HEADER",
           "ReplayCache", "Verified", "WebhookAuthConfig", "WebhookVerifier", "sign",
           "signed_headers"]

TIMESTAMP_HEADER = "x-yellowbox-timestamp"
SIGNATURE_HEADER = "x-yellowbox-signature"
SECRET_HEADER = "x-yellowbox-secret"
SCHEME = "v1"

DEFAULT_TOLERANCE_S = 300.0
DEFAULT_MAX_BODY_BYTES = 256 * 1024
DEFAULT_MAX_REMEMBERED = 100_000
MIN_SECRET_LENGTH = 16

# Unix seconds; twelve digits reach past the year 33000, and a bound keeps int() cheap.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
# Enough for a handful of signatures; a longer header is refused before any HMAC work.
_MAX_SIGNATURE_HEADER = 1024
_MAX_SECRET_HEADER = 1024


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Yellowbox-Signature`` value for ``body`` sent at ``timestamp``: ``v1=<hex>``."""
    return f"{SCHEME}={_digest(secret.encode(), timestamp, body).hex()}"


def signed_headers(secret: str, body: bytes, now: float) -> dict[str, str]:
    """The two headers that sign ``body`` at ``now`` (for senders written in Python)."""
    timestamp = int(now)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


def _digest(key: bytes, timestamp: int, body: bytes) -> bytes:
    mac = hmac.new(key, f"{timestamp}.".encode(), hashlib.sha256)
    mac.update(body)
    return mac.digest()


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
        for index, secret in enumerate(self.secrets):
            if len(secret) < MIN_SECRET_LENGTH or secret != secret.strip():
                raise ConfigError(
                    f"{where}.secrets[{index}]: at least {MIN_SECRET_LENGTH} characters, "
                    "without leading or trailing spaces (mint one with "
                    "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
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
        self._keys = tuple(secret.encode() for secret in config.secrets)
        self._secret_digests = tuple(hashlib.sha256(key).digest() for key in self._keys)
        self._seen = ReplayCache(config.max_remembered)

    def check_length(self, headers: Mapping[str, str]) -> None:
        """Refuse (413) a body whose declared length is over the limit, before reading it."""
        declared = headers.get("content-length")
        if declared is not None and declared.strip().isdigit() and \
                int(declared) > self.config.max_body_bytes:
            raise self._too_large()

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> Verified:
        """How the request proved itself, or the error to answer with (413, 401, 409, 503).

        A signed request that verifies is remembered as seen; see :meth:`release`."""
        if len(body) > self.config.max_body_bytes:
            raise self._too_large()
        timestamp = headers.get(TIMESTAMP_HEADER)
        signature = headers.get(SIGNATURE_HEADER)
        if timestamp is not None or signature is not None:
            return self._verify_signature(timestamp, signature, body, now)
        secret = headers.get(SECRET_HEADER)
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

    def _verify_signature(self, raw_timestamp: str | None, raw_signature: str | None,
                          body: bytes, now: float) -> Verified:
        if raw_timestamp is None or raw_signature is None:
            raise SignatureInvalid("a signed request needs both X-Yellowbox-Timestamp and "
                                   "X-Yellowbox-Signature")
        raw_timestamp = raw_timestamp.strip()
        if not _TIMESTAMP.fullmatch(raw_timestamp):
            raise SignatureInvalid("X-Yellowbox-Timestamp must be Unix seconds (digits only)")
        timestamp = int(raw_timestamp)
        tolerance = self.config.tolerance_s
        if abs(now - timestamp) > tolerance:
            raise SignatureInvalid(
                f"X-Yellowbox-Timestamp is more than {tolerance:g}s away from the gateway's "
                "clock: a replayed request, or the sender's clock is wrong")
        if len(raw_signature) > _MAX_SIGNATURE_HEADER:
            raise SignatureInvalid("X-Yellowbox-Signature is too long")
        candidates = [value.strip().lower().encode()
                      for scheme, sep, value in (part.strip().partition("=")
                                                 for part in raw_signature.split(","))
                      if sep and scheme == SCHEME]
        if not candidates:
            raise SignatureInvalid(f"X-Yellowbox-Signature must be '{SCHEME}=<hex>'")
        expected = [_digest(key, timestamp, body).hex().encode() for key in self._keys]
        # Every pair is compared: the time taken says nothing about which was close.
        matched = False
        for candidate in candidates:
            for digest in expected:
                matched |= hmac.compare_digest(candidate, digest)
        if not matched:
            raise SignatureInvalid("the signature does not match the timestamp and body "
                                   "(wrong secret, or the body changed on the way)")
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
