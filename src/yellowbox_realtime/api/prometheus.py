"""The Prometheus text exposition format (version 0.0.4), written by hand.

Small on purpose: the gateway's metrics are computed at scrape time from live state and a
few plain integers (:mod:`..core.counters`), so all it needs is to print families of
samples with escaped labels; no client library sits on the hot path.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Kind = Literal["counter", "gauge", "histogram"]
Labels = Mapping[str, str]


@dataclass(slots=True)
class Family:
    """One metric: its name, type and help, and its samples. A sample's ``suffix`` is
    appended to the name (``_bucket``, ``_sum``, ``_count`` for histograms)."""

    name: str
    kind: Kind
    help: str
    samples: list[tuple[str, Labels, float]] = field(default_factory=list)

    def add(self, value: float, labels: Labels | None = None, suffix: str = "") -> Family:
        self.samples.append((suffix, labels or {}, value))
        return self


def gauge(name: str, help: str, value: float | None = None, **labels: str) -> Family:
    family = Family(name, "gauge", help)
    return family if value is None else family.add(value, labels)


def counter(name: str, help: str, value: float | None = None, **labels: str) -> Family:
    family = Family(name, "counter", help)
    return family if value is None else family.add(value, labels)


def histogram(name: str, help: str, cumulative: Iterable[tuple[float, int]],
              total: float) -> Family:
    """``cumulative`` as :meth:`..core.counters.Histogram.cumulative` gives it."""
    family = Family(name, "histogram", help)
    count = 0
    for bound, count in cumulative:
        family.add(count, {"le": format_value(bound)}, "_bucket")
    family.add(total, suffix="_sum")
    family.add(count, suffix="_count")
    return family


def encode(families: Iterable[Family]) -> bytes:
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for suffix, labels, value in family.samples:
            text = ",".join(f'{key}="{_escape_label(str(val))}"' for key, val in labels.items())
            lines.append(f"{family.name}{suffix}{{{text}}} {format_value(value)}" if text
                         else f"{family.name}{suffix} {format_value(value)}")
    return ("\n".join(lines) + "\n").encode()


def format_value(value: float) -> str:
    if isinstance(value, int) or (math.isfinite(value) and value.is_integer()
                                  and abs(value) < 2**53):
        return str(int(value))
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
