"""Crash consistency: the real script killed with SIGKILL at random moments, then run again.

Each kill is aimed at one phase (before the submit, during it, during the wait, during the
download), at a seeded random moment inside it; each phase lasts long enough to hit (the
emulator holds the submit's answer a second, the first poll comes two seconds after the submit,
and a padded video is trickled at 400 kB/s). After the kill the same command runs again, and in
total: exactly one task was created, the video is delivered and verified (its sha256 is the
result's), no partial file is at the final path, and every state file parses. The default run
kills 8 times; WAN_VIDEO_LONG=1 kills 32 times.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest_helpers import SCRIPT
from reliability_support import (  # noqa: F401 - user_env is a fixture
    LONG,
    all_states,
    request,
    run,
    sha256_file,
    skill_out,
    state_of,
    user_env,
    wait_for,
)

pytestmark = pytest.mark.usefixtures("user_env")

PHASES = ("before-submit", "during-submit", "during-wait", "during-download")
KILLS = 32 if LONG else 8
PADDING = 500_000  # with the trickle, the download takes about two seconds
# What stretches a phase so that a kill can land inside it (the wait is long anyway).
STRETCH = {
    "during-submit": [{"op": "submit", "kind": "slow", "delay": 1.0}],
    "during-download": [{"op": "download", "kind": "trickle", "bytes_per_second": 400_000}],
}


def _states(env: dict[str, str]) -> list[dict[str, Any]]:
    return all_states(env)


def _phase_reached(phase: str, env: dict[str, str]) -> bool:
    """Whether the killed run is inside `phase` yet, judged from what it leaves on disk."""
    if phase == "during-submit":
        return any(s.get("status") == "SUBMITTING" for s in _states(env))
    if phase == "during-wait":
        return any(s.get("task_id") for s in _states(env))
    if phase == "during-download":
        return any((skill_out(env) / "videos").glob("*.mp4.part"))
    return True


def _killed_in(env: dict[str, str], emulator: Any) -> str:
    """Which phase the kill landed in, from what the killed run left behind."""
    states = _states(env)
    if any((skill_out(env) / "videos").glob("*.mp4.part")):
        return "during-download"
    if any(s.get("task_id") for s in states):
        return "during-wait"
    if any(s.get("status") == "SUBMITTING" for s in states):
        return "during-submit"
    assert emulator.stats()["submits"] == 0
    return "before-submit"


def _spawn(env: dict[str, str], req: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(SCRIPT), "--request", req, "--timeout", "60"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=env["HOME"])


@pytest.mark.parametrize("n", range(KILLS), ids=[f"kill{n:02d}-{PHASES[n % 4]}" for n in range(KILLS)])
def test_sigkill_then_the_same_command(n: int, emulator: Any, user_env: dict[str, str]) -> None:  # noqa: F811
    rng = random.Random(1000 + n)
    phase = PHASES[n % len(PHASES)]
    req = request(seed=rng.randrange(1 << 30))
    emulator.scenario(run_seconds=0.3, pending_seconds=0.1, video_padding_bytes=PADDING,
                      faults=STRETCH.get(phase, []))

    proc = _spawn(user_env, req)
    try:
        if phase == "before-submit":
            time.sleep(rng.uniform(0.0, 0.4))  # still starting: nothing sent
        else:
            assert wait_for(lambda: _phase_reached(phase, user_env) or proc.poll() is not None, 30), phase
            time.sleep(rng.uniform(0.0, 0.7))  # each phase lasts over a second
        assert proc.poll() is None, f"the run ended before the kill ({phase})"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert _killed_in(user_env, emulator) == phase

    # Right after the kill: every state file is whole, and a file at a final path is a whole video.
    states = _states(user_env)
    task_ids = {s["task_id"] for s in states if s.get("task_id")}
    finals = {p: sha256_file(p) for p in (skill_out(user_env) / "videos").glob("*.mp4")} \
        if (skill_out(user_env) / "videos").is_dir() else {}

    emulator.scenario(faults=[])  # the same command again, at normal speed
    code, res, err = run(["--request", req, "--timeout", "60"])
    assert code == 0, (phase, res, err[-3000:])
    path = Path(res["local_path"])
    assert res["status"] == "SUCCEEDED" and sha256_file(path) == res["sha256"]
    assert res["bytes"] == path.stat().st_size and res["duration"] == pytest.approx(5.0, abs=0.1)
    stats = emulator.stats()
    assert stats["created_tasks"] == 1, (phase, stats["tasks"])
    assert task_ids <= {res["task_id"]}  # a recorded task is the one delivered
    for final, digest in finals.items():  # whatever was at a final path was already the whole video
        assert final == path and digest == res["sha256"], (final, digest)
    videos = skill_out(user_env) / "videos"
    assert sorted(p.name for p in videos.iterdir() if ".part" in p.name) == []
    state = state_of(user_env, res["task_id"])
    assert state is not None and state["result"]["sha256"] == res["sha256"]
    assert [st["status"] for st in _states(user_env)] == ["SUCCEEDED"]  # one request, one whole state


def test_four_processes_started_at_once_create_one_task(emulator: Any, user_env: dict[str, str]) -> None:  # noqa: F811
    emulator.scenario(run_seconds=0.3, pending_seconds=0.1)
    req = request(seed=4)
    procs = [subprocess.Popen([sys.executable, str(SCRIPT), "--request", req, "--timeout", "60"], env=user_env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=user_env["HOME"])
             for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [o[1][-1500:] for o in outs]
    results = [json.loads(o[0]) for o in outs]
    assert len({r["task_id"] for r in results}) == 1
    assert len({r["sha256"] for r in results}) == 1
    assert sorted(r["cached"] for r in results) == [False, True, True, True]
    assert emulator.stats()["created_tasks"] == 1 and emulator.stats()["submits"] == 1
    assert sha256_file(Path(results[0]["local_path"])) == results[0]["sha256"]
