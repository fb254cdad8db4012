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
from ..messages import Credentials
from ..server.limits import Rates
from .errors import TooManyRequests

__all__ = ["KEY_PREFIX", "ApiKey", "Caller", "KeyRing", "actor", "hash_key", "mint_key",
           "principal"]

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


# Who calls the HTTP API (or MCP): an API key, or a user with a verified token.
Caller = ApiKey | Credentials


def principal(caller: Caller) -> str:
    """One name per identity, so what a caller holds (idempotency keys, sessions, streams,
    a request rate) can be counted and owned: ``api:<key name>`` or ``user:<uid>``."""
    return f"api:{caller.name}" if isinstance(caller, ApiKey) else f"user:{caller.uid}"


def actor(caller: Caller) -> str:
    """Who did something, as an alert's ``acknowledgedBy`` names them: a user's id, or
    ``api:<key name>``."""
    return caller.uid if isinstance(caller, Credentials) else f"api:{caller.name}"


class KeyRing:
    """The configured keys, and a rate limit per key."""

    def __init__(self, config: ApiConfig) -> None:
        self.keys = tuple(
            ApiKey(name, bytes.fromhex(digest), frozenset(config.scopes.get(name, ())),
                   tuple(config.channels[name]) if name in config.channels else None)
            for name, digest in config.keys.items())
        # Keys, and the users who call with a token (operations API, MCP).
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

    def take(self, caller: Caller, now: float) -> None:
        """Count one request against the caller's rate, a key's or a user's (one table for
        both, so that no caller, whichever way it comes, crowds out the others);
        TooManyRequests beyond it."""
        wait = self._rates.take(principal(caller), now)
        if wait:
            what = f"requests with API key {caller.name!r}" if isinstance(caller, ApiKey) \
                else "requests by this user"
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
