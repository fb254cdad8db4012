"""Process and socket figures read from /proc (Linux)."""

from __future__ import annotations

import os
import resource
from collections.abc import Collection

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` (utime + stime from /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def machine() -> str:
    """``nproc N; CPU <model>; RAM <n> GiB``, for the heading of a result."""
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    return f"nproc {os.cpu_count()}; CPU {model}; RAM {mem_kb / 2**20:.1f} GiB"


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def raise_nofile(want: int = 65536) -> int:
    """Raise RLIMIT_NOFILE (children inherit it); returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def tcp_state(local_port: int, remote_port: int) -> str | None:
    """State of the loopback TCP socket ``local_port`` -> ``remote_port``, None if gone."""
    names = {"01": "ESTABLISHED", "04": "FIN_WAIT1", "05": "FIN_WAIT2", "06": "TIME_WAIT",
             "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0B": "CLOSING"}
    want_local, want_remote = f":{local_port:04X}", f":{remote_port:04X}"
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split(None, 4)
            if parts[1].endswith(want_local) and parts[2].endswith(want_remote):
                return names.get(parts[3], parts[3])
    return None


def loopback_backlog(ports: Collection[int]) -> tuple[int, int]:
    """Bytes received and not read yet on the IPv4 loopback TCP connections that have one end
    on one of ``ports`` (this process's clients): ``(by the server, by this process)``.

    Bytes the sender still holds (the receiver's window full) are not counted: they share the
    send queue with bytes received but not yet acknowledged, and cannot be told apart.
    """
    by_server = by_us = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split(None, 5)
            unread = int(parts[4].split(":")[1], 16)
            if unread:
                if int(parts[1][-4:], 16) in ports:
                    by_us += unread
                elif int(parts[2][-4:], 16) in ports:
                    by_server += unread
    return by_server, by_us
