"""The simulator's live counts and the one-line display of them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TextIO

# Carriage return and "erase line": the line is redrawn in place on a terminal.
REDRAW = "\r\x1b[2K"


@dataclass(slots=True)
class Counters:
    connected: int = 0
    published: int = 0
    acked: int = 0
    refused: int = 0
    reconnects: int = 0
    sos_sent: int = 0
    geofences: int = 0

    def line(self, riders: int, elapsed_s: float) -> str:
        return (f"{elapsed_s:6.0f}s  riders {riders}  connected {self.connected}  "
                f"published {self.published}  acked {self.acked}  refused {self.refused}  "
                f"reconnects {self.reconnects}  sos {self.sos_sent}  "
                f"geofences {self.geofences}")


class Progress:
    """Redraws the counts in place on a terminal; elsewhere (a pipe, a log) prints a line
    now and then instead, since carriage returns would make a mess of a file."""

    def __init__(self, stream: TextIO, counters: Counters, riders: int) -> None:
        self.stream = stream
        self.counters = counters
        self.riders = riders
        self.interactive = stream.isatty()
        self.interval_s = 0.25 if self.interactive else 5.0

    def draw(self, elapsed_s: float) -> None:
        line = self.counters.line(self.riders, elapsed_s)
        if self.interactive:
            self.stream.write(REDRAW + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self, elapsed_s: float) -> None:
        line = self.counters.line(self.riders, elapsed_s)
        self.stream.write((REDRAW if self.interactive else "") + line + "\n")
        self.stream.flush()

    async def run(self, started: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self.draw(loop.time() - started)
            await asyncio.sleep(self.interval_s)
