"""The benchmark harness still works end to end: a tiny fan-out against the gateway."""

from __future__ import annotations

from bench.scenarios.fanout import run_fanout
from bench.servers import running


async def test_fanout_against_the_gateway_delivers_everything() -> None:
    async with running("gateway") as target:
        result = await run_fanout(target, 20, steps=(200, 400), step_s=1.0, samples=5)
    assert result.steps, "no step ran"
    for step in result.steps:
        assert step.received > 0
        assert step.lost == 0
        assert step.p99_ms is not None
    assert result.sustained is not None
