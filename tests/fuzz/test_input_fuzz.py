"""Arbitrary webhook requests and tokens: each is accepted or refused with a GatewayError
(which the endpoints answer with its status); no other exception escapes. Signed requests
are built correctly half the time, so the checks behind the signature are reached too."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import Callable
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.strategies import json_values
from yellowbox_realtime.api.webhook_auth import WebhookAuthConfig, WebhookVerifier
from yellowbox_realtime.api.webhook_bodies import parse_firebase, parse_n8n
from yellowbox_realtime.auth.base import Authenticator
from yellowbox_realtime.auth.dev import DevAuthenticator, mint_dev_token
from yellowbox_realtime.auth.firebase import FirebaseAuthenticator
from yellowbox_realtime.auth.jwt_provider import JwtAuthenticator
from yellowbox_realtime.errors import GatewayError
from yellowbox_realtime.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signed_headers

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
SECRET = "fuzz-webhook-secret-0123456789abcdef"
NOW = 1_700_000_000.0

def refusal(call: Callable[[], object]) -> int | None:
    """The HTTP status of the GatewayError ``call`` raised; None when it returned."""
    try:
        call()
    except GatewayError as exc:
        return exc.http_status
    return None


header_values = st.text(max_size=80) | st.sampled_from(
    ["v1=", "v1=zz", "v1=" + "0" * 64, "", " ", "1700000000", "-1", "9" * 30, "nan"])
headers = st.dictionaries(
    st.sampled_from([TIMESTAMP_HEADER.lower(), SIGNATURE_HEADER.lower(),
                     "x-yellowbox-secret", "content-length", "content-type"]),
    header_values, max_size=4)


@FUZZ
@given(st.binary(max_size=600) | json_values.map(lambda v: json.dumps(v).encode()),
       headers, st.booleans(), st.floats(-1e6, 1e6))
def test_webhook_verification_accepts_or_refuses(body: bytes, given_headers: dict[str, str],
                                                 sign: bool, skew: float) -> None:
    verifier = WebhookVerifier(WebhookAuthConfig((SECRET,), max_body_bytes=500,
                                                 accept_shared_secret=True))
    request = dict(given_headers)
    if sign:
        request.update({k.lower(): v for k, v in signed_headers(SECRET, body, NOW).items()})
    def check() -> None:
        verifier.check_length(request)
        verifier.verify(request, body, NOW + skew)

    status = refusal(check)
    assert status is None or 400 <= status < 600
    if status is None:
        assert len(body) <= 500


firebase_bodies = st.fixed_dictionaries(
    {}, optional={"id": json_values | st.text(max_size=20),
                  "type": st.sampled_from(["expense", "order", "rider", "x"]) | json_values,
                  "change": st.sampled_from(["created", "updated", "deleted"]) | json_values,
                  "data": st.fixed_dictionaries({}, optional={
                      "documentId": json_values | st.text(max_size=20),
                      "document": st.dictionaries(st.sampled_from(
                          ["status", "amount", "currency", "riderId", "rider", "description"]),
                          json_values, max_size=6)}) | json_values,
                  "occurredAt": st.sampled_from(["2025-01-01T00:00:00Z", "yesterday"])
                  | json_values})
n8n_bodies = st.fixed_dictionaries(
    {}, optional={"id": json_values | st.text(max_size=20),
                  "event": st.sampled_from(["x_happened", "connect", "expense_status_change"])
                  | json_values,
                  "channel": st.sampled_from(["alerts", "user:u1", "expense_updates", ""])
                  | json_values,
                  "data": json_values})


@FUZZ
@given(n8n_bodies | firebase_bodies | json_values, st.booleans())
def test_webhook_bodies_parse_or_are_refused(document: Any, firebase: bool) -> None:
    parse = parse_firebase if firebase else parse_n8n
    assert refusal(lambda: parse(document, 10_000)) in (None, 400, 413, 422)


def _segment(value: Any) -> str:
    raw = json.dumps(value).encode() if not isinstance(value, bytes) else value
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


jwt_headers = st.fixed_dictionaries({}, optional={
    "alg": st.sampled_from(["HS256", "RS256", "none", "ES256", "HS512"]) | json_values,
    "typ": st.just("JWT") | json_values, "kid": st.text(max_size=10) | json_values})
jwt_claims = st.fixed_dictionaries({}, optional={
    "sub": st.text(max_size=20) | json_values, "role": json_values,
    "exp": st.integers() | json_values, "iat": st.integers() | json_values,
    "aud": json_values, "iss": json_values, "auth_time": json_values})
tokens = (
    st.text(max_size=200)
    | st.builds(lambda h, c, s: f"{_segment(h)}.{_segment(c)}.{s}", jwt_headers | json_values,
                jwt_claims | json_values, st.text(alphabet="abcXYZ_-0123", max_size=50))
    | st.builds(lambda h, c, s: f"{h}.{c}.{s}", st.binary(max_size=30).map(_segment),
                st.binary(max_size=30).map(_segment), st.text(max_size=10))
    | st.builds(lambda uid, cut: mint_dev_token(SECRET, uid or "u", "rider")[:cut],
                st.text(max_size=10), st.integers(0, 400))
)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@FUZZ
@given(st.lists(tokens, min_size=1, max_size=8))
def test_tokens_are_verified_or_refused_by_every_provider(batch: list[str]) -> None:
    async def check() -> None:
        # Key servers on a closed loopback port: a token that gets as far as needing a key
        # is refused as auth_unavailable, which is a GatewayError like every other refusal.
        url = f"http://127.0.0.1:{closed_port()}/keys"
        async with httpx.AsyncClient(timeout=1) as http:
            providers: list[Authenticator] = [
                DevAuthenticator(SECRET),
                JwtAuthenticator(secret=SECRET),
                JwtAuthenticator(jwks_url=url, http=http),
                FirebaseAuthenticator("fuzz-project", url, http=http),
            ]
            for token in batch:
                for provider in providers:
                    try:
                        credentials = await provider.authenticate(token)
                    except GatewayError as exc:
                        status: int | None = exc.http_status
                    else:
                        status = None
                        assert credentials.uid
                    assert status in (None, 401, 503)
    asyncio.run(check())
