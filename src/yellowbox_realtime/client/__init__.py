"""The Python client of the gateway."""

from .backoff import Backoff, Jitter

__all__ = ["Backoff", "Jitter"]
