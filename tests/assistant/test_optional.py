"""The ``mcp`` extra is optional: without the SDK the gateway serves everything else and
says why ``/mcp`` is missing, and the relay says what to install."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx

from tests.processes import LISTENING, START_TIMEOUT_S
from yellowbox_realtime.cli import MCP_TOKEN_ENV

# The command line with the SDK made unimportable (None in sys.modules stops an import).
WITHOUT_SDK = ("import sys; sys.modules['mcp'] = None; "
               "from yellowbox_realtime.cli import main; sys.exit(main(sys.argv[1:]))")


async def without_sdk(*args: str, state_dir: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", WITHOUT_SDK, *args, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "YELLOWBOX_STATE_DIR": str(state_dir), MCP_TOKEN_ENV: "a-token"})


async def test_the_gateway_runs_without_the_sdk_and_says_so(tmp_path: Path) -> None:
    process = await without_sdk("serve", "--port", "0", state_dir=tmp_path)
    assert process.stderr is not None
    seen: list[str] = []
    try:
        while not (found := LISTENING.search(seen[-1] if seen else "")):
            line = (await asyncio.wait_for(process.stderr.readline(), START_TIMEOUT_S))
            assert line, "the gateway exited:\n" + "".join(seen)
            seen.append(line.decode())
        assert any("no MCP endpoint" in line and "[mcp]" in line for line in seen), seen
        async with httpx.AsyncClient(base_url=found.group(1), timeout=10) as http:
            assert (await http.get("/healthz")).status_code == 200
            assert (await http.post("/mcp", json={})).status_code == 404
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), START_TIMEOUT_S)


async def test_the_relay_says_what_to_install(tmp_path: Path) -> None:
    process = await without_sdk("mcp", state_dir=tmp_path)
    _, err = await asyncio.wait_for(process.communicate(), START_TIMEOUT_S)
    assert process.returncode == 2
    assert b"yellowbox-realtime[mcp]" in err
