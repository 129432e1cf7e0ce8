"""Real, playable stand-in videos: H.264 MP4s stamped SIMULATED, cached by what they show.

Frames are drawn with Pillow and encoded with PyAV (libx264 ultrafast, yuv420p, and an AAC
tone when the model makes sound). Text-to-video draws a moving gradient and a ball;
image-to-video slowly zooms into the input image; first+last frame crossfades between the
two. The size, fps and duration are the ones the real service would deliver.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import textwrap
import threading
from array import array
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image, ImageDraw, ImageFont, ImageOps

from ..catalog import TIER_PIXELS

SAMPLE_RATE = 48000
TONE_PERIOD = 120  # samples: a 400 Hz tone at 48 kHz, exactly periodic
TONE_AMPLITUDE = 1200  # about -29 dBFS: present, but quiet
ENCODER_OPTIONS = {"preset": "ultrafast", "crf": "32"}
ZOOM = 0.12  # image-to-video zooms in by this fraction over the clip
ZOOM_HOLD = 3  # frames each zoom step is shown for


def image_output_size(width: int, height: int, tier: str) -> tuple[int, int]:
    """Output size for an image input: its aspect at the tier's pixel count.

    Both sides are rounded down to multiples of 16, which reproduces the documented
    750x1000 @720P -> 816x1104.
    """
    pixels = TIER_PIXELS[tier]
    scale = math.sqrt(pixels / (width * height))
    return (
        max(16, int(width * scale) // 16 * 16),
        max(16, int(height * scale) // 16 * 16),
    )


@dataclass(frozen=True)
class RenderSpec:
    """Everything a video's pixels and samples depend on (so also its cache key)."""

    model: str
    width: int
    height: int
    fps: int
    seconds: int
    prompt: str
    audio: bool
    first_image: str | None = None  # path of the first-frame image (content-addressed)
    last_image: str | None = None  # path of the last-frame image

    @property
    def frames(self) -> int:
        return self.fps * self.seconds

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()


def render(spec: RenderSpec, out: Path) -> None:
    """Encode `spec` into an MP4 at `out`."""
    with av.open(str(out), "w", format="mp4", options={"movflags": "faststart"}) as container:
        video = container.add_stream("libx264", rate=spec.fps)
        video.width, video.height, video.pix_fmt = spec.width, spec.height, "yuv420p"
        video.options = dict(ENCODER_OPTIONS)
        video.codec_context.time_base = Fraction(1, spec.fps)
        audio = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono") if spec.audio else None
        tone = _tone_samples(spec.seconds * SAMPLE_RATE) if audio else iter(())
        samples_done = 0
        paint = _painter(spec)
        stamp = _stamp(spec)
        for index in range(spec.frames):
            image = paint(index)
            image.paste(stamp, (0, 0), stamp)
            _draw_clock(image, index, spec.fps)
            frame = av.VideoFrame.from_image(image)
            frame.pts = index
            container.mux(video.encode(frame))
            # Interleave: audio up to the end of this video frame.
            due = (index + 1) * SAMPLE_RATE // spec.fps
            while audio is not None and samples_done < due:
                chunk = next(tone, None)
                if chunk is None:
                    break
                container.mux(audio.encode(_audio_frame(chunk, samples_done)))
                samples_done += len(chunk)
        container.mux(video.encode(None))
        if audio is not None:
            container.mux(audio.encode(None))


class VideoCache:
    """Rendered videos on disk, one render per distinct spec however many ask at once."""

    def __init__(self, directory: Path, renderer: Callable[[RenderSpec, Path], None] = render):
        self.directory = directory
        self._render = renderer
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        # One render at a time: x264 already uses every core, and the server must stay snappy.
        self._slot = threading.Semaphore(1)
        self.renders = 0

    def path(self, spec: RenderSpec) -> Path:
        key = spec.key()
        target = self.directory / f"{key}.mp4"
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            if not target.exists():
                partial = target.with_suffix(f".{os.getpid()}.{threading.get_ident()}.part")
                with self._slot:
                    self._render(spec, partial)
                partial.replace(target)
                with self._lock:
                    self.renders += 1
        return target


# ---------------------------------------------------------------- pictures


def _painter(spec: RenderSpec) -> Callable[[int], Image.Image]:
    size = (spec.width, spec.height)
    if spec.first_image and spec.last_image:
        first, last = _fitted(spec.first_image, size), _fitted(spec.last_image, size)
        span = max(1, spec.frames - 1)
        return lambda i: Image.blend(first, last, i / span)
    if spec.first_image:
        return _zoom(_fitted(spec.first_image, size), spec.frames)
    return _motion(spec)


def _fitted(path: str, size: tuple[int, int]) -> Image.Image:
    with Image.open(path) as img:
        return ImageOps.fit(ImageOps.exif_transpose(img).convert("RGB"), size)


def _zoom(base: Image.Image, frames: int) -> Callable[[int], Image.Image]:
    """A slow zoom towards a point right of centre: the 'camera push' of an i2v clip.

    Resizing a full frame is the costliest step, and a 12 % zoom over a clip moves under
    two pixels between frames, so each zoom step is held for ZOOM_HOLD frames.
    """
    w, h = base.size
    span = max(1, frames - 1)
    held: dict[int, Image.Image] = {}

    def paint(index: int) -> Image.Image:
        step = index - index % ZOOM_HOLD
        if step not in held:
            held.clear()
            progress = step / span
            zoom = 1 + ZOOM * progress
            cw, ch = w / zoom, h / zoom
            left = (w - cw) * (0.5 + 0.3 * progress)
            top = (h - ch) / 2
            box = (left, top, left + cw, top + ch)
            held[step] = base.resize((w, h), Image.Resampling.BILINEAR, box=box)
        return held[step].copy()  # the caller draws on it

    return paint


def _motion(spec: RenderSpec) -> Callable[[int], Image.Image]:
    """A gradient drifting sideways and a ball on a sine path, tinted by the prompt."""
    w, h = spec.width, spec.height
    tint = hashlib.md5(spec.prompt.encode()).digest()
    ramp = Image.linear_gradient("L").rotate(90).resize((w, h))  # dark -> light, left -> right
    across = Image.new("L", (2 * w, h))
    across.paste(ramp, (0, 0))
    across.paste(ImageOps.mirror(ramp), (w, 0))  # seamless when the window wraps
    down = Image.linear_gradient("L").resize((2 * w, h))
    flat = Image.new("L", (2 * w, h), 60 + tint[0] % 120)
    channels = [across, down, flat]
    order = tint[1] % 3
    background = Image.merge("RGB", tuple(channels[order:] + channels[:order]))
    radius = max(8, h // 10)
    ball = (255, 200 + tint[2] % 56, tint[3])

    def paint(index: int) -> Image.Image:
        t = index / spec.fps
        x = int(index * 2 * w / max(1, spec.frames)) % (2 * w)
        if x + w <= 2 * w:
            frame = background.crop((x, 0, x + w, h))
        else:
            frame = Image.new("RGB", (w, h))
            frame.paste(background.crop((x, 0, 2 * w, h)), (0, 0))
            frame.paste(background.crop((0, 0, x + w - 2 * w, h)), (2 * w - x, 0))
        cx = int(w / 2 + w / 3 * math.sin(t * 1.7))
        cy = int(h * 0.62 + h / 5 * math.cos(t * 2.3))
        ImageDraw.Draw(frame).ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=ball)
        return frame

    return paint


@functools.lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _stamp(spec: RenderSpec) -> Image.Image:
    """The overlay every frame carries: SIMULATED, the model, the size and the prompt."""
    w, h = spec.width, spec.height
    size = max(12, min(w, h) // 22)
    font = _font(size)
    margin = size // 2
    chars = max(16, int((w - 4 * margin) / (size * 0.55)))
    lines = textwrap.wrap(spec.prompt or "(no prompt)", chars)
    if len(lines) > 6:
        lines = [*lines[:5], lines[5][: chars - 1] + "\u2026"]
    title = f"SIMULATED  {spec.model}  {w}x{h} {spec.fps}fps {spec.seconds}s"
    line_height = int(size * 1.25)
    box_h = margin * 2 + line_height * (1 + len(lines))
    stamp = Image.new("RGBA", (w, min(h, box_h + margin)), (0, 0, 0, 0))
    draw = ImageDraw.Draw(stamp)
    draw.rectangle((margin, margin, w - margin, box_h), fill=(0, 0, 0, 150))
    draw.text((2 * margin, 1.5 * margin), title, font=font, fill=(255, 64, 64, 255))
    for n, line in enumerate(lines, start=1):
        draw.text((2 * margin, 1.5 * margin + n * line_height), line, font=font, fill="white")
    return stamp


def _draw_clock(image: Image.Image, index: int, fps: int) -> None:
    w, h = image.size
    size = max(14, min(w, h) // 12)  # large: nobody mistakes an emulator video for a real one
    text = f"SIMULATED {index / fps:5.2f}s"
    ImageDraw.Draw(image).text(
        (size // 2, h - int(1.5 * size)), text, font=_font(size), fill="white", stroke_width=3, stroke_fill="black"
    )


# ---------------------------------------------------------------- sound


def _tone_samples(total: int, frame_size: int = 1024) -> Iterator[array[int]]:
    period = array(
        "h",
        (
            int(TONE_AMPLITUDE * math.sin(2 * math.pi * k / TONE_PERIOD))
            for k in range(TONE_PERIOD)
        ),
    )
    wave = period * (frame_size // TONE_PERIOD + 2)
    done = 0
    while done < total:
        n = min(frame_size, total - done)
        start = done % TONE_PERIOD
        yield wave[start : start + n]
        done += n


def _audio_frame(samples: array[int], pts: int) -> av.AudioFrame:
    frame = av.AudioFrame(format="s16", layout="mono", samples=len(samples))
    frame.planes[0].update(samples.tobytes())
    frame.sample_rate = SAMPLE_RATE
    frame.pts = pts
    frame.time_base = Fraction(1, SAMPLE_RATE)
    return frame
