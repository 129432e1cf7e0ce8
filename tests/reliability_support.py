"""Shared by the reliability tests: an isolated user, the CLI in and out of process, a child's
peak memory, tree snapshots, the secrets a run may see, and a hostile DashScope look-alike."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from conftest_helpers import SCRIPT, cli

# Not shaped like sk-...: only knowing the key (not a pattern) can keep it out of the files.
KEY = "emuKEY-7f3a9c1d2e4b5a6f90c8"
LONG = os.environ.get("WAN_VIDEO_LONG") == "1"
# The cheapest render the catalog has: 480P, 5 s, silent.
FAST = {"prompt": "a red kite over a beach", "model": "wanx2.1-t2v-turbo", "size": "832*480", "duration": 5}
SKILL_DIR = "alicloud-ai-video-wan-video"
DOCUMENTED_EXITS = {0, 1, 2, 3, 4, 5, 6, 7, 10}


def request(**changes: Any) -> str:
    return json.dumps({**FAST, **changes})


@pytest.fixture
def user_env(emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A user's environment (emulator endpoint, key, private HOME and OUTPUT_DIR), also applied here."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DASHSCOPE_", "WAN_VIDEO_", "ALIBABA_"))}
    env.update(DASHSCOPE_BASE_URL=emulator.api_url, DASHSCOPE_API_KEY=KEY,
               OUTPUT_DIR=str(tmp_path / "out"), HOME=str(tmp_path / "home"))
    for name in list(os.environ):
        if name.startswith(("DASHSCOPE_", "WAN_VIDEO_", "ALIBABA_")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "home").mkdir(exist_ok=True)
    emulator.scenario(keys=[KEY], run_seconds=0.3, pending_seconds=0.05)
    return env


def skill_out(env: dict[str, str]) -> Path:
    return Path(env["OUTPUT_DIR"]) / SKILL_DIR


def api_requests(emulator: Any) -> list[dict[str, Any]]:
    """Every request the emulator served (the control plane is not logged)."""
    return list(emulator.stats()["requests"])


def wait_tasks_terminal(emulator: Any, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        tasks = emulator.stats()["tasks"]
        if tasks and all(t["status"] in ("SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN") for t in tasks):
            return
        time.sleep(0.05)
    raise AssertionError(f"tasks not terminal: {emulator.stats()['tasks']}")


def state_of(env: dict[str, str], task_id: str) -> dict[str, Any] | None:
    """The request state recorded under OUTPUT_DIR for a task id (through its task link)."""
    from wan_video.store import Store

    found = Store(skill_out(env) / "state").by_task(task_id)
    return found[1] if found else None


def all_states(env: dict[str, str]) -> list[dict[str, Any]]:
    folder = skill_out(env) / "state"
    out = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        out.append(json.loads(path.read_text(encoding="utf-8")))  # must parse: writes are atomic
    return out


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def snapshot(root: Path, skip: Path | None = None) -> dict[str, tuple[int, int]]:
    """Every file and folder under root (but not under skip): path -> (size, mtime_ns)."""
    out: dict[str, tuple[int, int]] = {}
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        if skip is not None and (here == skip or skip in here.parents):
            dirs[:] = []
            continue
        for name in dirs + files:
            path = here / name
            if path == skip:
                continue
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue
            out[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


def run_script(argv: list[str], env: dict[str, str], timeout: float = 90) -> tuple[int, Any, str]:
    """generate_video.py in a subprocess: (exit code, parsed stdout, stderr)."""
    proc = subprocess.run([sys.executable, str(SCRIPT), *argv], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=env.get("HOME"))
    return proc.returncode, _parse(proc.stdout), proc.stderr


# The launcher's only child is the script, so its RUSAGE_CHILDREN peak is the script's own.
_LAUNCHER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.call(sys.argv[2:])\n"
    "peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "open(sys.argv[1], 'w').write(str(peak_kib))\n"
    "sys.exit(rc)\n"
)


def run_measured(argv: list[str], env: dict[str, str], timeout: float = 120
                 ) -> tuple[int, Any, str, float, float]:
    """Like run_script, plus the script's peak RSS in MiB and its wall-clock seconds."""
    peak_file = Path(env["HOME"]) / f".peak-{time.monotonic_ns()}"
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", _LAUNCHER, str(peak_file), sys.executable, str(SCRIPT), *argv],
                          env=env, capture_output=True, text=True, timeout=timeout, cwd=env.get("HOME"))
    seconds = time.monotonic() - started
    peak_mib = int(peak_file.read_text()) / 1024.0
    peak_file.unlink()
    return proc.returncode, _parse(proc.stdout), proc.stderr, peak_mib, seconds


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def run(argv: list[str]) -> tuple[int, Any, str]:
    """The CLI in this process (env already patched by user_env)."""
    return cli(argv)


def deliver(emulator: Any, argv: list[str], *, expect: int = 0) -> tuple[int, Any, str]:
    """`submit`, let the task finish, then `generate` (which polls at once): a run without the wait."""
    code, res, err = run(["submit", *argv])
    assert code == 0, (res, err)
    wait_tasks_terminal(emulator)
    code, res, err = run(argv)
    assert code == expect, (res, err[-2000:])
    return code, res, err


def signed_url_secrets(emulator: Any) -> set[str]:
    """Signature and OSSAccessKeyId values of every video URL the emulator handed out."""
    values: set[str] = set()
    with httpx.Client(base_url=emulator.api_url, headers={"Authorization": f"Bearer {KEY}"}) as http:
        for task in emulator.stats()["tasks"]:
            body = http.get(f"/tasks/{task['task_id']}").json()
            url = (body.get("output") or {}).get("video_url")
            if url:
                for name, value in parse_qsl(urlsplit(url).query):
                    if name in ("Signature", "OSSAccessKeyId"):
                        values.add(value)
    return values


def text_of_tree(root: Path) -> str:
    """Every byte under root decoded loosely (media included: a secret must not hide in a box)."""
    chunks = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            chunks.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(chunks)


# ------------------------------------------------------------------ a hostile DashScope


class Hostile:
    """A tiny DashScope look-alike on loopback whose answers a test scripts.

    `task_id` is what the submit answers; GET /tasks/* answers SUCCEEDED with a video URL on
    this server (`video` bytes), unless `trickle` is set: then every task answer sends its
    headers and drips its body one byte per `trickle` seconds.
    """

    def __init__(self, video: bytes, task_id: str = "0b7c6a35-hostile") -> None:
        self.video = video
        self.task_id = task_id
        self.trickle: float | None = None
        self.hits: list[str] = []
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, ctype: str = "application/json",
                      drip: float | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", '"hostile"')
                self.end_headers()
                try:
                    if drip is None:
                        self.wfile.write(body)
                        return
                    for i in range(len(body)):
                        self.wfile.write(body[i:i + 1])
                        self.wfile.flush()
                        time.sleep(drip)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                hostile.hits.append(f"POST {self.path}")
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._send(200, json.dumps({"request_id": "r-submit", "output": {
                    "task_id": hostile.task_id, "task_status": "PENDING"}}).encode())

            def do_GET(self) -> None:  # noqa: N802
                hostile.hits.append(f"GET {self.path}")
                if self.path.startswith("/video.mp4"):
                    self._send(200, hostile.video, "video/mp4")
                    return
                port = self.server.server_address[1]
                body = {"request_id": "r-task", "usage": {"video_duration": 5, "video_ratio": "832*480",
                                                          "video_count": 1},
                        "output": {"task_id": hostile.task_id, "task_status": "SUCCEEDED",
                                   "submit_time": "2026-01-01 00:00:00.000",
                                   "scheduled_time": "2026-01-01 00:00:00.100",
                                   "end_time": "2026-01-01 00:00:01.000",
                                   "video_url": f"http://127.0.0.1:{port}/video.mp4?Expires=4102444800"
                                                "&OSSAccessKeyId=HOSTILEAK&Signature=HOSTILESIG"}}
                self._send(200, json.dumps(body).encode(), drip=hostile.trickle)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/v1"

    def __enter__(self) -> Hostile:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def render_video(path: Path) -> bytes:
    """A real 5 s 480P MP4 (the emulator's renderer), for the hostile server to serve."""
    from wan_video.emulator.render import RenderSpec, render

    render(RenderSpec(model="hostile", width=832, height=480, fps=30, seconds=5, prompt="hostile",
                      audio=False), path)
    return path.read_bytes()


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.02) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return False


def iter_files(root: Path) -> Iterator[Path]:
    for path in root.rglob("*"):
        if path.is_file():
            yield path
