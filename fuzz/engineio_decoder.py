"""Engine.IO decoding (protocol/engineio.py): polling bodies, text and binary packets."""

from __future__ import annotations

import contextlib

from fuzz.common import instrumented, main

with instrumented():
    from yellowbox_realtime.errors import ProtocolError
    from yellowbox_realtime.protocol import engineio as eio


def test_one_input(data: bytes) -> None:
    try:
        packets = eio.decode_payload(data, max_payload=2048)
        assert packets
    except ProtocolError:
        pass
    with contextlib.suppress(ProtocolError):
        eio.decode_text(data.decode("utf-8", "replace"))
    assert eio.decode_binary(data).data == data


if __name__ == "__main__":
    main(test_one_input)
