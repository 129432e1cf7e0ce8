"""When to ask again: a poll schedule built around the task's expected run time."""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass

FIRST_POLL = 2.0  # early: parameter rejections come back as FAILED within seconds
CAP = 15.0  # the docs suggest ~15 s between polls
DENSE = 1.0  # near the expected end
MIN_GAP = 0.5


@dataclass
class Expectation:
    """Expected run time (seconds from submit to end) and its relative uncertainty."""

    seconds: float
    spread: float  # e.g. 0.25 = the end is likely within +-25 %
    source: str


def expect(catalog_seconds: float, duration: int, default_duration: int,
           history: list[float]) -> Expectation:
    """From local history of the same model/tier/duration when there is any, else the catalog."""
    if history:
        recent = history[-20:]
        median = statistics.median(recent)
        spread = 0.05
        if len(recent) >= 3:
            spread = max(0.03, min(0.5, statistics.pstdev(recent) / max(median, 1.0) * 2))
        return Expectation(median, spread, f"history({len(recent)})")
    scaled = catalog_seconds * max(0.5, duration / max(default_duration, 1)) ** 0.5
    return Expectation(scaled, 0.6, "catalog")


class Schedule:
    """Sparse early, dense around the expected end, backing off after it.

    Compared with a doubling back-off (1, 2, 4, 8, 8 ... s), the delay from the task's end
    to noticing it shrinks to about DENSE/2 when the expectation is good, for no more polls.
    """

    def __init__(self, exp: Expectation, *, jitter: float = 0.1) -> None:
        self.exp = exp
        self.jitter = jitter
        self.window_start = exp.seconds * (1 - exp.spread)
        self.window_end = exp.seconds * (1 + exp.spread)
        self.polls = 0
        self._after = DENSE

    def next_delay(self, elapsed: float, retry_after: float | None = None) -> float:
        """Seconds to wait before the next poll, `elapsed` seconds after submit."""
        self.polls += 1
        if elapsed < FIRST_POLL:
            delay = FIRST_POLL - elapsed
        elif elapsed < self.window_start:
            # halve the remaining distance to the window, but never poll more often than 1/s
            delay = max(DENSE, min(CAP, (self.window_start - elapsed) / 2))
            if self.window_start - elapsed < 2 * DENSE:
                delay = self.window_start - elapsed
        elif elapsed < self.window_end:
            delay = max(DENSE, min(CAP, (self.window_end - self.window_start) / 12))
        else:
            self._after = min(CAP, self._after * 1.5)
            delay = self._after
        delay *= random.uniform(1 - self.jitter, 1 + self.jitter)
        if retry_after:
            delay = max(delay, retry_after)
        return max(MIN_GAP, delay)
