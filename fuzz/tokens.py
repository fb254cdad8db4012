"""Tokens through the dev and jwt (HS256 secret) providers: verified or refused with an
AuthenticationError, nothing else. (The JWKS and Firebase providers add a key fetch on top
of the same parsing and claim checks; tests/fuzz/test_input_fuzz.py covers them.)"""

from __future__ import annotations

import asyncio

from fuzz.common import instrumented, main

with instrumented():
    from yellowbox_realtime.auth.dev import DevAuthenticator
    from yellowbox_realtime.auth.jwt_provider import JwtAuthenticator
    from yellowbox_realtime.errors import GatewayError

SECRET = "atheris-token-secret-0123456789abcdef"
LOOP = asyncio.new_event_loop()
PROVIDERS = [DevAuthenticator(SECRET), JwtAuthenticator(secret=SECRET)]


def test_one_input(data: bytes) -> None:
    token = data.decode("utf-8", "replace")
    for provider in PROVIDERS:
        try:
            credentials = LOOP.run_until_complete(provider.authenticate(token))
        except GatewayError:
            continue
        assert credentials.uid


if __name__ == "__main__":
    main(test_one_input)
