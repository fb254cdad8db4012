"""``python -m bench SCENARIO [options]``: run a scenario against each server, print tables.

The harness (the load generator) runs in this process on uvloop, pinned to --loadgen-cpu;
each server is started pinned to --server-cpu.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

import uvloop

from . import proc, report
from .scenarios.cluster import DEFAULT_SETUPS, Setup, describe, run_cluster_fanout, running_cluster
from .scenarios.connections import ConnectionsResult, run_connections
from .scenarios.fanout import FanoutResult, run_fanout
from .scenarios.fleet import run_fleet
from .scenarios.slow import run_slow
from .servers import BENCH_DIR, NODE_PEER, SERVERS, Target, running


def _ints(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x]


def _setups(text: str) -> list[Setup]:
    return [Setup.parse(x) for x in text.split(",") if x]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--servers", default=",".join(SERVERS),
                   help="comma-separated: gateway,node,pysio")
    p.add_argument("--server-cpu", default="0", help="CPU list for servers (taskset -c)")
    p.add_argument("--loadgen-cpu", default="1", help="CPU list for this load generator")
    sub = p.add_subparsers(dest="scenario", required=True)
    f = sub.add_parser("fanout", help="N subscribers, one publisher, stepped rate")
    f.add_argument("--subscribers", type=_ints, default=[1000], help="e.g. 1000,5000")
    f.add_argument("--step-s", type=float, default=3.0)
    f.add_argument("--samples", type=int, default=20, help="subscribers that timestamp")
    fl = sub.add_parser("fleet", help="R riders at 1/s, D dashboards")
    fl.add_argument("--riders", type=int, default=1000)
    fl.add_argument("--dashboards", type=int, default=10)
    fl.add_argument("--duration-s", type=float, default=10.0)
    c = sub.add_parser("connections", help="memory per idle connection, connect rate")
    c.add_argument("--clients", type=_ints, default=[1000, 10000])
    c.add_argument("--gateway-clients", type=_ints, default=[],
                   help="extra N for the gateway only, e.g. 20000")
    cl = sub.add_parser("cluster", help="fan-out over the nodes of a cluster on Redis")
    cl.add_argument("--subscribers", type=_ints, default=[1000], help="e.g. 1000,5000")
    cl.add_argument("--setups", type=_setups, default=list(DEFAULT_SETUPS),
                    help="stack:nodes[:memory], default gateway:1,gateway:2,node:1,node:2")
    cl.add_argument("--node-cpus", default=None,
                    help="CPU list per node, ';'-separated (node k gets entry k mod count); "
                         "default: every node and Redis on --server-cpu")
    cl.add_argument("--step-s", type=float, default=3.0)
    cl.add_argument("--samples", type=int, default=20, help="subscribers that timestamp")
    s = sub.add_parser("slow", help="one subscriber stops reading during a fan-out")
    s.add_argument("--subscribers", type=int, default=50)
    s.add_argument("--rate", type=float, default=1000.0, help="messages/s")
    s.add_argument("--duration-s", type=float, default=60.0)
    s.add_argument("--pause-at-s", type=float, default=5.0)
    s.add_argument("--resume-at-s", type=float, default=45.0)
    return p


def environment() -> str:
    def run(*argv: str) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10,
                                  check=False).stdout.strip()
        except OSError:
            return "?"

    node_sio = run("node", "-p", f"require('{NODE_PEER.parent}/node_modules/socket.io/"
                   "package.json').version")
    commit = run("git", "-C", str(BENCH_DIR.parent), "rev-parse", "--short", "HEAD")
    return (f"date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {proc.machine()}; "
            f"python {platform.python_version()}; "
            f"node {run('node', '--version')}; socket.io {node_sio}; "
            f"python-socketio {version('python-socketio')}; uvicorn {version('uvicorn')}; "
            f"gateway {commit}")


async def for_each_server(names: list[str], cpu: str | None,
                          job: Callable[[Target], Awaitable[Any]]) -> list[Any]:
    results = []
    for name in names:
        async with running(name, cpu) as target:
            print(f"-- {name} (pid {target.pid}, port {target.port})", file=sys.stderr,
                  flush=True)
            try:
                results.append(await job(target))
            except (OSError, TimeoutError, ConnectionError) as exc:
                # One server failing (say, out of file descriptors) must not lose the others.
                print(f"-- {name} failed: {exc!r}", file=sys.stderr, flush=True)
    return results


async def clusters(setups: list[Setup], cpus: list[str | None], subscribers: list[int],
                   step_s: float, samples: int) -> list[FanoutResult]:
    """Each setup in turn, each on a fresh Redis, for each subscriber count."""
    results = []
    for n in subscribers:
        for setup in setups:
            try:
                async with running_cluster(setup, cpus) as cluster:
                    print(f"-- {describe(cluster)}", file=sys.stderr, flush=True)
                    results.append(await run_cluster_fanout(cluster, n, step_s=step_s,
                                                            samples=samples))
            except (OSError, TimeoutError, ConnectionError, RuntimeError) as exc:
                print(f"-- {setup.label} failed: {exc!r}", file=sys.stderr, flush=True)
    return results


def cluster_versions() -> str:
    node_modules = NODE_PEER.parent / "node_modules"

    def package(name: str) -> str:
        try:
            with open(node_modules / name / "package.json") as f:
                return str(json.load(f)["version"])
        except (OSError, ValueError, KeyError):
            return "?"

    try:
        redis = subprocess.run(["redis-server", "--version"], capture_output=True, text=True,
                               timeout=10, check=False).stdout.split()
        redis_version = next((w.split("=", 1)[1] for w in redis if w.startswith("v=")), "?")
    except OSError:
        redis_version = "?"
    return (f"redis-server {redis_version}; @socket.io/redis-adapter "
            f"{package('@socket.io/redis-adapter')}; node-redis {package('redis')}; "
            f"redis-py {version('redis')}")


async def _fanout(target: Target, n: int, step_s: float, samples: int) -> FanoutResult:
    return await run_fanout(target, n, step_s=step_s, samples=samples)


async def _connections(target: Target, n: int) -> ConnectionsResult:
    return await run_connections(target, n)


async def main_async(args: argparse.Namespace) -> str:
    names = [n for n in args.servers.split(",") if n]
    cpu = args.server_cpu or None
    if args.scenario == "fanout":
        out = []
        for n in args.subscribers:
            out += await for_each_server(names, cpu, functools.partial(
                _fanout, n=n, step_s=args.step_s, samples=args.samples))
        return report.fanout(out)
    if args.scenario == "fleet":
        fl = await for_each_server(names, cpu, lambda t: run_fleet(
            t, args.riders, args.dashboards, duration_s=args.duration_s))
        return report.fleet(fl)
    if args.scenario == "connections":
        conns = []
        for n in args.clients:
            conns += await for_each_server(names, cpu, functools.partial(_connections, n=n))
        for n in args.gateway_clients:
            conns += await for_each_server([x for x in names if x == "gateway"], cpu,
                                           functools.partial(_connections, n=n))
        return report.connections(conns)
    if args.scenario == "cluster":
        cpus = args.node_cpus.split(";") if args.node_cpus else [cpu]
        return report.cluster(await clusters(args.setups, cpus, args.subscribers,
                                             args.step_s, args.samples))
    slow = await for_each_server(names, cpu, lambda t: run_slow(
        t, args.subscribers, rate_msgs=args.rate, duration_s=args.duration_s,
        pause_at_s=args.pause_at_s, resume_at_s=args.resume_at_s))
    return report.slow(slow)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    proc.raise_nofile(200_000)
    if args.loadgen_cpu:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {int(c) for c in args.loadgen_cpu.split(",")})
    tables = uvloop.run(main_async(args))
    env = environment()
    if args.scenario == "cluster":
        env += "; " + cluster_versions()
    print(f"## {args.scenario}\n\n{env}\n\n{tables}\n", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
