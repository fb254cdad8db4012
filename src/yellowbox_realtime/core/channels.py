"""The channels every connection has: one per user (all of their tabs and devices) and one
per role. Every door names them the same way, so a publish to ``user:rider-1`` from the API
reaches the sockets the gateway put there."""

from __future__ import annotations

__all__ = ["ROLE_PREFIX", "USER_PREFIX", "role_channel", "user_channel"]

USER_PREFIX = "user:"
ROLE_PREFIX = "role:"


def user_channel(uid: str) -> str:
    return USER_PREFIX + uid


def role_channel(role: str) -> str:
    return ROLE_PREFIX + role
