"""What a submit turns into: parameter checks, input media, the output video and its usage.

Everything here is driven by the model's catalog entry: its protocol decides which
parameters set the size, its tiers/durations what is allowed, its fps and audio what the
video looks like. Wrong sizes, resolutions, ratios and durations are accepted at submit
and fail the task, as the real service does (wan_api.md 2.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..catalog import Catalog, ModelSpec, parse_size, tier_of_size
from . import errors
from .errors import TaskFailed
from .media import MediaStore, check_image, summarize
from .render import RenderSpec, image_output_size
from .state import TaskPlan

# wan2.7-i2v `media` combinations the docs allow (Q-I2V27); each type at most once.
MEDIA_COMBOS = frozenset(
    frozenset(c)
    for c in (
        {"first_frame"},
        {"first_frame", "driving_audio"},
        {"first_frame", "last_frame"},
        {"first_frame", "last_frame", "driving_audio"},
        {"first_clip"},
        {"first_clip", "last_frame"},
    )
)

# `usage` keys of a SUCCEEDED query, per catalog family and kind, in the documented order
# (wan_api.md 3.2). A family not listed answers like wan2.6.
_WAN26_IMAGE = ("duration", "input_video_duration", "output_video_duration", "video_count", "SR")
_WAN26_TEXT = (
    "duration", "size", "input_video_duration", "output_video_duration", "video_count", "SR",
)
_LEGACY_TEXT = ("video_duration", "video_ratio", "video_count")
USAGE_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("wan2.7", "t2v"): (
        "duration", "input_video_duration", "output_video_duration", "video_count", "ratio", "SR",
    ),
    ("wan2.7", "i2v"): _WAN26_IMAGE,
    ("wan2.6", "t2v"): _WAN26_TEXT,
    ("wan2.6", "r2v"): _WAN26_TEXT,
    ("wan2.6", "i2v"): _WAN26_IMAGE,
    ("wan2.5", "t2v"): _LEGACY_TEXT,
    ("wan2.5", "i2v"): ("duration", "SR", "video_count"),
    ("wan2.2", "t2v"): _LEGACY_TEXT,
    ("wan2.2", "i2v"): ("duration", "SR", "video_count"),
    ("wan2.2", "kf2v"): ("video_duration", "video_count", "SR"),
    ("wanx2.1", "t2v"): _LEGACY_TEXT,
    ("wanx2.1", "i2v"): _LEGACY_TEXT,  # video_ratio is "standard" for image input
    ("wanx2.1", "kf2v"): _LEGACY_TEXT,
}
# Families whose SUCCEEDED output carries `actual_prompt` when prompt_extend is on
# (the docs: never wan2.6; the wan2.7 examples have none).
ACTUAL_PROMPT_FAMILIES = frozenset({"wan2.5", "wan2.2", "wanx2.1"})


class Planner:
    """Builds a TaskPlan from a submit that passed the synchronous checks."""

    def __init__(self, catalog: Catalog, media: MediaStore) -> None:
        self.catalog = catalog
        self.media = media

    def plan(
        self, spec: ModelSpec, model: str, input_: dict[str, Any], parameters: dict[str, Any]
    ) -> TaskPlan:
        prompt = _text(input_.get("prompt"), spec.prompt_max)
        summary = summarize({**input_, **({"prompt": prompt} if prompt is not None else {})})
        try:
            seconds = _duration(spec, parameters)
            picture = self._picture(spec, input_, parameters)
        except TaskFailed as failed:
            return TaskPlan(prompt, None, {}, None, failed.failure, summary)
        audio = _has_audio(spec, parameters)
        render = RenderSpec(
            model=model,
            width=picture.size[0],
            height=picture.size[1],
            fps=spec.fps,
            seconds=seconds,
            prompt=prompt or "",
            audio=audio,
            first_image=str(picture.images[0]) if picture.images else None,
            last_image=str(picture.images[1]) if len(picture.images) > 1 else None,
        )
        actual = None
        if prompt and spec.family in ACTUAL_PROMPT_FAMILIES and parameters.get("prompt_extend", True):
            actual = f"{prompt} (SIMULATED prompt extension: cinematic lighting, smooth motion.)"
        usage = _usage(spec, seconds, picture, audio)
        return TaskPlan(prompt, actual, usage, render, None, summary)

    def _picture(
        self, spec: ModelSpec, input_: dict[str, Any], parameters: dict[str, Any]
    ) -> Picture:
        """The output picture the model's protocol asks for; TaskFailed if it cannot."""
        if spec.protocol in ("size", "references"):
            allowed = spec.sizes(self.catalog)
            size = parameters.get("size", spec.default_size)
            if size not in allowed:
                raise TaskFailed(errors.not_match("size", ", ".join(allowed)))
            w, h = parse_size(size)
            return Picture((w, h), tier_of_size(w, h))
        tier = parameters.get("resolution", spec.default_tier)
        if not isinstance(tier, str) or tier.upper() not in spec.tiers:
            raise TaskFailed(errors.not_match("resolution", ", ".join(spec.tiers)))
        tier = tier.upper()
        if spec.protocol == "ratio":
            ratios = self.catalog.ratio_sizes[tier]
            ratio = parameters.get("ratio", spec.default_ratio or next(iter(ratios)))
            if ratio not in ratios:
                raise TaskFailed(errors.not_match("ratio", ", ".join(ratios)))
            return Picture(parse_size(ratios[ratio]), tier, ratio)
        images: list[Path] = []
        first_size = (0, 0)
        for url, is_clip in _image_urls(spec, input_):
            path = self.media.fetch(url)
            if is_clip:
                path = self.media.first_video_frame(path)
            size = check_image(path, None if is_clip else spec.image)
            if not images:
                first_size = size  # the output follows the first image's aspect
            images.append(path)
        return Picture(image_output_size(*first_size, tier), tier, None, tuple(images))


@dataclass(frozen=True)
class Picture:
    size: tuple[int, int]
    tier: str
    ratio: str | None = None
    images: tuple[Path, ...] = ()


def _duration(spec: ModelSpec, parameters: dict[str, Any]) -> int:
    duration = parameters.get("duration", spec.default_duration)
    if isinstance(duration, bool) or not isinstance(duration, (int, float)):
        raise TaskFailed(errors.not_match("duration", spec.durations_text()))
    if not spec.duration_ok(duration):
        raise TaskFailed(errors.not_match("duration", spec.durations_text()))
    return int(duration)


def _image_urls(spec: ModelSpec, input_: dict[str, Any]) -> list[tuple[str, bool]]:
    """[(url, is a video clip)] of the first and optional last frame."""
    if spec.protocol == "media":
        items = [m for m in input_["media"] if isinstance(m, dict)]
        types = [m.get("type") for m in items]
        if len(set(types)) != len(types) or frozenset(types) not in MEDIA_COMBOS:
            shown = ", ".join(str(t) for t in types)
            raise TaskFailed(("InvalidParameter", f"The media combination is not supported: {shown}."))
        by_type = {m["type"]: m["url"] for m in items}
        if "first_frame" in by_type:
            urls = [(by_type["first_frame"], False)]
        else:
            urls = [(by_type["first_clip"], True)]
        if "last_frame" in by_type:
            urls.append((by_type["last_frame"], False))
        return urls
    if spec.protocol == "keyframes":
        urls = [(input_["first_frame_url"], False)]
        if input_.get("last_frame_url"):
            urls.append((input_["last_frame_url"], False))
        return urls
    return [(input_["img_url"], False)]


def _text(value: Any, limit: int) -> str | None:
    """A prompt as the service keeps it: over-long text is cut silently."""
    return value[:limit] if isinstance(value, str) else None


def _has_audio(spec: ModelSpec, parameters: dict[str, Any]) -> bool:
    if spec.audio == "default":
        return True
    if spec.audio == "switch":
        return parameters.get("audio", True) is not False
    return False


def _usage(spec: ModelSpec, seconds: int, picture: Picture, audio: bool) -> dict[str, Any]:
    w, h = picture.size
    values: dict[str, Any] = {
        "duration": seconds,
        "size": f"{w}*{h}",
        "input_video_duration": 0,
        "output_video_duration": seconds,
        "video_count": 1,
        "ratio": picture.ratio,
        "SR": int(picture.tier.rstrip("P")),
        "video_duration": seconds,
        "video_ratio": "standard" if spec.needs_image else f"{w}*{h}",
    }
    default = _WAN26_IMAGE if spec.needs_image else _WAN26_TEXT
    usage = {name: values[name] for name in USAGE_FIELDS.get((spec.family, spec.kind), default)}
    if spec.audio == "switch":
        usage["audio"] = audio
    return usage
