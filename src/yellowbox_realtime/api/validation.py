"""What the API accepts: channel, user, role and event names, request bodies, keys, queries.

Path, header and query problems are the request's form (400); a well-formed JSON body that
says something the gateway will not publish is a validation failure (422).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..errors import PayloadTooLarge, ValidationError
from ..messages import StreamPosition
from ..protocol.sse import parse_last_event_id
from .errors import BadRequest, UnsupportedMediaType

__all__ = ["MAX_EVENT_LENGTH", "RESERVED_EVENTS", "EventBody", "check_channel",
           "check_event", "check_idempotency_key", "check_role", "check_uid", "encode_data",
           "parse_body", "parse_json", "parse_limit", "parse_since"]

# Channel names travel in URLs, SSE ids and Redis keys: a small charset, no "#" (which
# separates a namespace from a room in other namespaces' channels) and no "/".
_CHANNEL = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:@=+-]{0,199}")
_UID = re.compile(r"[A-Za-z0-9_.@=+-]{1,128}")
_ROLE = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_EVENT_LENGTH = 100
_EVENT = re.compile(rf"[A-Za-z][A-Za-z0-9_.:-]{{0,{MAX_EVENT_LENGTH - 1}}}")
# Socket.IO's own events, and the gateway's: a client could not tell a published one from
# the real thing.
RESERVED_EVENTS = frozenset({
    "connect", "connect_error", "disconnect", "disconnecting", "error", "message",
    "newListener", "removeListener", "ping", "pong", "gateway_error", "refresh_token",
    "token_refresh"})
_RESERVED_PREFIXES = ("auth_",)
# Printable ASCII, as in the IETF Idempotency-Key draft's examples and Stripe's keys.
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def check_channel(channel: str) -> str:
    if not _CHANNEL.fullmatch(channel):
        raise BadRequest(f"invalid channel name {channel[:80]!r}: 1-200 characters of "
                         "A-Z a-z 0-9 _ . : @ = + - (not starting with a symbol other than _)")
    return channel


def check_uid(uid: str) -> str:
    if not _UID.fullmatch(uid):
        raise BadRequest(f"invalid user id {uid[:80]!r}: 1-128 characters of "
                         "A-Z a-z 0-9 _ . @ = + -")
    return uid


def check_role(role: str) -> str:
    if not _ROLE.fullmatch(role):
        raise BadRequest(f"invalid role {role[:80]!r}: 1-64 characters of A-Z a-z 0-9 _ -")
    return role


def check_event(event: object) -> str:
    if not isinstance(event, str) or not event:
        raise ValidationError("event: must be a non-empty string")
    if event in RESERVED_EVENTS or event.startswith(_RESERVED_PREFIXES):
        raise ValidationError(f"event: {event[:80]!r} is reserved by Socket.IO or the gateway")
    if not _EVENT.fullmatch(event):
        raise ValidationError(f"event: {event[:80]!r} must be 1-{MAX_EVENT_LENGTH} characters "
                              "of A-Z a-z 0-9 _ . : - starting with a letter")
    return event


def check_idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not _IDEMPOTENCY_KEY.fullmatch(value):
        raise BadRequest("Idempotency-Key: 1-255 printable ASCII characters without spaces")
    return value


@dataclass(frozen=True, slots=True)
class EventBody:
    event: str
    data: Any
    # The data as published (compact JSON), for size checks and idempotency fingerprints.
    encoded: str


def parse_json(content_type: str | None, body: bytes) -> Any:
    """A JSON request body (``application/json``, UTF-8, no NaN or Infinity)."""
    media_type = (content_type or "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType(
            f"the body must be application/json, got {media_type or 'no Content-Type'}; "
            "binary payloads cannot be published through the API")
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError as exc:
        raise BadRequest("the body is not valid UTF-8") from exc
    except RecursionError as exc:
        raise BadRequest("the body is nested too deeply") from exc
    except ValueError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from exc


def parse_body(content_type: str | None, body: bytes, max_payload: int) -> EventBody:
    """``{"event": ..., "data": ...}`` from a JSON request body."""
    document = parse_json(content_type, body)
    if not isinstance(document, dict):
        raise ValidationError("the body must be a JSON object {\"event\", \"data\"}")
    unknown = sorted(set(document) - {"event", "data"})
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(map(repr, unknown))}; the body "
                              "is {\"event\", \"data\"}")
    if "data" not in document:
        raise ValidationError("data: required (null is allowed)")
    event = check_event(document.get("event"))
    return EventBody(event, document["data"], encode_data(document["data"], max_payload))


def encode_data(data: Any, max_payload: int) -> str:
    """``data`` as it will be published (compact JSON), within ``max_payload`` bytes."""
    try:
        encoded = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        encoded.encode("utf-8")
    except UnicodeEncodeError as exc:
        # A lone surrogate ("\ud800") parses but cannot be sent as UTF-8.
        raise ValidationError("data: contains a string that is not valid Unicode") from exc
    except RecursionError as exc:
        raise BadRequest("the body is nested too deeply") from exc
    if len(encoded.encode()) > max_payload:
        raise PayloadTooLarge(f"data: {len(encoded.encode())} bytes as JSON, at most "
                              f"{max_payload} may be published")
    return encoded


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_since(value: str | None) -> StreamPosition | None:
    try:
        return parse_last_event_id(value)
    except ValidationError as exc:
        raise BadRequest(f"since: {exc.message}") from exc


def parse_limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    if not (value.isascii() and value.isdigit() and len(value) <= 6) \
            or not 1 <= int(value) <= MAX_LIMIT:
        raise BadRequest(f"limit: a whole number from 1 to {MAX_LIMIT}")
    return int(value)
