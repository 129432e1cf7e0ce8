"""Every emulator fault kind at every phase it applies to, through the real CLI.

Each case ends in the exit code and error ARCHITECTURE.md names, records the task id (in the
error JSON when a task exists, and in the state under OUTPUT_DIR), creates at most one task,
and (where the fault can pass) the same command afterwards delivers the video without paying
again. Faults are emulator settings; nothing here is monkeypatched.

The default profile keeps at least one case per kind and phase (the lasting HTML page, missing
fields and 50 MB body at poll run through the real script in test_reliability_hostile); the
long profile (WAN_VIDEO_LONG=1) runs every variant.

Phases: `submit` runs `submit` with the fault in force; `poll` submits cleanly, then runs
`generate` (which resumes and polls) with the fault in force; `download` does the same once
the task has finished, so the fault meets the download; `task` makes the task itself FAILED.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from reliability_support import (  # noqa: F401 - user_env is a fixture
    LONG,
    request,
    run,
    run_script,
    sha256_file,
    skill_out,
    state_of,
    user_env,
    wait_tasks_terminal,
)

pytestmark = pytest.mark.usefixtures("user_env")

RESUME = r"python scripts/generate_video.py wait [0-9a-f-]{36}"
URL = r"http://127\.0\.0\.1:\d+/_oss_result/[0-9a-f-]{36}\.mp4\?Expires=\d+&OSSAccessKeyId=REDACTED&Signature=REDACTED"
LOST = r"the submit's answer was lost \({}\) and no matching task was found"
# How httpx words a reset depends on when it lands: mid-read, or before any byte of the answer.
RESET = r"(\[Errno 104\] Connection reset by peer|Server disconnected without sending a response\.)"


@dataclass(frozen=True)
class Case:
    id: str
    phase: str  # submit | poll | download | task
    faults: tuple[dict[str, Any], ...] = ()
    exit: int = 0
    code: str | None = None  # the error code, None when the run succeeds
    message: str | None = None  # regex the whole error message must match
    created: int = 1  # tasks the emulator created for this request, in all
    timeout: float = 20
    recover: bool = True  # the same command without the fault then delivers the video
    subprocess: bool = False  # run the faulty step as a real process
    fail_next: tuple[dict[str, str], ...] = field(default=())
    long: bool = False  # only in the long profile (WAN_VIDEO_LONG=1): the default keeps one per kind and phase

    @property
    def resumable(self) -> bool:
        """The task is fine and the error says how to pick it up (not a terminal task outcome)."""
        return self.phase in ("poll", "download") and self.code not in ("TaskUnknown",)


def f(op: str, kind: str, count: int = 1, **extra: Any) -> dict[str, Any]:
    return {"op": op, "kind": kind, "count": count, **extra}


FOREVER = -1
CASES = [
    # ---------------------------------------------------------------- submit
    Case("submit-429-burst", "submit", (f("submit", "status", 2, status=429, retry_after=0.2),)),
    Case("submit-429-forever", "submit", (f("submit", "status", FOREVER, status=429),), 4,
         "Throttling.RateQuota", r"Requests rate limit exceeded, please try again later\.", 0, timeout=1,
         recover=False),
    Case("submit-500-once", "submit", (f("submit", "status", 1, status=500),)),
    Case("submit-500-forever", "submit", (f("submit", "status", FOREVER, status=500),), 6,
         "SubmitOutcomeUnknown", LOST.format(r"HTTP 500 after the submit was sent"), 0, timeout=1),
    Case("submit-503-once", "submit", (f("submit", "status", 1, status=503, code="ModelUnavailable"),),
         subprocess=True, long=True),
    Case("submit-reset-once", "submit", (f("submit", "reset"),), long=True),
    Case("submit-reset-forever", "submit", (f("submit", "reset", FOREVER),), 6, "SubmitOutcomeUnknown",
         LOST.format(r"connection lost after sending: connection error: " + RESET), 0,
         timeout=1, recover=False),
    Case("submit-slow", "submit", (f("submit", "slow", delay=1.0),)),
    Case("submit-html-once", "submit", (f("submit", "html"),), long=True),
    Case("submit-html-forever", "submit", (f("submit", "html", FOREVER),), 6, "SubmitOutcomeUnknown",
         LOST.format(r"HTTP 502 after the submit was sent"), 0, timeout=1, recover=False),
    Case("submit-malformed-once", "submit", (f("submit", "malformed"),), long=True),
    Case("submit-malformed-forever", "submit", (f("submit", "malformed", FOREVER),), 6,
         "SubmitOutcomeUnknown", LOST.format(r"unreadable submit answer: JSONDecodeError"),
         0, timeout=1, recover=False),
    Case("submit-missing-fields-once", "submit", (f("submit", "missing_fields"),)),
    Case("submit-missing-fields-forever", "submit", (f("submit", "missing_fields", FOREVER),), 6,
         "SubmitOutcomeUnknown", LOST.format(r"the submit answer carried no task_status"), 0, timeout=1,
         recover=False, long=True),
    Case("submit-huge-once", "submit", (f("submit", "huge"),), long=True),
    Case("submit-huge-forever", "submit", (f("submit", "huge", FOREVER),), 6, "SubmitOutcomeUnknown",
         LOST.format(r"connection lost after sending: connection error: the answer is 52428800 bytes "
                     r"\(over 4194304\); refused"), 0, timeout=1, recover=False),
    Case("submit-ambiguous-once", "submit", (f("submit", "ambiguous"),), subprocess=True),
    Case("submit-ambiguous-forever", "submit", (f("submit", "ambiguous", FOREVER),), long=True),
    Case("submit-401", "submit", (f("submit", "status", status=401),), 3, "InvalidApiKey",
         r"Invalid API-key provided\.", 0, recover=False),
    Case("submit-403", "submit", (f("submit", "status", status=403),), 3, "AccessDenied", r"Access denied\.", 0,
         recover=False, long=True),
    Case("submit-arrearage", "submit", (f("submit", "status", status=400, code="Arrearage",
                                          message="Access denied, please make sure your account is in good standing."),),
         4, "Arrearage", r"Access denied, please make sure your account is in good standing\.", 0, recover=False),
    Case("submit-moderation", "submit", (f("submit", "status", status=400, code="DataInspectionFailed",
                                           message="Input data may contain inappropriate content."),),
         10, "DataInspectionFailed", r"Input data may contain inappropriate content\.", 0, recover=False),
    Case("submit-model-not-exist", "submit", (f("submit", "status", status=400, code="InvalidParameter",
                                                message="Model not exist."),),
         3, "InvalidParameter", r"Model not exist\.", 0, recover=False, long=True),
    # ---------------------------------------------------------------- poll
    Case("poll-429-burst", "poll", (f("poll", "status", 3, status=429),), long=True),
    Case("poll-429-forever", "poll", (f("poll", "status", FOREVER, status=429),), 4, "Throttling.RateQuota",
         r"Requests rate limit exceeded, please try again later\.", timeout=1),
    Case("poll-500-once", "poll", (f("poll", "status", 2, status=500),)),
    Case("poll-500-forever", "poll", (f("poll", "status", FOREVER, status=500),), 6, "InternalError",
         r"An internal error has occured, please try again later or contact service support\.", timeout=1,
         subprocess=True, long=True),
    Case("poll-reset-once", "poll", (f("poll", "reset", 2),)),
    Case("poll-reset-forever", "poll", (f("poll", "reset", FOREVER),), 6, "NetworkError",
         r"GET /tasks/[0-9a-f-]{36}: connection error: " + RESET, timeout=1, long=True),
    Case("poll-slow", "poll", (f("poll", "slow", 2, delay=1.0),)),
    Case("poll-html-once", "poll", (f("poll", "html"),), long=True),
    Case("poll-html-forever", "poll", (f("poll", "html", FOREVER),), 6, "HTTP502", r"HTTP 502 with an HTML page",
         timeout=1, long=True),
    Case("poll-malformed-once", "poll", (f("poll", "malformed"),)),
    Case("poll-malformed-forever", "poll", (f("poll", "malformed", FOREVER),), 6, "BadServiceResponse",
         r"GET /tasks/[0-9a-f-]{36} answered HTTP 200 with \d+ bytes starting '.*' instead of JSON", timeout=1, long=True),
    Case("poll-missing-fields-once", "poll", (f("poll", "missing_fields"),)),
    Case("poll-missing-fields-forever", "poll", (f("poll", "missing_fields", FOREVER),), 6, "BadServiceResponse",
         r'the task query answered without a task_status: \{"request_id": .*\}', timeout=1, long=True),
    Case("poll-huge-once", "poll", (f("poll", "huge"),), long=True),
    Case("poll-huge-forever", "poll", (f("poll", "huge", FOREVER),), 6, "NetworkError",
         r"GET /tasks/[0-9a-f-]{36}: connection error: the answer is 52428800 bytes \(over 4194304\); refused",
         timeout=1, long=True),
    Case("poll-unknown-once", "poll", (f("poll", "unknown"),)),
    Case("poll-unknown-forever", "poll", (f("poll", "unknown", FOREVER),), 1, "TaskUnknown",
         r"task [0-9a-f-]{36} is UNKNOWN to the service: it never existed for this key and region "
         r"\(wrong --region or another account's id\?\)", timeout=10, recover=False),
    Case("poll-401", "poll", (f("poll", "status", status=401),), 3, "InvalidApiKey", r"Invalid API-key provided\."),
    # ---------------------------------------------------------------- download
    Case("download-500-once", "download", (f("download", "status", 2, status=500),), long=True),
    Case("download-500-forever", "download", (f("download", "status", FOREVER, status=500),), 6, "DownloadFailed",
         rf"GET {URL} kept answering HTTP 500\."),
    Case("download-429-forever", "download", (f("download", "status", FOREVER, status=429),), 4, "DownloadFailed",
         rf"GET {URL} kept answering HTTP 429\."),
    Case("download-403-forever", "download", (f("download", "status", FOREVER, status=403),), 1, "DownloadFailed",
         rf"GET {URL} answered HTTP 403 \(AccessDenied: .*\)\."),
    Case("download-reset-once", "download", (f("download", "reset", 2),)),
    Case("download-reset-forever", "download", (f("download", "reset", FOREVER),), 6, "DownloadIncomplete",
         rf"Downloading {URL} stopped after 0 bytes: .*\.", long=True),
    Case("download-slow", "download", (f("download", "slow", delay=1.0),)),
    Case("download-html-once", "download", (f("download", "html"),)),
    Case("download-html-forever", "download", (f("download", "html", FOREVER),), 6, "DownloadFailed",
         rf"GET {URL} kept answering HTTP 502\.", long=True),
    Case("download-truncate-once", "download", (f("download", "truncate"),)),
    Case("download-truncate-forever", "download", (f("download", "truncate", FOREVER),), 6, "DownloadIncomplete",
         rf"Downloading {URL} stopped after (\d+) of (\d+) bytes: RemoteProtocolError: peer closed connection "
         r"without sending complete message body \(received \1 bytes, expected \2\)\."),
    Case("download-trickle", "download", (f("download", "trickle", bytes_per_second=1_000_000),)),
    Case("download-not-video", "download", (f("download", "not_video"),), 1, "NotAVideo",
         rf"GET {URL} returned an HTML page, not a video \(Content-Type: text/html; charset=utf-8, starts with .*\)\.", subprocess=True),
    Case("download-expired", "download", (f("download", "expire", FOREVER),), 1, "URLExpired",
         rf"The download URL has expired at \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(HTTP 403\): {URL}"),
    # ---------------------------------------------------------------- the task itself
    Case("task-failed-moderation", "task", exit=10, code="DataInspectionFailed",
         message=r"Output data may contain inappropriate content\.", recover=False,
         fail_next=({"code": "DataInspectionFailed", "message": "Output data may contain inappropriate content."},)),
    Case("task-failed-algo", "task", exit=1, code="InternalError.Algo",
         message=r"An internal error occurred during execution\.", recover=False,
         fail_next=({"code": "InternalError.Algo", "message": "An internal error occurred during execution."},)),
    Case("task-failed-parameter", "task", exit=1, code="InvalidParameter",
         message=r"The size is not match xxxxxx", recover=False, subprocess=True,
         fail_next=({"code": "InvalidParameter", "message": "The size is not match xxxxxx"},)),
    Case("task-failed-arrearage", "task", exit=4, code="Arrearage",
         message=r"Access denied, please make sure your account is in good standing\.", recover=False,
         fail_next=({"code": "Arrearage",
                     "message": "Access denied, please make sure your account is in good standing."},), long=True),
    Case("task-failed-ip", "task", exit=10, code="IPInfringementSuspect",
         message=r"Input data is suspected of being involved in IP infringement\.", recover=False,
         fail_next=({"code": "IPInfringementSuspect",
                     "message": "Input data is suspected of being involved in IP infringement."},), long=True),
]


def _step(case: Case, argv: list[str], env: dict[str, str]) -> tuple[int, Any, str]:
    return run_script(argv, env) if case.subprocess else run(argv)


def _delivered(env: dict[str, str], res: dict[str, Any]) -> None:
    """The video is at the path the JSON names, and both JSON and state carry its checksum."""
    path = Path(res["local_path"])
    assert path.parent == skill_out(env) / "videos"
    assert sha256_file(path) == res["sha256"]
    state = state_of(env, res["task_id"])
    assert state is not None and state["task_id"] == res["task_id"] and state["result"]["sha256"] == res["sha256"]


SELECTED = [c for c in CASES if LONG or not c.long]


@pytest.mark.parametrize("case", SELECTED, ids=[c.id for c in SELECTED])
def test_fault(case: Case, emulator: Any, user_env: dict[str, str]) -> None:  # noqa: F811
    req = request(seed=7)
    if case.fail_next:
        emulator.scenario(fail_next=list(case.fail_next))
    submitted: str | None = None
    if case.phase != "submit":
        code, res, err = run(["submit", "--request", req])
        assert code == 0 and res["status"] == "SUBMITTED", (res, err)
        submitted = res["task_id"]
        if case.phase in ("download", "task"):
            wait_tasks_terminal(emulator)
    emulator.scenario(faults=list(case.faults))
    command = "submit" if case.phase == "submit" else "generate"
    code, res, err = _step(case, [command, "--request", req, "--timeout", str(case.timeout)], user_env)
    assert isinstance(res, dict), (res, err)
    assert "Traceback" not in err, err
    assert code == case.exit, (case.id, res, err[-3000:])
    fired = emulator.stats()["faults_fired"]
    for fault in case.faults:  # the fault really met this phase
        assert fired.get(f"{fault['op']}:{fault['kind']}", 0) >= 1, fired

    if case.code is None:
        task_id = res["task_id"]
        if case.phase == "submit":
            assert res["status"] == "SUBMITTED"
        else:
            assert res["status"] == "SUCCEEDED" and task_id == submitted
            _delivered(user_env, res)
        assert state_of(user_env, task_id)["task_id"] == task_id
    else:
        error = res["error"]
        assert error["code"] == case.code, error
        assert re.fullmatch(case.message or "", error["message"]), error["message"]
        assert error["hint"] and error["exit_code"] == case.exit
        if case.created:  # a task exists: the error names it, and the state holds it
            task_id = error["task_id"]
            assert task_id == (submitted or emulator.stats()["tasks"][0]["task_id"])
            assert state_of(user_env, task_id)["task_id"] == task_id
            if case.resumable:
                assert re.fullmatch(RESUME, error["resume"]), error
            if case.phase == "download":  # nothing half-written where the video goes
                assert not (skill_out(user_env) / "videos" / f"{task_id}.mp4").exists()
        else:
            assert "task_id" not in error, error
    assert emulator.stats()["created_tasks"] == case.created, emulator.stats()["tasks"]

    if case.recover and (case.code is not None or case.phase == "submit"):
        emulator.scenario(faults=[])
        # `submit` resumes a recorded task or reconciles or submits; once the task has finished,
        # the same generate command delivers it (polling at once instead of two seconds in).
        code, sub, err = run(["submit", "--request", req, "--timeout", "20"])
        assert code == 0 and sub["status"] == "SUBMITTED", (sub, err)
        wait_tasks_terminal(emulator)
        code, again, err = run(["generate", "--request", req, "--timeout", "20"])
        assert code == 0, (again, err[-3000:])
        _delivered(user_env, again)
        assert emulator.stats()["created_tasks"] == 1
        if case.created:
            assert again["task_id"] == (submitted or res.get("task_id") or res["error"]["task_id"])
    elif case.phase == "task":  # a recorded failure is reported again, never paid again
        code, again, _ = run(["generate", "--request", req, "--timeout", "20"])
        assert code == case.exit and again["error"]["code"] == case.code
        assert again["error"]["task_id"] == submitted and "--force" in again["error"]["hint"]
        assert state_of(user_env, submitted)["status"] == "FAILED"
        assert emulator.stats()["created_tasks"] == 1
