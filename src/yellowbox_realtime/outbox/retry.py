"""What to do after a delivery attempt. Pure: time and randomness are passed in.

- 2xx: done.
- 408, 429, any 5xx, and no response at all (refused connection, timeout, reset): retry.
- Anything else (other 4xx, and 3xx: redirects are not followed, a webhook URL that
  redirects is a configuration error): permanent, to the dead letters at once.

Retries wait with capped exponential backoff and full jitter (a random time between 0 and
``min(cap, base * 2^(attempts-1))``), so deliveries that failed together do not all come
back together. A ``Retry-After`` (seconds or an HTTP date) is a floor, up to
``retry_after_cap_s``: never sooner than asked, never longer than the cap. The budget is
``max_attempts`` attempts or ``max_age_s`` since the event was accepted, whichever runs out
first; then the delivery goes to the dead letters.
"""

from __future__ import annotations

import email.utils
import enum
from collections.abc import Callable
from dataclasses import dataclass

from ..config import OutboxConfig


class Outcome(enum.Enum):
    DONE = "done"
    RETRY = "retry"
    PERMANENT = "permanent"


def classify(status: int | None) -> Outcome:
    """``status`` None means no response arrived."""
    if status is None or status in (408, 429) or 500 <= status <= 599:
        return Outcome.RETRY
    if 200 <= status <= 299:
        return Outcome.DONE
    return Outcome.PERMANENT


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or an HTTP date), or
    None when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT; a zone-less one is read as such
        return None
    return max(0.0, when.timestamp() - now)


@dataclass(frozen=True, slots=True)
class Decision:
    """``outcome`` DONE, RETRY (after ``delay_s``) or PERMANENT (dead letter, ``reason``)."""

    outcome: Outcome
    delay_s: float = 0.0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    max_age_s: float
    base_s: float
    cap_s: float
    retry_after_cap_s: float

    @classmethod
    def from_config(cls, config: OutboxConfig) -> RetryPolicy:
        return cls(config.max_attempts, config.max_age_s, config.backoff_base_s,
                   config.backoff_cap_s, config.retry_after_cap_s)

    def backoff(self, attempts: int, random: Callable[[], float]) -> float:
        """Full jitter after ``attempts`` failed attempts (1 or more)."""
        exponent = min(attempts - 1, 62)  # 2**62 s is already past any cap
        return random() * min(self.cap_s, self.base_s * 2.0 ** exponent)

    def decide(self, status: int | None, attempts: int, age_s: float,
               retry_after_s: float | None, random: Callable[[], float]) -> Decision:
        """After attempt number ``attempts`` of a delivery accepted ``age_s`` ago."""
        outcome = classify(status)
        if outcome is Outcome.DONE:
            return Decision(outcome)
        if outcome is Outcome.PERMANENT:
            return Decision(outcome, reason=f"HTTP {status} is not retried")
        if attempts >= self.max_attempts:
            return Decision(Outcome.PERMANENT,
                            reason=f"gave up after {attempts} attempts (outbox.max_attempts)")
        delay = self.backoff(attempts, random)
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, self.retry_after_cap_s))
        if age_s + delay > self.max_age_s:
            return Decision(Outcome.PERMANENT,
                            reason=f"gave up after {age_s:.0f}s (outbox.max_age_s)")
        return Decision(outcome, delay)
