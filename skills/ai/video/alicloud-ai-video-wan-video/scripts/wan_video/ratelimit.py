"""A thread-safe pacing limiter: at most `rate` acquisitions per second, evenly spaced."""

from __future__ import annotations

import threading
import time


class RateLimiter:
    def __init__(self, rate: float, margin: float = 0.1) -> None:
        # The margin keeps us under a server's sliding one-second window despite timing noise.
        self.interval = (1.0 + margin) / rate if rate > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Claim the next slot; return how long to sleep until it."""
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
            return slot - now

    def acquire(self) -> None:
        delay = self.reserve()
        if delay > 0:
            time.sleep(delay)
