"""reference_image as the seeds type it (string or bytes), in every form; output naming."""

from __future__ import annotations

import base64
import http.server
import json
import threading
from pathlib import Path

import pytest
from conftest_helpers import cli

pytestmark = pytest.mark.usefixtures("isolated")

BASE = {"prompt": "the cat turns its head", "model": "wan2.2-i2v-flash", "resolution": "480P"}


@pytest.fixture
def image_server(tmp_path):
    """A plain HTTP server on loopback serving tmp_path (the emulator can fetch loopback URLs)."""
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path), **kw)  # noqa: E731
    http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def forms(image: Path, base_url: str) -> dict[str, str | bytes]:
    data = image.read_bytes()
    return {
        "path": str(image),
        "file_uri": image.as_uri(),
        "data_uri": "data:image/png;base64," + base64.b64encode(data).decode(),
        "http_url": f"{base_url}/{image.name}",
        "bytes": data,
    }


def test_every_form_gives_the_same_cache_key_and_one_delivered_video(emulator, sample_image, image_server):
    import wan_video
    from wan_video.request import normalize

    keys = {name: normalize(dict(BASE, reference_image=value)).cache_key()
            for name, value in forms(sample_image, image_server).items()}
    assert len(set(keys.values())) == 1, keys
    results = {}
    for name, value in forms(sample_image, image_server).items():
        if isinstance(value, bytes):
            results[name] = wan_video.generate(dict(BASE, reference_image=value), timeout=60)
        else:
            code, res, err = cli(["--request", json.dumps(dict(BASE, reference_image=value)), "--timeout", "60"])
            assert code == 0, (name, res, err)
            results[name] = res
    first = results["path"]
    assert first["cached"] is False and Path(first["local_path"]).is_file()
    for name, res in results.items():
        assert res["task_id"] == first["task_id"] and res["sha256"] == first["sha256"], name
    assert emulator.stats()["created_tasks"] == 1


def test_a_data_uri_goes_inline_and_a_path_is_uploaded(emulator, sample_image, image_server):
    f = forms(sample_image, image_server)
    code, res, _ = cli(["--request", json.dumps(dict(BASE, reference_image=f["data_uri"])), "--dry-run"])
    assert res["wire_body"]["input"]["img_url"].startswith("data:image/png;base64,<")
    assert res["uploads"] == []
    code, res, _ = cli(["--request", json.dumps(dict(BASE, reference_image=f["path"])), "--dry-run"])
    assert res["uploads"] == [str(sample_image.resolve())]
    assert res["headers"]["X-DashScope-OssResourceResolve"] == "enable"


@pytest.mark.parametrize("form", ["path", "file_uri", "data_uri", "http_url", "bytes"])
def test_a_non_image_in_each_form_is_refused_with_exit_2(emulator, tmp_path, image_server, form):
    import wan_video

    fake = tmp_path / "notes.png"
    fake.write_bytes(b"DASHSCOPE_API_KEY=sk-not-a-picture\n")
    value = forms(fake, image_server)[form]
    before = emulator.stats()["created_tasks"]
    if isinstance(value, bytes):
        with pytest.raises(wan_video.WanVideoError) as info:
            wan_video.generate(dict(BASE, reference_image=value))
        assert info.value.exit_code == 2 and info.value.code == "InvalidImage"
        assert "sk-not-a-picture" not in info.value.message
    else:
        code, res, _ = cli(["--request", json.dumps(dict(BASE, reference_image=value))])
        assert code == 2, res
        assert res["error"]["code"] == "InvalidImage"
        assert "not an image by its content" in res["error"]["message"]
        assert "sk-not-a-picture" not in json.dumps(res)
    assert emulator.stats()["created_tasks"] == before


def test_oss_urls_pass_through_with_the_resolve_header(emulator):
    code, res, _ = cli(["--request", json.dumps(dict(BASE, reference_image="oss://dashscope-instant/x/cat.png")),
                        "--dry-run"])
    assert code == 0
    assert res["wire_body"]["input"]["img_url"] == "oss://dashscope-instant/x/cat.png"
    assert res["headers"]["X-DashScope-OssResourceResolve"] == "enable"
    assert any("oss:// is only readable by the service" in w for w in res["warnings"])


# ------------------------------------------------------------------ output naming
T2V = {"prompt": "names", "model": "wan2.5-t2v-preview", "size": "832*480"}


def test_default_folder_is_keyed_by_task_id_under_output_dir(emulator, out_dir):
    code, res, _ = cli(["--request", json.dumps(T2V), "--timeout", "60"])
    assert code == 0
    assert Path(res["local_path"]) == out_dir / "alicloud-ai-video-wan-video" / "videos" / f"{res['task_id']}.mp4"


def test_output_names_an_exact_file(emulator, tmp_path):
    target = tmp_path / "shots" / "shot01.mp4"
    code, res, _ = cli(["--request", json.dumps(T2V), "--output", str(target), "--timeout", "60"])
    assert code == 0 and Path(res["local_path"]) == target and target.is_file()
    assert (tmp_path / "shots" / "shot01.contact.png").is_file()


def test_a_different_video_is_never_overwritten(emulator, tmp_path):
    target = tmp_path / "mine.mp4"
    target.write_bytes(b"my own video")
    before = len(emulator.stats()["requests"])
    code, res, _ = cli(["--request", json.dumps(T2V), "--output", str(target)])
    assert code == 2 and res["error"]["code"] == "OutputExists"
    assert target.read_bytes() == b"my own video"
    assert len(emulator.stats()["requests"]) == before
