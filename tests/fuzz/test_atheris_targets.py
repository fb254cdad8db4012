"""The atheris targets in fuzz/ still work: each replays a small corpus in this process, and
runs a few thousand fuzzed inputs under atheris (all targets behind fuzz/all.py, one
start-up) when it is installed (it is a test
dependency on x86-64 Linux; elsewhere that part is skipped with the reason)."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.test_memory import UPGRADE
from tests.wsframes import frame
from yellowbox_realtime.auth.dev import mint_dev_token

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ["websocket_parser", "engineio_decoder", "socketio_decoder", "sse_last_event_id",
           "webhooks", "tokens", "http_request"]

CORPUS = [
    b"",
    b"\x00\x00\xff",
    frame(0x1, b'42["a",1]') + b"\x00" + frame(0x8, b"\x03\xe8"),
    frame(0x1, b"x" * 5000, masked=True)[:70] + b"\x00" + b"x" * 100,
    b"4hello\x1e2\x1eb" + b"AAEC",
    b'451-["e",{"_placeholder":true,"num":0}]\x00\x01\x02\x03',
    b"k3Jx9aQe:42",
    b'{"id":"1","event":"x","channel":"alerts","data":{}}\x00\x00\x00\x00',
    mint_dev_token("atheris-token-secret-0123456789abcdef", "u1", "rider").encode(),
    UPGRADE,
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
    b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 30 + b"\r\n",
]


@pytest.mark.parametrize("target", TARGETS)
def test_each_target_replays_the_corpus(target: str) -> None:
    module = importlib.import_module(f"fuzz.{target}")
    for data in CORPUS:
        module.test_one_input(data)


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None,
                    reason="atheris is not installed (no wheel for this platform)")
def test_the_targets_run_under_atheris() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fuzz.all", "-runs=5000", "-max_len=1024", "-seed=1"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Done 5000 runs" in done.stderr
