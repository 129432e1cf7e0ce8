"""Secrets and local files: nothing leaks, a local file must be a real image, paths stay put.

* The key, its Authorization header and the signed URL parameters the emulator issues
  (Signature, OSSAccessKeyId) are in no file under OUTPUT_DIR (state, evidence, ledger, run
  logs, videos), nor in stdout or stderr, after runs with failures, faults and retries.
* A local reference_image must be an image by its content and within the model's limits:
  keys, .env files, JSON, symlinks to them, empty, huge and special files are refused with
  exit 2, without a network call, and without echoing their content.
* Only --output chooses where a file goes: a hostile service's task id and a request's `id`
  cannot steer a path out of OUTPUT_DIR.
* Evidence and state are readable by their owner only.
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest
from reliability_support import (  # noqa: F401 - user_env is a fixture
    KEY,
    Hostile,
    deliver,
    render_video,
    request,
    run,
    run_script,
    signed_url_secrets,
    skill_out,
    snapshot,
    text_of_tree,
    user_env,
    wait_tasks_terminal,
)

pytestmark = pytest.mark.usefixtures("user_env")

I2V = {"prompt": "the kite turns", "model": "wan2.2-i2v-flash", "resolution": "480P"}
MARKER = "SECRETMARKER5d1f"  # planted in every hostile file: must never come back out


def _i2v(image: str, **more: Any) -> str:
    return json.dumps({**I2V, "reference_image": image, **more})


class Sweep:
    """Runs commands (in process or as a script), keeping every stdout and stderr they wrote."""

    def __init__(self, emulator: Any, env: dict[str, str]) -> None:
        self.emulator, self.env, self.outputs = emulator, env, []

    def __call__(self, argv: list[str], expect: int, *, faults: list[dict[str, Any]] | None = None,
                 fail_next: list[dict[str, str]] | None = None, proc: bool = False) -> dict[str, Any]:
        self.emulator.scenario(faults=faults or [], **({"fail_next": fail_next} if fail_next else {}))
        code, res, err = run_script(argv, self.env) if proc else run(argv)
        self.outputs.extend([json.dumps(res), err])
        assert code == expect, (argv, res, err[-2000:])
        return res

    def assert_nothing_leaked(self) -> None:
        secrets = signed_url_secrets(self.emulator)
        assert any(s.startswith("LTAI") for s in secrets) and len(secrets) >= 2  # it really saw signed URLs
        secrets |= {KEY, f"Bearer {KEY}"}
        where = {"stdout/stderr": "\n".join(self.outputs), "OUTPUT_DIR": text_of_tree(Path(self.env["OUTPUT_DIR"])),
                 "HOME": text_of_tree(Path(self.env["HOME"]))}
        assert len(where["OUTPUT_DIR"]) > 5_000  # evidence, state, ledger, logs and videos were written
        for place, text in where.items():
            for secret in secrets:
                assert secret not in text, (secret, place)
            # nothing shaped like a credential slipped past the known values either
            assert not re.search(r"(Signature|OSSAccessKeyId|security-token)=(?!REDACTED)[^&\s\"']+", text), place
            assert not re.search(r"Bearer (?!\*\*\*|<DASHSCOPE_API_KEY>)\S+", text), place


def test_no_secret_leaks_from_runs_with_retries_at_every_phase(emulator: Any, user_env: dict[str, str],  # noqa: F811
                                                               sample_png: Path) -> None:
    sweep = Sweep(emulator, user_env)
    sweep(["--request", request(seed=1), "--timeout", "30"], 0, faults=[
        {"op": "submit", "kind": "ambiguous"}, {"op": "poll", "kind": "status", "status": 500, "count": 2},
        {"op": "poll", "kind": "reset"}, {"op": "download", "kind": "truncate"}])
    # a local image through the upload flow (policy, signed form post)
    sweep(["submit", "--request", _i2v(str(sample_png))], 0)
    wait_tasks_terminal(emulator)
    sweep(["--request", _i2v(str(sample_png)), "--timeout", "30"], 0)
    sweep.assert_nothing_leaked()


def test_no_secret_leaks_from_failed_runs(emulator: Any, user_env: dict[str, str]) -> None:  # noqa: F811
    sweep = Sweep(emulator, user_env)
    sweep(["--request", request(seed=2), "--timeout", "30"], 10,
          fail_next=[{"code": "DataInspectionFailed", "message": "Output data may contain inappropriate content."}])
    sweep(["--request", request(seed=3)], 3, faults=[{"op": "submit", "kind": "status", "status": 401}])
    sweep(["--request", request(seed=4), "--timeout", "30"], 1, faults=[{"op": "download", "kind": "expire", "count": -1}])
    sweep.assert_nothing_leaked()


def test_no_secret_leaks_from_the_commands_that_print_answers(emulator: Any, user_env: dict[str, str]) -> None:  # noqa: F811
    sweep = Sweep(emulator, user_env)
    res = sweep(["--request", request(seed=5), "--timeout", "1"], 4,
                faults=[{"op": "poll", "kind": "status", "status": 429, "count": -1}], proc=True)
    wait_tasks_terminal(emulator)
    task_id = res["error"]["task_id"]
    status = sweep(["status", task_id], 0)
    assert status["status"] == "SUCCEEDED" and "Signature=REDACTED" in status["answer"]["output"]["video_url"]
    sweep(["wait", task_id, "--timeout", "30"], 0)
    sweep(["list"], 0)
    sweep(["doctor"], 0)
    sweep(["spend"], 0)
    sweep.assert_nothing_leaked()


# ------------------------------------------------------------------ local reference images


@pytest.fixture
def sample_png(tmp_path: Path) -> Path:
    from wan_video.media import make_sample_image

    path = tmp_path / "files" / "first.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    make_sample_image(str(path), 480, 360, "first frame")
    return path


def _hostile_files(home: Path, files: Path) -> dict[str, str]:
    """Name -> the reference_image value naming a hostile local file."""
    from PIL import Image

    (home / ".ssh").mkdir(parents=True, exist_ok=True)
    files.mkdir(parents=True, exist_ok=True)
    pem = f"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA{MARKER}\n-----END OPENSSH PRIVATE KEY-----\n"
    (home / ".ssh" / "id_rsa").write_text(pem)
    (files / ".env").write_text(f"DASHSCOPE_API_KEY=sk-{MARKER}0123456789\n")
    (files / "config.json").write_text(json.dumps({"dashscope_api_key": f"sk-{MARKER}0123456789"}))
    (files / "photo.png").symlink_to(home / ".ssh" / "id_rsa")
    (files / "key-named.png").write_text(pem)
    (files / "empty.png").write_bytes(b"")
    with open(files / "huge.png", "wb") as fh:  # sparse: 30 MB on paper, nothing on disk
        fh.write(b"\x89PNG\r\n\x1a\n")
        fh.truncate(30 * 1024 * 1024)
    (files / "folder.png").mkdir()
    os.mkfifo(files / "pipe.png")
    (files / "to-zero.png").symlink_to("/dev/zero")
    Image.new("RGB", (64, 64)).save(files / "tiny.png")  # a real image, below the 240-pixel minimum
    Image.new("RGB", (9000, 240)).save(files / "wide.png")  # a real image, over the 8000-pixel maximum
    good = files / "cut.png"
    Image.new("RGB", (480, 360), (10, 20, 30)).save(good)
    good.write_bytes(good.read_bytes()[:200])  # a truncated real PNG
    (files / "environ-like").write_bytes(f"SHELL=/bin/sh\0DASHSCOPE_API_KEY={MARKER}\0".encode())
    return {
        "ssh-private-key": "~/.ssh/id_rsa",
        "ssh-key-file-uri": f"file://{home}/.ssh/id_rsa",
        "dotenv": str(files / ".env"),
        "json-with-a-key": str(files / "config.json"),
        "symlink-to-key": str(files / "photo.png"),
        "key-named-png": str(files / "key-named.png"),
        "key-as-data-uri": "data:image/png;base64," + base64.b64encode(pem.encode()).decode(),
        "zero-bytes": str(files / "empty.png"),
        "huge-file": str(files / "huge.png"),
        "dev-zero": "/dev/zero",
        "symlink-to-dev-zero": str(files / "to-zero.png"),
        "directory": str(files / "folder.png"),
        "fifo": str(files / "pipe.png"),
        "too-small-image": str(files / "tiny.png"),
        "too-wide-image": str(files / "wide.png"),
        "truncated-png": str(files / "cut.png"),
        "binary-environment": str(files / "environ-like"),
        "proc-self-environ": "/proc/self/environ",
        "name-too-long": "x" * 300 + ".png",
    }


PROBLEMS = {
    "ssh-private-key": r"not an image by its content: it looks like a key or certificate \(text\) \(\d+ bytes\)",
    "ssh-key-file-uri": r"not an image by its content: it looks like a key or certificate \(text\) \(\d+ bytes\)",
    "dotenv": r"not an image by its content: it looks like text \(\d+ bytes\)",
    "json-with-a-key": r"not an image by its content: it looks like JSON \(\d+ bytes\)",
    "symlink-to-key": r"not an image by its content: it looks like a key or certificate \(text\) \(\d+ bytes\)",
    "key-named-png": r"not an image by its content: it looks like a key or certificate \(text\) \(\d+ bytes\)",
    "key-as-data-uri": r"not an image by its content: it looks like a key or certificate \(text\) \(\d+ bytes\)",
    "zero-bytes": r"not an image by its content: the data is empty \(0 bytes\)",
    "huge-file": r"31457280 bytes is over this model's limit of 10485760 bytes",
    "dev-zero": r"not a regular file",
    "symlink-to-dev-zero": r"not a regular file",
    "directory": r"not a regular file",
    "fifo": r"not a regular file",
    "too-small-image": r"64x64 pixels: each side must be between 240 and 8000",
    "too-wide-image": r"9000x240 pixels: each side must be between 240 and 8000",
    "truncated-png": r"not an image by its content: .*(truncated|corrupt|incomplete).*",
    "binary-environment": r"not an image by its content: it looks like unknown bytes \(\d+ bytes\)",
    "proc-self-environ": r"not an image by its content: it looks like (unknown bytes|text) \(\d+ bytes\)",
    "name-too-long": r"cannot be read \(File name too long\)",
}


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_a_local_reference_image_must_be_a_real_image(name: str, emulator: Any, user_env: dict[str, str],  # noqa: F811
                                                      tmp_path: Path) -> None:
    value = _hostile_files(Path(user_env["HOME"]), tmp_path / "files")[name]
    before = snapshot(tmp_path)
    code, res, err = run(["--request", _i2v(value), "--timeout", "10"])
    assert code == 2, (res, err)
    error = res["error"]
    assert error["code"] == "InvalidImage" and error["exit_code"] == 2
    [problem] = error["details"]
    assert problem["field"] == "reference_image" and re.fullmatch(PROBLEMS[name], problem["problem"]), problem
    assert error["message"] == f"invalid request (1 problem): reference_image: {problem['problem']}"
    assert emulator.stats()["requests"] == []  # no upload, no submit: nothing reached the network
    assert snapshot(tmp_path) == before  # nothing written anywhere
    shown = json.dumps(res) + err
    assert MARKER not in shown and "b3BlbnNzaC1rZXkt" not in shown and "SHELL=" not in shown


def test_a_refused_local_file_through_the_script(emulator: Any, user_env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    files = _hostile_files(Path(user_env["HOME"]), tmp_path / "files")
    code, res, err = run_script(["--request", _i2v(files["symlink-to-key"])], user_env)
    assert code == 2 and res["error"]["code"] == "InvalidImage"
    assert MARKER not in json.dumps(res) + err and "Traceback" not in err
    assert emulator.stats()["requests"] == []


# ------------------------------------------------------------------ where files go

ESCAPES = ["../../../escape-rel", "../../../../../../escape-deep", "/tmp/escape-abs", "..", "a/../../escape-mid"]


@pytest.fixture(scope="module")
def served_video(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return render_video(tmp_path_factory.mktemp("served") / "served.mp4")


@pytest.mark.parametrize("task_id", ESCAPES)
def test_a_hostile_task_id_cannot_steer_a_path(task_id: str, user_env: dict[str, str], tmp_path: Path,  # noqa: F811
                                               served_video: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    out = Path(user_env["OUTPUT_DIR"])
    with Hostile(served_video, task_id=task_id) as hostile:
        monkeypatch.setenv("DASHSCOPE_BASE_URL", hostile.api_url)
        before = snapshot(tmp_path, skip=out)
        code, res, err = run(["--request", request(seed=21), "--timeout", "20"])
    assert code == 0, (res, err[-2000:])
    assert res["task_id"] == task_id
    for key in ("local_path", "contact_sheet", "evidence_dir"):
        assert out.resolve() in Path(res[key]).resolve().parents, (key, res[key])
    assert snapshot(tmp_path, skip=out) == before  # nothing new or changed outside OUTPUT_DIR
    for level in (tmp_path, *list(tmp_path.parents)[:3], Path("/tmp")):
        assert not list(level.glob("escape-*")), level
    assert "HOSTILESIG" not in text_of_tree(out) + json.dumps(res) + err


def test_a_request_id_cannot_steer_a_path(emulator: Any, user_env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    out = Path(user_env["OUTPUT_DIR"])
    before = snapshot(tmp_path, skip=out)
    code, res, err = deliver(emulator, ["--request", request(seed=22, id="../../../evil-id"), "--timeout", "30"])
    assert Path(res["local_path"]).parent == skill_out(user_env) / "videos"
    assert snapshot(tmp_path, skip=out) == before
    assert not [p for p in tmp_path.parent.rglob("evil-id*")]


def test_output_is_the_only_way_to_choose_a_path(emulator: Any, user_env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    out = Path(user_env["OUTPUT_DIR"])
    chosen = tmp_path / "chosen" / "clip.mp4"
    before = snapshot(tmp_path, skip=out)
    code, res, err = deliver(emulator, ["--request", request(seed=23), "--output", str(chosen), "--timeout", "30"])
    assert res["local_path"] == str(chosen) and chosen.is_file()
    after = snapshot(tmp_path, skip=out)
    assert sorted(set(after) - set(before)) == ["chosen", "chosen/clip.contact.png", "chosen/clip.mp4"]
    # a different existing file at --output is never overwritten
    other = tmp_path / "mine.mp4"
    other.write_bytes(b"my own video")
    code, res, _ = run(["--request", request(seed=24), "--output", str(other)])
    assert code == 2 and res["error"]["code"] == "OutputExists"
    assert other.read_bytes() == b"my own video" and emulator.stats()["created_tasks"] == 1


# ------------------------------------------------------------------ permissions


def test_evidence_and_state_are_owner_only(emulator: Any, user_env: dict[str, str]) -> None:  # noqa: F811
    old = os.umask(0o022)  # a usual umask: files would be world-readable unless made private
    try:
        deliver(emulator, ["--request", request(seed=31), "--timeout", "30"])
        emulator.scenario(fail_next=[{"code": "InternalError.Algo", "message": "x"}])
        deliver(emulator, ["--request", request(seed=32), "--timeout", "30"], expect=1)
        emulator.scenario(faults=[{"op": "submit", "kind": "status", "status": 403}])
        assert run(["--request", request(seed=33)])[0] == 3  # no task: its log goes to attempts/
    finally:
        os.umask(old)
    root = skill_out(user_env)
    private = [root / "state", root / "tasks", root / "attempts", root / "ledger.jsonl", root / "index.jsonl"]
    checked = 0
    for top in private:
        assert top.exists(), top
        for path in [top, *top.rglob("*")]:
            mode = stat.S_IMODE(path.lstat().st_mode)
            assert mode & 0o077 == 0, (str(path.relative_to(root)), oct(mode))
            checked += 1
    assert checked > 20
