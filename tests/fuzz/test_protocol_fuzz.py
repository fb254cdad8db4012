"""Arbitrary input to the sans-I/O decoders: each either decodes or refuses with the
gateway's ProtocolError (which the transports turn into a close with a reason); nothing
else escapes, whatever the bytes and however they are split."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.strategies import chunks, json_values, ws_stream
from yellowbox_realtime.errors import GatewayError, ProtocolError
from yellowbox_realtime.protocol import engineio as eio
from yellowbox_realtime.protocol import socketio as sio
from yellowbox_realtime.protocol import sse
from yellowbox_realtime.protocol import websocket as ws

FUZZ = settings(max_examples=300, deadline=None)


@FUZZ
@given(ws_stream, st.lists(st.integers(0, 10_000), max_size=6))
def test_the_websocket_parser_never_raises_and_stops_after_a_failure(
        data: bytes, cuts: list[int]) -> None:
    parser = ws.ServerConnection(max_message_bytes=200)
    for piece in chunks(data, cuts):
        parser.receive_data(piece)
        events = parser.events_received()
        parser.data_to_send()
        if parser.failure is not None:
            assert parser.should_close_transport
            assert isinstance(parser.failure, ProtocolError)
            # After a failure nothing more is read.
            parser.receive_data(b"\x81\x85" + b"\x00" * 9)
            assert parser.events_received() == []
            return
        for event in events:
            if isinstance(event, ws.TextMessage):
                assert len(event.text.encode()) <= 200
            elif isinstance(event, ws.BinaryMessage):
                assert len(event.data) <= 200


@FUZZ
@given(st.text(max_size=200) | st.binary(max_size=200).map(
    lambda b: b.decode("utf-8", "replace")))
def test_engineio_text_packets_decode_or_refuse(text: str) -> None:
    try:
        packet = eio.decode_text(text)
    except ProtocolError:
        return
    assert isinstance(packet.type, eio.PacketType)


@FUZZ
@given(st.binary(max_size=400) | st.lists(st.text(max_size=40), min_size=1, max_size=6).map(
    lambda parts: "\x1e".join(parts).encode()))
def test_engineio_polling_bodies_decode_or_refuse(body: bytes) -> None:
    try:
        packets = eio.decode_payload(body, max_payload=300)
    except ProtocolError:
        return
    assert packets
    assert len(body) <= 300


@FUZZ
@given(st.lists(
    st.text(max_size=80)
    | st.builds(lambda kind, nsp, ack, data: f"{kind}{nsp}{ack}{data}",
                st.sampled_from("0123456789"), st.sampled_from(["", "/", "/admin,", "/x"]),
                st.sampled_from(["", "1", "12", "-1", "99999999999999999999"]),
                json_values.map(json.dumps))
    | st.binary(max_size=40),
    max_size=6))
def test_the_socketio_decoder_decodes_or_refuses_any_sequence(
        inputs: list[str | bytes]) -> None:
    decoder = sio.Decoder(max_attachments=3)
    for item in inputs:
        try:
            packet = decoder.feed_text(item) if isinstance(item, str) \
                else decoder.feed_binary(item)
        except ProtocolError:
            decoder = sio.Decoder(max_attachments=3)  # the session would be closed
            continue
        if packet is not None:
            assert isinstance(packet.type, sio.SioType)
            if packet.type in (sio.SioType.EVENT, sio.SioType.BINARY_EVENT):
                assert isinstance(packet.data[0], str)


@FUZZ
@given(st.none() | st.text(max_size=60) | st.from_regex(r"-?[0-9a-zA-Z_]{0,12}:-?[0-9]{0,25}"))
def test_last_event_id_parses_or_is_refused(value: str | None) -> None:
    try:
        position = sse.parse_last_event_id(value)
    except GatewayError:
        return
    if position is not None:
        assert sse.parse_last_event_id(sse.format_event_id(position)) == position


@FUZZ
@given(st.binary(max_size=500), st.lists(st.integers(0, 10_000), max_size=5))
def test_the_event_stream_parser_reads_any_bytes(data: bytes, cuts: list[int]) -> None:
    parser = sse.EventStreamParser(max_event_chars=200)
    for piece in chunks(data, cuts):
        try:
            parser.feed(piece)
        except ProtocolError:
            return
