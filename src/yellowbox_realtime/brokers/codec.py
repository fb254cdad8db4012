"""How a published event travels through Redis: one text entry, the same bytes in a
channel's history and on its pub/sub channel.

An entry is ``<published ms>\\n<epoch>\\n<offset>\\n<body>``. The Lua publish script writes
the first three fields (it is what numbers the event); the body is JSON written by the
publishing node: event name, arguments, namespace, every channel the event went to (so a
node subscribed to several of them delivers it once, to the right subscribers) and the
publishing node and its sequence number (so that node can apply the ``exclude`` set it kept
for the event). Binary arguments are carried as base64 under a tag no JSON payload of the
gateway's uses. A gap entry (``"g": 1``) is no event: it marks an offset that stands for what
a node delivered only locally while Redis was unreachable (see :mod:`.redis`).
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

from ..core.hub import Outgoing

__all__ = ["Entry", "decode_entry", "encode_body"]

_BYTES_TAG = "\u0000bytes"


@dataclass(frozen=True, slots=True)
class Entry:
    message: Outgoing
    channels: tuple[str, ...]
    origin: str
    seq: int
    gap: bool = False


def encode_body(message: Outgoing, channels: tuple[str, ...], origin: str, seq: int, *,
                gap: bool = False) -> str:
    body: dict[str, Any] = {"e": message.event, "a": message.args, "n": message.nsp,
                            "c": channels, "o": origin, "q": seq}
    if gap:
        body["g"] = 1
    return json.dumps(body, separators=(",", ":"), default=_tag_bytes)


def decode_entry(raw: bytes | str, *, stamped: bool) -> Entry:
    """Raises ValueError for anything that is not an entry (another program's data under
    our prefix, or a corrupt one)."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    at_ms, epoch, offset, body = text.split("\n", 3)
    data = json.loads(body, object_hook=_untag_bytes)
    message = Outgoing(data["e"], data["a"], data["n"])
    # Wall-clock milliseconds (Redis's clock) to this process's monotonic clock, the one
    # locally published events are timed on.
    published_at = int(at_ms) / 1000 - (time.time() - time.monotonic())
    message.place(epoch, int(offset), published_at, stamped=stamped)
    return Entry(message, tuple(data["c"]), data["o"], int(data["q"]), bool(data.get("g")))


def _tag_bytes(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {_BYTES_TAG: base64.b64encode(bytes(value)).decode()}
    raise TypeError(f"cannot publish a {type(value).__name__} through Redis")


def _untag_bytes(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and _BYTES_TAG in obj:
        return base64.b64decode(obj[_BYTES_TAG])
    return obj
