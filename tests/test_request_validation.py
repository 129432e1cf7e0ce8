"""The request boundary: bad input is refused with exit 2 (or 3) and a precise message, good
input becomes the exact wire body, and nothing on this path touches the network."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
SKILL_DIR = ROOT / "skills" / "ai" / "video" / "alicloud-ai-video-wan-video"
SCRIPTS = SKILL_DIR / "scripts"
ENTRY = SCRIPTS / "generate_video.py"
sys.path.insert(0, str(SCRIPTS))

from wan_video import cli  # noqa: E402
from wan_video.request import normalize  # noqa: E402

BEIJING = "https://dashscope.aliyuncs.com/api/v1"
SINGAPORE = "https://dashscope-intl.aliyuncs.com/api/v1"
VIDEO_GENERATION = "/services/aigc/video-generation/video-synthesis"
IMAGE2VIDEO = "/services/aigc/image2video/video-synthesis"
ENV_TO_CLEAR = ("DASHSCOPE_API_KEY", "DASHSCOPE_BASE_URL", "DASHSCOPE_HTTP_BASE_URL", "DASHSCOPE_WORKSPACE",
                "DASHSCOPE_REGION", "WAN_VIDEO_REGION", "ALIBABA_CLOUD_PROFILE")
SECRET = "sk-TESTSECRETMUSTNOTLEAK"


class NetworkUsed(AssertionError):
    pass


def _no_network(*args: Any, **kwargs: Any) -> Any:
    raise NetworkUsed(f"network access attempted: {args[1:] if len(args) > 1 else args}")


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Every test: its own cwd, HOME and OUTPUT_DIR, no region or endpoint from the environment,
    and any socket connection or DNS lookup fails the test."""
    for name in ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OUTPUT_DIR", str(tmp_path / "out"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", _no_network)
    monkeypatch.setattr(socket, "getaddrinfo", _no_network)
    return tmp_path


def _reject_constant(name: str) -> Any:
    raise ValueError(f"stdout is not strict JSON: it contains {name}")


def run(argv: list[str]) -> tuple[int, dict[str, Any], str]:
    """The real CLI entry, in process: (exit code, the one JSON object on stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    obj = json.loads(out.getvalue(), parse_constant=_reject_constant)
    assert isinstance(obj, dict), out.getvalue()
    return code, obj, err.getvalue()


def dry(request: Any, *extra: str) -> tuple[int, dict[str, Any]]:
    text = request if isinstance(request, str) else json.dumps(request, ensure_ascii=False)
    code, obj, _ = run(["--request", text, "--dry-run", *extra])
    return code, obj


def png(path: Path, size: tuple[int, int] = (320, 240), color: tuple[int, int, int] = (20, 160, 40)) -> Path:
    from PIL import Image

    Image.new("RGB", size, color).save(path, format="PNG")
    return path


URL = "https://example.com/cat.png"
LONG_801 = "x" * 801

# (request or raw argv, exit code, error code, substring of the message)
INVALID = [
    pytest.param([1], 2, "InvalidRequest", "the request must be a JSON object", id="not-an-object"),
    pytest.param('"a cat"', 2, "InvalidRequest", "the request must be a JSON object", id="json-string"),
    pytest.param('{"prompt": "a cat",}', 2, "InvalidJSON", "the request is not valid JSON: Expecting property name",
                 id="trailing-comma"),
    pytest.param({}, 2, "InvalidRequest", "prompt: is required", id="no-prompt"),
    pytest.param({"prompt": ""}, 2, "InvalidRequest", "prompt: must not be empty", id="empty-prompt"),
    pytest.param({"prompt": 5}, 2, "InvalidRequest", "prompt: must be of type string", id="prompt-number"),
    pytest.param({"prompt": "x", "motion": 1}, 2, "InvalidRequest",
                 "motion: unknown field; allowed fields: audio, duration, fps, id, last_frame_image, model",
                 id="unknown-field"),
    pytest.param({"prompt": "x", "duration": -1}, 2, "InvalidRequest", "duration: must be > 0 and <= 60",
                 id="duration-negative"),
    pytest.param({"prompt": "x", "duration": "5"}, 2, "InvalidRequest", "duration: must be of type number",
                 id="duration-string"),
    pytest.param({"prompt": "x", "duration": True}, 2, "InvalidRequest", "duration: must be of type number",
                 id="duration-bool"),
    pytest.param({"prompt": "x", "duration": 5.5}, 2, "InvalidRequest",
                 "duration: wan2.6-t2v takes 2-15 whole seconds", id="duration-fraction"),
    pytest.param({"prompt": "x", "duration": 20}, 2, "InvalidRequest",
                 "duration: wan2.6-t2v takes 2-15 whole seconds", id="duration-too-long"),
    pytest.param({"prompt": "x", "model": "wan2.2-t2v-plus", "duration": 10}, 2, "InvalidRequest",
                 "duration: wan2.2-t2v-plus takes 5 whole seconds", id="duration-fixed"),
    pytest.param({"prompt": "x", "model": "wan2.5-t2v-preview", "duration": 3}, 2, "InvalidRequest",
                 "duration: wan2.5-t2v-preview takes 5, 10 whole seconds", id="duration-values"),
    pytest.param({"prompt": "x", "size": "720P"}, 2, "InvalidRequest", "size: must be W*H, e.g. 1280*720",
                 id="size-tier-name"),
    pytest.param({"prompt": "x", "size": "1234*567"}, 2, "InvalidRequest",
                 "size: wan2.6-t2v takes one of 1280*720, 720*1280, 960*960, 1088*832, 832*1088, 1920*1080",
                 id="size-unknown"),
    pytest.param({"prompt": "x", "size": "832*480"}, 2, "InvalidRequest", "size: wan2.6-t2v takes one of 1280*720",
                 id="size-tier-not-served"),
    pytest.param({"prompt": "x", "model": "wan2.7-t2v", "size": "1088*832"}, 2, "InvalidRequest",
                 "size: wan2.7-t2v makes one of 1280*720, 720*1280, 960*960, 1104*832", id="size-wan27"),
    pytest.param({"prompt": "x", "model": "wan2.6-i2v", "reference_image": URL, "size": "832*480"}, 2,
                 "InvalidRequest", "size: 480P is not a tier of wan2.6-i2v; it takes 720P, 1080P", id="size-i2v-tier"),
    pytest.param({"prompt": "x", "resolution": "4K"}, 2, "InvalidRequest",
                 "resolution: must be one of 480P, 720P, 1080P", id="resolution-enum"),
    pytest.param({"prompt": "x", "size": "1280*720", "resolution": "1080P"}, 2, "InvalidRequest",
                 "resolution: contradicts size 1280*720 (720P)", id="resolution-contradicts-size"),
    pytest.param({"prompt": "x", "model": "wanx2.1-i2v-plus", "reference_image": URL, "resolution": "1080P"}, 2,
                 "InvalidRequest", "resolution: 1080P is not a tier of wanx2.1-i2v-plus; it takes 720P",
                 id="resolution-i2v-tier"),
    pytest.param({"prompt": "x", "ratio": "21:9"}, 2, "InvalidRequest",
                 "ratio: must be one of 16:9, 9:16, 1:1, 4:3, 3:4", id="ratio-enum"),
    pytest.param({"prompt": "x", "seed": -1}, 2, "InvalidRequest", "seed: must be >= 0 and <= 2147483647",
                 id="seed-negative"),
    pytest.param({"prompt": "x", "seed": 1.5}, 2, "InvalidRequest", "seed: must be of type integer", id="seed-float"),
    pytest.param({"prompt": "x", "fps": 0}, 2, "InvalidRequest", "fps: must be >= 1 and <= 60", id="fps-zero"),
    pytest.param({"prompt": "x", "motion_strength": 2}, 2, "InvalidRequest",
                 "motion_strength: must be >= 0 and <= 1", id="motion-strength-range"),
    pytest.param({"prompt": "x", "audio": "yes"}, 2, "InvalidRequest", "audio: must be of type boolean",
                 id="audio-string"),
    pytest.param({"prompt": "x", "watermark": 1}, 2, "InvalidRequest", "watermark: must be of type boolean",
                 id="watermark-number"),
    pytest.param({"prompt": "x", "shot_type": "triple"}, 2, "InvalidRequest", "shot_type: must be one of single, multi",
                 id="shot-type-enum"),
    pytest.param({"prompt": "x", "id": ""}, 2, "InvalidRequest", "id: must not be empty", id="id-empty"),
    pytest.param({"prompt": "x", "model": "wan2.6-t2v-20250101"}, 2, "UnknownModel",
                 "model: unknown model 'wan2.6-t2v-20250101'; did you mean wan2.6-t2v", id="model-date-suffix"),
    pytest.param({"prompt": "x", "model": "wanx-i2v-v1"}, 2, "DeprecatedModel",
                 "model: 'wanx-i2v-v1' is not a video model you can use", id="model-deprecated"),
    pytest.param({"prompt": "x", "model": "wanx2.1-vace-plus"}, 2, "UnsupportedModel",
                 "model: 'wanx2.1-vace-plus' is not supported by video.generate", id="model-unsupported"),
    pytest.param({"prompt": "x", "model": "cogvideox"}, 2, "UnsupportedModel",
                 "model: 'cogvideox' is not supported by video.generate", id="model-cogvideox"),
    pytest.param({"prompt": "x", "model": "wan2.6-i2v-flash"}, 2, "InvalidRequest",
                 "reference_image: is required: wan2.6-i2v-flash is i2v and animates an image", id="i2v-no-image"),
    pytest.param({"prompt": "x", "model": "wan2.6-t2v", "reference_image": URL}, 2, "InvalidRequest",
                 "reference_image: wan2.6-t2v is t2v and takes no input image", id="t2v-with-image"),
    pytest.param({"prompt": "x", "model": "wan2.6-i2v-flash", "reference_image": URL, "last_frame_image": URL}, 2,
                 "InvalidRequest", "last_frame_image: wan2.6-i2v-flash takes no last frame; first-and-last-frame "
                 "models: wan2.7-i2v, wan2.2-kf2v-flash, wanx2.1-kf2v-plus", id="last-frame-unsupported"),
    pytest.param({"prompt": "x", "model": "wan2.6-r2v"}, 2, "InvalidRequest",
                 "reference_urls: is required: wan2.6-r2v generates from reference images or videos", id="r2v-no-refs"),
    pytest.param({"prompt": "x", "model": "wan2.6-t2v", "reference_urls": [URL]}, 2, "InvalidRequest",
                 "reference_urls: only reference-to-video models take it, not wan2.6-t2v", id="refs-on-t2v"),
    pytest.param({"prompt": "x", "reference_urls": [URL] * 6}, 2, "InvalidRequest",
                 "reference_urls: must have 1 to 5 items", id="refs-too-many"),
    pytest.param({"prompt": LONG_801, "model": "wanx2.1-t2v-turbo"}, 2, "InvalidRequest",
                 "prompt: 801 characters; wanx2.1-t2v-turbo takes at most 800", id="prompt-too-long"),
    pytest.param({"prompt": "x", "negative_prompt": "n" * 501}, 2, "InvalidRequest",
                 "negative_prompt: 501 characters; wan2.6-t2v takes at most 500", id="negative-prompt-too-long"),
    pytest.param({"prompt": "x", "region": "mars"}, 2, "InvalidRequest",
                 "region: must be one of cn-beijing, ap-southeast-1, us-east-1", id="region-enum"),
    pytest.param({"prompt": "x", "model": "wan2.6-t2v-us"}, 3, "ModelNotInRegion",
                 "model 'wan2.6-t2v-us' is not served in region cn-beijing (only in us-east-1)",
                 id="model-not-in-region"),
    pytest.param({"prompt": "x", "model": "wan2.2-kf2v-flash", "region": "ap-southeast-1"}, 3, "ModelNotInRegion",
                 "model 'wan2.2-kf2v-flash' is not served in region ap-southeast-1 (only in cn-beijing)",
                 id="kf2v-not-in-singapore"),
    pytest.param({"prompt": "x", "model": "wan2.6-i2v-flash", "reference_image": "ftp://example.com/cat.png"}, 2,
                 "InvalidImage", "reference_image: only http(s)://, oss://, file:// and data: URIs are accepted",
                 id="image-ftp"),
    pytest.param({"prompt": "x", "model": "wan2.6-i2v-flash", "reference_image": "missing.png"}, 2,
                 "InvalidImage", "reference_image: no such file", id="image-missing-file"),
    pytest.param({"prompt": "x", "model": "wan2.6-i2v-flash", "reference_image": "data:image/png,abc"}, 2,
                 "InvalidImage", "reference_image: a data: URI must be data:image/<type>;base64,<data>",
                 id="image-data-uri-not-base64"),
    pytest.param({"prompt": "x", "model": "wan2.6-i2v-flash", "reference_image": "data:image/png;base64,@@@"}, 2,
                 "InvalidImage", "reference_image: the base64 data does not decode", id="image-bad-base64"),
]


@pytest.mark.parametrize(("request_", "exit_code", "code", "message"), INVALID)
def test_invalid_request_is_refused(request_: Any, exit_code: int, code: str, message: str) -> None:
    got, obj = dry(request_)
    assert got == exit_code, obj
    assert set(obj) == {"error"}, obj
    error = obj["error"]
    assert error["code"] == code
    assert message in error["message"]
    assert error["hint"]
    assert error["exit_code"] == exit_code
    if code == "InvalidRequest" and "details" in error:
        for problem in error["details"]:
            assert set(problem) == {"field", "value", "problem"}


def test_invalid_table_is_large_enough() -> None:
    assert len(INVALID) >= 30


def test_every_problem_is_reported_at_once_sorted_by_field() -> None:
    code, obj = dry({"prompt": "", "size": "100", "duration": -1, "bogus": 1})
    assert code == 2
    error = obj["error"]
    assert error["message"].startswith("invalid request (4 problems): bogus: unknown field")
    assert [p["field"] for p in error["details"]] == ["bogus", "duration", "prompt", "size"]
    assert [p["value"] for p in error["details"]] == [1, -1, "", "100"]


@pytest.mark.parametrize(("argv", "message"), [
    pytest.param([], "no request given", id="no-request"),
    pytest.param(["--request", '{"prompt": "x"}', "--file", "r.json"],
                 "command line: argument --file: not allowed with argument --request", id="request-and-file"),
    pytest.param(["--file", "missing.json", "--dry-run"], "--file: cannot read missing.json", id="file-missing"),
    pytest.param(["--request", '{"prompt": "x"}', "--timeout", "soon"],
                 "command line: argument --timeout: not a number: 'soon'", id="timeout-not-a-number"),
    pytest.param(["frobnicate"], "command line: unrecognized arguments: frobnicate", id="unknown-command"),
    pytest.param(["status"], "command line: the following arguments are required: task_id", id="status-no-id"),
    pytest.param(["models", "--kind", "vace"], "command line: argument --kind: invalid choice: 'vace'",
                 id="models-bad-kind"),
])
def test_command_line_errors_are_json(argv: list[str], message: str) -> None:
    code, obj, _ = run(argv)
    assert code == 2
    assert obj["error"]["code"] == "InvalidArguments"
    assert message in obj["error"]["message"]


def test_unknown_region_option() -> None:
    code, obj = dry({"prompt": "x"}, "--region", "mars")
    assert code == 2
    assert obj["error"]["code"] == "InvalidRequest"
    assert obj["error"]["message"] == "region: unknown region 'mars'"
    assert obj["error"]["hint"] == "use one of cn-beijing, ap-southeast-1, us-east-1"


def test_cost_guard_refuses_with_exit_7() -> None:
    code, obj = dry({"prompt": "x", "duration": 10}, "--max-cost", "1")
    assert code == 7
    assert obj["error"]["code"] == "CostLimitExceeded"
    assert "estimated cost 10.0000 CNY (wan2.6-t2v, 1080P, 10s) is above --max-cost 1 CNY" in obj["error"]["message"]


# --------------------------------------------------------------------------- valid dry runs


def _headers(oss: bool = False) -> dict[str, str]:
    headers = {"X-DashScope-Async": "enable", "Authorization": "Bearer <DASHSCOPE_API_KEY>",
               "Content-Type": "application/json"}
    if oss:
        headers["X-DashScope-OssResourceResolve"] = "enable"
    return headers


VALID = [
    pytest.param(
        {"prompt": "a kitten", "model": "wan2.6-t2v", "size": "1280*720", "duration": 10, "seed": 7},
        BEIJING + VIDEO_GENERATION,
        {"model": "wan2.6-t2v", "input": {"prompt": "a kitten"},
         "parameters": {"size": "1280*720", "duration": 10, "seed": 7}},
        id="t2v-size"),
    pytest.param(
        {"prompt": "a kitten", "negative_prompt": "blur", "model": "wanx2.1-t2v-turbo", "resolution": "480P",
         "prompt_extend": False, "watermark": True},
        BEIJING + VIDEO_GENERATION,
        {"model": "wanx2.1-t2v-turbo", "input": {"prompt": "a kitten", "negative_prompt": "blur"},
         "parameters": {"size": "832*480", "duration": 5, "prompt_extend": False, "watermark": True}},
        id="t2v-resolution-picks-size"),
    pytest.param(
        {"prompt": "a kitten", "model": "wan2.7-t2v", "resolution": "720P", "ratio": "9:16", "duration": 12},
        BEIJING + VIDEO_GENERATION,
        {"model": "wan2.7-t2v", "input": {"prompt": "a kitten"},
         "parameters": {"resolution": "720P", "ratio": "9:16", "duration": 12}},
        id="wan27-ratio"),
    pytest.param(
        {"prompt": "a kitten", "model": "wan2.7-t2v", "size": "1104*832"},
        BEIJING + VIDEO_GENERATION,
        {"model": "wan2.7-t2v", "input": {"prompt": "a kitten"},
         "parameters": {"resolution": "720P", "ratio": "4:3", "duration": 5}},
        id="wan27-size-to-ratio"),
    pytest.param(
        {"prompt": "it turns", "model": "wan2.6-i2v-flash", "reference_image": URL, "resolution": "720P",
         "audio": False, "shot_type": "multi"},
        BEIJING + VIDEO_GENERATION,
        {"model": "wan2.6-i2v-flash", "input": {"prompt": "it turns", "img_url": URL},
         "parameters": {"resolution": "720P", "duration": 5, "shot_type": "multi", "audio": False}},
        id="i2v-url-resolution"),
    pytest.param(
        {"prompt": "looks up", "model": "wanx2.1-kf2v-plus", "reference_image": "https://example.com/first.png",
         "last_frame_image": "https://example.com/last.png"},
        BEIJING + IMAGE2VIDEO,
        {"model": "wanx2.1-kf2v-plus",
         "input": {"prompt": "looks up", "first_frame_url": "https://example.com/first.png",
                   "last_frame_url": "https://example.com/last.png"},
         "parameters": {"resolution": "720P", "duration": 5}},
        id="kf2v-image2video"),
    pytest.param(
        {"prompt": "looks up", "reference_image": "https://example.com/first.png",
         "last_frame_image": "https://example.com/last.png"},
        BEIJING + IMAGE2VIDEO,
        {"model": "wanx2.1-kf2v-plus",
         "input": {"prompt": "looks up", "first_frame_url": "https://example.com/first.png",
                   "last_frame_url": "https://example.com/last.png"},
         "parameters": {"resolution": "720P", "duration": 5}},
        id="kf2v-default-model"),
    pytest.param(
        {"prompt": "it turns", "model": "wan2.7-i2v", "reference_image": "https://example.com/first.png",
         "last_frame_image": "https://example.com/last.png", "resolution": "720P", "duration": 8},
        BEIJING + VIDEO_GENERATION,
        {"model": "wan2.7-i2v",
         "input": {"prompt": "it turns", "media": [{"type": "first_frame", "url": "https://example.com/first.png"},
                                                    {"type": "last_frame", "url": "https://example.com/last.png"}]},
         "parameters": {"resolution": "720P", "duration": 8}},
        id="wan27-i2v-media"),
    pytest.param(
        {"prompt": "character1 sits", "model": "wan2.6-r2v", "reference_urls": [URL, "https://example.com/b.mp4"],
         "size": "1280*720"},
        BEIJING + VIDEO_GENERATION,
        {"model": "wan2.6-r2v", "input": {"prompt": "character1 sits",
                                          "reference_urls": [URL, "https://example.com/b.mp4"]},
         "parameters": {"size": "1280*720", "duration": 5}},
        id="r2v-references"),
    pytest.param(
        {"prompt": "character1 sits", "reference_urls": [URL]},
        BEIJING + VIDEO_GENERATION,
        {"model": "wan2.6-r2v", "input": {"prompt": "character1 sits", "reference_urls": [URL]},
         "parameters": {"size": "1920*1080", "duration": 5}},
        id="r2v-default-model"),
]


@pytest.mark.parametrize(("request_", "endpoint", "body"), VALID)
def test_dry_run_wire_body(request_: dict[str, Any], endpoint: str, body: dict[str, Any]) -> None:
    code, obj = dry(request_)
    assert code == 0, obj
    assert obj["status"] == "DRY_RUN"
    assert obj["endpoint"] == endpoint
    assert obj["wire_body"] == body
    assert obj["headers"] == _headers()
    assert obj["uploads"] == []
    assert obj["video_url"] is None and obj["task_id"] is None
    assert len(obj["cache_key"]) == 64


def test_i2v_local_image_is_uploaded_at_submit(isolated: Path) -> None:
    image = png(isolated / "cat.png")
    code, obj = dry({"prompt": "it turns", "model": "wan2.6-i2v", "reference_image": "cat.png", "resolution": "720P"})
    assert code == 0, obj
    assert obj["endpoint"] == BEIJING + VIDEO_GENERATION
    assert obj["wire_body"] == {"model": "wan2.6-i2v",
                                "input": {"prompt": "it turns", "img_url": f"<upload:{image.resolve()}>"},
                                "parameters": {"resolution": "720P", "duration": 5}}
    assert obj["uploads"] == [str(image.resolve())]
    assert obj["headers"] == _headers(oss=True)
    assert obj["request"]["reference_image"]["width"] == 320
    assert obj["request"]["reference_image"]["format"] == "png"


def test_kf2v_local_first_and_last_frames(isolated: Path) -> None:
    first, last = png(isolated / "first.png"), png(isolated / "last.png", color=(200, 10, 10))
    code, obj = dry({"prompt": "looks up", "model": "wan2.2-kf2v-flash", "reference_image": str(first),
                     "last_frame_image": last.as_uri(), "resolution": "480P"})
    assert code == 0, obj
    assert obj["endpoint"] == BEIJING + IMAGE2VIDEO
    assert obj["wire_body"]["input"] == {"prompt": "looks up",
                                         "first_frame_url": f"<upload:{first.resolve()}>",
                                         "last_frame_url": f"<upload:{last.resolve()}>"}
    assert obj["uploads"] == [str(first.resolve()), str(last.resolve())]


def test_fps_and_motion_strength_are_not_sent_but_warned() -> None:
    code, obj = dry({"prompt": "x", "fps": 24, "motion_strength": 0.5})
    assert code == 0
    assert obj["wire_body"]["parameters"] == {"size": "1920*1080", "duration": 5}
    assert "fps" not in json.dumps(obj["wire_body"]) and "motion" not in json.dumps(obj["wire_body"])
    assert any(w.startswith("fps: wan2.6-t2v renders at 30 fps") for w in obj["warnings"])
    assert any(w.startswith("motion_strength: no Wan model has a motion-strength parameter") for w in obj["warnings"])


def test_defaults_are_reported() -> None:
    code, obj = dry({"prompt": "x"})
    assert code == 0
    assert obj["model"] == "wan2.6-t2v"
    assert obj["defaults_applied"] == ["model=wan2.6-t2v", "duration=5", "size=1920*1080", "fps=30"]


# --------------------------------------------------------------------------- regions


@pytest.mark.parametrize(("how", "extra"), [
    pytest.param({"region": "ap-southeast-1"}, [], id="region-in-request"),
    pytest.param({}, ["--region", "ap-southeast-1"], id="region-option"),
])
def test_singapore_sends_the_international_name(how: dict[str, str], extra: list[str]) -> None:
    code, obj = dry({"prompt": "x", "model": "wanx2.1-t2v-turbo", **how}, *extra)
    assert code == 0, obj
    assert obj["region"] == "ap-southeast-1"
    assert obj["endpoint"] == SINGAPORE + VIDEO_GENERATION
    assert obj["wire_body"]["model"] == "wan2.1-t2v-turbo"
    assert obj["model"] == "wanx2.1-t2v-turbo"
    assert obj["request"]["wire_model"] == "wan2.1-t2v-turbo"
    assert obj["warnings"] == [
        "model 'wanx2.1-t2v-turbo' is called 'wan2.1-t2v-turbo' in ap-southeast-1; sending that name"]


def test_singapore_kf2v_uses_image2video_and_its_name() -> None:
    code, obj = dry({"prompt": "x", "model": "wanx2.1-kf2v-plus", "region": "ap-southeast-1",
                     "reference_image": URL})
    assert code == 0, obj
    assert obj["endpoint"] == SINGAPORE + IMAGE2VIDEO
    assert obj["wire_body"]["model"] == "wan2.1-kf2v-plus"


def test_region_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAN_VIDEO_REGION", "us-east-1")
    code, obj = dry({"prompt": "x", "model": "wan2.6-t2v-us", "duration": 10})
    assert code == 0, obj
    assert obj["endpoint"] == "https://dashscope-us.aliyuncs.com/api/v1" + VIDEO_GENERATION


# --------------------------------------------------------------------------- reference images


def test_every_image_form_has_the_same_cache_key(isolated: Path) -> None:
    image = png(isolated / "cat.png")
    data = image.read_bytes()
    data_uri = "data:image/png;base64," + base64.b64encode(data).decode()
    base = {"prompt": "it turns", "model": "wan2.6-i2v-flash"}
    forms = ["cat.png", str(image.resolve()), image.resolve().as_uri(), data_uri]
    cli_keys = set()
    for form in forms:
        code, obj = dry({**base, "reference_image": form})
        assert code == 0, obj
        cli_keys.add(obj["cache_key"])
    api_keys = {normalize({**base, "reference_image": form}).cache_key() for form in [*forms, data]}
    assert len(cli_keys) == 1
    assert api_keys == cli_keys
    other = png(isolated / "dog.png", color=(1, 2, 3))
    assert normalize({**base, "reference_image": str(other)}).cache_key() not in cli_keys


def test_bytes_are_sent_inline_as_a_data_uri(isolated: Path) -> None:
    data = png(isolated / "cat.png").read_bytes()
    req = normalize({"prompt": "x", "model": "wan2.6-i2v-flash", "reference_image": data})
    assert req.reference_image is not None
    assert req.reference_image.form == "bytes"
    assert req.reference_image.wire_value() == "data:image/png;base64," + base64.b64encode(data).decode()


NOT_IMAGES = {
    "notes.txt": b"just some notes\n",
    "id_rsa": (b"-----BEGIN OPENSSH PRIVATE KEY-----\n" + SECRET.encode()
               + b"\n-----END OPENSSH PRIVATE KEY-----\n"),
    "empty.png": b"",
    ".env": f"DASHSCOPE_API_KEY={SECRET}\n".encode(),
    "credentials.json": json.dumps({"key": SECRET}).encode(),
}


@pytest.mark.parametrize("name", [n
                                  for n in sorted(NOT_IMAGES)])
def test_non_images_are_refused_without_network(isolated: Path, name: str) -> None:
    (isolated / name).write_bytes(NOT_IMAGES[name])
    code, obj = dry({"prompt": "x", "model": "wan2.6-i2v-flash", "reference_image": name})
    assert code == 2, obj
    error = obj["error"]
    assert error["code"] == "InvalidImage"
    assert [p["field"] for p in error["details"]] == ["reference_image"]
    assert "reference_image: not an image by its content" in error["message"]
    assert SECRET not in json.dumps(obj) and "TESTSECRET" not in json.dumps(obj)


def test_non_image_message_says_what_the_file_is(isolated: Path) -> None:
    (isolated / "notes.txt").write_bytes(b"just some notes\n")
    code, obj = dry({"prompt": "x", "model": "wan2.6-i2v-flash", "reference_image": "notes.txt"})
    assert code == 2
    assert "MPO" not in obj["error"]["message"]
    assert "text" in obj["error"]["message"]


def test_tiny_image_is_refused(isolated: Path) -> None:
    png(isolated / "tiny.png", size=(100, 100))
    code, obj = dry({"prompt": "x", "model": "wan2.6-i2v-flash", "reference_image": "tiny.png"})
    assert code == 2
    assert "reference_image: 100x100 pixels: each side must be between 240 and 8000" in obj["error"]["message"]


def test_directory_is_refused(isolated: Path) -> None:
    (isolated / "frames").mkdir()
    code, obj = dry({"prompt": "x", "model": "wan2.6-i2v-flash", "reference_image": "frames"})
    assert code == 2
    assert "reference_image: not a regular file" in obj["error"]["message"]


# --------------------------------------------------------------------------- defects found in review, fixed


def test_nan_duration_is_an_invalid_request() -> None:
    code, obj = dry('{"prompt": "x", "duration": NaN}')
    assert code == 2
    assert obj["error"]["code"] == "InvalidJSON"
    assert "NaN is not a JSON number" in obj["error"]["message"]


def test_nan_fps_is_an_invalid_request() -> None:
    code, obj = dry('{"prompt": "x", "fps": NaN}')
    assert code == 2


def test_infinity_error_is_strict_json() -> None:
    code, obj = dry('{"prompt": "x", "fps": Infinity}')
    assert code == 2


def test_lone_surrogate_in_prompt_is_an_invalid_request() -> None:
    code, obj = dry('{"prompt": "cat \\ud800"}')
    assert code == 2


@pytest.mark.parametrize(("model", "field"), [("wanx2.1-kf2v-plus", "input.first_frame_url"),
                                              ("wan2.7-i2v", "input.media")])
def test_missing_image_message_names_the_models_own_field(model: str, field: str) -> None:
    code, obj = dry({"prompt": "x", "model": model})
    assert code == 2
    assert field in obj["error"]["message"]


def test_reference_urls_must_be_urls() -> None:
    code, obj = dry({"prompt": "x", "reference_urls": ["a"]})
    assert code == 2


def test_models_unknown_region_is_refused() -> None:
    code, obj, _ = run(["models", "--region", "mars"])
    assert code == 2


# --------------------------------------------------------------------------- properties

JSON_LEAF = (st.none() | st.booleans() | st.integers(min_value=-2**63, max_value=2**63)
             | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30))
JSON_VALUE = st.recursive(JSON_LEAF, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=8)
REQUEST_KEYS = sorted(json.loads((SCRIPTS / "wan_video" / "schemas" / "request.schema.json").read_text())["properties"])
PLAUSIBLE = {
    "model": st.sampled_from(["wan2.6-t2v", "wan2.7-t2v", "wan2.7-i2v", "wan2.6-i2v-flash", "wanx2.1-kf2v-plus",
                              "wan2.2-kf2v-flash", "wan2.6-r2v", "wan2.6-t2v-us", "wanx-i2v-v1", "cogvideox",
                              "wan2.1-t2v-turbo", "wan2.2-t2v-flash"]),
    "size": st.sampled_from(["1280*720", "1920*1080", "832*480", "1104*832", "1280x720", "720P", "0*0"]),
    "resolution": st.sampled_from(["480P", "720P", "1080P", "4K"]),
    "ratio": st.sampled_from(["16:9", "9:16", "1:1", "21:9"]),
    "region": st.sampled_from(["cn-beijing", "ap-southeast-1", "us-east-1", "eu-central-1"]),
    "duration": st.sampled_from([2, 5, 5.0, 10, 15, 0, 3.5, 61]),
    "reference_image": st.sampled_from([URL, "oss://bucket/cat.png", "file:///nonexistent/cat.png",
                                        "data:image/png;base64,AAAA", "missing.png", ".", "ftp://x/y"]),
    "last_frame_image": st.sampled_from([URL, "missing.png"]),
    "reference_urls": st.lists(st.sampled_from([URL, "https://example.com/v.mp4"]), max_size=6),
}


def _field_value(key: str) -> st.SearchStrategy[Any]:
    return PLAUSIBLE[key] | JSON_VALUE if key in PLAUSIBLE else JSON_VALUE


REQUEST_LIKE = st.fixed_dictionaries(
    {"prompt": st.text(min_size=1, max_size=40) | JSON_VALUE},
    optional={k: _field_value(k) for k in REQUEST_KEYS if k != "prompt"},
)


def _assert_one_object_and_known_exit(argv: list[str]) -> None:
    code, obj, _ = run(argv)
    if code == 3:
        assert obj["error"]["code"] == "ModelNotInRegion", obj
    else:
        assert code in (0, 2), obj
    assert ("error" in obj) == (code != 0)
    if code == 0:
        assert obj["status"] == "DRY_RUN"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(JSON_VALUE, REQUEST_LIKE))
def test_any_json_value_gives_one_object_and_exit_0_or_2(value: Any) -> None:
    _assert_one_object_and_known_exit(["--request", json.dumps(value), "--dry-run"])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=60))
def test_any_text_as_request_gives_one_object(text: str) -> None:
    # NaN and Infinity tokens are the known defect above (test_nan_*, test_infinity_*).
    assume("NaN" not in text and "Infinity" not in text)
    _assert_one_object_and_known_exit(["--request", text, "--dry-run"])


# --------------------------------------------------------------------------- start-up cost

IMPORT_PROBE = """
import json, runpy, sys
sys.argv = ["scripts/generate_video.py", "--request", sys.argv[1], "--dry-run"]
try:
    runpy.run_path("scripts/generate_video.py", run_name="__main__")
except SystemExit as exc:
    code = exc.code
print(json.dumps({"exit": code, "heavy": [m for m in ("dashscope", "av") if m in sys.modules]}), file=sys.stderr)
"""


@pytest.mark.parametrize(("request_", "exit_code"), [
    pytest.param('{"prompt": "a cat"}', 0, id="dry-run"),
    pytest.param('{"prompt": "x", "model": "wan2.6-i2v-flash", "reference_image": "' + URL + '"}', 0, id="dry-run-i2v"),
    pytest.param('{"prompt": ""}', 2, id="validation-error"),
])
def test_dry_run_and_validation_do_not_import_the_sdk_or_av(request_: str, exit_code: int) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ENV_TO_CLEAR and k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", IMPORT_PROBE, request_], cwd=SKILL_DIR, capture_output=True,
                          text=True, env=env, timeout=60)
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    assert report == {"exit": exit_code, "heavy": []}
    json.loads(proc.stdout)


def test_seed_style_invocation_in_a_subprocess() -> None:
    """The upstream form, no subcommand, through the real entry script."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_TO_CLEAR}
    proc = subprocess.run([sys.executable, str(ENTRY), "--request", '{"prompt": "a cat", "duration": 5, '
                           '"size": "1280*720", "fps": 30}', "--dry-run"], capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    obj = json.loads(proc.stdout)
    assert obj["wire_body"] == {"model": "wan2.6-t2v", "input": {"prompt": "a cat"},
                                "parameters": {"size": "1280*720", "duration": 5}}
    assert obj["warnings"] == []


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "soon"])
def test_timeout_and_max_cost_must_be_finite_numbers(value: str) -> None:
    from wan_video.cli import main

    for flag in ("--timeout", "--max-cost"):
        import contextlib
        import io

        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            code = main(["--request", '{"prompt": "x"}', flag, value])
        assert code == 2
        assert json.loads(out.getvalue())["error"]["code"] == "InvalidArguments"
