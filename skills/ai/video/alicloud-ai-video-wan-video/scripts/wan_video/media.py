"""Local media: probe a delivered video, conform its frame rate, draw a contact sheet, identify images.

PyAV and Pillow are imported inside the functions that need them, so importing this module
(the downloader does, for `sniff_video`) costs nothing on the CLI's start-up path.
"""

from __future__ import annotations

import os
import random
import re
import struct
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any

from .errors import EXIT_FAILED, EXIT_INVALID, WanVideoError

# Top-level ISO-BMFF box types that may open an MP4 file ('ftyp' almost always does; a few
# muxers lead with 'free', 'moov', 'mdat' or 'wide', and fragmented streams with 'styp').
_BMFF_LEAD_BOXES = {b"ftyp", b"styp", b"free", b"skip", b"wide", b"moov", b"mdat", b"pnot"}
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"  # Matroska / WebM

# Pillow's own default; anything larger is refused before a single pixel is decoded.
MAX_IMAGE_PIXELS = 89_478_485

# Formats we identify. Restricting Pillow to raster formats people send as reference images
# keeps it from "recognising" a text file as PBM/XPM or shelling out for EPS.
_IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF")  # JPEG also opens MPO
_MIME = {
    "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "bmp": "image/bmp",
    "gif": "image/gif", "tiff": "image/tiff",
}

_NOT_A_VIDEO_HINT = (
    "The file is not a playable video. If it was downloaded, the URL may have returned an error "
    "page or the transfer was cut short: download it again (query the task for a fresh "
    "video_url if the old one expired)."
)


# --------------------------------------------------------------------------- sniffing


def sniff_video(first_bytes: bytes) -> str | None:
    """None if the bytes look like the start of a video file, else a short description of them."""
    if not first_bytes:
        return "empty"
    if len(first_bytes) >= 8 and first_bytes[4:8] in _BMFF_LEAD_BOXES:
        size = struct.unpack(">I", first_bytes[:4])[0]
        # 0 means "to end of file", 1 means a 64-bit size follows; otherwise a box is >= 8 bytes.
        if size in (0, 1) or size >= 8:
            return None
    if first_bytes.startswith(_EBML_MAGIC):
        return None
    return _describe_bytes(first_bytes)


# Signatures, lower-cased like the bytes they are compared with.
_MAGIC = (
    (b"\x89png", "PNG image"), (b"\xff\xd8\xff", "JPEG image"), (b"gif8", "GIF image"),
    (b"\x1f\x8b", "gzip data"), (b"pk\x03\x04", "ZIP archive"), (b"%pdf", "PDF document"),
)
_ARTICLE = {"HTML page": "an ", "XML error": "an ", "XML document": "an ", "ZIP archive": "a ",
            "PDF document": "a ", "PNG image": "a ", "JPEG image": "a ", "GIF image": "a ",
            "BMP image": "a ", "WebP image": "a "}


def kind_phrase(kind: str) -> str:
    """A description from sniff_video as it reads in a sentence: 'an HTML page', 'JSON'."""
    return _ARTICLE.get(kind, "") + kind


def _describe_bytes(data: bytes) -> str:
    """Name what a non-media byte string looks like, without quoting secrets it may hold."""
    if not data:
        return "empty"
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head[:256]:
        return "HTML page"
    if head.startswith(b"<?xml") or head.startswith(b"<"):
        return "XML error" if b"<error" in head or b"<code>" in head else "XML document"
    if head.startswith((b"{", b"[")):
        return "JSON"
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    if head.startswith(b"riff") and head[8:12] == b"webp":
        return "WebP image"
    if data.startswith(b"BM") and data[6:10] == b"\0\0\0\0":  # BMP: two reserved zero words
        return "BMP image"
    if head.startswith(b"-----begin") or head.startswith(b"ssh-") or b"private key" in head[:64]:
        return "a key or certificate (text)"
    if _looks_like_text(data[:512]):
        return "text"
    return "unknown bytes 0x" + data[:8].hex()


def _looks_like_text(data: bytes) -> bool:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\r\n\t" for ch in text)


def _quoted_start(data: bytes) -> str:
    """The first printable characters of markup, for messages; other content is never quoted."""
    first = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:40].decode("utf-8", "replace")
    first = first.split("\n")[0].strip()
    return first[:32]


# Kinds whose first characters are worth quoting: an error page says what went wrong.
_MARKUP = frozenset({"HTML page", "XML error", "XML document", "JSON"})


def _what_is(data: bytes, size: int, quote: bool = True) -> str:
    """What the bytes are; `quote` adds their start (only for bodies fetched from the network:
    a local file handed over as an image may be a key or a .env and is never quoted)."""
    kind = _describe_bytes(data)
    if kind in _MARKUP and quote:
        return f"it is {kind_phrase(kind)} ({size} bytes); the body starts with {_quoted_start(data)!r}"
    if kind == "empty":
        return "the file is empty (0 bytes)"
    return f"it looks like {kind_phrase(kind)} ({size} bytes)"


def _not_a_video(path: Path, why: str) -> WanVideoError:
    return WanVideoError("NotAVideo", f"{path} is not a decodable video: {why}.",
                         _NOT_A_VIDEO_HINT, exit_code=EXIT_FAILED)


def _bmff_truncation(path: Path, size: int) -> str | None:
    """Walk the top-level ISO-BMFF boxes (headers only) and say if the last one runs past the end."""
    offset = 0
    with path.open("rb") as fh:
        while offset < size:
            fh.seek(offset)
            header = fh.read(16)
            if len(header) < 8:
                return f"the file is truncated: {size - offset} stray bytes at offset {offset}"
            box_size, box_type = struct.unpack(">I4s", header[:8])
            if box_size == 1:
                if len(header) < 16:
                    return f"the file is truncated inside a box header at offset {offset}"
                box_size = struct.unpack(">Q", header[8:16])[0]
            elif box_size == 0:
                return None  # the last box runs to the end of the file by definition
            if box_size < 8:
                return f"box at offset {offset} declares an impossible size {box_size}"
            if offset + box_size > size:
                name = box_type.decode("latin-1")
                return (f"the file is truncated: box {name!r} at offset {offset} declares "
                        f"{box_size} bytes but only {size - offset} remain")
            offset += box_size
    return None


# --------------------------------------------------------------------------- probing


def probe(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Container, codec, duration, fps, size, frame count and audio of a video file.

    Every packet of the video stream is read (not decoded) to count frames, and the first
    frame is decoded, so a truncated or undecodable file is refused rather than described.
    """
    import av

    p = Path(path)
    try:
        size = p.stat().st_size
        with p.open("rb") as fh:
            head = fh.read(512)
    except OSError as exc:
        raise WanVideoError("NotAVideo", f"{p} cannot be read: {exc.strerror or exc}.",
                            "Check the path.", exit_code=EXIT_FAILED) from None
    if size == 0:
        raise _not_a_video(p, "the file is empty (0 bytes)")
    # Bytes that do not sniff as MP4 or Matroska still go to FFmpeg (it reads more formats than
    # we sniff); `kind` only words the refusal if it cannot read them either.
    kind = sniff_video(head)
    if kind is not None and kind.endswith(" image"):
        raise _not_a_video(p, _what_is(head, size))  # FFmpeg would call a still a 1-frame video
    if kind is None and head[4:8] in _BMFF_LEAD_BOXES:
        truncated = _bmff_truncation(p, size)
        if truncated:
            raise _not_a_video(p, truncated)

    try:
        container = av.open(str(p), "r")
    except (av.FFmpegError, OSError, ValueError) as exc:
        why = _what_is(head, size) if kind else f"FFmpeg cannot open it ({_ffmpeg_reason(exc)})"
        raise _not_a_video(p, why) from None
    with container:
        if not container.streams.video:
            raise _not_a_video(p, f"it has no video stream ({_what_is(head, size) if kind else 'audio or data only'})")
        vs = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        packets, decoded = 0, False
        first_pts: int | None = None
        end_pts = 0
        try:
            for packet in container.demux(vs):
                if packet.size == 0:
                    continue  # the demuxer's end-of-stream flush packet
                packets += 1
                if packet.pts is not None:
                    first_pts = packet.pts if first_pts is None else min(first_pts, packet.pts)
                    end_pts = max(end_pts, packet.pts + (packet.duration or 0))
                if not decoded:
                    decoded = bool(vs.codec_context.decode(packet))
            if not decoded:
                decoded = bool(vs.codec_context.decode(None))
        except (av.FFmpegError, ValueError) as exc:
            raise _not_a_video(p, f"decoding failed after {packets} frames ({_ffmpeg_reason(exc)})") from None
        if not decoded:
            raise _not_a_video(p, f"no frame could be decoded ({packets} video packets)")
        declared = int(vs.frames or 0)
        if declared and packets < declared:
            raise _not_a_video(p, f"the file is truncated: {packets} of {declared} frames are present")

        fps = _stream_fps(vs)
        frames = declared or packets
        tb = vs.time_base
        scanned = float((end_pts - first_pts) * tb) if first_pts is not None and tb else 0.0
        declared_duration = _stream_duration(vs)
        if declared_duration and scanned:
            # Formats without a frame count (Matroska) still declare the stream's duration:
            # packets that stop well short of it mean the end of the file is missing.
            slack = max(0.1, 2 / fps) if fps else 0.1
            if scanned < declared_duration - slack:
                raise _not_a_video(p, f"the file is truncated: frames stop at {scanned:.3f}s of {declared_duration:.3f}s")
        if declared_duration:
            duration = declared_duration
        elif declared and fps:
            duration = frames / fps
        else:
            duration = scanned or (container.duration or 0) / 1_000_000
        return {
            "container": _container_name(container),
            "codec": vs.codec_context.name,
            "duration": round(duration, 3),
            "fps": round(fps, 3),
            "width": vs.codec_context.width,
            "height": vs.codec_context.height,
            "frames": frames,
            "audio": audio is not None,
            "audio_codec": audio.codec_context.name if audio is not None else None,
            "bytes": size,
        }


def _stream_duration(vs: Any) -> float | None:
    """The video stream's own declared duration in seconds, if the container records one."""
    if vs.duration and vs.time_base:
        return float(vs.duration * vs.time_base)
    tag = (vs.metadata or {}).get("DURATION")  # Matroska's per-stream tag, "HH:MM:SS.fffffffff"
    if tag:
        try:
            hours, minutes, seconds = tag.split(":")
            return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
        except ValueError:
            return None
    return None


def _stream_fps(vs: Any) -> float:
    rate = vs.average_rate or vs.guessed_rate or vs.base_rate
    return float(rate) if rate else 0.0


def _container_name(container: Any) -> str:
    names = container.format.name.split(",")
    if "mp4" in names:
        # One demuxer reads MOV and MP4; the major brand tells them apart.
        brand = (container.metadata.get("major_brand") or "").strip()
        return "mov" if brand == "qt" else "mp4"
    if "matroska" in names:
        return "webm" if container.metadata.get("DOCTYPE", "") == "webm" else "matroska"
    return names[0]


def _ffmpeg_reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


# --------------------------------------------------------------------------- atomic writes


@contextmanager
def _atomic_path(dst: Path, suffix: str) -> Iterator[Path]:
    """A temporary path next to dst that replaces dst only if the block succeeds."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp" + suffix, dir=dst.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------- conform fps

# Audio codecs an MP4 can carry as is; anything else is re-encoded to AAC.
_MP4_AUDIO = {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"}


def conform_fps(src: str | os.PathLike[str], dst: str | os.PathLike[str], fps: float) -> dict[str, Any]:
    """Re-encode src to H.264 MP4 at fps, keeping its duration; returns probe(dst).

    Frames are resampled in time: each output frame shows the source frame nearest to its
    timestamp, so raising the rate duplicates frames and lowering it drops them. Audio is
    copied when MP4 can carry it, else re-encoded to AAC.
    """
    import av

    if not (0 < fps <= 240):
        raise WanVideoError("InvalidFps", f"fps must be in (0, 240]; got {fps}.",
                            "Pass a frame rate such as 24, 25 or 30.", exit_code=EXIT_INVALID)
    src_p, dst_p = Path(src), Path(dst)
    info = probe(src_p)  # refuses broken input with a clear message before any work
    rate = Fraction(fps).limit_denominator(1001)
    n_out = max(1, round(info["duration"] * float(rate)))
    try:
        with _atomic_path(dst_p, ".mp4") as tmp:
            _conform(av, src_p, tmp, rate, n_out, info["duration"])
    except WanVideoError:
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise WanVideoError("ConformFailed", f"Re-encoding {src_p} to {fps} fps failed: {_ffmpeg_reason(exc)}.",
                            "Check free disk space and that the source plays; the original is untouched.",
                            exit_code=EXIT_FAILED) from None
    return probe(dst_p)


def _conform(av: Any, src: Path, tmp: Path, rate: Fraction, n_out: int, duration: float) -> None:
    with av.open(str(src), "r") as inp, av.open(str(tmp), "w", format="mp4",
                                                 options={"movflags": "+faststart"}) as out:
        vin = inp.streams.video[0]
        ain = inp.streams.audio[0] if inp.streams.audio else None
        # yuv420p needs even dimensions; a one-pixel crop-by-scale beats an encoder error.
        width = vin.codec_context.width // 2 * 2
        height = vin.codec_context.height // 2 * 2
        vout = out.add_stream("libx264", rate=rate)
        vout.width, vout.height, vout.pix_fmt = width, height, "yuv420p"
        vout.codec_context.options = {"crf": "18", "preset": "veryfast"}
        aout, copy_audio = None, False
        if ain is not None:
            copy_audio = ain.codec_context.name in _MP4_AUDIO
            if copy_audio:
                aout = out.add_stream_from_template(ain)
            else:
                aout = out.add_stream("aac", rate=ain.codec_context.sample_rate or 48000)

        frame_tb = Fraction(1) / rate
        k = 0  # index of the next output frame; its time is k / rate
        start: float | None = None
        prev = None  # (time, frame already converted to the output format)

        def emit_until(limit: float, frame: Any) -> None:
            nonlocal k
            while k < n_out and k / float(rate) < limit:
                frame.pts = k
                frame.time_base = frame_tb
                out.mux(vout.encode(frame))
                k += 1

        streams = [vin] + ([ain] if ain is not None else [])
        for packet in inp.demux(*streams):
            if packet.stream is ain and aout is not None:
                if copy_audio:
                    if packet.size:
                        packet.stream = aout
                        out.mux(packet)
                else:
                    for aframe in packet.decode():
                        aframe.pts = None  # let the encoder's resampler re-time the samples
                        out.mux(aout.encode(aframe))
                continue
            for frame in packet.decode():
                t = frame.time if frame.time is not None else 0.0
                if start is None:
                    start = t
                t -= start
                converted = frame.reformat(width=width, height=height, format="yuv420p")
                if prev is not None:
                    # Nearest neighbour: the previous frame owns every output time up to the midpoint.
                    emit_until((prev[0] + t) / 2, prev[1])
                prev = (t, converted)
        if prev is not None:
            emit_until(max(duration, prev[0]) + 1e-9, prev[1])
        out.mux(vout.encode(None))
        if aout is not None and not copy_audio:
            out.mux(aout.encode(None))


# --------------------------------------------------------------------------- contact sheet


def contact_sheet(src: str | os.PathLike[str], dst_png: str | os.PathLike[str], frames: int = 6,
                  width: int = 1280) -> str:
    """A PNG grid of `frames` evenly spaced frames, each labelled with its timestamp; returns its path."""
    import av
    from PIL import Image, ImageDraw

    if frames < 1 or width < 64:
        raise WanVideoError("InvalidRequest", f"contact sheet needs frames >= 1 and width >= 64; got {frames}, {width}.",
                            "Use the defaults (6 frames, 1280 px).", exit_code=EXIT_INVALID)
    src_p, dst_p = Path(src), Path(dst_png)
    info = probe(src_p)
    cols = min(frames, 3) if frames != 4 else 2
    rows = -(-frames // cols)
    tile_w = width // cols
    tile_h = max(1, round(tile_w * info["height"] / info["width"]))
    duration = info["duration"] or (info["frames"] / info["fps"] if info["fps"] else 0.0)
    # Tile centres rather than edges: the very first and last frames are often fades.
    targets = [duration * (i + 0.5) / frames for i in range(frames)]

    sheet = Image.new("RGB", (width, rows * tile_h), (16, 16, 16))
    draw = ImageDraw.Draw(sheet)
    font = _font(max(12, tile_h // 12))
    x_pad = (width - cols * tile_w) // 2
    try:
        with av.open(str(src_p), "r") as container:
            for i, t in enumerate(targets):
                picked = _frame_at(container, t)
                tile = picked[1].to_image().convert("RGB").resize((tile_w, tile_h), Image.Resampling.BILINEAR)
                x, y = x_pad + (i % cols) * tile_w, (i // cols) * tile_h
                sheet.paste(tile, (x, y))
                label = _timestamp(picked[0])
                box = draw.textbbox((0, 0), label, font=font)
                margin = max(3, tile_h // 60)
                lw, lh = box[2] - box[0], box[3] - box[1]
                draw.rectangle((x + margin, y + margin, x + 3 * margin + lw, y + 3 * margin + lh), fill=(0, 0, 0))
                draw.text((x + 2 * margin - box[0], y + 2 * margin - box[1]), label, fill=(255, 255, 255), font=font)
    except (av.FFmpegError, ValueError) as exc:
        raise _not_a_video(src_p, f"a frame could not be decoded ({_ffmpeg_reason(exc)})") from None
    with _atomic_path(dst_p, ".png") as tmp:
        sheet.save(tmp, format="PNG")
    return str(dst_p)


def _frame_at(container: Any, t: float) -> tuple[float, Any]:
    """The first frame at or after t seconds (or the last one), found by seeking to a keyframe."""
    vs = container.streams.video[0]
    tb = vs.time_base
    origin = vs.start_time or 0
    container.seek(origin + int(t / tb), stream=vs, backward=True, any_frame=False)
    last = None
    for frame in container.decode(vs):
        ft = float((frame.pts - origin) * tb) if frame.pts is not None else t
        last = (ft, frame)
        # Half a frame of slack so rounding never skips the frame that is meant.
        if ft + 0.5 / float(vs.average_rate or 24) >= t:
            return last
    if last is None:
        raise ValueError(f"no frame at {t:.3f}s")
    return last


def _timestamp(seconds: float) -> str:
    minutes, secs = divmod(max(0.0, seconds), 60)
    return f"{int(minutes):02d}:{secs:05.2f}"


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: a fixed bitmap font
        return ImageFont.load_default()


# --------------------------------------------------------------------------- images


def image_info(data: bytes) -> dict[str, Any]:
    """Identify an image by its content (not its name): format, size, mode, alpha and MIME type.

    Only the header is parsed, plus a cheap container-level completeness check; pixels are
    never decoded, and images over MAX_IMAGE_PIXELS are refused.
    """
    import io
    import warnings

    from PIL import Image, UnidentifiedImageError

    if not data:
        raise _not_an_image("the data is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            # We apply our own pixel limit below; Pillow's warning would only add noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=_IMAGE_FORMATS)
    except Image.DecompressionBombError as exc:
        # Pillow refuses before we see the size; its message carries the pixel count.
        pixels = re.search(r"\((\d+) pixels\)", str(exc))
        raise _too_large(f"{pixels.group(1)} pixels" if pixels else "its dimensions") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error):
        kind = _describe_bytes(data)
        if kind.endswith(" image"):  # the right signature, but Pillow cannot parse the header
            raise _not_an_image(f"it starts like {kind_phrase(kind)} but is truncated or corrupt "
                                f"({len(data)} bytes)") from None
        raise _not_an_image(_what_is(data, len(data), quote=False)) from None
    with im:
        width, height = im.size
        if width * height > MAX_IMAGE_PIXELS:
            raise _too_large(f"{width}x{height} pixels")
        fmt = "jpeg" if im.format == "MPO" else (im.format or "").lower()
        mode = im.mode
        has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
        incomplete = _image_incomplete(im, fmt, data)
        if incomplete:
            raise _not_an_image(incomplete)
    return {
        "format": fmt,
        "width": width,
        "height": height,
        "mode": mode,
        "has_alpha": has_alpha,
        "mime": _MIME.get(fmt, f"image/{fmt}"),
    }


def _image_incomplete(im: Any, fmt: str, data: bytes) -> str | None:
    """Say how an image file is cut short, using only its container structure."""
    size = len(data)
    if fmt == "png":
        try:
            im.verify()  # walks the chunks and their CRCs up to IEND without inflating pixels
        except Exception as exc:  # Pillow raises SyntaxError, OSError or struct.error here
            return f"the PNG is truncated or corrupt ({exc or type(exc).__name__}; {size} bytes)"
    elif fmt == "jpeg":
        sos = _jpeg_scan_start(data)
        # Entropy-coded data cannot contain FF D9, so an end marker after the main scan's start
        # means the image is whole; trailers (motion photos, MPO) may follow it.
        if sos is None or data.find(b"\xff\xd9", sos) == -1:
            return f"the JPEG is truncated: no end-of-image marker after the image data ({size} bytes)"
    elif fmt == "webp":
        declared = struct.unpack("<I", data[4:8])[0] + 8
        if declared > size:
            return f"the WebP is truncated: {size} of {declared} bytes"
    elif fmt == "bmp":
        declared = struct.unpack("<I", data[2:6])[0]
        if declared > size:
            return f"the BMP is truncated: {size} of {declared} bytes"
    return None


def _jpeg_scan_start(data: bytes) -> int | None:
    """Offset of the main image's start-of-scan marker, skipping header segments by length."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA:
            return pos
        pos += 2 + struct.unpack(">H", data[pos + 2:pos + 4])[0]
    return None


def _not_an_image(why: str) -> WanVideoError:
    return WanVideoError(
        "NotAnImage", f"The reference image is not a readable image: {why}.",
        "Pass a JPEG, PNG, WebP or BMP file (checked by content, not by name) or an http(s) URL.",
        exit_code=EXIT_INVALID)


def _too_large(what: str) -> WanVideoError:
    return WanVideoError(
        "ImageTooLarge", f"The reference image is too large to accept ({what}; the limit is {MAX_IMAGE_PIXELS}).",
        "Resize it; the service wants a few megapixels at most.", exit_code=EXIT_INVALID)


# --------------------------------------------------------------------------- sample images

_SAMPLE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP"}


def make_sample_image(path: str | os.PathLike[str], width: int, height: int, text: str,
                      seed: int = 0) -> str:
    """Write a deterministic, colourful test image (format from the suffix) with shapes and text."""
    from PIL import Image, ImageDraw

    p = Path(path)
    fmt = _SAMPLE_FORMATS.get(p.suffix.lower())
    if fmt is None or width < 8 or height < 8:
        raise WanVideoError(
            "InvalidRequest", f"cannot make a {width}x{height} sample image at {p}.",
            f"Use a size of at least 8x8 and one of the suffixes {', '.join(_SAMPLE_FORMATS)}.",
            exit_code=EXIT_INVALID)
    rng = random.Random(seed)
    palette = [tuple(rng.randrange(40, 256) for _ in range(3)) for _ in range(8)]
    # A diagonal two-colour gradient built from Pillow's gradient primitive: fast, no numpy.
    ramp = Image.linear_gradient("L").rotate(rng.choice((0, 45, 90, 135)), expand=False)
    ramp = ramp.resize((width, height), Image.Resampling.BILINEAR)
    image = Image.composite(Image.new("RGB", (width, height), palette[0]),
                            Image.new("RGB", (width, height), palette[1]), ramp)
    draw = ImageDraw.Draw(image)
    scale = min(width, height)
    for i in range(6):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(scale // 12 + 1, scale // 4 + 2)
        colour = palette[2 + i % 6]
        shape = i % 3
        if shape == 0:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour, outline=(255, 255, 255))
        elif shape == 1:
            draw.rectangle((x - r, y - r // 2, x + r, y + r // 2), fill=colour)
        else:
            draw.polygon([(x, y - r), (x + r, y + r), (x - r, y + r)], fill=colour)
    font = _font(max(10, scale // 10))
    box = draw.textbbox((0, 0), text, font=font)
    tx = (width - (box[2] - box[0])) // 2 - box[0]
    ty = (height - (box[3] - box[1])) // 2 - box[1]
    draw.text((tx, ty), text, fill=(255, 255, 255), font=font, stroke_width=max(1, scale // 200),
              stroke_fill=(0, 0, 0))
    with _atomic_path(p, p.suffix) as tmp:
        if fmt == "JPEG":
            image.save(tmp, format=fmt, quality=92)
        else:
            image.save(tmp, format=fmt)
    return str(p)
