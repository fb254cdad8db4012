"""Start and stop the servers under test, each on 127.0.0.1 and pinned to a CPU."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yellowbox_realtime.auth.dev import mint_dev_token

HOST = "127.0.0.1"
BENCH_DIR = Path(__file__).resolve().parent
NODE_PEER = BENCH_DIR / "peers" / "node" / "server.js"
PYSIO_PEER = BENCH_DIR / "peers" / "python_socketio_server.py"
SERVERS = ("gateway", "node", "pysio")
SECRET = "bench-dev-secret-0123456789abcdef0123456789"


@dataclass
class Target:
    """A running server: where it listens, its pid, and how to make its clients' auth."""

    name: str
    port: int
    pid: int
    secret: str = SECRET
    _process: asyncio.subprocess.Process | None = field(default=None, repr=False)

    @property
    def address(self) -> tuple[str, int]:
        return HOST, self.port

    def auth(self, uid: str, role: str) -> dict[str, Any]:
        return {"token": mint_dev_token(self.secret, uid, role, ttl_s=6 * 3600)}

    def exit_code(self) -> int | None:
        return None if self._process is None else self._process.returncode


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def command(name: str, port: int, secret: str) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    if name == "gateway":
        state = tempfile.mkdtemp(prefix="ybrt-bench-")
        env.update({
            "YELLOWBOX_STATE_DIR": state,
            "YBRT_AUTH_PROVIDER": "dev",
            "YBRT_AUTH_DEV_SECRET": secret,
            "YBRT_RIDERS_LOCATION_RATE_PER_S": "1000000",
            "YBRT_RIDERS_LOCATION_BURST": "1000000",
            # The publishers' latitudes carry sequence numbers, not journeys: in the fleet
            # scenario each rider "moves" R x 1.1 m a second, which the gateway's fleet
            # state would refuse as impossible jumps (the peers have no such check).
            "YBRT_FLEET_JUMP_ALLOWANCE_M": "1e9",
            "YBRT_SERVER_ALLOWED_ORIGINS": "*",
            "YBRT_SERVER_BACKLOG": "4096",
            # Thousands of clients from one address, connecting at once: the per-client
            # limits would refuse the load itself (they are measured in tests/limits/).
            "YBRT_LIMITS_MAX_CONNECTIONS_PER_IP": "0",
            "YBRT_LIMITS_MAX_CONNECTIONS_PER_USER": "0",
            "YBRT_LIMITS_HANDSHAKES_PER_IP_PER_S": "0",
            "YBRT_LIMITS_HANDSHAKE_BURST": "0",
            "YBRT_LIMITS_EVENTS_PER_S": "0",
            "YBRT_LIMITS_EVENTS_BURST": "0",
        })
        return ([sys.executable, "-m", "yellowbox_realtime.cli", "serve", "--host", HOST,
                 "--port", str(port), "--log-level", "warning"], env)
    if name == "node":
        env.update({"BENCH_PORT": str(port), "BENCH_SECRET": secret})
        return ["node", str(NODE_PEER)], env
    if name == "pysio":
        return [sys.executable, str(PYSIO_PEER), str(port), secret], env
    raise ValueError(f"unknown server {name!r}; choose from {', '.join(SERVERS)}")


async def wait_listening(port: int, process: asyncio.subprocess.Process,
                         timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening")
        try:
            _, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return
    raise TimeoutError(f"server did not listen on {port} within {timeout}s")


@contextlib.asynccontextmanager
async def running(name: str, cpu: str | None = None, secret: str = SECRET,
                  extra_env: Mapping[str, str] | None = None) -> AsyncIterator[Target]:
    """Start server ``name`` on a free port (pinned to ``cpu`` with taskset); stop it after.

    ``extra_env`` is added to the server's environment (a cluster node's Redis settings).
    """
    port = free_port()
    argv, env = command(name, port, secret)
    env.update(extra_env or {})
    if cpu is not None and shutil.which("taskset"):
        argv = ["taskset", "-c", cpu, *argv]  # taskset execs, so the pid is the server's
    process = await asyncio.create_subprocess_exec(
        *argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        await wait_listening(port, process)
        await asyncio.sleep(0.3)
        yield Target(name, port, process.pid, secret, process)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await asyncio.wait_for(process.wait(), 10)
