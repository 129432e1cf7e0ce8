"""Progress on stderr: a live line on a terminal, otherwise a line per change and a heartbeat."""

from __future__ import annotations

import sys
import time
from typing import TextIO

HEARTBEAT = 15.0


def _fmt(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Progress:
    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_line = ""
        self._last_at = 0.0
        self._live_shown = False

    def note(self, message: str) -> None:
        """A line that always shows (task id, resume command, warnings)."""
        if self.quiet:
            return
        self._clear()
        self.stream.write(f"[wan-video] {message}\n")
        self.stream.flush()

    def status(self, status: str, phase: str, elapsed: float, expected: float | None) -> None:
        if self.quiet:
            return
        remaining = f", ~{_fmt(expected - elapsed)} left" if expected and expected > elapsed else ""
        line = f"{status} ({phase}) {_fmt(elapsed)} elapsed{remaining}"
        now = time.monotonic()
        if self.live:
            self.stream.write("\r\x1b[2K[wan-video] " + line)
            self.stream.flush()
            self._live_shown = True
        elif line.split(" ")[0] != self._last_line.split(" ")[0] or now - self._last_at >= HEARTBEAT:
            self.stream.write(f"[wan-video] {line}\n")
            self.stream.flush()
            self._last_at = now
        self._last_line = line

    def _clear(self) -> None:
        if self.live and self._live_shown:
            self.stream.write("\r\x1b[2K")
            self._live_shown = False

    def done(self) -> None:
        self._clear()
