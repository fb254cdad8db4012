"""Debian's nginx in front of gateway nodes, with the configuration docs/production.md documents.

nginx runs as an ordinary child process (``daemon off``) on a free loopback port, with its
pid file, logs and temporary files in a test directory, and is stopped by its pid. The
shipped ``docs/nginx/yellowbox-realtime.conf`` is used as it is, except for the addresses
of the nodes and the port nginx listens on. Without nginx the tests are skipped, except
under CI, where ``.ci/run`` installs it and its absence is an error.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import signal
from collections.abc import Sequence
from pathlib import Path

from tests.redis_server import free_port, system_binary

CONFIG = Path(__file__).resolve().parents[2] / "docs" / "nginx" / "yellowbox-realtime.conf"
SHIPPED_NODES = ("127.0.0.1:3001", "127.0.0.1:3002")
SHIPPED_LISTEN = "listen 80;"
_TEMP_KINDS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def site_config(nodes: Sequence[tuple[str, int]], port: int) -> str:
    """The shipped configuration, pointed at ``nodes`` and listening on ``port``."""
    text = CONFIG.read_text()
    assert len(nodes) == len(SHIPPED_NODES)
    for shipped, (host, node_port) in zip(SHIPPED_NODES, nodes, strict=True):
        assert text.count(f"server {shipped};") == 2, "both upstreams list every node"
        text = text.replace(f"server {shipped};", f"server {host}:{node_port};")
    assert text.count(SHIPPED_LISTEN) == 1
    return text.replace(SHIPPED_LISTEN, f"listen 127.0.0.1:{port};")


def main_config(site: str, directory: Path) -> str:
    """A whole nginx.conf around ``site``, keeping every file nginx writes in ``directory``."""
    lines = []
    if os.geteuid() == 0:
        # nginx started by root runs its workers as nobody, who cannot enter a private
        # test directory; keep them as the user that started the test.
        user = pwd.getpwuid(os.geteuid()).pw_name
        lines.append(f"user {user};")
    lines += ["worker_processes 1;", f"error_log {directory / 'error.log'} info;",
              "events { worker_connections 1024; }", "http {",
              f"    access_log {directory / 'access.log'};"]
    for kind in _TEMP_KINDS:
        lines.append(f"    {kind}_temp_path {directory / kind};")
    lines += [site, "}", ""]
    return "\n".join(lines)


def write_config(nodes: Sequence[tuple[str, int]], directory: Path) -> tuple[int, Path]:
    """nginx.conf in ``directory`` for a free port; returns the port and the file."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = directory / "nginx.conf"
    config.write_text(main_config(site_config(nodes, port), directory))
    return port, config


class Nginx:
    """One nginx process; ``url`` is where clients reach the nodes through it."""

    def __init__(self, process: asyncio.subprocess.Process, port: int, directory: Path) -> None:
        self.process = process
        self.port = port
        self.directory = directory

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def error_log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    @classmethod
    async def start(cls, nodes: Sequence[tuple[str, int]], directory: Path) -> Nginx:
        binary = system_binary("nginx", "/usr/sbin/nginx", " (apt-get install nginx)")
        port, config = write_config(nodes, directory)
        process = await asyncio.create_subprocess_exec(
            binary, "-p", str(directory), "-e", str(directory / "error.log"),
            "-c", str(config), "-g", f"daemon off; pid {directory / 'nginx.pid'};",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL)
        nginx = cls(process, port, directory)
        try:
            await nginx._wait_listening()
        except BaseException:
            await nginx.stop()
            raise
        return nginx

    async def _wait_listening(self, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while True:
                if self.process.returncode is not None:
                    raise AssertionError(f"nginx exited with {self.process.returncode}:\n"
                                         + self.error_log())
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                except OSError:
                    # Polling a process that is starting: there is no event to wait on.
                    await asyncio.sleep(0.02)
                    continue
                writer.close()
                return

    async def stop(self) -> None:
        if self.process.returncode is None:
            os.kill(self.process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            os.kill(self.process.pid, signal.SIGKILL)
            await self.process.wait()
