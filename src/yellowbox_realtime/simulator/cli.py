"""``yellowbox-realtime simulate``: the event loop, signals and logging around a run."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from .progress import REDRAW
from .riders import build_fleet
from .run import Simulation


def simulate(args: argparse.Namespace, secret: str, role_claim: str) -> int:
    interactive = not args.quiet and sys.stdout.isatty()
    # On a terminal a log line first wipes the progress line, which is then redrawn below.
    prefix = REDRAW if interactive else ""
    logging.basicConfig(level=logging.WARNING,
                        format=f"{prefix}%(levelname)s %(name)s: %(message)s")
    simulation = Simulation(args.url, secret, build_fleet(args.riders, args.seed),
                            rate=args.rate, role_claim=role_claim,
                            progress=None if args.quiet else sys.stdout,
                            geofences=not args.no_geofences)
    asyncio.run(_run(simulation, args.duration))
    if not simulation.reached:
        print(f"simulate: no rider ever connected to {args.url}"
              f"{': ' + simulation.connect_failure if simulation.connect_failure else ''}",
              file=sys.stderr)
        return 1
    return 0


async def _run(simulation: Simulation, duration: float | None) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Not available off the main thread or on some platforms: Ctrl-C still ends
        # asyncio.run then, just less gracefully.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
    timer = loop.call_later(duration, stop.set) if duration is not None else None
    try:
        await simulation.run(stop)
    finally:
        if timer is not None:
            timer.cancel()
