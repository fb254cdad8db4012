"""Reconnection delays: capped exponential backoff with jitter (pure, seedable).

Attempt ``n`` (0-based) has a ceiling of ``min(maximum, initial * factor**n)``. Jitter
spreads a fleet that lost the server at the same moment, so it does not come back in one
thundering herd:

- ``full``: uniform in ``[0, ceiling]`` -- the widest spread, the best for many clients;
- ``equal``: uniform in ``[ceiling / 2, ceiling]`` -- never retries almost at once;
- ``none``: exactly the ceiling (deterministic; for tests and single clients).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

Jitter = Literal["full", "equal", "none"]


@dataclass(slots=True)
class Backoff:
    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    jitter: Jitter = "full"
    # A seeded random.Random makes delays reproducible in tests.
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum:
            raise ValueError("backoff needs 0 < initial <= maximum")
        if self.factor < 1:
            raise ValueError("backoff factor must be at least 1")
        if self.jitter not in ("full", "equal", "none"):
            raise ValueError(f"unknown jitter {self.jitter!r}: full, equal or none")

    def ceiling(self, attempt: int) -> float:
        """The largest delay before attempt ``attempt`` (0 is the first retry)."""
        if attempt < 0:
            raise ValueError("attempt numbers start at 0")
        # Compare exponents, not powers: factor**attempt overflows a float after ~1000 tries.
        delay = self.initial
        for _ in range(attempt):
            delay *= self.factor
            if delay >= self.maximum:
                return self.maximum
        return delay

    def delay(self, attempt: int) -> float:
        ceiling = self.ceiling(attempt)
        if self.jitter == "full":
            return self.rng.uniform(0.0, ceiling)
        if self.jitter == "equal":
            return ceiling / 2 + self.rng.uniform(0.0, ceiling / 2)
        return ceiling
