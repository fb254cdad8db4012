"""One headless Debian chromium process that the browser tests share over the DevTools protocol.

Playwright objects belong to the event loop that created them, and every async test runs on
a fresh loop (asyncio, then uvloop), so one Playwright ``launch`` cannot serve the whole
session. Instead the session starts chromium itself, with a DevTools endpoint on loopback,
and each test attaches to it with ``connect_over_cdp`` from its own loop and opens a fresh
browser context there.

Playwright's own browser download is never used: the tests run the distribution's
``chromium`` package, which CI installs with apt.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import threading
from collections import deque
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_TIMEOUT_S = 30.0
EXIT_TIMEOUT_S = 10.0

# The machines that run the tests have no network beyond loopback; every background
# connection chromium would open (updates, sync, field trials, QUIC probes) is switched
# off so none of them is refused mid-test. As root, the sandbox cannot start.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

_ENDPOINT = re.compile(r"DevTools listening on (ws://\S+)")


def chromium_missing_reason(executable: Path = CHROMIUM) -> str | None:
    """Why chromium cannot run here, or None if it can."""
    if not executable.is_file():
        return (f"{executable} is missing: the browser tests need Debian's chromium package "
                "(`apt-get install -y chromium`; .ci/run installs it)")
    return None


class Chromium:
    """A running chromium with a DevTools endpoint (``cdp_url``) on 127.0.0.1."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.cdp_url = ""
        # The last lines chromium wrote, for failure messages.
        self.stderr: deque[str] = deque(maxlen=50)
        self._endpoint_known = threading.Event()
        # The pipe is drained for the whole session so chromium never blocks on a full pipe.
        self._reader = threading.Thread(target=self._read_stderr, name="chromium-stderr",
                                        daemon=True)
        self._reader.start()

    @classmethod
    def launch(cls, user_data_dir: Path, executable: Path = CHROMIUM) -> Chromium:
        """Start chromium with a fresh profile and wait until its endpoint is known."""
        reason = chromium_missing_reason(executable)
        if reason is not None:
            raise AssertionError(reason)
        process = subprocess.Popen(
            [str(executable), *FLAGS, f"--user-data-dir={user_data_dir}",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, errors="replace")
        chromium = cls(process)
        if chromium._endpoint_known.wait(LAUNCH_TIMEOUT_S) and chromium.cdp_url:
            return chromium
        code = process.poll()
        chromium.close()
        state = "still running" if code is None else f"exit code {code}"
        raise AssertionError(
            f"chromium gave no DevTools endpoint within {LAUNCH_TIMEOUT_S} s ({state}); "
            "its stderr:\n  " + "\n  ".join(chromium.stderr))

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line.rstrip())
            if not self.cdp_url:
                match = _ENDPOINT.search(line)
                if match:
                    self.cdp_url = match.group(1)
                    self._endpoint_known.set()
        # Chromium is exiting: nobody should wait for an endpoint that will never come, and
        # the exit code belongs in the message.
        self.process.wait()
        self._endpoint_known.set()

    def close(self) -> None:
        """Stop chromium (killing it if it does not exit) and its stderr reader."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(EXIT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                self.process.wait()
        self._reader.join(EXIT_TIMEOUT_S)
