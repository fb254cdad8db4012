"""One error hierarchy for the whole gateway.

Every error carries what each transport needs to report it on the wire: an HTTP status,
a WebSocket close code, a stable ``code`` for programs to switch on and a message safe to
show the client (it becomes the Socket.IO
``connect_error`` message or an error ack). ``temporary`` tells a client whether retrying
the same thing later can succeed. Third-party exceptions are converted where they enter
and chained with ``raise ... from``.
"""

from __future__ import annotations

from typing import ClassVar


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""

    code: ClassVar[str] = "internal_error"
    http_status: ClassVar[int] = 500
    close_code: ClassVar[int] = 1011
    temporary: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(GatewayError):
    """The configuration is invalid; the message names the key."""

    code = "config_error"


class CannotListen(GatewayError):
    """The front cannot bind its address: the port is taken, the address is not this
    machine's, or the port needs privileges."""

    code = "cannot_listen"


class ProtocolError(GatewayError):
    """A peer broke the wire protocol (malformed frame, packet or request)."""

    code = "protocol_error"
    http_status = 400
    close_code = 1002


class InvalidUTF8(ProtocolError):
    """A text frame or close reason is not valid UTF-8."""

    code = "invalid_utf8"
    close_code = 1007


class UpgradeRequired(ProtocolError):
    """A WebSocket handshake asked for a protocol version we do not speak (RFC 6455 4.2.2)."""

    code = "upgrade_required"
    http_status = 426


class HeadersTooLarge(ProtocolError):
    """A request head has too many or too large headers."""

    code = "headers_too_large"
    http_status = 431


class PayloadTooLarge(ProtocolError):
    """A frame, message or body is bigger than the configured limit."""

    code = "payload_too_large"
    http_status = 413
    close_code = 1009


class AuthenticationError(GatewayError):
    """The credentials are missing, malformed, forged or expired."""

    code = "authentication_failed"
    http_status = 401
    close_code = 4401


class AuthBackendUnavailable(AuthenticationError):
    """Keys could not be fetched to check a token; retrying may succeed."""

    code = "auth_unavailable"
    http_status = 503
    temporary = True


class ForbiddenError(GatewayError):
    """The credentials are valid but the policy does not allow the action."""

    code = "forbidden"
    http_status = 403
    close_code = 4403


class ValidationError(GatewayError):
    """A payload failed validation; the message says which field and why."""

    code = "validation_failed"
    http_status = 422


class RateLimited(GatewayError):
    """Too many requests or events in a window."""

    code = "rate_limited"
    http_status = 429
    temporary = True


class SlowConsumer(GatewayError):
    """A client's output buffer passed its byte limit; it is disconnected."""

    code = "slow_consumer"
    close_code = 1008
    temporary = True


class AckTimeout(GatewayError):
    """A client did not acknowledge an emit in time."""

    code = "ack_timeout"
    http_status = 504
    temporary = True


class Disconnected(GatewayError):
    """The connection is gone; the operation cannot complete."""

    code = "disconnected"
    temporary = True


class ConnectRefused(GatewayError):
    """The server refused a Socket.IO CONNECT (``connect_error``); the message is the server's.

    Temporary: a refusal for an expired token, say, can succeed with a fresh one."""

    code = "connect_refused"
    temporary = True


class RequestRefused(GatewayError):
    """The server acknowledged a request with ``{ok: false, error, code}``; the message is
    the error and ``reason`` the server's code for it (``forbidden``, ``rate_limited``...)."""

    code = "request_refused"

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


# HTTP-only statuses (the publish API, the HTTP front).


class BadRequest(GatewayError):
    """The request itself is malformed: a header, a query parameter or the JSON syntax."""

    code = "bad_request"
    http_status = 400


class NotFound(GatewayError):
    code = "not_found"
    http_status = 404


class IdempotencyConflict(GatewayError):
    """An ``Idempotency-Key`` came back with a different request than the first time."""

    code = "idempotency_conflict"
    http_status = 409


class UnsupportedMediaType(GatewayError):
    code = "unsupported_media_type"
    http_status = 415


class TooManyRequests(RateLimited):
    """Rate limited, knowing when the next request fits (the Retry-After header)."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TooManyConnections(TooManyRequests):
    """An address or a user already holds as many connections as ``[limits]`` allows."""

    code = "too_many_connections"
    close_code = 1008


# Inbound webhooks (n8n, Firebase Cloud Functions).


class SignatureInvalid(AuthenticationError):
    """A webhook's signature or shared secret is missing, malformed, wrong or too old."""

    code = "signature_invalid"


class ReplayedRequest(GatewayError):
    """A correctly signed webhook request came again, byte for byte, within the window.

    409, not 401: the request is authentic, so "unauthenticated" would send its sender
    hunting for a wrong secret; "conflict" says it was already accepted once, and senders
    treat it as permanent (no retry storm)."""

    code = "replayed"
    http_status = 409


class ReplayWindowFull(GatewayError):
    """More signed webhook requests arrived within the replay window than the gateway
    remembers; refused rather than accepted unchecked, and worth retrying shortly."""

    code = "replay_window_full"
    http_status = 503
    temporary = True


class WebhookNotConfigured(GatewayError):
    """An inbound webhook whose source has no secret configured.

    503, not 404: the route exists, the deployment has not switched it on. Senders (Cloud
    Functions with ``retry: true``, n8n's retries) keep a change and try again on a 5xx, so
    events sent before the operator adds the secret are delivered once it is there rather
    than dropped as a permanent 4xx."""

    code = "webhook_not_configured"
    http_status = 503
    temporary = True
