"""Socket.IO v5 packets (sans-I/O), as carried in Engine.IO MESSAGE packets.

Text form: ``<type>[<attachments>-][<nsp>,][<ack id>][<JSON>]``, e.g. ``2["hello",1]``,
``2/admin,13["project:delete",123]``, ``51-["baz",{"_placeholder":true,"num":0}]``. Binary
values inside EVENT/ACK data are cut out into attachments sent as separate binary messages
right after the text one, and referenced by ``{"_placeholder":true,"num":n}``.

Decoding is strict because a :class:`ProtocolError` here is the reason a client is dropped,
and its message is what the client is told.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, NoReturn

from ..errors import ProtocolError

__all__ = [
    "MAX_ACK_ID",
    "Decoder",
    "SioPacket",
    "SioType",
    "encode",
    "encode_event_text",
    "has_binary",
]

# Ack ids are JavaScript numbers on the other side; beyond this they lose precision.
MAX_ACK_ID = 2**53
_MAX_ACK_ID_DIGITS = len(str(MAX_ACK_ID))


class SioType(IntEnum):
    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


@dataclass(slots=True)
class SioPacket:
    type: SioType
    nsp: str = "/"
    data: Any = None
    id: int | None = None
    # True when the packet arrived as BINARY_EVENT/BINARY_ACK; `type` is then EVENT/ACK.
    # Not compared: it describes the wire form, not the packet.
    binary: bool = field(default=False, compare=False)


_TYPE_BY_CHAR = {str(int(t)): t for t in SioType}
_DIGITS = "0123456"
_BINARY_TYPES = {
    SioType.EVENT: SioType.BINARY_EVENT,
    SioType.ACK: SioType.BINARY_ACK,
    SioType.BINARY_EVENT: SioType.BINARY_EVENT,
    SioType.BINARY_ACK: SioType.BINARY_ACK,
}
_PLAIN_TYPES = {
    SioType.BINARY_EVENT: SioType.EVENT,
    SioType.BINARY_ACK: SioType.ACK,
}
_BYTES_TYPES = (bytes, bytearray, memoryview)


def _unencodable(obj: object) -> NoReturn:
    raise TypeError(f"{type(obj).__name__} is not JSON serializable"
                    " (binary is only allowed in EVENT and ACK data)")


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


# Built once: json.dumps/loads with non-default options build a new coder on every call.
# allow_nan=False: JavaScript's JSON.parse rejects NaN/Infinity, and the client would drop us.
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                          default=_unencodable).encode
_loads = json.JSONDecoder(parse_constant=_reject_constant).decode


def has_binary(obj: Any) -> bool:
    """Whether bytes-like values occur anywhere in nested lists, tuples and dict values."""
    if isinstance(obj, _BYTES_TYPES):
        return True
    if isinstance(obj, (list, tuple)):
        return any(has_binary(item) for item in obj)
    if isinstance(obj, dict):
        return any(has_binary(item) for item in obj.values())
    return False


def _deconstruct(obj: Any, attachments: list[bytes]) -> Any:
    """A copy of obj with each bytes-like value moved to attachments and a placeholder left."""
    if isinstance(obj, _BYTES_TYPES):
        attachments.append(bytes(obj))
        return {"_placeholder": True, "num": len(attachments) - 1}
    if isinstance(obj, (list, tuple)):
        return [_deconstruct(item, attachments) for item in obj]
    if isinstance(obj, dict):
        return {key: _deconstruct(value, attachments) for key, value in obj.items()}
    return obj


def _header(kind: SioType, nsp: str, ack_id: int | None, attachments: int = 0) -> str:
    head = _DIGITS[kind]
    if attachments:
        head += f"{attachments}-"
    if nsp != "/":
        # A namespace that breaks these rules would not decode as what was sent.
        if not nsp.startswith("/") or "," in nsp:
            raise ValueError(f"invalid namespace {nsp!r}: must start with '/' and have no ','")
        head += nsp + ","
    if ack_id is not None:
        if not 0 <= ack_id < MAX_ACK_ID:
            raise ValueError(f"ack id {ack_id} out of range [0, 2**53)")
        head += str(ack_id)
    return head


def encode(packet: SioPacket) -> tuple[str, list[bytes]]:
    """The text part and the binary attachments to send after it.

    EVENT/ACK (or BINARY_*) data with bytes in it goes out as BINARY_EVENT/BINARY_ACK;
    without, as EVENT/ACK. The data itself is trusted: decoding is where shapes are checked.
    """
    kind, data = packet.type, packet.data
    attachments: list[bytes] = []
    binary_kind = _BINARY_TYPES.get(kind)
    if binary_kind is not None:
        if has_binary(data):
            kind, data = binary_kind, _deconstruct(data, attachments)
        else:
            kind = _PLAIN_TYPES.get(kind, kind)
    head = _header(kind, packet.nsp, packet.id, len(attachments))
    return (head if data is None else head + _dumps(data)), attachments


def encode_event_text(nsp: str, event: str, args: Sequence[Any],
                      ack_id: int | None = None) -> str:
    """``2["event",...]`` / ``2/admin,17["event",...]`` for args without binary (the caller
    checks with :func:`has_binary`). No Engine.IO ``4`` prefix, like :func:`encode`."""
    return _header(SioType.EVENT, nsp, ack_id) + _dumps([event, *args])


def _invalid(text: str, problem: str) -> ProtocolError:
    # The start of the packet helps whoever reads the disconnect reason; all of it could be huge.
    shown = text if len(text) <= 40 else text[:40] + "..."
    return ProtocolError(f"invalid Socket.IO packet {shown!r}: {problem}")


def _is_digits(text: str) -> bool:
    # str.isdigit alone accepts non-ASCII digits such as '²', which int() then rejects or reads.
    return text.isascii() and text.isdigit()


def _check_data(text: str, kind: SioType, data: Any, ack_id: int | None) -> None:
    """The payload shape each type requires (placeholders still in place for BINARY_*)."""
    if kind is SioType.CONNECT:
        if data is not None and not isinstance(data, dict):
            raise _invalid(text, "CONNECT payload must be an object")
    elif kind is SioType.DISCONNECT:
        if data is not None:
            raise _invalid(text, "DISCONNECT takes no payload")
    elif kind is SioType.EVENT or kind is SioType.BINARY_EVENT:
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            raise _invalid(text, "EVENT payload must be an array starting with the event name")
    elif kind is SioType.ACK or kind is SioType.BINARY_ACK:
        if not isinstance(data, list):
            raise _invalid(text, "ACK payload must be an array")
        if ack_id is None:
            raise _invalid(text, "ACK needs an ack id")
    elif not isinstance(data, (dict, str)):  # CONNECT_ERROR
        raise _invalid(text, "CONNECT_ERROR payload must be an object or a string")
    if ack_id is not None and kind in (SioType.CONNECT, SioType.DISCONNECT,
                                       SioType.CONNECT_ERROR):
        raise _invalid(text, f"{kind.name} takes no ack id")


def _parse(text: str, max_attachments: int) -> tuple[SioPacket, int]:
    """The packet (placeholders unresolved) and how many attachments follow it."""
    if not text:
        raise _invalid(text, "empty")
    kind = _TYPE_BY_CHAR.get(text[0])
    if kind is None:
        raise _invalid(text, f"unknown packet type {text[0]!r}")
    end = len(text)
    pos = 1
    attachments = 0
    if kind is SioType.BINARY_EVENT or kind is SioType.BINARY_ACK:
        dash = text.find("-", 1)
        count = text[1:dash]
        if dash < 0 or not _is_digits(count):
            raise _invalid(text, "binary packet must give its attachment count as digits then '-'")
        # Length first so a flood of digits is never handed to int().
        if len(count) > len(str(max_attachments)) or int(count) > max_attachments:
            raise _invalid(text, f"more than {max_attachments} attachments")
        attachments, pos = int(count), dash + 1

    nsp = "/"
    if pos < end and text[pos] == "/":
        comma = text.find(",", pos)
        if comma < 0:
            # The reference implementation accepts a namespace that ends the packet
            # ("40/custom", "41/admin"); anything after it needs the comma.
            if any(c in text[pos:] for c in '[{"'):
                raise _invalid(text, "namespace must end with ','")
            nsp, pos = text[pos:], end
        else:
            nsp, pos = text[pos:comma], comma + 1

    ack_id = None
    digits_end = pos
    while digits_end < end and "0" <= text[digits_end] <= "9":
        digits_end += 1
    if digits_end > pos:
        if digits_end - pos > _MAX_ACK_ID_DIGITS or int(text[pos:digits_end]) >= MAX_ACK_ID:
            raise _invalid(text, "ack id out of range [0, 2**53)")
        ack_id, pos = int(text[pos:digits_end]), digits_end

    data = None
    if pos < end:
        if text[pos] not in '[{"':
            raise _invalid(text, f"unexpected {text[pos]!r} at offset {pos}: expected"
                                 " a namespace ('/'), an ack id (digits) or a JSON payload")
        try:
            data = _loads(text[pos:])
        except RecursionError as exc:
            raise _invalid(text, "JSON payload nested too deeply") from exc
        except ValueError as exc:  # JSONDecodeError, NaN/Infinity, over-long integers
            raise _invalid(text, f"bad JSON payload: {exc}") from exc
    _check_data(text, kind, data, ack_id)
    return SioPacket(kind, nsp, data, ack_id), attachments


def _resolve(obj: Any, buffers: list[bytes]) -> Any:
    """Replace placeholders with their attachment, in place (the data is freshly decoded)."""
    if isinstance(obj, list):
        for index, item in enumerate(obj):
            if isinstance(item, (list, dict)):
                obj[index] = _resolve(item, buffers)
    elif isinstance(obj, dict):
        if obj.get("_placeholder") is True:
            num = obj.get("num")
            if type(num) is not int or not 0 <= num < len(buffers):
                raise ProtocolError(f"invalid Socket.IO packet: placeholder number {num!r}"
                                    f" not in [0, {len(buffers)})")
            return buffers[num]
        for key, value in obj.items():
            if isinstance(value, (list, dict)):
                obj[key] = _resolve(value, buffers)
    return obj


_NO_BUFFERS: list[bytes] = []


class Decoder:
    """Reassembles packets from Engine.IO messages: a text message, then (for BINARY_*) its
    N binary attachments. One per Engine.IO session; after a ProtocolError, drop the client."""

    __slots__ = ("_buffers", "_expected", "_pending", "max_attachments")

    def __init__(self, max_attachments: int = 10) -> None:
        self.max_attachments = max_attachments
        self._pending: SioPacket | None = None
        self._expected = 0
        # Attachments of the pending packet; while none is pending, the shared empty list
        # (never appended to: feed_binary refuses first), so idle sessions hold no list.
        self._buffers = _NO_BUFFERS

    @property
    def pending_attachments(self) -> int:
        """Binary messages still expected before the pending packet is complete."""
        return self._expected - len(self._buffers) if self._pending is not None else 0

    def feed_text(self, text: str) -> SioPacket | None:
        """The packet, or None when its binary attachments are still to come."""
        if self._pending is not None:
            missing = self.pending_attachments
            self._reset()
            raise ProtocolError(f"text packet received while {missing} binary attachment(s)"
                                " were still expected")
        packet, count = _parse(text, self.max_attachments)
        if packet.type is SioType.BINARY_EVENT or packet.type is SioType.BINARY_ACK:
            self._pending, self._expected, self._buffers = packet, count, []
            return self._complete(packet) if count == 0 else None
        return packet

    def feed_binary(self, data: bytes | bytearray | memoryview) -> SioPacket | None:
        """The completed packet after its last attachment, else None."""
        packet = self._pending
        if packet is None:
            raise ProtocolError("binary message received with no binary packet pending")
        self._buffers.append(bytes(data))
        return self._complete(packet) if len(self._buffers) == self._expected else None

    def _complete(self, packet: SioPacket) -> SioPacket:
        buffers = self._buffers
        self._reset()
        try:
            packet.data = _resolve(packet.data, buffers)
        except RecursionError as exc:
            raise ProtocolError("invalid Socket.IO packet: payload nested too deeply") from exc
        packet.type = _PLAIN_TYPES[packet.type]
        packet.binary = True
        return packet

    def _reset(self) -> None:
        self._pending, self._expected, self._buffers = None, 0, _NO_BUFFERS
