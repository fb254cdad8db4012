"""Cluster fan-out: N subscribers spread over the nodes of a cluster on one Redis.

The same fan-out as :mod:`.fanout` (one rider publishing at stepped rates, the latitude
carrying a sequence number), but subscriber ``i`` connects to node ``i % nodes`` and the
rider to node 0, so every message crosses Redis to reach the subscribers of the other
nodes. A setup is a stack and a node count: the gateway with ``[broker] kind = "redis"``,
or Node socket.io with ``@socket.io/redis-adapter``; each setup gets a fresh
``redis-server``, and its CPU time is counted with the nodes' as the server's.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from ..client import SioClient, connect_many
from ..measure import Latencies
from ..publisher import Publisher
from ..servers import HOST, SECRET, Target, free_port, running
from .fanout import DEFAULT_STEPS, FanoutResult, step_up

STACKS = ("gateway", "node")


@dataclass(frozen=True)
class Setup:
    """``stack`` on ``nodes`` processes; ``redis`` False is the one-process baseline."""

    stack: str
    nodes: int
    redis: bool = True

    def __post_init__(self) -> None:
        if self.stack not in STACKS:
            raise ValueError(f"unknown stack {self.stack!r}; choose from {', '.join(STACKS)}")
        if self.nodes < 1 or (self.nodes > 1 and not self.redis):
            raise ValueError("a setup has at least one node, and several only on Redis")

    @property
    def label(self) -> str:
        return f"{self.stack} x{self.nodes} {'redis' if self.redis else 'memory'}"

    @classmethod
    def parse(cls, text: str) -> Setup:
        """``gateway:2`` (on Redis), ``node:1``, ``gateway:1:memory`` (no Redis)."""
        stack, _, rest = text.partition(":")
        count, _, broker = rest.partition(":")
        if broker not in ("", "redis", "memory"):
            raise ValueError(f"{text!r}: the broker is redis or memory")
        return cls(stack, int(count or "1"), broker != "memory")


DEFAULT_SETUPS = (Setup("gateway", 1), Setup("gateway", 2), Setup("node", 1), Setup("node", 2))


@dataclass
class Cluster:
    setup: Setup
    targets: list[Target]
    redis_pid: int | None = None
    pids: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        extra = () if self.redis_pid is None else (self.redis_pid,)
        self.pids = (*(t.pid for t in self.targets), *extra)


def _pinned(argv: list[str], cpu: str | None) -> list[str]:
    if cpu is not None and shutil.which("taskset"):
        return ["taskset", "-c", cpu, *argv]  # taskset execs, so the pid is the program's
    return argv


@contextlib.asynccontextmanager
async def running_redis(cpu: str | None = None,
                        timeout: float = 10.0) -> AsyncIterator[tuple[str, int]]:
    """A throw-away ``redis-server`` on a free loopback port: (url, pid); stopped after."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    with tempfile.TemporaryDirectory(prefix="ybrt-bench-redis-") as directory:
        port = free_port()
        process = await asyncio.create_subprocess_exec(
            *_pinned([binary, "--port", str(port), "--bind", HOST, "--dir", directory,
                      "--save", "", "--appendonly", "no"], cpu),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            await _wait_pong(port, process, timeout)
            yield f"redis://{HOST}:{port}/0", process.pid
        finally:
            if process.returncode is None:
                process.terminate()
                await asyncio.wait_for(process.wait(), 10)


async def _wait_pong(port: int, process: asyncio.subprocess.Process, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.returncode is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode}")
        try:
            reader, writer = await asyncio.open_connection(HOST, port)
            writer.write(b"PING\r\n")
            answer = await asyncio.wait_for(reader.readline(), 1.0)
            writer.close()
            if answer.startswith(b"+PONG"):
                return
        except (OSError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"redis-server did not answer on {port} within {timeout}s")
        await asyncio.sleep(0.05)


def node_env(setup: Setup, redis_url: str, prefix: str) -> dict[str, str]:
    """What makes one server process a node of the cluster."""
    env: dict[str, str] = {}
    if not setup.redis:
        return env
    if setup.stack == "gateway":
        env.update({"YBRT_BROKER_KIND": "redis", "YBRT_BROKER_URL": redis_url,
                    "YBRT_BROKER_PREFIX": prefix})
    else:
        env["BENCH_REDIS_URL"] = redis_url
    return env


@contextlib.asynccontextmanager
async def running_cluster(setup: Setup, cpus: Sequence[str | None] = (None,),
                          redis_url: str | None = None,
                          redis_pid: int | None = None) -> AsyncIterator[Cluster]:
    """The setup's nodes, node ``k`` pinned to ``cpus[k % len(cpus)]``; with no
    ``redis_url`` (and the setup on Redis) a fresh redis-server on ``cpus[0]`` first."""
    async with contextlib.AsyncExitStack() as stack:
        if setup.redis and redis_url is None:
            redis_url, redis_pid = await stack.enter_async_context(running_redis(cpus[0]))
        prefix = f"bench{uuid.uuid4().hex[:8]}:"
        env = node_env(setup, redis_url or "", prefix)
        targets = [await stack.enter_async_context(
            running(setup.stack, cpus[k % len(cpus)], SECRET, env)) for k in range(setup.nodes)]
        yield Cluster(setup, targets, redis_pid if setup.redis else None)


async def subscribe(cluster: Cluster, subscribers: int, samples: int,
                    latencies: Latencies) -> list[SioClient]:
    """Subscriber ``i`` on node ``i % nodes``; every ``stride``-th one timestamps."""
    nodes = len(cluster.targets)
    stride = max(1, subscribers // max(1, samples))
    clients: list[SioClient] = []

    def sampled(first: int) -> Callable[[int], bool]:
        def parse(j: int) -> bool:  # the j-th client of a node is subscriber first + j*nodes
            i = first + j * nodes
            return i % stride == 0 and i // stride < samples
        return parse

    for k, target in enumerate(cluster.targets):
        auths = [target.auth(f"ops-{i}", "operations") for i in range(k, subscribers, nodes)]
        clients += await connect_many(target.address, auths, parse=sampled(k),
                                      on_location=latencies.record)
    for c in clients:
        c.emit("subscribe_rider_locations")
    return clients


async def run_cluster_fanout(cluster: Cluster, subscribers: int, *,
                             steps: Sequence[float] = DEFAULT_STEPS, step_s: float = 3.0,
                             samples: int = 20, max_p99_s: float = 1.0, drain_s: float = 4.0,
                             min_rate_msgs: float = 1.0) -> FanoutResult:
    """Step the offered rate up until p99 passes ``max_p99_s`` or a message is lost."""
    latencies = Latencies()
    publisher = Publisher(latencies)
    clients = await subscribe(cluster, subscribers, samples, latencies)
    return await step_up(cluster.targets[0], clients, publisher,
                         FanoutResult(cluster.setup.label, subscribers, max_p99_s=max_p99_s),
                         steps=steps, step_s=step_s, drain_s=drain_s,
                         min_rate_msgs=min_rate_msgs, other_pids=cluster.pids[1:])


def describe(cluster: Cluster) -> str:
    pids = ", ".join(f"{t.port}/{t.pid}" for t in cluster.targets)
    redis = "" if cluster.redis_pid is None else f", redis pid {cluster.redis_pid}"
    return f"{cluster.setup.label} (port/pid {pids}{redis})"
