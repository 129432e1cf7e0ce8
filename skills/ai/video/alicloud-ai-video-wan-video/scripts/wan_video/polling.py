"""When to ask again: a poll schedule built around the task's expected run time."""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass

FIRST_POLL = 2.0  # early: parameter rejections come back as FAILED within seconds
CAP = 15.0  # the docs suggest ~15 s between polls
DENSE = 1.0  # the closest spacing, inside the window of the expected end
MIN_GAP = 0.5
WINDOW_POLLS = 4  # polls spread across the window (its width / 4, kept within DENSE..CAP)
BACKOFF = 1.5  # after the window: each gap 1.5x the last, from DENSE up to CAP


@dataclass
class Expectation:
    """Expected run time (seconds from the start of running to the end) and its uncertainty."""

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
    """An early poll, sparse hops to the window of the expected end, dense in it, then back-off.

    `elapsed` counts from the start of the task's run (the caller maps the service's
    scheduled_time onto its clock; while PENDING it passes a small value).

    The window is the expectation +- its spread. Before it, each hop is at most CAP and at
    most `reach` x the time elapsed, with reach = 1 / (2 x spread): a catalog guess (spread
    0.6) gives ~0.8, so a task that ends far earlier than guessed is still noticed within
    about its own run time, as with a doubling back-off; a run-time history (spread 0.05)
    gives 10, so the hops are CAP-long at once. The hops divide the distance evenly and the
    last lands on the window's start (jittered later, never earlier, which would cost one
    more poll). In the window polls are width / WINDOW_POLLS apart; past it they back off.

    Compared with the SDK's doubling back-off (1, 2, 4, 8, 8 ... s), a good expectation
    notices the end within about half the window spacing, with fewer polls.
    """

    def __init__(self, exp: Expectation, *, jitter: float = 0.1, rng: random.Random | None = None) -> None:
        self.exp = exp
        self.jitter = jitter
        self._rng = rng or random.Random()
        self.window_start = exp.seconds * (1 - exp.spread)
        self.window_end = exp.seconds * (1 + exp.spread)
        self.step = min(CAP, max(DENSE, (self.window_end - self.window_start) / WINDOW_POLLS))
        self.reach = 1 / (2 * max(exp.spread, 0.01))
        self.polls = 0
        self._after = DENSE

    def next_delay(self, elapsed: float, retry_after: float | None = None) -> float:
        """Seconds to wait before the next poll, `elapsed` seconds into the task's run."""
        self.polls += 1
        low, high = 1 - self.jitter, 1 + self.jitter
        if elapsed < FIRST_POLL:  # jittered later only: a poll just short of it would cost another
            delay = (FIRST_POLL - elapsed) * self._rng.uniform(1.0, high)
        elif elapsed < self.window_start - self.step / 2:
            distance = self.window_start - elapsed
            longest = min(CAP, max(FIRST_POLL, self.reach * elapsed))
            hops = math.ceil(distance / longest)
            delay = distance / hops * self._rng.uniform(1.0 if hops == 1 else low, high)
        elif elapsed < self.window_end:
            delay = self.step * self._rng.uniform(low, high)
        else:
            self._after = min(CAP, self._after * BACKOFF)
            delay = self._after * self._rng.uniform(low, high)
        if retry_after:
            delay = max(delay, retry_after)
        return max(MIN_GAP, delay)
