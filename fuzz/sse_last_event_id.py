"""SSE ``Last-Event-ID`` parsing (protocol/sse.py): parsed positions survive a round trip."""

from __future__ import annotations

from fuzz.common import instrumented, main

with instrumented():
    from yellowbox_realtime.errors import GatewayError
    from yellowbox_realtime.protocol import sse


def test_one_input(data: bytes) -> None:
    value = data.decode("utf-8", "replace")
    try:
        position = sse.parse_last_event_id(value)
    except GatewayError:
        return
    if position is not None:
        assert sse.parse_last_event_id(sse.format_event_id(position)) == position


if __name__ == "__main__":
    main(test_one_input)
