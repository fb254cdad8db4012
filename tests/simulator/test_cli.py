"""``yellowbox-realtime simulate`` as a user runs it: a real process against a gateway."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from tests.conftest import DEV_SECRET
from tests.simulator.conftest import TIMEOUT, Watcher
from yellowbox_realtime import cli
from yellowbox_realtime.app import Gateway


def test_help_describes_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["simulate", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--url", "--riders", "--rate", "--seed", "--duration", "--token-secret",
                   "--quiet"):
        assert option in text


def test_a_rate_above_the_gateway_limit_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["simulate", "--rate", "50"])
    assert exit_info.value.code == 2
    assert "at most 5" in capsys.readouterr().err


async def start(tmp_path: Path, gateway: Gateway, *extra: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "yellowbox_realtime.cli", "simulate", "--url", gateway.url,
        "--token-secret", DEV_SECRET, "--riders", "3", "--rate", "5", *extra,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "YELLOWBOX_STATE_DIR": str(tmp_path)})


async def test_a_short_run_ends_by_itself_with_the_counts(
        tmp_path: Path, gateway: Gateway, watcher: Watcher) -> None:
    process = await start(tmp_path, gateway, "--duration", "2")
    out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
    assert process.returncode == 0, err.decode()
    assert set(watcher.seen) == {"rider-1", "rider-2", "rider-3"}
    last = out.decode().splitlines()[-1]
    assert "connected 0" in last
    assert "refused 0" in last


async def test_sigterm_stops_the_simulator_cleanly(
        tmp_path: Path, gateway: Gateway, watcher: Watcher) -> None:
    process = await start(tmp_path, gateway, "--quiet")
    try:
        await watcher.until(lambda seen: len(seen) == 3)
        process.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    assert out == b""  # quiet


async def test_a_run_that_never_connects_fails_with_the_reason(tmp_path: Path) -> None:
    with socket.socket() as unused:  # bound, never listening: connections are refused
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}"
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "yellowbox_realtime.cli", "simulate", "--url", url,
            "--token-secret", DEV_SECRET, "--riders", "2", "--duration", "1", "--quiet",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "YELLOWBOX_STATE_DIR": str(tmp_path)})
        out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
    assert process.returncode == 1
    assert out == b""
    last = err.decode().splitlines()[-1]
    assert last.startswith(f"simulate: no rider ever connected to {url}: cannot reach the "
                           "gateway: ")
