"""Outbox configurations for the tests (the n8n stand-in is ``tests/peers.py``'s ``receiver``)."""

from __future__ import annotations

from typing import Any

from yellowbox_realtime.config import Config, OutboxConfig

from .receiver import SECRET


def outbox_section(url: str, **extra: Any) -> dict[str, Any]:
    """An [outbox] section with one route, ``n8n``, taking every event, retrying fast."""
    section: dict[str, Any] = {
        "urls": {"n8n": url}, "secrets": {"n8n": SECRET},
        "backoff_base_s": 0.01, "backoff_cap_s": 0.05, "poll_interval_s": 0.2,
        "timeout_s": 5.0, "busy_timeout_ms": 50, "close_grace_s": 0.5,
    }
    section.update(extra)
    return section


def outbox_config(url: str, **extra: Any) -> OutboxConfig:
    return Config.from_mapping({"outbox": outbox_section(url, **extra)}).outbox
