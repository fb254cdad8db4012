"""The gateway's webhook signature, both ways: what the outbox signs its deliveries to n8n
with, and what the inbound webhooks (n8n, Firebase Cloud Functions) check. Pure: the time
is passed in.

The signature is HMAC-SHA256, keyed with a shared secret (UTF-8), over
``"<timestamp>.<body>"``, the timestamp in Unix seconds sent as ``X-Yellowbox-Timestamp``.
Signing the timestamp with the body lets a receiver refuse a captured request replayed
later: the timestamp must be within a tolerance of the receiver's clock, either way.
``X-Yellowbox-Signature`` carries ``v1=<hex>``; the version leaves room for another scheme
(others are ignored), and several comma-separated values are accepted so that a sender can
sign with an old and a new secret while rotating. A receiver may likewise hold several
secrets; any of them may match.

Replays within the tolerance are the receiver's to refuse (the inbound webhooks remember
what they accepted, see ``api/webhook_auth.py``; n8n checks the idempotency key).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence

from .errors import ConfigError, SignatureInvalid

__all__ = ["DEFAULT_TOLERANCE_S", "IDEMPOTENCY_HEADER", "MIN_SECRET_LENGTH", "SCHEME",
           "SIGNATURE_HEADER", "TIMESTAMP_HEADER", "check_secrets", "header", "sign",
           "signed_headers", "verify"]

TIMESTAMP_HEADER = "X-Yellowbox-Timestamp"
SIGNATURE_HEADER = "X-Yellowbox-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300.0
MIN_SECRET_LENGTH = 16

# Unix seconds; twelve digits reach past the year 33000, and a bound keeps int() cheap.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
# Enough for a handful of signatures; a longer header is refused before any HMAC work.
_MAX_SIGNATURE_HEADER = 1024


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Yellowbox-Signature`` value for ``body`` sent at ``timestamp``: ``v1=<hex>``."""
    return f"{SCHEME}={_hex_digest(secret.encode(), timestamp, body)}"


def signed_headers(secret: str, body: bytes, now: float,
                   idempotency_key: str | None = None) -> dict[str, str]:
    """The headers that sign ``body`` at ``now``, and the idempotency key when given."""
    timestamp = int(now)
    headers = {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}
    if idempotency_key is not None:
        headers[IDEMPOTENCY_HEADER] = idempotency_key
    return headers


def header(headers: Mapping[str, str], name: str) -> str | None:
    """``name`` from ``headers``: a case-insensitive mapping (Starlette, httpx, aiohttp), or a
    plain dict keyed in lower case or as the name is written here."""
    value = headers.get(name.lower())
    return value if value is not None else headers.get(name)


def verify(secrets: str | Sequence[str], headers: Mapping[str, str], body: bytes, now: float,
           tolerance_s: float = DEFAULT_TOLERANCE_S) -> int:
    """Check a request signed with one of ``secrets``; its timestamp, or
    :class:`~yellowbox_realtime.errors.SignatureInvalid` saying what is wrong."""
    keys = [secrets.encode()] if isinstance(secrets, str) else [s.encode() for s in secrets]
    raw_timestamp = header(headers, TIMESTAMP_HEADER)
    raw_signature = header(headers, SIGNATURE_HEADER)
    if raw_timestamp is None and raw_signature is None:
        raise SignatureInvalid(f"unsigned request: send {TIMESTAMP_HEADER} and "
                               f"{SIGNATURE_HEADER}")
    if raw_timestamp is None or raw_signature is None:
        raise SignatureInvalid(f"a signed request needs both {TIMESTAMP_HEADER} and "
                               f"{SIGNATURE_HEADER}")
    raw_timestamp = raw_timestamp.strip()
    if not _TIMESTAMP.fullmatch(raw_timestamp):
        raise SignatureInvalid(f"{TIMESTAMP_HEADER} must be Unix seconds (digits only)")
    timestamp = int(raw_timestamp)
    if abs(now - timestamp) > tolerance_s:
        raise SignatureInvalid(
            f"{TIMESTAMP_HEADER} is more than {tolerance_s:g}s away from the receiver's "
            "clock: a replayed request, or the sender's clock is wrong")
    if len(raw_signature) > _MAX_SIGNATURE_HEADER:
        raise SignatureInvalid(f"{SIGNATURE_HEADER} is too long")
    candidates = [value.strip().lower().encode()
                  for scheme, sep, value in (part.strip().partition("=")
                                             for part in raw_signature.split(","))
                  if sep and scheme == SCHEME]
    if not candidates:
        raise SignatureInvalid(f"{SIGNATURE_HEADER} must be '{SCHEME}=<hex>'")
    expected = [_hex_digest(key, timestamp, body).encode() for key in keys]
    # Every pair is compared: the time taken says nothing about which was close.
    matched = False
    for candidate in candidates:
        for digest in expected:
            matched |= hmac.compare_digest(candidate, digest)
    if not matched:
        raise SignatureInvalid("the signature does not match the timestamp and body "
                               "(wrong secret, or the body changed on the way)")
    return timestamp


def check_secrets(where: str, secrets: Sequence[str]) -> None:
    """ConfigError naming ``where[i]`` for a secret too short to resist guessing, or with
    surrounding spaces (which a copy and paste adds on one side only)."""
    for index, secret in enumerate(secrets):
        if len(secret) < MIN_SECRET_LENGTH or secret != secret.strip():
            raise ConfigError(
                f"{where}[{index}]: at least {MIN_SECRET_LENGTH} characters, without "
                "leading or trailing spaces (mint one with "
                "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`)")


def _hex_digest(key: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(key, f"{timestamp}.".encode(), hashlib.sha256)
    mac.update(body)
    return mac.hexdigest()
