"""The lifecycle against an independent fake of the documented protocol (no emulator code)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest_helpers import cli
from fake_dashscope import FakeDashScope


@pytest.fixture(scope="module")
def mp4(tmp_path_factory) -> bytes:
    """A real 832x480, 24 fps, 5 s H.264 file, made here with PyAV."""
    import av
    from PIL import Image

    path = tmp_path_factory.mktemp("fake") / "v.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 832, 480, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for i in range(120):
            frame = av.VideoFrame.from_image(Image.new("RGB", (832, 480), (i * 2, 80, 160)))
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path.read_bytes()


@pytest.fixture
def fake(mp4, tmp_path, monkeypatch):
    with FakeDashScope(mp4, key="sk-fake-0123456789", run_seconds=1.0) as server:
        for key in list(os.environ):
            if key.startswith(("DASHSCOPE_", "WAN_VIDEO_", "ALIBABA_")):
                monkeypatch.delenv(key)
        monkeypatch.setenv("DASHSCOPE_BASE_URL", server.api_url)
        monkeypatch.setenv("DASHSCOPE_API_KEY", server.key)
        monkeypatch.setenv("OUTPUT_DIR", str(tmp_path / "out"))
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        monkeypatch.chdir(tmp_path)
        yield server


T2V = {"prompt": "a cat", "model": "wan2.5-t2v-preview", "size": "832*480"}


def test_t2v_against_the_documented_bodies(fake):
    code, res, err = cli(["--request", json.dumps(T2V), "--timeout", "60"])
    assert code == 0, (res, err)
    assert (res["width"], res["height"], res["fps"]) == (832, 480, 24.0)
    assert res["duration"] == pytest.approx(5.0, abs=0.05)
    assert res["usage"]["SR"] == 480 and res["cost_cny"] == pytest.approx(1.5)
    assert "s3cr3t" not in json.dumps(res)
    (submit,) = fake.submits()
    assert submit["body"] == {"model": "wan2.5-t2v-preview", "input": {"prompt": "a cat"},
                              "parameters": {"size": "832*480", "duration": 5}}
    assert submit["headers"]["X-DashScope-Async"] == "enable"


def test_i2v_with_a_local_image_uploads_and_sends_oss(fake, tmp_path):
    from wan_video.media import make_sample_image

    image = tmp_path / "first.png"
    make_sample_image(str(image), 960, 720, "first")
    req = {"prompt": "turn", "model": "wan2.2-i2v-flash", "resolution": "480P", "reference_image": str(image)}
    code, res, err = cli(["--request", json.dumps(req), "--timeout", "60"])
    assert code == 0, (res, err)
    (submit,) = fake.submits()
    assert submit["body"]["input"]["img_url"].startswith("oss://dashscope-instant/fake/")
    assert submit["headers"]["X-DashScope-OssResourceResolve"] == "enable"


def test_kf2v_goes_to_the_image2video_path(fake, tmp_path):
    import base64

    from wan_video.media import make_sample_image

    uris = []
    for n in range(2):
        path = tmp_path / f"f{n}.png"
        make_sample_image(str(path), 640, 480, f"frame {n}", seed=n)
        uris.append("data:image/png;base64," + base64.b64encode(path.read_bytes()).decode())
    req = {"prompt": "day to night", "model": "wanx2.1-kf2v-plus", "reference_image": uris[0],
           "last_frame_image": uris[1]}
    code, res, err = cli(["--request", json.dumps(req), "--timeout", "60"])
    assert code == 0, (res, err)
    (submit,) = fake.submits()
    assert submit["body"]["input"]["first_frame_url"] == uris[0]
    assert submit["body"]["input"]["last_frame_url"] == uris[1]
    assert submit["body"]["parameters"] == {"resolution": "720P", "duration": 5}
    posts = [path for method, path, _ in fake.log if method == "POST"]
    assert posts == ["/api/v1/services/aigc/image2video/video-synthesis"]


def test_an_unreachable_image_url_is_refused_before_anything_is_sent(fake):
    req = {"prompt": "x", "model": "wan2.2-i2v-flash", "reference_image": "http://127.0.0.1:9/cat.png"}
    code, res, _ = cli(["--request", json.dumps(req)])
    assert code == 2 and res["error"]["code"] == "InvalidImage"
    assert fake.submits() == []


def test_no_wait_then_wait_and_a_documented_failure(fake):
    code, sub, _ = cli(["submit", "--request", json.dumps(T2V)])
    assert code == 0 and sub["task_id"]
    code, res, _ = cli(["wait", sub["task_id"], "--timeout", "60"])
    assert code == 0 and Path(res["local_path"]).is_file()
    code, res, _ = cli(["--request", json.dumps(dict(T2V, prompt="please fail")), "--timeout", "60"])
    assert code == 1
    assert res["error"] == {**res["error"], "code": "InvalidParameter", "message": "The size is not match xxxxxx"}
    assert "models" in res["error"]["hint"]


def test_unknown_and_bad_key_bodies(fake):
    code, res, _ = cli(["wait", "1111", "--timeout", "10"])
    assert code == 1 and res["error"]["code"] == "TaskUnknown"
    code, res, _ = cli(["--request", json.dumps(dict(T2V, seed=1))], env={"DASHSCOPE_API_KEY": "sk-bad"})
    assert code == 3 and res["error"]["message"] == "Invalid API-key provided."
