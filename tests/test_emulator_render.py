"""The videos are real H.264 MP4s at the size, fps and duration the service would deliver."""

from __future__ import annotations

import threading
from pathlib import Path

import av
import httpx
import pytest
from emulator_support import KF2V_PATH, Api, data_url
from PIL import Image
from wan_video.emulator.render import RenderSpec, VideoCache, image_output_size, render


@pytest.mark.parametrize("width, height, tier, expected", [
    (750, 1000, "720P", (816, 1104)),  # the documented example
    (1280, 720, "720P", (1280, 720)),
    (1000, 1000, "720P", (960, 960)),
    (3840, 2160, "1080P", (1920, 1072)),  # 1080 is not a multiple of 16: rounded down
    (832, 480, "480P", (832, 480)),
    (480, 832, "480P", (480, 832)),
])
def test_image_input_keeps_its_aspect_at_the_tiers_pixel_count(width, height, tier, expected):
    assert image_output_size(width, height, tier) == expected


def _probe(path: Path) -> dict:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        return {
            "codec": video.codec_context.name,
            "pix_fmt": video.codec_context.pix_fmt,
            "fps": video.average_rate,
            "frames": video.frames,
            "size": (video.width, video.height),
            "seconds": float(container.duration / av.time_base),
            "audio": audio.codec_context.name if audio else None,
        }


def _download(url: str, tmp_path: Path) -> Path:
    target = tmp_path / "video.mp4"
    with httpx.stream("GET", url) as response, open(target, "wb") as fh:
        assert response.status_code == 200
        for chunk in response.iter_bytes():
            fh.write(chunk)
    return target


IMAGE = data_url(750, 1000)
SERVED = [
    # model, path, input, parameters, (w, h), fps, frames, audio codec
    ("wanx2.1-t2v-turbo", None, {"prompt": "a fox"}, {"size": "480*832"}, (480, 832), 30, 150, None),
    ("wan2.5-t2v-preview", None, {"prompt": "a fox"}, {"size": "832*480"}, (832, 480), 24, 120, "aac"),
    ("wan2.6-t2v", None, {"prompt": "a fox"}, {"size": "1280*720", "duration": 2}, (1280, 720), 30, 60, "aac"),
    ("wan2.7-t2v", None, {"prompt": "a fox"}, {"resolution": "720P", "ratio": "3:4", "duration": 2},
     (832, 1104), 30, 60, "aac"),
    ("wan2.6-i2v-flash", None, {"img_url": IMAGE}, {"resolution": "720P", "duration": 2, "audio": False},
     (816, 1104), 30, 60, None),
    ("wanx2.1-i2v-turbo", None, {"img_url": IMAGE}, {"resolution": "720P", "duration": 3},
     (816, 1104), 30, 90, None),
    ("wan2.2-kf2v-flash", KF2V_PATH, {"first_frame_url": IMAGE, "last_frame_url": data_url(640, 480)},
     {"resolution": "480P"}, (544, 720), 30, 150, None),
]


@pytest.mark.parametrize(
    "model, path, input_, parameters, size, fps, frames, audio", SERVED, ids=[c[0] for c in SERVED]
)
def test_served_video_matches_the_promise(emulator, tmp_path, model, path, input_, parameters, size,
                                          fps, frames, audio):
    emulator.scenario(pending_seconds=0, run_seconds=0)
    api = Api(emulator.api_url)
    body = {"model": model, "input": input_, "parameters": parameters}
    done = api.wait(api.create(body, **({"path": path} if path else {})))
    api.close()
    assert done["output"]["task_status"] == "SUCCEEDED", done
    probe = _probe(_download(done["output"]["video_url"], tmp_path))
    assert (probe["codec"], probe["pix_fmt"]) == ("h264", "yuv420p")
    assert (probe["size"], probe["fps"], probe["frames"], probe["audio"]) == (size, fps, frames, audio)
    assert probe["seconds"] == pytest.approx(frames / fps, abs=0.1)


def test_a_padded_download_is_still_a_valid_mp4(emulator, tmp_path):
    emulator.scenario(pending_seconds=0, run_seconds=0, video_padding_bytes=3_000_000)
    api = Api(emulator.api_url)
    body = {"model": "wanx2.1-t2v-turbo", "input": {"prompt": "a fox"}, "parameters": {"size": "480*832"}}
    url = api.wait(api.create(body))["output"]["video_url"]
    api.close()
    path = _download(url, tmp_path)
    assert path.stat().st_size > 3_000_000
    assert _probe(path)["frames"] == 150


def _frames(path: Path) -> list[Image.Image]:
    with av.open(str(path)) as container:
        return [frame.to_image() for frame in container.decode(video=0)]


def _spec(tmp_path: Path, **changes) -> RenderSpec:
    base = dict(model="wan-test", width=320, height=240, fps=10, seconds=1, prompt="a fox", audio=False)
    return RenderSpec(**{**base, **changes})


def _rendered(tmp_path: Path, spec: RenderSpec) -> list[Image.Image]:
    out = tmp_path / f"{spec.key()}.mp4"
    render(spec, out)
    return _frames(out)


def _near(pixel: tuple[int, ...], color: tuple[int, int, int], tolerance: int = 24) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, color, strict=True))


def test_first_and_last_frames_crossfade(tmp_path):
    first, last = tmp_path / "first.png", tmp_path / "last.png"
    Image.new("RGB", (320, 240), (220, 40, 40)).save(first)
    Image.new("RGB", (320, 240), (40, 40, 220)).save(last)
    frames = _rendered(tmp_path, _spec(tmp_path, first_image=str(first), last_image=str(last)))
    assert len(frames) == 10
    assert _near(frames[0].getpixel((160, 150)), (220, 40, 40))
    assert _near(frames[-1].getpixel((160, 150)), (40, 40, 220))
    assert _near(frames[5].getpixel((160, 150)), (120, 40, 120), tolerance=30)


def test_image_to_video_moves_and_text_to_video_moves(tmp_path):
    source = tmp_path / "gradient.png"
    Image.linear_gradient("L").convert("RGB").resize((320, 240)).rotate(90).save(source)
    for spec in (_spec(tmp_path, first_image=str(source)), _spec(tmp_path)):
        frames = _rendered(tmp_path, spec)
        assert frames[0].tobytes() != frames[-1].tobytes()


def test_every_frame_is_stamped_simulated(tmp_path):
    plain = _spec(tmp_path, prompt="")
    frames = _rendered(tmp_path, plain)
    for frame in (frames[0], frames[-1]):
        box = frame.crop((0, 0, 320, 60)).tobytes()
        pixels = zip(box[0::3], box[1::3], box[2::3], strict=True)
        red = sum(1 for r, g, b in pixels if r > 180 and g < 110 and b < 110)
        assert red > 50  # the red "SIMULATED <model>" title line


def test_audio_is_a_tone_of_the_videos_length(tmp_path):
    out = tmp_path / "tone.mp4"
    render(_spec(tmp_path, audio=True, seconds=2), out)
    with av.open(str(out)) as container:
        audio = container.streams.audio[0]
        assert (audio.codec_context.name, audio.sample_rate) == ("aac", 48000)
        assert float(audio.duration * audio.time_base) == pytest.approx(2.0, abs=0.1)


def test_the_cache_renders_each_spec_once_however_many_ask(tmp_path):
    calls = []

    def fake(spec: RenderSpec, out: Path) -> None:
        calls.append(spec)
        out.write_bytes(b"mp4")

    cache = VideoCache(tmp_path, renderer=fake)
    spec = _spec(tmp_path)
    threads = [threading.Thread(target=cache.path, args=(spec,)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and cache.renders == 1
    assert cache.path(_spec(tmp_path, prompt="other")) != cache.path(spec)
    assert len(calls) == 2
