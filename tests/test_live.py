"""Against the real DashScope service: off unless DASHSCOPE_API_KEY and WAN_VIDEO_LIVE=1 are set.

    WAN_VIDEO_LIVE=1 DASHSCOPE_API_KEY=sk-... make test PYTEST_ARGS="-m live"

One read-only preflight, one read-only query, and one minimal paid task (wan2.2-t2v-plus,
480P, 5 s: 0.70 CNY at list price; capped with --max-cost 1).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest_helpers import SCRIPT

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not (os.environ.get("DASHSCOPE_API_KEY") and os.environ.get("WAN_VIDEO_LIVE") == "1"),
                       reason="live tests need DASHSCOPE_API_KEY and WAN_VIDEO_LIVE=1"),
]


def _run(args: list[str], tmp_path: Path, timeout: float = 60) -> tuple[int, dict]:
    env = {k: v for k, v in os.environ.items() if k not in ("DASHSCOPE_BASE_URL", "DASHSCOPE_HTTP_BASE_URL")}
    env["OUTPUT_DIR"] = str(tmp_path / "out")
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True,
                          timeout=timeout)
    return proc.returncode, json.loads(proc.stdout)


def test_live_doctor_accepts_the_key_and_costs_nothing(tmp_path):
    code, res = _run(["doctor", "--model", "wan2.2-t2v-plus"], tmp_path)
    assert code == 0, res
    assert res["ok"] is True and res["key_source"]


def test_live_unknown_task_is_unknown(tmp_path):
    code, res = _run(["status", "00000000-0000-0000-0000-000000000000"], tmp_path)
    assert code == 0 and res["status"] == "UNKNOWN"


def test_live_minimal_text_to_video(tmp_path):
    req = {"prompt": "a paper boat drifting on a calm pond, soft morning light", "model": "wan2.2-t2v-plus",
           "size": "832*480", "duration": 5}
    code, res = _run(["--request", json.dumps(req), "--timeout", "900", "--max-cost", "1"], tmp_path, timeout=960)
    assert code == 0, res
    assert (res["width"], res["height"]) == (832, 480)
    assert abs(res["duration"] - 5.0) < 0.6
    assert Path(res["local_path"]).is_file() and res["cost_cny"] == pytest.approx(0.7)
    key = os.environ["DASHSCOPE_API_KEY"]
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file() and path.suffix not in (".mp4", ".png"):
            assert key not in path.read_text(errors="replace"), path
