"""``python -m bench.soak``: the gateway at a steady fleet load for a long time.

R riders publish once a second each (taking turns, as in the fleet scenario) and D dashboards
receive every update, for ``--minutes`` (10 by default). Every ``--sample-s`` seconds (30; at
least three samples however short the run) one row records the gateway's RSS and open file
descriptors (from /proc) and the p50/p99 delivery latency of the updates the dashboards
received in that window. At the end the last third of the rows is compared with the first
third: a figure is called flat when it did not grow past a generous margin (RSS: 10% + 10 MB;
descriptors: 2% + 20; p99: twice + 5 ms). Those margins say "no leak, no drift"; they are
not a performance target.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import uvloop

from . import measure, proc
from .client import close_all
from .measure import Latencies
from .publisher import Publisher
from .scenarios.fanout import warm_up
from .scenarios.fleet import Turns, connect_fleet
from .servers import BENCH_DIR, Target, running

# The publisher's latitudes carry sequence numbers, so a rider's consecutive fixes are far
# apart: the gateway's impossible-jump check must not refuse them.
SOAK_ENV = {"YBRT_FLEET_MAX_JUMP_SPEED_MPS": "1000000000"}


@dataclass
class Sample:
    at_s: float
    published: int
    delivered: int
    rss_mb: float
    fds: int
    p50_ms: float | None
    p99_ms: float | None


@dataclass
class Verdict:
    name: str
    first: float
    last: float
    flat: bool

    def line(self, unit: str) -> str:
        change = (self.last - self.first) / self.first * 100 if self.first else 0.0
        return (f"{self.name}: {'flat' if self.flat else 'NOT flat'} (first third "
                f"{self.first:.1f} {unit}, last third {self.last:.1f} {unit}, {change:+.1f}%)")


@dataclass
class SoakResult:
    riders: int
    dashboards: int
    minutes: float
    samples: list[Sample] = field(default_factory=list)
    published: int = 0
    expected: int = 0
    received: int = 0

    @property
    def lost(self) -> int:
        return self.expected - self.received

    def verdicts(self) -> list[tuple[Verdict, str]]:
        third = max(1, len(self.samples) // 3)
        first, last = self.samples[:third], self.samples[-third:]

        def mean(rows: Sequence[Sample], key: str) -> float:
            values = [getattr(r, key) for r in rows if getattr(r, key) is not None]
            return sum(values) / len(values) if values else 0.0

        rss = (mean(first, "rss_mb"), mean(last, "rss_mb"))
        fds = (mean(first, "fds"), mean(last, "fds"))
        p99 = (mean(first, "p99_ms"), mean(last, "p99_ms"))
        return [
            (Verdict("RSS", *rss, rss[1] <= rss[0] * 1.10 + 10), "MB"),
            (Verdict("open fds", *fds, fds[1] <= fds[0] * 1.02 + 20), ""),
            (Verdict("p99 latency", *p99, p99[1] <= p99[0] * 2 + 5), "ms"),
        ]

    @property
    def flat(self) -> bool:
        return all(v.flat for v, _ in self.verdicts())

    def report(self) -> str:
        lines = [f"Soak: {self.riders} riders at 1/s, {self.dashboards} dashboards, "
                 f"{self.minutes:g} min", "",
                 "| t (s) | published | delivered | RSS (MB) | open fds | p50 (ms) | p99 (ms) |",
                 "|---:|---:|---:|---:|---:|---:|---:|"]
        for s in self.samples:
            lines.append(f"| {s.at_s:.0f} | {s.published:,} | {s.delivered:,} | "
                         f"{s.rss_mb:.1f} | {s.fds} | {_ms(s.p50_ms)} | {_ms(s.p99_ms)} |")
        lines += ["", f"delivered {self.received:,} of {self.expected:,} "
                      f"({self.lost:,} missing after the drain)"]
        lines += [verdict.line(unit) for verdict, unit in self.verdicts()]
        lines.append(f"overall: {'flat' if self.flat else 'NOT flat'}")
        return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def run_soak(target: Target, riders: int, dashboards: int, minutes: float,
                   sample_s: float = 30.0, on_sample: bool = True) -> SoakResult:
    duration = minutes * 60
    # At least three windows, so that the first and last thirds are different rows.
    windows = max(3, round(duration / sample_s))
    window = duration / windows
    result = SoakResult(riders, dashboards, minutes)
    latencies = Latencies()
    publisher = Publisher(latencies)
    boards, fleet = await connect_fleet(target, riders, dashboards, dashboards, latencies,
                                        concurrency=100)
    try:
        await warm_up(boards, fleet[0], publisher)
        before = measure.total(boards)
        first_seq = publisher.next_seq
        send = Turns(publisher, fleet)

        start = time.monotonic()
        delivered_before = before
        for _ in range(windows):
            published = await measure.paced(float(riders), window, send)
            result.published += published
            now_total = measure.total(boards)
            # Latency of what the dashboards received in this window, then forgotten, so
            # the load generator's own memory stays flat too.
            lat = [at - latencies.sent[seq] for seq, at in latencies.received
                   if seq in latencies.sent]
            latencies.received.clear()
            for seq in [s for s in latencies.sent if s < publisher.next_seq - 4 * riders]:
                del latencies.sent[seq]
            p50, p99 = measure.percentile(lat, 50), measure.percentile(lat, 99)
            sample = Sample(
                at_s=time.monotonic() - start, published=published,
                delivered=now_total - delivered_before,
                rss_mb=proc.rss_bytes(target.pid) / 2**20, fds=open_fds(target.pid),
                p50_ms=None if p50 is None else p50 * 1e3,
                p99_ms=None if p99 is None else p99 * 1e3)
            delivered_before = now_total
            result.samples.append(sample)
            if on_sample:
                print(f"  {sample.at_s:6.0f}s  published {published:,}  delivered "
                      f"{sample.delivered:,}  RSS {sample.rss_mb:.1f} MB  fds {sample.fds}  "
                      f"p99 {_ms(sample.p99_ms)} ms", file=sys.stderr, flush=True)
        result.expected = (publisher.next_seq - first_seq) * dashboards
        after = await measure.drain(boards, before + result.expected, timeout=30.0, idle=3.0)
        result.received = after - before
    finally:
        close_all([*boards, *fleet])
        await asyncio.sleep(0.2)
    return result


def commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(BENCH_DIR.parent), "rev-parse", "--short",
                               "HEAD"], capture_output=True, text=True, timeout=10,
                              check=False).stdout.strip() or "?"
    except OSError:
        return "?"


def environment(load_before: tuple[float, float, float], started: datetime,
                code: str) -> str:
    """Where and when (``code``: the commit the gateway was started from); the machine is
    shared, so the load average before and after."""
    after = os.getloadavg()
    return (f"started {started:%Y-%m-%d %H:%M} UTC; {proc.machine()}; "
            f"python {platform.python_version()}; "
            f"gateway {code}; load average (1/5/15 min) before "
            f"{'/'.join(f'{x:.2f}' for x in load_before)}, after "
            f"{'/'.join(f'{x:.2f}' for x in after)}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--riders", type=int, default=1000)
    p.add_argument("--dashboards", type=int, default=10)
    p.add_argument("--sample-s", type=float, default=30.0)
    p.add_argument("--server-cpu", default="0", help="CPU list for the gateway ('' = any)")
    p.add_argument("--loadgen-cpu", default="1", help="CPU list for this process ('' = any)")
    return p


async def main_async(args: argparse.Namespace) -> SoakResult:
    os.environ.update(SOAK_ENV)
    async with running("gateway", args.server_cpu or None) as target:
        print(f"-- gateway pid {target.pid}, port {target.port}", file=sys.stderr, flush=True)
        return await run_soak(target, args.riders, args.dashboards, args.minutes,
                              args.sample_s)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    proc.raise_nofile(65_536)
    if args.loadgen_cpu:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {int(c) for c in args.loadgen_cpu.split(",")})
    load_before, started, code = os.getloadavg(), datetime.now(UTC), commit()
    result = uvloop.run(main_async(args))
    print(f"## soak\n\n{environment(load_before, started, code)}\n\n{result.report()}\n",
          flush=True)
    return 0 if result.flat and result.lost == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
