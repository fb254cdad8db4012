"""Every target behind one fuzzer: the first byte picks the target. For a quick check that
all of them run under atheris (one start-up instead of seven); fuzz each target on its own
for real campaigns."""

from __future__ import annotations

from fuzz import (
    engineio_decoder,
    http_request,
    socketio_decoder,
    sse_last_event_id,
    tokens,
    webhooks,
    websocket_parser,
)
from fuzz.common import main

TARGETS = (websocket_parser, engineio_decoder, socketio_decoder, sse_last_event_id, webhooks,
           tokens, http_request)


def test_one_input(data: bytes) -> None:
    if data:
        TARGETS[data[0] % len(TARGETS)].test_one_input(data[1:])


if __name__ == "__main__":
    main(test_one_input)
