"""Plain-text tables (Markdown) of scenario results, with ratios against the peers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .scenarios.connections import ConnectionsResult
from .scenarios.fanout import FanoutResult
from .scenarios.fleet import FleetResult
from .scenarios.slow import SlowResult


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _mb(size: int) -> str:
    return f"{size / 1e6:,.2f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def ratios(values: Mapping[str, float | None], better: str = "higher") -> str:
    """'gateway/node 12.3x, gateway/pysio 80x' for whichever peers are present."""
    mine = values.get("gateway")
    parts = []
    for peer in ("node", "pysio"):
        theirs = values.get(peer)
        if mine and theirs:
            parts.append(f"gateway/{peer} {mine / theirs:.3g}x")
    note = "" if better == "higher" else " (lower is better)"
    return (", ".join(parts) + note) if parts else "-"


def fanout_steps(r: FanoutResult) -> str:
    """One server's steps: offered and delivered rates, loss, latency, CPU."""
    rows = [[f"{s.offered_per_s:,.0f}", f"{s.rate_msgs:,.1f}", f"{s.delivered_per_s:,.0f}",
             f"{s.lost:,}", _f(s.p50_ms), _f(s.p99_ms), _f(s.cpu_s_per_million),
             f"{s.loadgen_cpu * 100:.0f}%", _mb(s.backlog_for_server),
             _mb(s.backlog_for_loadgen), "ok" if s.ok(r.max_p99_s) else "FAIL"]
            for s in r.steps]
    return f"### {r.server}, {r.subscribers:,} subscribers\n\n" + table(
        ["offered/s", "msgs/s", "delivered/s", "lost", "p50 ms", "p99 ms",
         "CPU s/1M", "loadgen CPU", "unread: server MB", "unread: loadgen MB", "step"], rows)


def fanout(results: Sequence[FanoutResult]) -> str:
    out = [fanout_steps(r) for r in results]
    summary = [_sustained_row(r) for r in results]
    out.append("### sustained (highest passing step)\n\n" + table(
        ["server", "N", "deliveries/s", "p50 ms", "p99 ms", "CPU s/1M"], summary))
    for n in sorted({r.subscribers for r in results}):
        at_n = {r.server: r.sustained for r in results if r.subscribers == n}
        rate = {k: (v.delivered_per_s if v else None) for k, v in at_n.items()}
        cpu = {k: (v.cpu_s_per_million if v else None) for k, v in at_n.items()}
        out.append(f"N={n:,}: deliveries/s {ratios(rate)}; CPU/1M {ratios(cpu, 'lower')}")
    return "\n\n".join(out)


def fleet(results: Sequence[FleetResult]) -> str:
    rows = [[r.server, f"{r.riders:,}", str(r.dashboards), f"{r.delivered_per_s:,.0f}",
             f"{r.received:,}/{r.expected:,}", f"{r.lost:,}", _f(r.p50_ms), _f(r.p99_ms),
             _f(r.max_ms), _f(r.server_cpu_s / r.received * 1e6 if r.received else None),
             f"{r.loadgen_cpu * 100:.0f}%", "yes" if r.lost == 0 else "NO"]
            for r in results]
    out = [table(["server", "R", "D", "delivered/s", "received/expected", "lost", "p50 ms",
                  "p99 ms", "max ms", "CPU s/1M", "loadgen CPU", "all arrived"], rows)]
    for key in sorted({(r.riders, r.dashboards) for r in results}):
        p99 = {r.server: r.p99_ms for r in results if (r.riders, r.dashboards) == key}
        out.append(f"R={key[0]:,} D={key[1]}: p99 {ratios(p99, 'lower')}")
    return "\n\n".join(out)


def connections(results: Sequence[ConnectionsResult]) -> str:
    rows = [[r.server, f"{r.clients:,}", f"{r.connected:,}",
             f"{r.rss_before / 2**20:,.1f}", f"{r.rss_after / 2**20:,.1f}",
             f"{r.bytes_per_connection / 1024:,.2f}", f"{r.connects_per_s:,.0f}"]
            for r in results]
    out = [table(["server", "N", "connected", "RSS before MiB", "RSS after MiB",
                  "KB per connection", "connects/s"], rows)]
    for n in sorted({r.clients for r in results}):
        mem = {r.server: r.bytes_per_connection for r in results if r.clients == n}
        rate = {r.server: r.connects_per_s for r in results if r.clients == n}
        out.append(f"N={n:,}: memory {ratios(mem, 'lower')}; connect rate {ratios(rate)}")
    return "\n\n".join(out)


def slow(results: Sequence[SlowResult]) -> str:
    out = []
    for r in results:
        rss = r.rss_timeline
        marks = [rss[i] for i in range(0, len(rss), max(1, len(rss) // 12))]
        if rss and marks[-1] != rss[-1]:
            marks.append(rss[-1])
        timeline = ", ".join(f"{t:.0f}s {b / 2**20:.0f}MiB" for t, b in marks)
        windows = "; ".join(f"{w.label}: p50 {_f(w.p50_ms)} / p99 {_f(w.p99_ms)} ms"
                            for w in r.windows)
        released = ("never" if r.server_released_after_s is None else
                    f"{r.server_released_after_s:.1f}s after the stall "
                    f"(server side {r.server_side_state})")
        out.append(
            f"### {r.server}: {r.subscribers} subscribers + 1 stalled, {r.rate_msgs:,.0f} msgs/s, "
            f"stall at {r.pause_at_s:.0f}s, reading again at {r.resume_at_s:.0f}s, of "
            f"{r.duration_s:.0f}s\n\n"
            f"- server RSS: {timeline}\n"
            f"- stalled client released by the server: {released}\n"
            f"- what the stalled client read once it read again: {'; '.join(r.client_end)}\n"
            f"- others: {r.others_received:,}/{r.others_expected:,} received "
            f"(lost {r.others_lost:,}); latency {windows}")
    return "\n\n".join(out)


def cluster(results: Sequence[FanoutResult]) -> str:
    """Cluster fan-out: each setup's steps, the sustained rates, and ratios between setups
    measured in the same run (two nodes against one, the gateway against Node)."""
    out = [fanout_steps(r) for r in results]
    summary = [[*_sustained_row(r), _failed(r)] for r in results]
    out.append("### sustained (highest passing step)\n\n" + table(
        ["setup", "N", "deliveries/s", "p50 ms", "p99 ms", "CPU s/1M",
         "failed at (offered/s: lost, p99 ms)"], summary))
    for n in sorted({r.subscribers for r in results}):
        rate = {r.server: r.sustained.delivered_per_s for r in results
                if r.subscribers == n and r.sustained is not None}
        pairs = [(a, b) for a in rate for b in rate if a != b and _compared(a, b)]
        text = ", ".join(f"{a} / {b} {rate[a] / rate[b]:.3g}x" for a, b in pairs)
        out.append(f"N={n:,}: sustained deliveries/s {text or '-'}")
    return "\n\n".join(out)


def _sustained_row(r: FanoutResult) -> list[str]:
    """Server, N, and the highest passing step's rate, latency and CPU (or dashes)."""
    s = r.sustained
    return [r.server, f"{r.subscribers:,}", "-" if s is None else f"{s.delivered_per_s:,.0f}",
            _f(None if s is None else s.p50_ms), _f(None if s is None else s.p99_ms),
            _f(None if s is None else s.cpu_s_per_million)]


def _failed(r: FanoutResult) -> str:
    failed = [s for s in r.steps if not s.ok(r.max_p99_s)]
    if not failed:
        return "none (top step passed)"
    s = failed[0]
    return f"{s.offered_per_s:,.0f}: {s.lost:,}, {_f(s.p99_ms)}"


def _compared(a: str, b: str) -> bool:
    """Pairs worth a ratio: more nodes over fewer of one stack, the gateway over Node at
    the same node count and broker."""
    stack_a, nodes_a, broker_a = a.split(" ")
    stack_b, nodes_b, broker_b = b.split(" ")
    if stack_a == stack_b:
        return int(nodes_a[1:]) > int(nodes_b[1:]) or (nodes_a == nodes_b and broker_a == "redis"
                                                       and broker_b == "memory")
    return stack_a == "gateway" and nodes_a == nodes_b and broker_a == broker_b
