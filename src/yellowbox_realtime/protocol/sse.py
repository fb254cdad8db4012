"""Server-Sent Events: the ``text/event-stream`` format of the WHATWG HTML standard (sans-I/O).

An event is a block of ``field: value`` lines ended by a blank line. The encoder splits data
on every newline kind (CRLF, CR, LF) into one ``data:`` line each, so no payload can end the
block early or smuggle in an ``id:`` or ``event:`` line; single-line fields (event name, id)
that could do so are refused instead. Event ids carry a stream position, ``<epoch>:<offset>``,
which browsers send back as ``Last-Event-ID`` when they reconnect.

:class:`EventStreamParser` applies the standard's interpretation rules; the server never
parses event streams, but the Python client and the tests do.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from ..errors import PayloadTooLarge, ValidationError
from ..messages import EPOCH, MAX_OFFSET, StreamPosition

__all__ = [
    "EventStreamParser",
    "ServerSentEvent",
    "encode_comment",
    "encode_event",
    "encode_retry",
    "format_event_id",
    "parse_last_event_id",
]

_NEWLINE = re.compile(r"\r\n|\r|\n")
_NEXT_DATA_LINE = "\ndata: "
_UNSAFE_FIELD = re.compile(r"[\r\n\0]")
# At most 19 digits, so int() never sees a huge string; the 2**63 bound is checked after.
_OFFSET = re.compile(r"0|[1-9][0-9]{0,18}")


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """A dispatched event as a browser's ``EventSource`` sees it.

    ``id`` is the stream's last event id at dispatch (it carries over to later events that
    have no ``id:`` line, as ``MessageEvent.lastEventId`` does), or None if the stream never
    set one. ``retry`` is the reconnection time set inside this event's block, if any.
    """

    event: str
    data: str
    id: str | None = None
    retry: int | None = None


def encode_event(data: str, *, event: str | None = None, id: str | None = None,
                 retry_ms: int | None = None) -> bytes:
    """One event block. Raises ValueError for an event name or id that cannot be framed
    (CR, LF or NUL; an empty event name) or a negative ``retry_ms``.

    An empty ``id`` is allowed: it tells the browser to forget its last event id.
    """
    head = ""
    if event is not None:
        _check_single_line("event name", event)
        if not event:
            raise ValueError("event name must not be empty (None means 'message')")
        head += f"event: {event}\n"
    if id is not None:
        _check_single_line("event id", id)
        head += f"id: {id}\n"
    if retry_ms is not None:
        head += f"retry: {_retry(retry_ms)}\n"
    try:
        return f"{head}data: {_NEWLINE.sub(_NEXT_DATA_LINE, data)}\n\n".encode()
    except UnicodeEncodeError as exc:
        # A lone surrogate has no UTF-8 form; the stream must stay valid UTF-8.
        raise ValueError("event text is not valid Unicode (a lone surrogate)") from exc


def encode_comment(text: str = "") -> bytes:
    """A comment block (``: text``), ignored by clients; used as a heartbeat that keeps
    proxies from closing an idle stream. Multi-line text becomes one comment line each."""
    lines = _NEWLINE.split(text)
    return "".join(f": {line}\n" if line else ":\n" for line in lines).encode() + b"\n"


def encode_retry(ms: int) -> bytes:
    """A block that only sets the client's reconnection delay; it dispatches no event."""
    return f"retry: {_retry(ms)}\n\n".encode()


def format_event_id(position: StreamPosition) -> str:
    return f"{position.epoch}:{position.offset}"


def parse_last_event_id(value: str | None) -> StreamPosition | None:
    """Read a ``Last-Event-ID`` header (or query parameter). None or empty means a fresh
    start; anything not shaped ``<epoch>:<offset>`` raises ValidationError."""
    if not value:
        return None
    epoch, colon, offset = value.partition(":")
    if not colon:
        reason = "no ':'"
    elif not EPOCH.fullmatch(epoch):
        reason = "the epoch must be 1-32 characters of A-Z a-z 0-9 _ -"
    elif not _OFFSET.fullmatch(offset):
        reason = "the offset must be a decimal integer without sign or leading zeros"
    elif int(offset) >= MAX_OFFSET:
        reason = "the offset must be below 2**63"
    else:
        return StreamPosition(epoch, int(offset))
    # Truncated: the value is echoed back to whoever sent it, not to be a log amplifier.
    shown = value if len(value) <= 80 else value[:77] + "..."
    raise ValidationError(f"Last-Event-ID must look like <epoch>:<offset> ({reason}), "
                          f"got {shown!r}")


class EventStreamParser:
    """Incremental ``text/event-stream`` interpreter following the WHATWG rules.

    Bytes are decoded as UTF-8 (invalid sequences become U+FFFD, a leading BOM is dropped),
    lines end at CRLF, CR or LF (also when a CRLF is split across chunks), ``:`` lines are
    comments, unknown fields are ignored, an ``id`` containing NUL is ignored, ``retry``
    counts only when it is all ASCII digits, and a blank line dispatches the event if it
    has data. A block still open when the stream ends is never dispatched.

    The current line plus the pending event's data is bounded by ``max_event_chars``;
    passing it raises PayloadTooLarge, since a server that never ends a
    line would otherwise grow this buffer forever.
    """

    def __init__(self, max_event_chars: int = 1 << 20) -> None:
        self.max_event_chars = max_event_chars
        #: What to send as Last-Event-ID on reconnect (None or "" means: send none).
        self.last_event_id: str | None = None
        #: The reconnection delay the server asked for, in milliseconds.
        self.retry: int | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._started = False
        self._after_cr = False
        self._line = ""
        self._data: list[str] = []
        self._data_chars = 0
        self._event = ""
        self._id_buffer: str | None = None
        self._block_retry: int | None = None

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        """Consume a chunk; return the events it completed, in order."""
        text = self._decoder.decode(data)
        if not text:
            return []  # a partial UTF-8 sequence; nothing to interpret yet
        if not self._started:
            self._started = True
            if text[0] == "\ufeff":
                text = text[1:]
        if self._after_cr:
            self._after_cr = False
            if text[0] == "\n":
                text = text[1:]  # the LF of a CRLF whose CR ended the previous chunk
                if not text:
                    return []
        buffer = self._line + text
        events: list[ServerSentEvent] = []
        start = 0
        for match in _NEWLINE.finditer(buffer):
            self._process(buffer[start:match.start()], events)
            start = match.end()
        self._line = buffer[start:]
        # A CR ending the chunk has already ended its line; remember to skip a following LF.
        self._after_cr = buffer.endswith("\r")
        if len(self._line) + self._data_chars > self.max_event_chars:
            raise PayloadTooLarge(f"event stream: an event passed {self.max_event_chars} "
                                f"characters")
        return events

    def _process(self, line: str, events: list[ServerSentEvent]) -> None:
        if not line:
            self._dispatch(events)
            return
        if line[0] == ":":
            return
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._data_chars += len(value) + 1
            if self._data_chars > self.max_event_chars:
                raise PayloadTooLarge(f"event stream: an event passed {self.max_event_chars} "
                                    f"characters")
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id_buffer = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = self._block_retry = int(value)
        # Any other field, or a NUL id or a non-numeric retry, is ignored.

    def _dispatch(self, events: list[ServerSentEvent]) -> None:
        # The id is committed even by a block without data, as the standard says.
        self.last_event_id = self._id_buffer
        if self._data:
            events.append(ServerSentEvent(self._event or "message", "\n".join(self._data),
                                          self.last_event_id, self._block_retry))
        self._data = []
        self._data_chars = 0
        self._event = ""
        self._block_retry = None


def _check_single_line(what: str, value: str) -> None:
    if _UNSAFE_FIELD.search(value):
        raise ValueError(f"{what} must not contain CR, LF or NUL: {value!r}")


def _retry(ms: int) -> int:
    if isinstance(ms, bool) or not isinstance(ms, int) or ms < 0:
        raise ValueError(f"retry must be a non-negative integer of milliseconds, got {ms!r}")
    return ms
