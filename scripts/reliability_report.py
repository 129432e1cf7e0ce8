#!/usr/bin/env python3
"""Run the reliability tests and write RELIABILITY.md: per fault or input class, what held.

    python scripts/reliability_report.py [--long] [--workers N] [--output RELIABILITY.md]

The tests are tests/test_reliability_*.py; pytest writes a JUnit XML file (with the peak memory
and wall time the hostile tests record as properties), and each test case is put in one class
of the table below by its id. `--long` runs the long profile (WAN_VIDEO_LONG=1: every fault
variant, 32 kills, 10,200 fuzz examples). The exit status is pytest's.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_reliability_*.py"))

# (area, class, test id pattern, what held). A case belongs to the first class that matches.
CLASSES: list[tuple[str, str, str, str]] = [
    ("faults", "429 bursts (submit, poll, download)", r"test_fault\[\w+-429",
     "a burst passes (Retry-After honoured); to the end: exit 4 Throttling, the task id in error and state"),
    ("faults", "5xx answers (submit, poll, download)", r"test_fault\[\w+-50[03]",
     "a submit's 5xx is reconciled, never re-sent blind; to the end: exit 6; at most one task"),
    ("faults", "4xx refusals at submit and poll (401, 403, Arrearage, moderation, model)",
     r"test_fault\[\w+-(401|403|arrearage|moderation|model-not-exist)",
     "exit 3, 4 or 10 with the service's words; nothing created; the same command then delivers"),
    ("faults", "connection resets (submit, poll, download)", r"test_fault\[\w+-reset",
     "reads and downloads resume; a reset submit is reconciled; to the end: exit 6; at most one task"),
    ("faults", "slow answers (submit, poll, download)", r"test_fault\[\w+-slow", "exit 0, one task"),
    ("faults", "HTML error pages (submit, poll, download)", r"test_fault\[\w+-html",
     "retried; to the end: exit 6 naming the HTML page; a submit's page is reconciled"),
    ("faults", "malformed JSON (submit, poll)", r"test_fault\[\w+-malformed",
     "retried; to the end: exit 6 BadServiceResponse / SubmitOutcomeUnknown; at most one task"),
    ("faults", "200 bodies missing fields (submit, poll)", r"test_fault\[\w+-missing-fields",
     "never trusted: reconciled (submit) or polled again; to the end: exit 6"),
    ("faults", "50 MB bodies (submit, poll)", r"test_fault\[\w+-huge",
     "refused unread (4 MiB cap) and retried; to the end: exit 6"),
    ("faults", "ambiguous submit (task created, answer lost)", r"test_fault\[submit-ambiguous",
     "the task is found through GET /tasks and adopted: exactly one task, exit 0"),
    ("faults", "UNKNOWN task (poll)", r"test_fault\[poll-unknown",
     "a passing UNKNOWN is asked again; a lasting one: exit 1 TaskUnknown, recorded, never re-paid"),
    ("faults", "truncated downloads", r"test_fault\[download-truncate",
     "resumed with Range to the same sha256; to the end: exit 6, no file at the final path"),
    ("faults", "trickled download", r"test_fault\[download-trickle", "delivered and verified"),
    ("faults", "video URL serving HTML", r"test_fault\[download-not-video",
     "exit 1 NotAVideo, nothing at the final path, task id and resume in the error"),
    ("faults", "expired URL", r"test_fault\[download-expired",
     "exit 1 URLExpired; the same command then re-queries and delivers"),
    ("faults", "FAILED task codes", r"test_fault\[task-failed",
     "exit 1, 4 or 10 with the service's code and message; recorded; the same command is not re-paid"),
    ("crash", "SIGKILL before the submit", r"test_sigkill.*before-submit",
     "the same command: one task, video delivered, sha256 verified, state parses"),
    ("crash", "SIGKILL during the submit", r"test_sigkill.*during-submit",
     "reconciled: one task in total, video delivered and verified"),
    ("crash", "SIGKILL during the wait", r"test_sigkill.*during-wait", "resumed: one task, video verified"),
    ("crash", "SIGKILL during the download", r"test_sigkill.*during-download",
     "the .part resumes; no partial file at the final path; sha256 verified"),
    ("crash", "four processes, one request, at once", r"test_four_processes",
     "one task; one downloads, three get the cached result"),
    ("hostile", "malformed JSON, HTML pages, 200 without fields (to the end)",
     r"test_hostile_answer\[poll-(malformed|html|200)", "exit 6 with a clear code"),
    ("hostile", "50 MB bodies", r"test_hostile_answer\[(poll|submit)-50MB",
     "refused unread (a passing one survived); no 50 MB in the evidence"),
    ("hostile", "video URL serving HTML", r"test_hostile_answer\[video-url-serves-html",
     "exit 1 NotAVideo; no .part, nothing at the final path"),
    ("hostile", "endless video stream", r"test_hostile_answer\[video-url-endless",
     "exit 1 DownloadTooLarge at 256 MiB; no .part, nothing at the final path"),
    ("hostile", "trickling servers (video, task API)", r"test_hostile_answer\[video-trickled|test_a_trickled|test_an_api",
     "delivered when it ends in time; else cut at the deadline (exit 6), a resumable .part kept"),
    ("fuzz", "request JSON, dry run", r"test_fuzzed_requests_in_a_dry_run",
     "one JSON object, exit in {0,2,3,7}, no traceback, no request, no file written"),
    ("fuzz", "refused requests, run for real", r"test_a_refused_request_is_refused",
     "refused the same way, no request reached the endpoint, no file written"),
    ("fuzz", "reference images of every form", r"test_fuzzed_reference_images",
     "accepted (exit 0) or refused (exit 2) before any network call; nothing written"),
    ("fuzz", "command lines", r"test_fuzzed_command_lines",
     "one JSON object, exit in {0,2,3,7}, no traceback, no request, no file written"),
    ("fuzz", "the profiles' sizes", r"test_the_profiles_add_up", "300 examples quick, 10,200 long"),
    ("secrets", "key, bearer header, URL signatures", r"test_no_secret_leaks",
     "in no file under OUTPUT_DIR or HOME, nor stdout/stderr, after failures, faults and retries"),
    ("secrets", "hostile local reference_image", r"test_a_(local_reference_image|refused_local_file)",
     "exit 2 InvalidImage, no network, nothing written, content never echoed"),
    ("secrets", "paths a request or service could steer", r"test_a_(hostile_task_id|request_id)|test_output_is",
     "everything stays under OUTPUT_DIR; only --output chooses a path; no overwrite"),
    ("secrets", "owner-only evidence and state", r"test_evidence_and_state_are_owner_only",
     "every file and folder under state/, tasks/, attempts/, ledger, index: mode & 0o077 == 0"),
    ("found and fixed", "defects these tests found in cli.py and request.py", r"test_known_defect",
     "--file /dev/zero or a FIFO: exit 2 at once; an over-long reference_urls path: exit 2, no traceback"),
]


@dataclass
class Row:
    area: str
    name: str
    held_text: str
    cases: int = 0
    held: int = 0
    skipped: int = 0
    expected_failures: int = 0
    failed: list[str] = field(default_factory=list)
    peak_mib: float = 0.0
    seconds: float = 0.0


def run_pytest(workers: int, junit: Path, long: bool) -> tuple[int, float]:
    env = dict(os.environ)
    if long:
        env["WAN_VIDEO_LONG"] = "1"
    else:
        env.pop("WAN_VIDEO_LONG", None)
    cmd = [sys.executable, "-m", "pytest", "-q", "-n", str(workers), f"--junitxml={junit}", *TESTS]
    started = time.monotonic()
    code = subprocess.call(cmd, cwd=ROOT, env=env)
    return code, time.monotonic() - started


def examples(long: bool) -> dict[str, int]:
    """Hypothesis examples per fuzz property, from the test module's own profile table."""
    sys.path.insert(0, str(ROOT / "tests"))
    saved = os.environ.get("WAN_VIDEO_LONG")
    os.environ["WAN_VIDEO_LONG"] = "1" if long else ""
    try:
        import test_reliability_fuzz as fuzz

        unit = fuzz.settings.get_profile(fuzz.LONG_PROFILE if long else fuzz.QUICK).max_examples
        return {"requests_in_a_dry_run": unit * fuzz.SHARE["requests"],
                "refused_request": unit * fuzz.SHARE["refused"],
                "reference_images": unit * fuzz.SHARE["images"], "command_lines": unit * fuzz.SHARE["argv"]}
    finally:
        if saved is None:
            os.environ.pop("WAN_VIDEO_LONG", None)
        else:
            os.environ["WAN_VIDEO_LONG"] = saved


def classify(junit: Path, long: bool) -> tuple[list[Row], list[str]]:
    rows = [Row(area, name, held) for area, name, _, held in CLASSES]
    patterns = [re.compile(pattern) for _, _, pattern, _ in CLASSES]
    counts = examples(long)
    unclassified = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name", "")
        index = next((i for i, p in enumerate(patterns) if p.search(name)), None)
        if index is None:
            unclassified.append(name)
            continue
        row = rows[index]
        weight = next((n for key, n in counts.items() if key in name), 1)
        outcome = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        skipped = case.find("skipped")
        if skipped is not None and "xfail" in (skipped.get("type", "") + skipped.get("message", "")):
            row.cases += 1
            row.expected_failures += 1
            continue
        if "skipped" in outcome:
            row.skipped += 1
            continue
        row.cases += weight
        if outcome:
            row.failed.append(name)
        else:
            row.held += weight
        for prop in case.iter("property"):
            value = float(prop.get("value", "0"))
            if prop.get("name") == "peak_mib":
                row.peak_mib = max(row.peak_mib, value)
            elif prop.get("name") == "seconds":
                row.seconds = max(row.seconds, value)
    return rows, unclassified


def render(rows: list[Row], unclassified: list[str], code: int, wall: float, long: bool, workers: int) -> str:
    profile = "long (WAN_VIDEO_LONG=1)" if long else "default"
    total = sum(r.cases for r in rows)
    held = sum(r.held for r in rows)
    pinned = sum(r.expected_failures for r in rows)
    lines = [
        "# Reliability",
        "",
        "<!-- Generated by scripts/reliability_report.py (`make reliability`); do not edit by hand. -->",
        "",
        f"Faults survived, bad input refused, nothing lost or leaked: the reliability tests "
        f"(`tests/test_reliability_*.py`) by fault or input class. Profile: {profile}; "
        f"{total} cases (fuzz examples counted one by one), {held} held"
        + (f", {pinned} known defects pinned as strict xfail" if pinned else "") + f"; pytest exit {code}; "
        f"{wall:.0f} s wall time on {workers} workers.",
        "",
        "Every fault is an emulator setting (a real server on loopback); every run is the real CLI, "
        "in process or as a subprocess. Memory is the peak RSS of the script's process "
        "(RUSAGE_CHILDREN); time is its wall clock, start-up included.",
        "",
        "| area | fault or input class | cases | held | what held |",
        "|---|---|---:|---:|---|",
    ]
    for row in rows:
        if not (row.cases or row.skipped):
            continue
        what = row.held_text
        if row.peak_mib:
            what += f"; ≤ {row.seconds:.1f} s, peak RSS ≤ {row.peak_mib:.0f} MiB"
        if row.skipped:
            what += f" ({row.skipped} long-profile case{'s' if row.skipped > 1 else ''} not run)"
        if row.failed:
            what = "**FAILED: " + ", ".join(row.failed) + "**"
        held_cell = f"{row.held}" if not row.expected_failures else f"{row.held} ({row.expected_failures} xfail)"
        lines.append(f"| {row.area} | {row.name} | {row.cases} | {held_cell} | {what} |")
    if unclassified:
        lines += ["", "Unclassified test cases: " + ", ".join(sorted(unclassified))]
    lines += ["", "Regenerate with `make reliability` (add `LONG=1` for the long profile).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", action="store_true", help="the long profile (WAN_VIDEO_LONG=1)")
    parser.add_argument("--workers", type=int, default=2, help="pytest-xdist workers (default 2)")
    parser.add_argument("--output", default=str(ROOT / "RELIABILITY.md"))
    args = parser.parse_args(argv)
    long = args.long or os.environ.get("WAN_VIDEO_LONG") == "1"
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "reliability.xml"
        code, wall = run_pytest(args.workers, junit, long)
        if not junit.exists():
            print("pytest wrote no report", file=sys.stderr)
            return code or 1
        rows, unclassified = classify(junit, long)
    Path(args.output).write_text(render(rows, unclassified, code, wall, long, args.workers), encoding="utf-8")
    print(f"wrote {args.output}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
