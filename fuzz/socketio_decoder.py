"""The Socket.IO decoder (protocol/socketio.py) over a sequence of text and binary packets
(pieces starting with 0x01 are binary attachments)."""

from __future__ import annotations

from fuzz.common import instrumented, main, pieces

with instrumented():
    from yellowbox_realtime.errors import ProtocolError
    from yellowbox_realtime.protocol import socketio as sio


def test_one_input(data: bytes) -> None:
    decoder = sio.Decoder(max_attachments=4)
    for piece in pieces(data):
        try:
            if piece.startswith(b"\x01"):
                packet = decoder.feed_binary(piece[1:])
            else:
                packet = decoder.feed_text(piece.decode("utf-8", "replace"))
        except ProtocolError:
            decoder = sio.Decoder(max_attachments=4)  # the gateway closes the session
            continue
        if packet is not None and packet.type in (sio.SioType.EVENT, sio.SioType.BINARY_EVENT):
            assert isinstance(packet.data[0], str)


if __name__ == "__main__":
    main(test_one_input)
