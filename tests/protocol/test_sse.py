"""Server-Sent Events: encoding, refused field injection, the WHATWG interpretation rules of
the parser (chunked at every byte), round trips, and Last-Event-ID positions."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yellowbox_realtime.errors import PayloadTooLarge, ValidationError
from yellowbox_realtime.messages import StreamPosition
from yellowbox_realtime.protocol.sse import (
    EventStreamParser,
    ServerSentEvent,
    encode_comment,
    encode_event,
    encode_retry,
    format_event_id,
    parse_last_event_id,
)


def parse(*chunks: bytes) -> list[ServerSentEvent]:
    parser = EventStreamParser()
    return [event for chunk in chunks for event in parser.feed(chunk)]


# --- encoding ---------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"data": "hello"}, b"data: hello\n\n"),
    ({"data": ""}, b"data: \n\n"),
    ({"data": "a\nb"}, b"data: a\ndata: b\n\n"),
    ({"data": "a\r\nb"}, b"data: a\ndata: b\n\n"),
    ({"data": "a\rb"}, b"data: a\ndata: b\n\n"),
    ({"data": "a\n\r\n\rb"}, b"data: a\ndata: \ndata: \ndata: b\n\n"),
    ({"data": "a\n"}, b"data: a\ndata: \n\n"),
    ({"data": " lead"}, b"data:  lead\n\n"),
    # Only CR and LF end lines in an event stream; these other "line breaks" are data.
    ({"data": "a\u2028b\x0bc\x85d"}, "data: a\u2028b\x0bc\x85d\n\n".encode()),
    ({"data": "مرحبا 🚴"}, "data: مرحبا 🚴\n\n".encode()),
    ({"data": "{}", "event": "rider_location_update"},
     b"event: rider_location_update\ndata: {}\n\n"),
    ({"data": "x", "id": "e1:42"}, b"id: e1:42\ndata: x\n\n"),
    ({"data": "x", "id": ""}, b"id: \ndata: x\n\n"),
    ({"data": "x", "retry_ms": 0}, b"retry: 0\ndata: x\n\n"),
    ({"data": "x", "event": "e", "id": "i", "retry_ms": 3000},
     b"event: e\nid: i\nretry: 3000\ndata: x\n\n"),
])
def test_encode_event(kwargs: dict[str, object], expected: bytes) -> None:
    assert encode_event(**kwargs) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [
    {"event": "a\nid: evil"},
    {"event": "a\r"},
    {"event": "a\0"},
    {"event": ""},
    {"id": "1\ndata: evil"},
    {"id": "1\r"},
    {"id": "1\0"},
    {"retry_ms": -1},
    {"retry_ms": True},
    {"retry_ms": 1.5},
])
def test_fields_that_cannot_be_framed_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies by field on purpose
        encode_event("x", **kwargs)  # type: ignore[arg-type]


def test_newlines_in_data_cannot_inject_fields_or_events() -> None:
    attack = "x\nid: evil\nevent: admin\n\ndata: second\r\rretry: 1"
    assert parse(encode_event(attack)) == [
        ServerSentEvent("message", "x\nid: evil\nevent: admin\n\ndata: second\n\nretry: 1")]


def test_comments_and_retry_blocks() -> None:
    assert encode_comment() == b":\n\n"
    assert encode_comment("ping") == b": ping\n\n"
    assert encode_comment("a\r\nb") == b": a\n: b\n\n"
    assert encode_retry(2500) == b"retry: 2500\n\n"
    with pytest.raises(ValueError, match="retry"):
        encode_retry(-5)
    parser = EventStreamParser()
    assert parser.feed(encode_comment("a\nid: x\ndata: y") + encode_retry(2500)) == []
    assert parser.retry == 2500
    assert parser.last_event_id is None


single_line = st.text(st.characters(codec="utf-8", exclude_characters="\r\n\0"))


@given(data=st.text(st.characters(codec="utf-8")), event=st.none() | single_line.filter(bool),
       id=st.none() | single_line, retry=st.none() | st.integers(0, 2**40),
       cuts=st.lists(st.integers(0, 10_000), max_size=6))
def test_round_trip(data: str, event: str | None, id: str | None, retry: int | None,
                    cuts: list[int]) -> None:
    wire = encode_comment("hb") + encode_event(data, event=event, id=id, retry_ms=retry)
    bounds = sorted({0, len(wire), *(c % (len(wire) + 1) for c in cuts)})
    chunks = [wire[a:b] for a, b in pairwise(bounds)]
    assert parse(*chunks) == [ServerSentEvent(
        event or "message", re.sub(r"\r\n|\r", "\n", data), id, retry)]


# --- parser: the interpretation rules ---------------------------------------------------

SAMPLE = ("\ufeff: comment\r\n"
          "event: update\rid: e:1\ndata: first\r\n"
          "data:  two spaces\r\rdata:é€🚴\n"
          "retry: 1500\nunknown: ignored\ndata\n\n"
          "id: e:2\r\ndata: last\r\n\r\n").encode()
SAMPLE_EVENTS = [
    ServerSentEvent("update", "first\n two spaces", "e:1"),
    ServerSentEvent("message", "é€🚴\n", "e:1", 1500),
    ServerSentEvent("message", "last", "e:2"),
]


def test_sample_in_one_chunk() -> None:
    assert parse(SAMPLE) == SAMPLE_EVENTS


@pytest.mark.parametrize("cut", range(len(SAMPLE) + 1))
def test_sample_split_at_every_byte(cut: int) -> None:
    assert parse(SAMPLE[:cut], SAMPLE[cut:]) == SAMPLE_EVENTS


def test_sample_one_byte_at_a_time() -> None:
    assert parse(*(SAMPLE[i:i + 1] for i in range(len(SAMPLE)))) == SAMPLE_EVENTS


def test_cr_ending_a_chunk_and_lf_starting_the_next_are_one_line_end() -> None:
    assert parse(b"data: a\r", b"\ndata: b\r\n\r\n") == [ServerSentEvent("message", "a\nb")]
    assert parse(b"data: a\r", b"\n", b"\n") == [ServerSentEvent("message", "a")]
    assert parse(b"data: a\r", b"\n", b"data: b\n\n") == [ServerSentEvent("message", "a\nb")]
    # A lone CR is a line end by itself: CR CR is a blank line, dispatched without waiting.
    assert parse(b"data: a\r", b"\r") == [ServerSentEvent("message", "a")]


def test_bom_only_at_stream_start() -> None:
    assert parse(b"\xef\xbb", b"\xbfdata: x\n\n") == [ServerSentEvent("message", "x")]
    # A second BOM belongs to the first line, whose field name is then unknown.
    assert parse(b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\n") == []
    assert parse(b"data: \xef\xbb\xbfx\n\n") == [ServerSentEvent("message", "\ufeffx")]


@pytest.mark.parametrize(("stream", "expected"), [
    (b": only a comment\n\n", []),
    (b":\n\n", []),
    (b"data:x\n\n", [ServerSentEvent("message", "x")]),
    (b"data\n\n", [ServerSentEvent("message", "")]),
    (b"data:\n\n", [ServerSentEvent("message", "")]),
    (b"data\ndata\n\n", [ServerSentEvent("message", "\n")]),
    (b"data: a:b: c\n\n", [ServerSentEvent("message", "a:b: c")]),
    (b"Data: x\n\n", []),  # field names are case-sensitive
    (b"foo: bar\ndata: x\n\n", [ServerSentEvent("message", "x")]),
    (b"event: x\n\n", []),  # no data, no event
    (b"event: x\n\ndata: y\n\n", [ServerSentEvent("message", "y")]),  # type was reset
    (b"event\ndata: y\n\n", [ServerSentEvent("message", "y")]),
    (b"data: x\n", []),  # never ended by a blank line
    (b"data: \xff\xfe\n\n", [ServerSentEvent("message", "\ufffd\ufffd")]),
    (b"id: 1\ndata: a\n\ndata: b\n\n",
     [ServerSentEvent("message", "a", "1"), ServerSentEvent("message", "b", "1")]),
    (b"id: 1\ndata: a\n\nid\ndata: b\n\n",
     [ServerSentEvent("message", "a", "1"), ServerSentEvent("message", "b", "")]),
    (b"id: 1\n\nid: a\x00b\ndata: x\n\n", [ServerSentEvent("message", "x", "1")]),
    (b"retry: 1a\nretry: -1\nretry: \nretry: 1.5\nretry\ndata: x\n\n",
     [ServerSentEvent("message", "x")]),
    ("retry: \u0661\u0662\ndata: x\n\n".encode(), [ServerSentEvent("message", "x")]),
])
def test_interpretation_rules(stream: bytes, expected: list[ServerSentEvent]) -> None:
    assert parse(stream) == expected


def test_last_event_id_and_retry_are_kept_for_reconnecting() -> None:
    parser = EventStreamParser()
    assert parser.feed(b"id: e:7\nretry: 250\n\n") == []  # committed without an event
    assert (parser.last_event_id, parser.retry) == ("e:7", 250)
    assert parser.feed(b"id: e:8\ndata: x\n") == []
    assert parser.last_event_id == "e:7"  # not until the block is dispatched


def test_parser_buffer_is_bounded() -> None:
    parser = EventStreamParser(max_event_chars=100)
    parser.feed(b"data: " + b"x" * 90 + b"\n\n")  # within the bound, then reset
    with pytest.raises(PayloadTooLarge):
        parser.feed(b"data: " + b"x" * 200)  # one line that never ends
    parser = EventStreamParser(max_event_chars=100)
    with pytest.raises(PayloadTooLarge):
        parser.feed(b"data: xxxxxxxxx\n" * 20)  # many lines, never dispatched


# --- Last-Event-ID ----------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    (None, None),
    ("", None),
    ("abc:0", StreamPosition("abc", 0)),
    ("A-z_9:123", StreamPosition("A-z_9", 123)),
    ("e" * 32 + ":7", StreamPosition("e" * 32, 7)),
    (f"x:{2**63 - 1}", StreamPosition("x", 2**63 - 1)),
])
def test_last_event_id_valid(value: str | None, expected: StreamPosition | None) -> None:
    assert parse_last_event_id(value) == expected
    if expected is not None:
        assert format_event_id(expected) == value


@pytest.mark.parametrize(("value", "reason"), [
    ("abc", "no ':'"),
    ("42", "no ':'"),
    (":1", "epoch"),
    ("e" * 33 + ":1", "epoch"),
    ("a.b:1", "epoch"),
    ("é:1", "epoch"),
    (" ab:1", "epoch"),
    ("ab:", "offset"),
    ("ab:01", "offset"),
    ("ab:00", "offset"),
    ("ab:-1", "offset"),
    ("ab:+1", "offset"),
    ("ab:1.0", "offset"),
    ("ab: 1", "offset"),
    ("ab:1 ", "offset"),
    ("ab:1\n", "offset"),
    ("ab:1:2", "offset"),
    ("ab:\u0661", "offset"),
    ("ab:" + "1" * 20, "offset"),
    (f"ab:{2**63}", "2\\*\\*63"),
])
def test_last_event_id_invalid(value: str, reason: str) -> None:
    with pytest.raises(ValidationError,
                       match=rf"^Last-Event-ID must look like <epoch>:<offset> \(.*{reason}"):
        parse_last_event_id(value)


def test_invalid_last_event_id_error_is_a_422_with_a_bounded_message() -> None:
    with pytest.raises(ValidationError) as info:
        parse_last_event_id("x" * 10_000)
    assert info.value.http_status == 422
    assert len(info.value.message) < 200


@pytest.mark.parametrize(("epoch", "offset"), [
    ("", 0), ("a:b", 0), ("e" * 33, 0), ("ok", -1), ("ok", 2**63),
])
def test_stream_position_refuses_what_could_not_be_parsed_back(epoch: str,
                                                               offset: int) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        StreamPosition(epoch, offset)


@given(epoch=st.from_regex(r"[A-Za-z0-9_-]{1,32}", fullmatch=True),
       offset=st.integers(0, 2**63 - 1))
def test_event_id_round_trip(epoch: str, offset: int) -> None:
    position = StreamPosition(epoch, offset)
    assert parse_last_event_id(format_event_id(position)) == position


@pytest.mark.parametrize("field", ["data", "event", "id"])
def test_lone_surrogates_are_refused(field: str) -> None:
    kwargs = {"data": "ok", field: "bad\ud800"}
    with pytest.raises(ValueError, match="lone surrogate"):
        encode_event(**kwargs)  # type: ignore[arg-type]
