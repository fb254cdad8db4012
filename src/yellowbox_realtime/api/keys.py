"""API keys: minting, hashing, and finding the key a request presents.

A key is a random string shown once when minted; the configuration holds only its SHA-256.
A request presents it as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. The
presented key is hashed and compared with every configured hash in constant time, all of
them each time, so neither the comparison nor the number of keys tried tells an attacker
how close a guess was.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from ..config import ApiConfig
from ..errors import AuthenticationError, ForbiddenError
from ..server.limits import Rates
from .errors import TooManyRequests

__all__ = ["KEY_PREFIX", "ApiKey", "KeyRing", "hash_key", "mint_key"]

# Makes a leaked key recognisable to secret scanners and people.
KEY_PREFIX = "ybrt_"
_MAX_KEY_LENGTH = 256


def mint_key() -> str:
    """A new key: the prefix and 256 random bits."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """What the configuration keeps of a key: its SHA-256, in hex. Keys are long and
    random, so a fast hash is enough (no dictionary to guess from)."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A configured key: its name, what it may do and on which channels (None: all)."""

    name: str
    digest: bytes
    scopes: frozenset[str]
    channels: tuple[str, ...] | None

    def check(self, scope: str, channel: str) -> None:
        """Raise ForbiddenError unless the key has ``scope`` on ``channel``."""
        if scope not in self.scopes:
            raise ForbiddenError(f"API key {self.name!r} lacks the {scope!r} scope")
        if self.channels is not None and not any(
                channel == pattern or (pattern.endswith(":") and channel.startswith(pattern))
                for pattern in self.channels):
            raise ForbiddenError(f"API key {self.name!r} may not use channel {channel!r}")


class KeyRing:
    """The configured keys, and a rate limit per key."""

    def __init__(self, config: ApiConfig) -> None:
        self.keys = tuple(
            ApiKey(name, bytes.fromhex(digest), frozenset(config.scopes.get(name, ())),
                   tuple(config.channels[name]) if name in config.channels else None)
            for name, digest in config.keys.items())
        # One table for keys and for the users who call with a token (operations API,
        # MCP), so that no caller, whichever way it comes, can crowd out the others.
        self._rates = Rates(config.rate_per_s, config.burst)

    def authenticate(self, headers: Mapping[str, str]) -> ApiKey:
        """The key the request presents, or AuthenticationError saying what is wrong."""
        if not self.keys:
            raise AuthenticationError(
                "the API has no keys configured: mint one with `yellowbox-realtime api-key "
                "--name NAME --scope publish --scope history` and add the lines it prints "
                "to the [api] section of the configuration file")
        presented = _presented_key(headers)
        digest = hashlib.sha256(presented.encode()).digest()
        found: ApiKey | None = None
        for key in self.keys:
            # No early exit: every request costs the same whichever key matches.
            if hmac.compare_digest(digest, key.digest):
                found = key
        if found is None:
            raise AuthenticationError("invalid API key")
        return found

    def take(self, key: ApiKey, now: float) -> None:
        """Count one request against the key's rate (TooManyRequests beyond it)."""
        self._take(f"api:{key.name}", f"requests with API key {key.name!r}", now)

    def take_user(self, uid: str, now: float) -> None:
        """Count one request by the user ``uid`` (a verified token) against the same rate."""
        self._take(f"user:{uid}", "requests by this user", now)

    def _take(self, caller: str, what: str, now: float) -> None:
        wait = self._rates.take(caller, now)
        if wait:
            raise TooManyRequests(f"too many {what}: at most {self._rates.rate:g}/s "
                                  f"(bursts of {self._rates.burst})", retry_after_s=wait)


def _presented_key(headers: Mapping[str, str]) -> str:
    authorization = headers.get("authorization")
    if authorization is not None:
        scheme, _, key = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise AuthenticationError("the Authorization header must be 'Bearer <API key>'")
        key = key.strip()
    else:
        header = headers.get("x-api-key")
        if header is None:
            raise AuthenticationError(
                "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
        key = header.strip()
        if not key:
            raise AuthenticationError("the X-API-Key header is empty")
    if len(key) > _MAX_KEY_LENGTH:
        raise AuthenticationError("invalid API key")
    return key
