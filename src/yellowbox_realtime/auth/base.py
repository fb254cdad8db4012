"""The authenticator interface and the JWS parsing every provider shares.

Tokens are parsed here rather than with PyJWT's ``decode()`` so that every rejection carries
one of our own client-safe messages and so the header (alg, kid) can be inspected before a
key is chosen. PyJWT still does the cryptography: its ``Algorithm`` objects check signatures.
No message here includes any part of the token.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from jwt.algorithms import Algorithm

from ..errors import AuthenticationError
from ..messages import Credentials
from .claims import ClaimRules, credentials_from_claims

# Far larger than any real ID token (Firebase's are about 1 KiB) yet small enough that
# parsing a hostile one costs nothing.
MAX_TOKEN_CHARS = 16 * 1024
# A kid is only ever a dictionary key for us; a long one can only be an attack.
MAX_KEY_ID_CHARS = 256

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


class Authenticator(Protocol):
    """Turns a bearer token into credentials, or says in a client-safe way why not."""

    async def authenticate(self, token: str) -> Credentials:
        """Verify ``token``; raise :class:`AuthenticationError` if it is not acceptable."""
        ...

    async def aclose(self) -> None:
        """Release HTTP clients the authenticator created."""
        ...


@dataclass(frozen=True, slots=True)
class ParsedToken:
    """A compact JWS split into its parts; the payload is still unverified bytes."""

    header: Mapping[str, Any]
    signing_input: bytes
    payload: bytes
    signature: bytes


def parse_token(token: object) -> ParsedToken:
    """Split and decode a compact JWS; the signature is not checked yet."""
    # Tokens arrive in client-supplied JSON, so the type annotation upstream is a hope.
    if not isinstance(token, str):
        raise AuthenticationError("token is malformed: expected a string")
    if not token:
        raise AuthenticationError("token is missing")
    if len(token) > MAX_TOKEN_CHARS:
        raise AuthenticationError("token is too long")
    segments = token.split(".")
    if len(segments) != 3:
        raise AuthenticationError("token is malformed: expected three dot-separated segments")
    header_raw, payload_raw, signature = (_base64url_decode(s) for s in segments)
    header = _json_object(header_raw, "token header is not valid JSON")
    if "crit" in header:
        # RFC 7515 4.1.11: extensions listed in "crit" must be understood; we know none.
        raise AuthenticationError("token header has unsupported critical parameters")
    signing_input = token[: token.rindex(".")].encode("ascii")
    return ParsedToken(header, signing_input, payload_raw, signature)


def require_algorithm(parsed: ParsedToken, allowed: Mapping[str, Algorithm]) -> Algorithm:
    """The verifier for the header's ``alg``, if it is one the provider accepts.

    The allow-list is what stops ``alg: none`` and HS256-signed-with-the-public-key tokens:
    the algorithm is never taken from the token alone.
    """
    name = parsed.header.get("alg")
    if not isinstance(name, str) or name not in allowed:
        expected = " or ".join(sorted(allowed))
        raise AuthenticationError(f"token algorithm is not allowed: expected {expected}")
    return allowed[name]


def require_key_id(parsed: ParsedToken) -> str:
    """The header's ``kid``, which selects the key in a published key set."""
    kid = parsed.header.get("kid")
    if kid is None:
        raise AuthenticationError("token has no key id")
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KEY_ID_CHARS:
        raise AuthenticationError("token key id is malformed")
    return kid


def verify_token(
    parsed: ParsedToken, algorithm: Algorithm, key: Any, rules: ClaimRules, now: float
) -> Credentials:
    """Check the signature, then (only then) read and check the claims."""
    if not algorithm.verify(parsed.signing_input, key, parsed.signature):
        raise AuthenticationError("token signature is invalid")
    claims = _json_object(parsed.payload, "token payload is not valid JSON")
    return credentials_from_claims(claims, rules, now)


def _base64url_decode(segment: str) -> bytes:
    # The stdlib decoder silently skips characters outside the alphabet; a token that
    # contains any is not the token its signature covers, so refuse it up front.
    if not _BASE64URL.fullmatch(segment):
        raise AuthenticationError("token is malformed: a segment is not valid base64url")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise AuthenticationError(
            "token is malformed: a segment is not valid base64url") from exc


def _json_object(raw: bytes, message: str) -> dict[str, Any]:
    try:
        value = json.loads(raw, object_pairs_hook=_unique_members,
                           parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise AuthenticationError(message) from exc
    if not isinstance(value, dict):
        raise AuthenticationError(message)
    return value


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Parsers disagree on which duplicate wins, which lets a token mean different things to
    # different verifiers; refusing duplicates removes the ambiguity.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate member name")
    return obj


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; "exp": Infinity would be a token that never expires.
    raise ValueError(f"{name} is not valid JSON")
