"""Gateway processes for the tests that need a real one (SIGKILL, SIGTERM, several nodes):
``yellowbox-realtime serve`` with a TOML file, on a loopback port, stopped by its pid."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

LISTENING = re.compile(r"listening on (http://\S+)")
# Generous for a loaded 2-core machine; every wait ends as soon as its condition holds.
START_TIMEOUT_S = 20.0


def toml_value(value: object) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def write_config(path: Path, sections: dict[str, dict[str, object]]) -> None:
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {toml_value(value)}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n")


class GatewayProcess:
    """One gateway process; its log is read (and dropped) so it never blocks on a full pipe."""

    def __init__(self, process: asyncio.subprocess.Process, url: str) -> None:
        self.process = process
        self.url = url
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.address = (host, int(port))
        self._drain = asyncio.get_running_loop().create_task(self._discard())

    async def _discard(self) -> None:
        assert self.process.stderr is not None
        while await self.process.stderr.readline():
            pass

    async def end(self, sig: int = signal.SIGTERM, timeout_s: float = START_TIMEOUT_S) -> int:
        """Send ``sig`` and wait for the exit (SIGKILL if it takes longer); the exit code."""
        if self.process.returncode is None:
            os.kill(self.process.pid, sig)
        try:
            code = await asyncio.wait_for(self.process.wait(), timeout_s)
        except TimeoutError:
            os.kill(self.process.pid, signal.SIGKILL)
            code = await self.process.wait()
        await self._drain
        return code


async def start_gateway(config: Path, state_dir: Path, port: int = 0,
                        timeout_s: float = START_TIMEOUT_S) -> GatewayProcess:
    """Start ``serve --config`` and wait until it says where it listens."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "yellowbox_realtime.cli", "serve", "--config", str(config),
        "--port", str(port), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "YELLOWBOX_STATE_DIR": str(state_dir)})
    assert process.stderr is not None
    seen = []
    while True:
        line = (await asyncio.wait_for(process.stderr.readline(), timeout_s)).decode()
        seen.append(line)
        assert line, "the gateway exited:\n" + "".join(seen)
        found = LISTENING.search(line)
        if found:
            return GatewayProcess(process, found.group(1))
