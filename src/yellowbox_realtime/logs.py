"""Log output: plain text for a terminal, or one JSON object a line for a log collector.

Request and connection log lines carry their fields as ``extra`` (``request_id``,
``method``, ``path``, ``status``, ...): the text format shows them in the message, the
JSON format also as keys of their own. What is logged never includes credentials: paths
are logged without their query string (it can carry an SSE ticket), headers are not
logged, and Socket.IO connect payloads (the token) are not either.

What a client sent (a URL-decoded path, an event name) can hold any character, so neither
format lets one end a line or write raw control bytes: the text format escapes every control
character, in the message and in each line of a traceback (which continue indented behind
``  | ``, so no line of a record can pass for the start of another); JSON escapes them too.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# C0 and C1 controls, DEL and the Unicode line and paragraph separators: anything a terminal
# or a log collector may take for a line break, a cursor movement or the end of a string.
_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))} | {
    0x2028: "\\u2028", 0x2029: "\\u2029", ord("\n"): "\\n", ord("\r"): "\\r",
    ord("\t"): "\\t"}
# What json.dumps leaves raw besides printable text (it escapes C0 itself).
_JSON_ESCAPES = {code: f"\\u{code:04x}" for code in (*range(0x7F, 0xA0), 0x2028, 0x2029)}
TRACEBACK_INDENT = "  | "


def escape_controls(text: str) -> str:
    """``text`` with each control character written as a backslash escape."""
    return text.translate(_ESCAPES)


class TextFormatter(logging.Formatter):
    """:data:`TEXT_FORMAT` on one line; a traceback or stack follows, each of its lines
    indented. Control characters anywhere are escaped."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        # Formatter.format, with the message escaped before the traceback is joined to it
        # (after, an attacker's newline could not be told from the traceback's own).
        record.message = record.getMessage()
        record.asctime = self.formatTime(record, self.datefmt)
        line = escape_controls(self.formatMessage(record))
        details = []
        if record.exc_info:
            details.append(self.formatException(record.exc_info))
        elif record.exc_text:
            details.append(record.exc_text)
        if record.stack_info:
            details.append(self.formatStack(record.stack_info))
        for block in details:
            line += "".join(f"\n{TRACEBACK_INDENT}{escape_controls(part)}"
                            for part in block.split("\n"))
        return line


# Attributes every LogRecord has; anything else on a record came in through ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", ...extra, "exception"?}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = "".join(traceback.format_exception(*record.exc_info))
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False).translate(_JSON_ESCAPES)


def configure(level: str, fmt: Literal["text", "json"]) -> None:
    """Send the root logger's records to stderr in ``fmt`` at ``level``."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


class LogThrottle:
    """Lines that clients can cause (a connection opening, one closing) at most ``rate_per_s``
    a second per kind, in bursts of ``burst``: whatever clients do, the log grows at a
    fixed rate. Lines over it are counted, not written, and at most once every
    ``summary_every_s`` (when the next line of the kind comes) one line says how many
    were left out. A rate of 0 lets every line through.

    Kinds are the code's own few names, never client input, so the table stays small.
    """

    def __init__(self, rate_per_s: float, burst: int, *, summary_every_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.summary_every_s = summary_every_s
        self._clock = clock
        # kind -> [tokens, updated, suppressed, last summary]
        self._kinds: dict[str, list[float]] = {}

    def admit(self, logger: logging.Logger, kind: str) -> bool:
        """Whether a line of ``kind`` may be written now (a summary may go first)."""
        if not self.rate_per_s:
            return True
        now = self._clock()
        state = self._kinds.get(kind)
        if state is None:
            state = self._kinds[kind] = [float(self.burst), now, 0.0, now]
        tokens = min(self.burst, state[0] + (now - state[1]) * self.rate_per_s)
        state[1] = now
        if state[2] and now - state[3] >= self.summary_every_s:
            logger.warning("%d similar lines suppressed (%s) in the last %.0f s: at most "
                           "%g a second are logged", state[2], kind, now - state[3],
                           self.rate_per_s, extra={"suppressed": int(state[2]), "kind": kind})
            state[2], state[3] = 0.0, now
        if tokens >= 1.0:
            state[0] = tokens - 1.0
            return True
        state[0] = tokens
        if not state[2]:
            state[3] = now  # the interval counts from the first line left out
        state[2] += 1
        return False

    def suppressed(self, kind: str) -> int:
        """Lines of ``kind`` left out since the last summary."""
        state = self._kinds.get(kind)
        return int(state[2]) if state else 0
