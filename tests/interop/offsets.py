"""The stream offset the gateway adds to broadcasts, as socket.io's connection-state recovery
does: a last argument ``"<epoch>:<offset>"`` that socket.io-client records and hands on to
listeners. Test helpers split it off, so assertions compare the application's arguments and
can check the offset on its own."""

from __future__ import annotations

import re
from typing import Any

STREAM_OFFSET = re.compile(r"[A-Za-z0-9_-]{1,32}:(0|[1-9][0-9]*)")


def split_offset(args: list[Any]) -> tuple[list[Any], str | None]:
    if args and isinstance(args[-1], str) and STREAM_OFFSET.fullmatch(args[-1]):
        return args[:-1], args[-1]
    return args, None
