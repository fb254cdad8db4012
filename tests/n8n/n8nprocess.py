"""A real n8n on loopback for the tests: import a workflow, activate it, start, stop.

n8n is not installed by the tests. ``YELLOWBOX_N8N_BIN`` names its command (the ``n8n`` script
of an ``npm install n8n@<version>``); without it the tests that need n8n are skipped, saying
so. Each instance gets its own user folder (SQLite database, settings, encryption key) in a
temporary directory and ports of its own, and runs with telemetry, version checks,
personalisation and the hiring banner off, so it makes no outbound connection of its own.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from collections import deque
from pathlib import Path

BIN_VARIABLE = "YELLOWBOX_N8N_BIN"
START_TIMEOUT_S = 180.0
CLI_TIMEOUT_S = 180.0
# The line n8n prints once its HTTP server listens and active workflows are registered.
READY_LINE = "Editor is now accessible via"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class N8n:
    """One n8n: its command, user folder, port and environment."""

    def __init__(self, binary: str, folder: Path, extra_env: dict[str, str]) -> None:
        self.binary = binary
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "N8N_USER_FOLDER": str(folder),
            "N8N_LISTEN_ADDRESS": "127.0.0.1",
            "N8N_HOST": "127.0.0.1",
            "N8N_PORT": str(self.port),
            "N8N_PROTOCOL": "http",
            "WEBHOOK_URL": f"{self.url}/",
            "N8N_DIAGNOSTICS_ENABLED": "false",
            "N8N_VERSION_NOTIFICATIONS_ENABLED": "false",
            "N8N_PERSONALIZATION_ENABLED": "false",
            "N8N_HIRING_BANNER_ENABLED": "false",
            "N8N_TEMPLATES_ENABLED": "false",
            "N8N_COMMUNITY_PACKAGES_ENABLED": "false",
            "N8N_SECURE_COOKIE": "false",
            "N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS": "false",
            # A second listener of n8n's (task runners), kept off the default 5679.
            "N8N_RUNNERS_BROKER_PORT": str(free_port()),
            "NODE_FUNCTION_ALLOW_BUILTIN": "crypto",
            "N8N_BLOCK_ENV_ACCESS_IN_NODE": "false",
            **extra_env,
        }
        self._process: subprocess.Popen[str] | None = None
        self.log: deque[str] = deque(maxlen=400)

    def cli(self, *args: str) -> str:
        """Run an n8n CLI command to completion; its output, or AssertionError with it."""
        done = subprocess.run([self.binary, *args], env=self.env, capture_output=True,
                              text=True, timeout=CLI_TIMEOUT_S, check=False)
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"n8n {' '.join(args)} failed:\n{output[-4000:]}"
        return output

    def import_workflow(self, path: Path) -> str:
        """Import the workflow export at ``path``; its id (kept from the file)."""
        self.cli("import:workflow", f"--input={path}")
        workflow_id: str = json.loads(path.read_text())["id"]
        return workflow_id

    def activate(self, workflow_id: str) -> None:
        self.cli("update:workflow", f"--id={workflow_id}", "--active=true")

    def start(self) -> None:
        """Start ``n8n start`` and return once it says it is ready (or fail with its log)."""
        self._process = subprocess.Popen(
            [self.binary, "start"], env=self.env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True)
        ready = threading.Event()
        threading.Thread(target=self._read_output, args=(self._process, ready),
                         daemon=True).start()
        if not ready.wait(START_TIMEOUT_S) or self._process.poll() is not None:
            self.stop()
            raise AssertionError("n8n did not start:\n" + "\n".join(self.log))

    def _read_output(self, process: subprocess.Popen[str], ready: threading.Event) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.log.append(line.rstrip())
            if READY_LINE in line:
                ready.set()
        ready.set()  # the process ended: start() sees it and reports the log

    def stop(self) -> None:
        """Stop the n8n this object started (by its process id only)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def webhook(self, path: str) -> str:
        return f"{self.url}/webhook/{path}"
