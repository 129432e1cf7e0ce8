"""media: probe, sniff, fps conform, contact sheet and image identification, on real files."""

from __future__ import annotations

import array
import io
import math
import re
import struct
import subprocess
import sys
import zlib
from fractions import Fraction
from pathlib import Path

import pytest
from wan_video import media
from wan_video.errors import EXIT_FAILED, EXIT_INVALID, WanVideoError

FPS = 24
SIDE = 64


def make_video(path: Path, *, fps: int = FPS, seconds: float = 1.0, audio: str | None = None,
               fmt: str | None = None) -> Path:
    """A small real video whose frame i is the flat colour (10*i, 80, 160); optional 440 Hz tone."""
    import av

    with av.open(str(path), "w", format=fmt) as out:
        video = out.add_stream("libx264", rate=fps)
        video.width = video.height = SIDE
        video.pix_fmt = "yuv420p"
        video.codec_context.options = {"preset": "ultrafast"}
        sound = None
        if audio:
            sound = out.add_stream(audio, rate=16000)
            sound.layout = "mono"
        for i in range(round(fps * seconds)):
            frame = av.VideoFrame(SIDE, SIDE, "rgb24")
            frame.planes[0].update(bytes((10 * i % 256, 80, 160)) * (SIDE * SIDE))
            frame = frame.reformat(format="yuv420p")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            _write_tone(av, out, sound, seconds, planar_float=audio == "aac")
    return path


def make_audio_only(path: Path) -> Path:
    import av

    with av.open(str(path), "w", format="mp4") as out:
        sound = out.add_stream("aac", rate=16000)
        sound.layout = "mono"
        _write_tone(av, out, sound, 0.5, planar_float=True)
    return path


def _write_tone(av, out, stream, seconds: float, *, planar_float: bool) -> None:
    rate, total, pos = 16000, int(16000 * seconds), 0
    while pos < total:
        n = min(1024, total - pos)
        wave = [math.sin(2 * math.pi * 440 * (pos + j) / rate) for j in range(n)]
        if planar_float:
            frame = av.AudioFrame(format="fltp", layout="mono", samples=n)
            frame.planes[0].update(array.array("f", [0.2 * s for s in wave]).tobytes())
        else:
            frame = av.AudioFrame(format="s16", layout="mono", samples=n)
            frame.planes[0].update(array.array("h", [int(6000 * s) for s in wave]).tobytes())
        frame.sample_rate = rate
        frame.pts = pos
        frame.time_base = Fraction(1, rate)
        out.mux(stream.encode(frame))
        pos += n
    out.mux(stream.encode(None))


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("videos")
    return {
        "silent": make_video(folder / "silent.mp4"),
        "aac": make_video(folder / "aac.mp4", audio="aac"),
        "pcm": make_video(folder / "pcm.mkv", audio="pcm_s16le", fmt="matroska"),
        "two_seconds": make_video(folder / "two.mp4", seconds=2.0),
        "audio_only": make_audio_only(folder / "tone.m4a"),
    }


def frame_indices(path: Path) -> list[int]:
    """Which source frame each decoded frame shows, read back from its red channel."""
    import av

    with av.open(str(path)) as container:
        return [round(bytes(f.reformat(format="rgb24").planes[0])[0] / 10) for f in container.decode(video=0)]


# --------------------------------------------------------------------------- probe

BASE = {"container": "mp4", "codec": "h264", "duration": 1.0, "fps": 24.0, "width": 64,
        "height": 64, "frames": 24}


@pytest.mark.parametrize("name, expected", [
    ("silent", {**BASE, "audio": False, "audio_codec": None}),
    ("aac", {**BASE, "audio": True, "audio_codec": "aac"}),
    ("pcm", {**BASE, "container": "matroska", "audio": True, "audio_codec": "pcm_s16le"}),
    ("two_seconds", {**BASE, "duration": 2.0, "frames": 48, "audio": False, "audio_codec": None}),
])
def test_probe_describes_the_video(videos, name, expected):
    info = media.probe(videos[name])
    assert info == {**expected, "bytes": videos[name].stat().st_size}


@pytest.mark.parametrize("content, why", [
    (b"", "the file is empty (0 bytes)"),
    (b"<!DOCTYPE html><html><body>Login</body></html>",
     "it is an HTML page (46 bytes); the body starts with '<!DOCTYPE html><html><body>Login'"),
    (b'<?xml version="1.0"?><Error><Code>AccessDenied</Code></Error>',
     "it is an XML error (61 bytes); the body starts with '<?xml version=\"1.0\"?><Error><Cod'"),
    (b'{"code": "NotFound"}', "it is JSON (20 bytes); the body starts with '{\"code\": \"NotFound\"}'"),
    (b"DASHSCOPE_API_KEY=sk-secret\n", "it looks like text (28 bytes)"),
    (b"\x00\x01\x02\x03\x04\x05\x06\x07garbage", "it looks like unknown bytes 0x0001020304050607 (15 bytes)"),
])
def test_probe_refuses_what_is_not_a_video(tmp_path, content, why):
    path = tmp_path / "video.mp4"
    path.write_bytes(content)
    with pytest.raises(WanVideoError) as err:
        media.probe(path)
    assert (err.value.code, err.value.exit_code) == ("NotAVideo", EXIT_FAILED)
    assert err.value.message == f"{path} is not a decodable video: {why}."
    assert "download it again" in err.value.hint


@pytest.mark.parametrize("fmt, kind", [("PNG", "a PNG image"), ("JPEG", "a JPEG image")])
def test_probe_refuses_a_still_image(tmp_path, fmt, kind):
    path = tmp_path / "video.mp4"
    path.write_bytes(image_bytes(fmt))
    with pytest.raises(WanVideoError) as err:
        media.probe(path)
    size = path.stat().st_size
    assert err.value.message == f"{path} is not a decodable video: it looks like {kind} ({size} bytes)."


def test_probe_refuses_a_subtitle_file(tmp_path):
    path = tmp_path / "video.mp4"
    path.write_text("1\n00:00:01,000 --> 00:00:02,000\nhello\n")
    with pytest.raises(WanVideoError) as err:
        media.probe(path)
    assert err.value.message == f"{path} is not a decodable video: it has no video stream (it looks like text (38 bytes))."


def test_probe_refuses_a_file_without_video(videos):
    with pytest.raises(WanVideoError) as err:
        media.probe(videos["audio_only"])
    assert err.value.message == f"{videos['audio_only']} is not a decodable video: it has no video stream (audio or data only)."


@pytest.mark.parametrize("name, keep", [("aac", 0.5), ("aac", 0.95), ("silent", 0.7), ("pcm", 0.5)])
def test_probe_refuses_a_truncated_file(videos, tmp_path, name, keep):
    data = videos[name].read_bytes()
    path = tmp_path / videos[name].name
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(WanVideoError) as err:
        media.probe(path)
    assert err.value.code == "NotAVideo"
    assert re.fullmatch(rf"{re.escape(str(path))} is not a decodable video: the file is truncated: .+\.",
                        err.value.message), err.value.message


@pytest.mark.parametrize("name, why", [("nope.mp4", "No such file or directory"), ("", "Is a directory")])
def test_probe_of_a_path_that_cannot_be_read(tmp_path, name, why):
    with pytest.raises(WanVideoError) as err:
        media.probe(tmp_path / name)
    assert (err.value.code, err.value.message) == ("NotAVideo", f"{tmp_path / name} cannot be read: {why}.")


# --------------------------------------------------------------------------- sniff


@pytest.mark.parametrize("head, expected", [
    (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", None),
    (b"\x00\x00\x00\x08free\x00\x00\x00\x20ftypisom", None),
    (b"\x00\x00\x10\x00moov", None),
    (b"\x00\x00\x00\x01mdat\x00\x00\x00\x00\x00\x01\x00\x00", None),
    (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81", None),
    (b"", "empty"),
    (b"\x00\x00\x00\x04ftyp", "unknown bytes 0x0000000466747970"),
    (b"<!DOCTYPE html>\n<html>", "HTML page"),
    (b"\r\n  <html lang=en>", "HTML page"),
    (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n  <Code>AccessDenied</Code>', "XML error"),
    (b'<?xml version="1.0"?><feed/>', "XML document"),
    (b'{"code":"InvalidApiKey"}', "JSON"),
    (b"[1, 2]", "JSON"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "PNG image"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG image"),
    (b"\x1f\x8b\x08\x00", "gzip data"),
    (b"-----BEGIN OPENSSH PRIVATE KEY-----\n", "a key or certificate (text)"),
    (b"Not Found", "text"),
    (b"BMW owners club", "text"),
    (b"BM\x36\x00\x0c\x00\x00\x00\x00\x00\x36\x00", "BMP image"),
    (b"\xde\xad\xbe\xef\x00\x11\x22\x33\x44", "unknown bytes 0xdeadbeef00112233"),
])
def test_sniff_video(head, expected):
    assert media.sniff_video(head) == expected


# --------------------------------------------------------------------------- conform


@pytest.mark.parametrize("name, fps, frames, indices, audio_codec", [
    # Nearest source frame for output k is round(k * 24 / fps): 24 -> 30 repeats every 4th frame.
    ("aac", 30, 30, [round(k * 0.8) for k in range(30)], "aac"),
    ("silent", 12, 12, list(range(0, 24, 2)), None),
    ("pcm", 30, 30, [round(k * 0.8) for k in range(30)], "aac"),  # PCM cannot go in MP4: AAC
])
def test_conform_fps_resamples_in_time_and_keeps_duration(videos, tmp_path, name, fps, frames, indices, audio_codec):
    dst = tmp_path / "out" / "conformed.mp4"
    info = media.conform_fps(videos[name], dst, fps)
    assert info == {"container": "mp4", "codec": "h264", "duration": 1.0, "fps": float(fps),
                    "width": 64, "height": 64, "frames": frames, "audio": audio_codec is not None,
                    "audio_codec": audio_codec, "bytes": dst.stat().st_size}
    assert frame_indices(dst) == indices
    assert sorted(p.name for p in dst.parent.iterdir()) == ["conformed.mp4"]  # no temp file left


def test_conform_fps_29_97(videos, tmp_path):
    info = media.conform_fps(videos["silent"], tmp_path / "ntsc.mp4", 29.97)
    assert (info["fps"], info["frames"], info["duration"]) == (29.97, 30, 1.001)


@pytest.mark.parametrize("fps", [0, -24, 500])
def test_conform_fps_refuses_a_bad_rate(videos, tmp_path, fps):
    with pytest.raises(WanVideoError) as err:
        media.conform_fps(videos["silent"], tmp_path / "x.mp4", fps)
    assert (err.value.code, err.value.exit_code, err.value.message) == (
        "InvalidFps", EXIT_INVALID, f"fps must be in (0, 240]; got {fps}.")
    assert not (tmp_path / "x.mp4").exists()


def test_conform_fps_leaves_dst_alone_when_the_source_is_broken(tmp_path):
    src, dst = tmp_path / "page.mp4", tmp_path / "dst.mp4"
    src.write_bytes(b"<html>gone</html>")
    dst.write_bytes(b"previous")
    with pytest.raises(WanVideoError) as err:
        media.conform_fps(src, dst, 30)
    assert err.value.code == "NotAVideo"
    assert dst.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dst.mp4", "page.mp4"]


# --------------------------------------------------------------------------- contact sheet


@pytest.mark.parametrize("frames, width, size, grid", [
    (6, 1280, (1280, 852), (3, 2)),
    (4, 1280, (1280, 1280), (2, 2)),
    (1, 640, (640, 640), (1, 1)),
    (3, 300, (300, 100), (3, 1)),
])
def test_contact_sheet_is_a_png_grid_of_evenly_spaced_frames(videos, tmp_path, frames, width, size, grid):
    from PIL import Image

    dst = tmp_path / "sheets" / "sheet.png"
    assert media.contact_sheet(videos["aac"], dst, frames=frames, width=width) == str(dst)
    info = media.image_info(dst.read_bytes())
    assert (info["format"], info["width"], info["height"]) == ("png", *size)
    cols, rows = grid
    tile = width // cols
    with Image.open(dst) as sheet:
        rgb = sheet.convert("RGB")
        for i in range(frames):
            # Tile i shows the first frame at or after the centre of slice i of the second.
            t = (i + 0.5) / frames
            expected = math.ceil(t * FPS - 0.5)
            x = (width - cols * tile) // 2 + (i % cols) * tile + tile // 2
            y = (i // cols) * (size[1] // rows) + (size[1] // rows) * 3 // 4  # below the label
            assert round(rgb.getpixel((x, y))[0] / 10) == expected, (i, rgb.getpixel((x, y)))
    assert sorted(p.name for p in dst.parent.iterdir()) == ["sheet.png"]


def test_contact_sheet_labels_each_tile(videos, tmp_path):
    from PIL import Image

    dst = Path(media.contact_sheet(videos["aac"], tmp_path / "s.png", frames=6, width=1280))
    with Image.open(dst) as sheet:
        rgb = sheet.convert("RGB")
        # The label box is black with white text in each tile's top-left corner.
        label = rgb.crop((4, 4, 90, 30))
        colours = {label.getpixel((x, y)) for x in range(label.width) for y in range(label.height)}
    assert (0, 0, 0) in colours and (255, 255, 255) in colours


# --------------------------------------------------------------------------- images


def image_bytes(fmt: str, mode: str = "RGB", size: tuple[int, int] = (40, 30), **save) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new(mode, size, (200, 100, 50, 128)[: len(mode)] if mode != "P" else 3).save(buf, format=fmt, **save)
    return buf.getvalue()


@pytest.mark.parametrize("fmt, mode, expected", [
    ("PNG", "RGB", {"format": "png", "mode": "RGB", "has_alpha": False, "mime": "image/png"}),
    ("PNG", "RGBA", {"format": "png", "mode": "RGBA", "has_alpha": True, "mime": "image/png"}),
    ("JPEG", "RGB", {"format": "jpeg", "mode": "RGB", "has_alpha": False, "mime": "image/jpeg"}),
    ("WEBP", "RGB", {"format": "webp", "mode": "RGB", "has_alpha": False, "mime": "image/webp"}),
    ("WEBP", "RGBA", {"format": "webp", "mode": "RGBA", "has_alpha": True, "mime": "image/webp"}),
    ("BMP", "RGB", {"format": "bmp", "mode": "RGB", "has_alpha": False, "mime": "image/bmp"}),
    ("GIF", "P", {"format": "gif", "mode": "P", "has_alpha": False, "mime": "image/gif"}),
])
def test_image_info_identifies_by_content(fmt, mode, expected):
    assert media.image_info(image_bytes(fmt, mode)) == {**expected, "width": 40, "height": 30}


def test_image_info_png_with_transparency_key_has_alpha():
    assert media.image_info(image_bytes("PNG", "RGB", transparency=(1, 2, 3)))["has_alpha"] is True


def _png_claiming(width: int, height: int) -> bytes:
    """A valid tiny PNG whose header claims another size (a decompression bomb's calling card)."""
    data = bytearray(image_bytes("PNG"))
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


PNG = image_bytes("PNG")
JPEG = image_bytes("JPEG")
WEBP = image_bytes("WEBP")
BMP = image_bytes("BMP")


KEY = b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
PUBKEY = b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA user@host\n"
DOTENV = b"DASHSCOPE_API_KEY=sk-0123456789abcdef\nOUTPUT_DIR=out\n"
SVG = b"<svg xmlns='http://www.w3.org/2000/svg'/>"


@pytest.mark.parametrize("data, code, why", [
    (b"", "NotAnImage", "the data is empty (0 bytes)"),
    (b"hello, this is a text file\n", "NotAnImage", "it looks like text (27 bytes)"),
    (KEY, "NotAnImage", f"it looks like a key or certificate (text) ({len(KEY)} bytes)"),
    (PUBKEY, "NotAnImage", f"it looks like a key or certificate (text) ({len(PUBKEY)} bytes)"),
    (DOTENV, "NotAnImage", f"it looks like text ({len(DOTENV)} bytes)"),
    (b"P1\n2 2\n0 1 1 0\n", "NotAnImage", "it looks like text (15 bytes)"),  # PBM: not a format we take
    (SVG, "NotAnImage", f"it looks like an XML document ({len(SVG)} bytes)"),  # never quoted
    (PNG[: len(PNG) - 20], "NotAnImage", None),
    (JPEG[:-2], "NotAnImage",
     f"the JPEG is truncated: no end-of-image marker after the image data ({len(JPEG) - 2} bytes)"),
    (JPEG[:100], "NotAnImage", "it starts like a JPEG image but is truncated or corrupt (100 bytes)"),
    (WEBP[:-10], "NotAnImage", f"it starts like a WebP image but is truncated or corrupt ({len(WEBP) - 10} bytes)"),
    (BMP[:-10], "NotAnImage", f"the BMP is truncated: {len(BMP) - 10} of {len(BMP)} bytes"),
    (PNG[:20], "NotAnImage", "it starts like a PNG image but is truncated or corrupt (20 bytes)"),
    (_png_claiming(10_000, 10_000), "ImageTooLarge", "10000x10000 pixels"),
    (_png_claiming(100_000, 100_000), "ImageTooLarge", "10000000000 pixels"),
])
def test_image_info_refuses(data, code, why):
    with pytest.raises(WanVideoError) as err:
        media.image_info(data)
    assert (err.value.code, err.value.exit_code) == (code, EXIT_INVALID)
    if code == "ImageTooLarge":
        assert err.value.message == f"The reference image is too large to accept ({why}; the limit is 89478485)."
    elif why is not None:
        assert err.value.message == f"The reference image is not a readable image: {why}."
    if code == "NotAnImage" and data[:4] == b"\x89PNG" and len(data) > 20:
        assert err.value.message.startswith("The reference image is not a readable image: the PNG is truncated or corrupt")
    assert "sk-0123456789abcdef" not in err.value.message  # never quotes a secret it was handed
    assert "JPEG, PNG, WebP or BMP" in err.value.hint or code == "ImageTooLarge"


def test_image_info_does_not_decode_pixels(monkeypatch):
    from PIL import ImageFile

    def refuse(self):
        raise AssertionError("pixels decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
    assert media.image_info(JPEG)["format"] == "jpeg"
    assert media.image_info(WEBP)["format"] == "webp"
    assert media.image_info(PNG)["format"] == "png"


# --------------------------------------------------------------------------- sample images


@pytest.mark.parametrize("name, fmt", [("a.png", "png"), ("b.jpg", "jpeg"), ("c.jpeg", "jpeg"),
                                       ("d.webp", "webp"), ("e.bmp", "bmp")])
def test_make_sample_image_is_deterministic_and_typed_by_suffix(tmp_path, name, fmt):
    first = Path(media.make_sample_image(tmp_path / "1" / name, 320, 180, "Wan test", seed=7))
    second = Path(media.make_sample_image(tmp_path / "2" / name, 320, 180, "Wan test", seed=7))
    other = Path(media.make_sample_image(tmp_path / "3" / name, 320, 180, "Wan test", seed=8))
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other.read_bytes()
    info = media.image_info(first.read_bytes())
    assert (info["format"], info["width"], info["height"]) == (fmt, 320, 180)


@pytest.mark.parametrize("name, width", [("x.gif", 64), ("x.txt", 64), ("x.png", 4)])
def test_make_sample_image_refuses(tmp_path, name, width):
    with pytest.raises(WanVideoError) as err:
        media.make_sample_image(tmp_path / name, width, 64, "t")
    assert (err.value.code, err.value.exit_code) == ("InvalidRequest", EXIT_INVALID)
    assert not (tmp_path / name).exists()


def test_importing_media_and_download_loads_no_heavy_library():
    code = ("import sys, wan_video.media, wan_video.download; "
            "print(sorted(m for m in ('av', 'PIL', 'httpx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
