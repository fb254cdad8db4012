"""The benchmark harness still works end to end: a tiny fan-out against the gateway, and
one over two gateway nodes on a real redis-server."""

from __future__ import annotations

import pytest
from bench.scenarios.cluster import Setup, run_cluster_fanout, running_cluster
from bench.scenarios.fanout import run_fanout
from bench.servers import running
from bench.soak import SOAK_ENV, run_soak

from tests.redis_server import redis_server


async def test_fanout_against_the_gateway_delivers_everything() -> None:
    async with running("gateway") as target:
        result = await run_fanout(target, 20, steps=(200, 400), step_s=1.0, samples=5)
    assert result.steps, "no step ran"
    for step in result.steps:
        assert step.received > 0
        assert step.lost == 0
        assert step.p99_ms is not None
    assert result.sustained is not None


async def test_cluster_fanout_over_two_gateway_nodes_on_redis_delivers_everything() -> None:
    with redis_server() as redis:
        async with running_cluster(Setup("gateway", 2), redis_url=redis.url,
                                   redis_pid=redis.process.pid) as cluster:
            assert len(cluster.pids) == 3  # two nodes and Redis, counted as the server
            # Subscribers alternate between the nodes and the rider is on the first, so
            # half of every message's deliveries crossed Redis.
            result = await run_cluster_fanout(cluster, 20, steps=(200, 400), step_s=1.0,
                                              samples=5)
    assert result.server == "gateway x2 redis"
    assert [step.offered_per_s for step in result.steps] == [200, 400]
    for step in result.steps:
        assert step.received == step.expected > 0
        assert step.p99_ms is not None
    assert result.sustained is not None


async def test_the_soak_samples_a_short_run_and_compares_its_thirds(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SOAK_ENV.items():
        monkeypatch.setenv(name, value)
    async with running("gateway") as target:
        result = await run_soak(target, 30, 2, minutes=0.1, on_sample=False)
    assert len(result.samples) == 3
    assert sum(s.published for s in result.samples) == result.published > 0
    assert result.lost == 0
    assert all(s.rss_mb > 0 and s.fds > 0 for s in result.samples)
    report = result.report()
    assert "| t (s) |" in report
    assert "RSS: " in report
    assert "overall: " in report
