"""Progress on stderr: a live line on a terminal; a line per change and a heartbeat otherwise."""

from __future__ import annotations

import io

from wan_video import progress as progress_mod
from wan_video.progress import Progress


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_gets_one_live_line_rewritten_in_place():
    out = Tty()
    p = Progress(out)
    p.status("PENDING", "queued", 1, 60)
    p.status("RUNNING", "generating", 20, 60)
    p.done()
    text = out.getvalue()
    assert text.count("\r\x1b[2K[wan-video] ") == 2 and "\n" not in text
    assert "RUNNING (generating) 20s elapsed, ~40s left" in text


def test_a_log_gets_a_line_per_change_and_a_heartbeat(monkeypatch):
    out = io.StringIO()
    clock = iter([0.0, 1.0, 2.0, 2.0 + progress_mod.HEARTBEAT + 1, 40.0])
    monkeypatch.setattr(progress_mod.time, "monotonic", lambda: next(clock))
    p = Progress(out)
    p.status("PENDING", "queued", 0, 60)  # change: printed
    p.status("PENDING", "queued", 1, 60)  # same, within the heartbeat: quiet
    p.status("RUNNING", "generating", 2, 60)  # change: printed
    p.status("RUNNING", "generating", 18, 60)  # heartbeat: printed
    lines = out.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["PENDING", "RUNNING", "RUNNING"]
    assert lines[-1] == "[wan-video] RUNNING (generating) 18s elapsed, ~42s left"


def test_quiet_prints_nothing():
    out = io.StringIO()
    p = Progress(out, quiet=True)
    p.note("x")
    p.status("RUNNING", "generating", 1, 2)
    assert out.getvalue() == ""
