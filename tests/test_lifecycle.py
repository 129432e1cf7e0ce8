"""The task lifecycle end to end against the emulator, through the real CLI and the real SDK."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest_helpers import SCRIPT, all_output_text, cli, evidence_files, stats

pytestmark = pytest.mark.usefixtures("isolated")


T2V = {"prompt": "a cat running under the moon", "model": "wan2.5-t2v-preview", "size": "832*480",
       "duration": 5}


def test_t2v_end_to_end_measures_the_file_and_leaves_complete_evidence(emulator, out_dir):
    code, res, err = cli(["--request", json.dumps(T2V), "--timeout", "60"])
    assert code == 0, (res, err)
    assert res["status"] == "SUCCEEDED" and res["cached"] is False
    assert (res["width"], res["height"]) == (832, 480)
    assert res["fps"] == 24.0
    assert res["duration"] == pytest.approx(5.0, abs=0.05)
    assert Path(res["local_path"]).is_file() and Path(res["contact_sheet"]).is_file()
    assert Path(res["local_path"]).parent == out_dir / "alicloud-ai-video-wan-video" / "videos"
    assert res["cost_cny"] == pytest.approx(1.5)  # 5 s x 0.3 CNY/s at 480P
    names = evidence_files(Path(res["evidence_dir"]))
    for name in ("request.json", "wire.json", "submit.json", "polls.jsonl", "final.json",
                 "probe.json", "result.json", "run.log"):
        assert name in names, names
    polls = [json.loads(line) for line in (Path(res["evidence_dir"]) / "polls.jsonl").read_text().splitlines()]
    assert polls[-1]["status"] == "SUCCEEDED" and all("latency" in p for p in polls)
    assert stats(emulator)["submits"] == 1
    # task id -> folder index
    index = (out_dir / "alicloud-ai-video-wan-video" / "index.jsonl").read_text()
    assert res["task_id"] in index


def test_the_same_request_again_is_a_cache_hit_with_no_network(emulator):
    code, first, _ = cli(["--request", json.dumps(T2V), "--timeout", "60"])
    assert code == 0
    before = stats(emulator)
    code, again, _ = cli(["--request", json.dumps(T2V)], env={"DASHSCOPE_API_KEY": ""})
    assert code == 0 and again["cached"] is True and again["task_id"] == first["task_id"]
    after = stats(emulator)
    assert len(after["requests"]) == len(before["requests"])


def test_no_wait_then_wait_from_a_new_process(emulator):
    code, sub, _ = cli(["submit", "--request", json.dumps(T2V)])
    assert code == 0 and sub["status"] == "SUBMITTED" and sub["task_id"]
    assert sub["resume"].endswith(f"wait {sub['task_id']}")
    code, res, err = cli(["wait", sub["task_id"], "--timeout", "60"])
    assert code == 0, (res, err)
    assert res["task_id"] == sub["task_id"] and Path(res["local_path"]).is_file()
    assert stats(emulator)["submits"] == 1


def test_deadline_exits_5_with_the_resume_command_and_resume_finishes(emulator):
    emulator.scenario(run_seconds=6.0)
    code, res, _ = cli(["--request", json.dumps(T2V), "--timeout", "2"])
    assert code == 5
    err = res["error"]
    assert err["code"] == "StillRunning" and err["task_id"]
    assert err["resume"] == f"python scripts/generate_video.py wait {err['task_id']}"
    # the same command again resumes the same task rather than paying twice
    code, res2, _ = cli(["--request", json.dumps(T2V), "--timeout", "60"])
    assert code == 0 and res2["task_id"] == err["task_id"]
    assert stats(emulator)["submits"] == 1


def test_kill_9_during_the_wait_then_the_same_command_submits_once(emulator, cli_env):
    emulator.scenario(run_seconds=4.0)
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "--request", json.dumps(T2V), "--timeout", "60"],
                            env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 20
    while time.time() < deadline and stats(emulator)["submits"] == 0:
        time.sleep(0.05)
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    code, res, err = cli(["--request", json.dumps(T2V), "--timeout", "60"])
    assert code == 0, (res, err)
    assert stats(emulator)["submits"] == 1
    assert Path(res["local_path"]).is_file()


@pytest.mark.parametrize("fault, expect_submits", [
    ({"op": "submit", "kind": "status", "status": 429, "code": "Throttling.RateQuota",
      "message": "Requests rate limit exceeded, please try again later.", "count": 2}, 1),
    ({"op": "submit", "kind": "ambiguous"}, 1),
    ({"op": "submit", "kind": "status", "status": 500, "count": 1}, 1),
    ({"op": "poll", "kind": "status", "status": 500, "count": 2}, 1),
    ({"op": "poll", "kind": "status", "status": 429, "code": "Throttling.RateQuota", "count": 2}, 1),
    ({"op": "poll", "kind": "reset", "count": 2}, 1),
    ({"op": "poll", "kind": "html", "count": 1}, 1),
    ({"op": "poll", "kind": "malformed", "count": 1}, 1),
    ({"op": "download", "kind": "truncate", "count": 1}, 1),
    ({"op": "download", "kind": "reset", "count": 1}, 1),
])
def test_faults_are_survived_with_one_paid_task(emulator, fault, expect_submits):
    emulator.scenario(faults=[fault])
    code, res, err = cli(["--request", json.dumps(T2V), "--timeout", "60"])
    assert code == 0, (fault, res, err[-2000:])
    assert Path(res["local_path"]).is_file()
    assert stats(emulator)["created_tasks"] == expect_submits


@pytest.mark.parametrize("code_name, message, exit_code", [
    ("DataInspectionFailed", "Output data may contain inappropriate content.", 10),
    ("InternalError.Timeout", "An internal timeout error has occured during execution, please try again "
                              "later or contact service support.", 1),
    ("InvalidParameter", "The size is not match xxxxxx", 1),
])
def test_failed_tasks_keep_the_service_words_and_say_what_to_do(emulator, code_name, message, exit_code):
    emulator.scenario(fail_next=[{"code": code_name, "message": message}])
    code, res, _ = cli(["--request", json.dumps(T2V), "--timeout", "60"])
    assert code == exit_code
    err = res["error"]
    assert err["code"] == code_name and err["message"] == message and err["task_id"] and err["hint"]
    # recorded: the same request again reports it without paying again
    code2, res2, _ = cli(["--request", json.dumps(T2V), "--timeout", "60"])
    assert code2 == exit_code and res2["error"]["task_id"] == err["task_id"]
    assert "--force" in res2["error"]["hint"]
    assert stats(emulator)["submits"] == 1


def test_unknown_task_is_terminal_and_says_why(emulator):
    code, res, _ = cli(["wait", "0385dc79-5ff8-4d82-bcb6-000000000000", "--timeout", "20"])
    assert code == 1
    assert res["error"]["code"] == "TaskUnknown"
    assert "never existed" in res["error"]["message"]


def test_expired_download_url_is_named(emulator):
    emulator.scenario(faults=[{"op": "download", "kind": "expire", "count": -1}])
    code, res, _ = cli(["--request", json.dumps(T2V), "--timeout", "60"])
    assert code == 1
    assert res["error"]["code"] == "URLExpired"


def test_i2v_with_a_local_image_goes_through_the_upload_flow(emulator, sample_image):
    req = {"prompt": "the cat turns its head", "model": "wan2.2-i2v-flash", "resolution": "480P",
           "reference_image": str(sample_image)}
    code, res, err = cli(["--request", json.dumps(req), "--timeout", "60"])
    assert code == 0, (res, err)
    assert res["fps"] == 30.0
    # aspect of the 960x720 image at 480P, sides multiples of 16
    assert res["width"] % 16 == 0 and res["height"] % 16 == 0
    assert abs(res["width"] / res["height"] - 4 / 3) < 0.05
    wire = json.loads((Path(res["evidence_dir"]) / "wire.json").read_text())
    assert wire["input"]["img_url"].startswith("<upload:")
    assert any(r["path"].endswith("/uploads") for r in stats(emulator)["requests"])


def test_kf2v_first_and_last_frame_on_the_image2video_path(emulator, sample_image, tmp_path):
    from wan_video.media import make_sample_image

    last = tmp_path / "last.png"
    make_sample_image(str(last), 960, 720, "last frame", seed=3)
    req = {"prompt": "from day to night", "model": "wanx2.1-kf2v-plus",
           "reference_image": str(sample_image), "last_frame_image": str(last)}
    code, res, err = cli(["--request", json.dumps(req), "--timeout", "60"])
    assert code == 0, (res, err)
    paths = [r["path"] for r in stats(emulator)["requests"] if r["method"] == "POST"]
    assert any("/services/aigc/image2video/video-synthesis" in p for p in paths)


def test_fps_differing_from_native_is_conformed_locally_and_both_kept(emulator):
    req = dict(T2V, fps=12)
    code, res, _ = cli(["--request", json.dumps(req), "--timeout", "60"])
    assert code == 0
    assert res["fps"] == 12.0 and Path(res["original_path"]).is_file() and Path(res["local_path"]).is_file()
    assert res["original_path"] != res["local_path"]
    assert res["bytes"] == Path(res["local_path"]).stat().st_size  # every file field describes local_path
    assert any("conformed locally" in w for w in res["warnings"])


def test_two_processes_with_the_same_request_submit_once(emulator, cli_env):
    procs = [subprocess.Popen([sys.executable, str(SCRIPT), "--request", json.dumps(T2V), "--timeout", "60"],
                              env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=90) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    ids = {json.loads(o[0])["task_id"] for o in outs}
    assert len(ids) == 1
    assert stats(emulator)["submits"] == 1


def test_no_secret_reaches_any_file_or_stdout(emulator, out_dir, cli_env):
    code, res, err = cli(["--request", json.dumps(T2V), "--timeout", "60"])
    assert code == 0
    text = all_output_text(out_dir) + json.dumps(res) + err
    assert cli_env["DASHSCOPE_API_KEY"] not in text
    assert "Signature=" not in text.replace("Signature=REDACTED", "")
    assert "OSSAccessKeyId=" not in text.replace("OSSAccessKeyId=REDACTED", "")


def test_evidence_files_are_owner_only(emulator, out_dir):
    code, res, _ = cli(["--request", json.dumps(T2V), "--timeout", "60"])
    assert code == 0
    for path in Path(res["evidence_dir"]).iterdir():
        assert path.stat().st_mode & 0o077 == 0, path


def test_python_api_with_bytes_image(emulator, sample_image):
    import wan_video

    res = wan_video.generate({"prompt": "bytes in", "model": "wan2.2-i2v-flash", "resolution": "480P",
                              "reference_image": sample_image.read_bytes()}, timeout=60)
    assert res["status"] == "SUCCEEDED" and Path(res["local_path"]).is_file()
    with pytest.raises(wan_video.WanVideoError) as info:
        wan_video.generate({"prompt": "x", "model": "wan2.2-i2v-flash", "reference_image": b"not an image"})
    assert info.value.exit_code == 2


def test_missing_key_is_exit_3_with_both_ways_to_set_it(emulator):
    code, res, _ = cli(["--request", json.dumps(dict(T2V, seed=7))], env={"DASHSCOPE_API_KEY": ""})
    assert code == 3
    assert "DASHSCOPE_API_KEY" in res["error"]["hint"] and "credentials" in res["error"]["hint"]


@pytest.mark.parametrize("cancel", [False, True])
def test_ctrl_c_leaves_the_task_or_cancels_a_pending_one(emulator, cli_env, cancel):
    emulator.scenario(pending_seconds=30.0, run_seconds=1.0)
    args = [sys.executable, str(SCRIPT), "--request", json.dumps(T2V), "--timeout", "60"]
    if cancel:
        args.append("--cancel-on-interrupt")
    proc = subprocess.Popen(args, env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 20
    while time.time() < deadline and not any(t["status"] == "PENDING" for t in stats(emulator)["tasks"]):
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    res = json.loads(out)
    task = stats(emulator)["tasks"][0]
    assert res["error"]["code"] == "Interrupted" and res["error"]["task_id"] == task["task_id"]
    if cancel:
        assert proc.returncode == 1 and task["status"] == "CANCELED"
    else:
        assert proc.returncode == 5 and task["status"] == "PENDING"
        assert res["error"]["resume"] == f"python scripts/generate_video.py wait {task['task_id']}"
