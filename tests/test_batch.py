"""Batches within the account's limits, against the emulator, through the real CLI and API."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest_helpers import SCRIPT, cli

pytestmark = pytest.mark.usefixtures("isolated")

BASE = {"model": "wan2.5-t2v-preview", "size": "832*480"}


def _jsonl(path: Path, items: list[object]) -> Path:
    path.write_text("\n".join(i if isinstance(i, str) else json.dumps(i) for i in items) + "\n")
    return path


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def batch(argv: list[str]) -> tuple[int, dict, list[dict], str]:
    """The batch command in-process: exit code, summary (last line), item lines, stderr."""
    code, out, err = cli(["batch", *argv])
    lines = _lines(out) if isinstance(out, str) else [out]
    return code, lines[-1], lines[:-1], err


def test_batch_keeps_the_family_at_its_limit_with_no_429(emulator, tmp_path, capsys):
    emulator.scenario(concurrency=5, rps=5, run_seconds=2.0, pending_seconds=0.0)
    items = [dict(BASE, prompt=f"shot {i}", id=f"s{i}") for i in range(15)]
    code, summary, lines, err = batch([str(_jsonl(tmp_path / "b.jsonl", items)), "--quiet"])
    assert code == 0, (summary, err)
    assert summary["succeeded"] == 15 and [line["id"] for line in lines] == [f"s{i}" for i in range(15)]
    st = emulator.stats()
    assert st["created_tasks"] == 15
    assert st["throttled"] == 0
    assert st["max_running_by_family"]["wan2.5"] == 5


def test_batch_output_is_one_line_per_item_in_input_order_then_the_summary(emulator, tmp_path):
    items = [dict(BASE, prompt=f"shot {i}", id=f"s{i}") for i in range(4)]
    items.insert(2, {"prompt": "x", "model": "no-such-model", "id": "bad"})
    items.insert(3, "{not json")
    env = {k: v for k, v in os.environ.items()}
    proc = subprocess.run([sys.executable, str(SCRIPT), "batch", str(_jsonl(tmp_path / "b.jsonl", items))],
                          env=env, capture_output=True, text=True, timeout=120)
    lines = _lines(proc.stdout)
    assert [line.get("id") for line in lines[:-1]] == ["s0", "s1", "bad", "line4", "s2", "s3"]
    summary = lines[-1]
    assert summary["summary"] is True and summary["total"] == 6
    assert summary["succeeded"] == 4 and summary["failed"] == 2
    assert {f["code"] for f in summary["failures"]} == {"UnknownModel", "InvalidJSON"}
    assert proc.returncode == 2  # not all succeeded; the worst is an invalid request
    # invalid lines are reported before anything is submitted
    assert proc.stderr.index("refused before submitting") < proc.stderr.index("batch: done")
    assert emulator.stats()["created_tasks"] == 4


def test_a_failing_item_never_stops_the_others(emulator, tmp_path):
    emulator.scenario(fail_next=[{"code": "DataInspectionFailed",
                                  "message": "Output data may contain inappropriate content."}])
    items = [dict(BASE, prompt=f"shot {i}", id=f"s{i}") for i in range(5)]
    code, summary, _, _ = batch([str(_jsonl(tmp_path / "b.jsonl", items)), "--quiet"])
    assert summary["succeeded"] == 4 and summary["failed"] == 1
    assert summary["failures"][0]["code"] == "DataInspectionFailed"
    assert code == 10


def test_rerunning_a_batch_resumes_and_submits_nothing_twice(emulator, tmp_path, cli_env):
    emulator.scenario(concurrency=2, rps=5, run_seconds=1.0, pending_seconds=0.0)
    items = [dict(BASE, prompt=f"shot {i}", id=f"s{i}") for i in range(8)]
    path = _jsonl(tmp_path / "b.jsonl", items)
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "batch", str(path)], env=cli_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while time.time() < deadline and emulator.stats()["created_tasks"] < 3:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    created_before = emulator.stats()["created_tasks"]
    assert 3 <= created_before < 8
    code, summary, _, err = batch([str(path), "--quiet"])
    assert code == 0, (summary, err)
    assert summary["succeeded"] == 8
    assert emulator.stats()["created_tasks"] == 8  # every item exactly once across both runs
    # and a third run is all cache hits, with no network at all
    before = len(emulator.stats()["requests"])
    code, summary, _, _ = batch([str(path), "--quiet"])
    assert code == 0 and summary["cached"] == 8
    assert len(emulator.stats()["requests"]) == before


def test_generate_many_sync_and_async_return_one_result_per_request_in_order(emulator):
    import wan_video

    reqs = [dict(BASE, prompt=f"py {i}") for i in range(3)] + [{"prompt": "x", "duration": -1}]
    out = wan_video.generate_many(reqs)
    assert [o["status"] for o in out] == ["SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "INVALID"]
    assert out[3]["error"]["code"] == "InvalidRequest"
    again = asyncio.run(wan_video.agenerate_many(reqs[:3]))
    assert [o["cached"] for o in again] == [True, True, True]


def test_batch_dry_run_sends_nothing(emulator, tmp_path, capsys):
    items = [dict(BASE, prompt="a"), {"prompt": "b", "size": "1*1"}]
    code, summary, _, _ = batch([str(_jsonl(tmp_path / "b.jsonl", items)), "--dry-run"])
    assert code == 2 and summary["invalid"] == 1
    assert emulator.stats()["requests"] == [] or all(
        not r["path"].startswith("/api") for r in emulator.stats()["requests"])
