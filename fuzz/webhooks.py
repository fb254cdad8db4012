"""Inbound webhooks: signature checks (api/webhook_auth.py) on arbitrary headers and bodies,
and the n8n and Firebase body schemas (api/webhook_bodies.py) on whatever JSON arrives.

The first piece is the body, the next ones header values (timestamp, signature, shared
secret); an input whose fourth piece is empty is signed correctly, so the checks behind the
signature are reached as well."""

from __future__ import annotations

import contextlib
import json

from fuzz.common import instrumented, main, pieces

with instrumented():
    from yellowbox_realtime.api.webhook_auth import WebhookAuthConfig, WebhookVerifier
    from yellowbox_realtime.api.webhook_bodies import parse_firebase, parse_n8n
    from yellowbox_realtime.errors import GatewayError
    from yellowbox_realtime.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signed_headers

SECRET = "atheris-webhook-secret-0123456789abcdef"
NOW = 1_700_000_000.0
VERIFIER = WebhookVerifier(WebhookAuthConfig((SECRET,), max_body_bytes=4096,
                                             accept_shared_secret=True))


def test_one_input(data: bytes) -> None:
    body, *values = pieces(data)
    names = [TIMESTAMP_HEADER, SIGNATURE_HEADER, "X-Yellowbox-Secret"]
    headers = {name.lower(): value.decode("latin-1")
               for name, value in zip(names, values, strict=False)}
    if len(values) > 3 and not values[3]:
        headers = {k.lower(): v for k, v in signed_headers(SECRET, body, NOW).items()}
    try:
        VERIFIER.check_length(headers)
        verified = VERIFIER.verify(headers, body, NOW)
        VERIFIER.release(verified)
    except GatewayError:
        pass
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return
    for parse in (parse_n8n, parse_firebase):
        with contextlib.suppress(GatewayError):
            parse(document, 4096)


if __name__ == "__main__":
    main(test_one_input)
