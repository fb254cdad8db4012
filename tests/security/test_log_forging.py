"""Log forging: what a client sends cannot start a log line of its own or put raw control
bytes in the log, in the text format (escaped) or the JSON one (one object a line)."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Literal

import httpx
import pytest

from tests.conftest import MakeGateway
from yellowbox_realtime.logs import TRACEBACK_INDENT, configure

# A record's first line, as TEXT_FORMAT writes it.
RECORD_START = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.]+: ")
FORGED = "2026-12-07 00:00:00,000 INFO yellowbox_realtime.auth: ops-1 granted admin"
# Paths as sent (percent-encoded) and as the server decodes and logs them.
ATTACKS = {
    "/healthz%0a" + FORGED.replace(" ", "%20"): "/healthz\n" + FORGED,
    "/healthz%0d%0a%00%00%1b[2J": "/healthz\r\n\x00\x00\x1b[2J",
    "/healthz%c2%85%e2%80%a8%e2%80%a9%7f": "/healthz\x85\u2028\u2029\x7f",
}
# Every character a reader could take for a line break or a terminal control.
RAW_CONTROLS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")


@pytest.fixture
def log_output() -> Iterator[Callable[[Literal["text", "json"]], io.StringIO]]:
    """Configure the root logger as the gateway's CLI does, writing to a buffer."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))

    def use(fmt: Literal["text", "json"]) -> io.StringIO:
        configure("info", fmt)
        stream = io.StringIO()
        handler = root.handlers[0]
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(stream)
        return stream

    yield use
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[1]:
        root.addHandler(handler)
    root.setLevel(saved[0])


async def send_attacks(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway()
    async with httpx.AsyncClient() as client:
        for raw in ATTACKS:
            forged = await client.get(gateway.url + raw)
            assert forged.status_code == 404
            # Another client is served as ever between the attacks.
            assert (await client.get(gateway.url + "/healthz")).status_code == 200


async def test_a_forged_path_stays_on_its_own_escaped_text_line(
        make_gateway: MakeGateway,
        log_output: Callable[[Literal["text", "json"]], io.StringIO]) -> None:
    stream = log_output("text")
    await send_attacks(make_gateway)
    text = stream.getvalue()
    lines = text.split("\n")[:-1]
    assert not RAW_CONTROLS.search(text)
    assert [line for line in lines if not RECORD_START.match(line)] == []
    access = [line for line in lines if "yellowbox_realtime.access: GET /healthz" in line]
    # One line per request: the attacks' three and the three healthy ones between them.
    assert len(access) == 2 * len(ATTACKS)
    assert not any(line.startswith(FORGED) for line in lines)
    assert any("GET /healthz\\n" + FORGED + " 404" in line for line in access)
    assert any("GET /healthz\\r\\n\\x00\\x00\\x1b[2J 404" in line for line in access)
    assert any("GET /healthz\\x85\\u2028\\u2029\\x7f 404" in line for line in access)


async def test_a_forged_path_is_one_json_line_holding_the_path_as_sent(
        make_gateway: MakeGateway,
        log_output: Callable[[Literal["text", "json"]], io.StringIO]) -> None:
    stream = log_output("json")
    await send_attacks(make_gateway)
    text = stream.getvalue()
    assert not RAW_CONTROLS.search(text)
    entries = [json.loads(line) for line in text.split("\n")[:-1]]
    paths = [entry["path"] for entry in entries
             if entry["logger"] == "yellowbox_realtime.access" and entry["status"] == 404]
    assert paths == list(ATTACKS.values())


def test_a_traceback_continues_indented_whatever_its_message_holds(
        log_output: Callable[[Literal["text", "json"]], io.StringIO]) -> None:
    stream = log_output("text")
    try:
        raise ValueError("bad input\n" + FORGED + "\x00")
    except ValueError:
        logging.getLogger("yellowbox_realtime.test").exception("handler failed: %s", "x\ny")
    first, *rest = stream.getvalue().split("\n")[:-1]
    assert first.endswith("ERROR yellowbox_realtime.test: handler failed: x\\ny")
    assert rest[0] == TRACEBACK_INDENT + "Traceback (most recent call last):"
    assert all(line.startswith(TRACEBACK_INDENT) for line in rest)
    assert TRACEBACK_INDENT + FORGED + "\\x00" in rest
