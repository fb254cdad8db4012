"""The WebSocket frame parser (protocol/websocket.py), fed in arbitrary reads."""

from __future__ import annotations

from fuzz.common import instrumented, main, pieces

with instrumented():
    from yellowbox_realtime.errors import ProtocolError
    from yellowbox_realtime.protocol import websocket as ws


def test_one_input(data: bytes) -> None:
    parser = ws.ServerConnection(max_message_bytes=4096)
    for piece in pieces(data):
        parser.receive_data(piece)  # never raises: violations become a close
        for event in parser.events_received():
            if isinstance(event, ws.TextMessage | ws.BinaryMessage):
                size = len(event.text.encode()) if isinstance(event, ws.TextMessage) \
                    else len(event.data)
                assert size <= 4096
        parser.data_to_send()
        if parser.failure is not None:
            assert isinstance(parser.failure, ProtocolError)
            assert parser.should_close_transport
            return


if __name__ == "__main__":
    main(test_one_input)
