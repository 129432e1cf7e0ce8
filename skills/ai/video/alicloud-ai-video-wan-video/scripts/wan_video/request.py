"""The normalized video.generate request: schema check, catalog rules, defaults, cache key."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from .catalog import Catalog, ModelSpec, load_catalog, parse_size, tier_of_size
from .errors import EXIT_AUTH, InvalidRequest, WanVideoError
from .images import ImageRef, resolve_image

SCHEMA_DIR = Path(__file__).with_name("schemas")
REQUEST_SCHEMA = SCHEMA_DIR / "request.schema.json"
REGION_ENV = ("WAN_VIDEO_REGION", "DASHSCOPE_REGION")


@cache
def load_schema(name: str) -> dict[str, Any]:
    with open(SCHEMA_DIR / name, encoding="utf-8") as fh:
        return json.load(fh)


@dataclass
class VideoRequest:
    """A request that passed every check: what will be sent, and what is done locally."""

    model: str  # catalog name
    wire_model: str  # the name the service knows in this region
    region: str
    spec: ModelSpec
    prompt: str
    negative_prompt: str | None
    duration: int
    fps: float  # requested (native when not asked)
    size: str | None  # W*H for size/references protocols, output size for ratio
    tier: str
    ratio: str | None
    seed: int | None
    reference_image: ImageRef | None
    last_frame_image: ImageRef | None
    reference_urls: list[str]
    motion_strength: float | None
    audio: bool | None
    prompt_extend: bool | None
    watermark: bool | None
    shot_type: str | None
    item_id: str | None = None
    warnings: list[str] = field(default_factory=list)
    defaults_applied: list[str] = field(default_factory=list)

    @property
    def needs_fps_conform(self) -> bool:
        return abs(self.fps - self.spec.fps) > 1e-6

    @property
    def has_audio(self) -> bool:
        if self.spec.audio == "none":
            return False
        if self.spec.audio == "switch":
            return self.audio is not False
        return True

    def canonical(self) -> dict[str, Any]:
        """Everything that changes the paid result, in one stable form (the cache key's input)."""
        return {
            "model": self.model,
            "region": self.region,
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "duration": self.duration,
            "fps": self.fps,
            "size": self.size,
            "tier": self.tier,
            "ratio": self.ratio,
            "seed": self.seed,
            "reference_image": self.reference_image.identity if self.reference_image else None,
            "last_frame_image": self.last_frame_image.identity if self.last_frame_image else None,
            "reference_urls": self.reference_urls or None,
            "motion_strength": self.motion_strength,
            "audio": self.audio,
            "prompt_extend": self.prompt_extend,
            "watermark": self.watermark,
            "shot_type": self.shot_type,
        }

    def cache_key(self) -> str:
        blob = json.dumps(self.canonical(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def summary(self) -> dict[str, Any]:
        """The normalized request as JSON (images by form and hash, never their bytes)."""
        out = {k: v for k, v in self.canonical().items() if v is not None}
        for ref in (self.reference_image, self.last_frame_image):
            if ref is not None:
                out[ref.field] = {"form": ref.form, "source": ref.display, "sha256": ref.sha256,
                                  **{k: ref.info[k] for k in ("format", "width", "height") if k in ref.info}}
        out["wire_model"] = self.wire_model
        out["native_fps"] = self.spec.fps
        if self.item_id:
            out["id"] = self.item_id
        return out


def schema_problems(raw: Any) -> list[dict[str, Any]]:
    """Every schema problem at once, sorted by path, each naming field, value and what is allowed."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(load_schema("request.schema.json"))
    problems = []
    for err in validator.iter_errors(raw):
        path = ".".join(str(p) for p in err.absolute_path) or "(request)"
        if err.validator == "additionalProperties":
            allowed = sorted(load_schema("request.schema.json")["properties"])
            extra = sorted(set(raw) - set(allowed)) if isinstance(raw, dict) else []
            for name in extra:
                problems.append({"field": name, "value": _short(raw[name]),
                                 "problem": f"unknown field; allowed fields: {', '.join(allowed)}"})
            continue
        if err.validator == "required":
            missing = err.message.split("'")[1] if "'" in err.message else err.message
            problems.append({"field": missing, "value": None, "problem": "is required"})
            continue
        problems.append({"field": path, "value": _short(err.instance), "problem": _explain(err)})
    return sorted(problems, key=lambda p: (str(p["field"]), p["problem"]))


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > 80:
        return value[:77] + "..."
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 80 else text[:77] + "..."
    return value


def _explain(err: Any) -> str:
    schema = err.schema
    v = err.validator
    if v == "type":
        return f"must be of type {schema['type']}"
    if v == "enum":
        return "must be one of " + ", ".join(str(x) for x in schema["enum"])
    if v == "pattern":
        return "must be W*H, e.g. 1280*720"
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        bounds = []
        if "minimum" in schema:
            bounds.append(f">= {schema['minimum']}")
        if "exclusiveMinimum" in schema:
            bounds.append(f"> {schema['exclusiveMinimum']}")
        if "maximum" in schema:
            bounds.append(f"<= {schema['maximum']}")
        return "must be " + " and ".join(bounds)
    if v == "minLength":
        return "must not be empty"
    if v == "maxLength":
        return f"must be at most {schema['maxLength']} characters"
    if v in ("minItems", "maxItems"):
        return f"must have {schema.get('minItems', 0)} to {schema.get('maxItems', 'any')} items"
    return err.message


def choose_region(raw_region: str | None, override: str | None, catalog: Catalog) -> str:
    from .config import env

    for candidate in (override, raw_region, *(env(e) for e in REGION_ENV)):
        if candidate:
            if candidate not in catalog.regions:
                raise InvalidRequest(
                    f"region: unknown region {candidate!r}",
                    "use one of " + ", ".join(catalog.regions),
                    problems=[{"field": "region", "value": candidate,
                               "problem": "must be one of " + ", ".join(catalog.regions)}])
            return candidate
    return catalog.default_region


def resolve_model(name: str | None, region: str, has_image: bool, has_last: bool,
                  has_refs: bool, catalog: Catalog) -> tuple[ModelSpec, list[str]]:
    """The catalog model for a requested name, or an error that says what to use instead."""
    warnings: list[str] = []
    if name is None:
        name = catalog.default_model(has_image, has_last, has_refs)
    if name in catalog.deprecated:
        entry = catalog.deprecated[name]
        raise InvalidRequest(
            f"model: {name!r} is not a video model you can use ({entry['reason']})",
            f"use {entry['replacement']!r} instead; `generate_video.py models` lists every name",
            problems=[{"field": "model", "value": name,
                       "problem": f"deprecated or never existed; replacement: {entry['replacement']}"}],
            code="DeprecatedModel")
    if name in catalog.unsupported:
        entry = catalog.unsupported[name]
        repl = entry.get("replacement")
        raise InvalidRequest(
            f"model: {name!r} is not supported by video.generate ({entry['reason']})",
            f"use {repl!r}" if repl else "pick a t2v, i2v, kf2v or r2v model from `generate_video.py models`",
            problems=[{"field": "model", "value": name, "problem": entry["reason"]}],
            code="UnsupportedModel")
    spec = catalog.canonical(name)
    if spec is None:
        close = catalog.suggestions(name)
        raise InvalidRequest(
            f"model: unknown model {name!r}" + (f"; did you mean {', '.join(close)}?" if close else ""),
            "model names are exact (no date suffixes or aliases); `generate_video.py models` lists them",
            problems=[{"field": "model", "value": name,
                       "problem": "unknown model" + (f"; closest: {', '.join(close)}" if close else "")}],
            code="UnknownModel")
    if region not in spec.regions:
        where = ", ".join(spec.regions)
        raise WanVideoError(
            "ModelNotInRegion",
            f"model {spec.name!r} is not served in region {region} (only in {where})",
            f"pass --region {next(iter(spec.regions))} (with an API key of that region), or choose a "
            f"model served in {region}: `generate_video.py models --region {region}`",
            exit_code=EXIT_AUTH)
    if name != spec.regions[region]:
        warnings.append(f"model {name!r} is called {spec.regions[region]!r} in {region}; sending that name")
    if not spec.listed:
        warnings.append(
            f"model {spec.name!r} is in no official model table; the service may answer "
            f"'Model not exist.'" + (f" (documented alternative: {spec.replacement})" if spec.replacement else ""))
    return spec, warnings


def normalize(raw: Any, *, region: str | None = None, fetch_images: bool = True,
              catalog: Catalog | None = None) -> VideoRequest:
    """Check a raw request and return the VideoRequest, or raise one error listing every problem."""
    catalog = catalog or load_catalog()
    raw_images: dict[str, bytes] = {}
    if isinstance(raw, dict):
        raw = dict(raw)
        for key in ("reference_image", "last_frame_image"):
            if isinstance(raw.get(key), (bytes, bytearray)):
                raw_images[key] = bytes(raw[key])
                raw[key] = "<bytes>"
    else:
        raise InvalidRequest(
            "the request must be a JSON object",
            'e.g. {"prompt": "a cat running under the moon", "duration": 5, "size": "1280*720"}',
            problems=[{"field": "(request)", "value": _short(raw), "problem": "must be an object"}])
    problems = schema_problems(raw)
    for key, value in raw.items():
        if isinstance(value, str) and not _encodable(value):
            problems.append({"field": key, "value": None,
                             "problem": "contains an unpaired Unicode surrogate; send valid UTF-8 text"})
    if problems:
        raise _invalid(problems)

    region_name = choose_region(raw.get("region"), region, catalog)
    has_image = "reference_image" in raw
    spec, warnings = resolve_model(raw.get("model"), region_name, has_image,
                                   "last_frame_image" in raw, "reference_urls" in raw, catalog)
    defaults: list[str] = []
    if "model" not in raw:
        defaults.append(f"model={spec.name}")
    problems = []

    def bad(field_name: str, value: Any, problem: str) -> None:
        problems.append({"field": field_name, "value": _short(value), "problem": problem})

    # Inputs the model needs or cannot take.
    if spec.needs_image and not has_image:
        wire_field = {"keyframes": "input.first_frame_url", "media": "input.media"}.get(spec.protocol,
                                                                                      "input.img_url")
        bad("reference_image", None, f"is required: {spec.name} is {spec.kind} and animates an image "
            f"(without it the service answers 'Field required: {wire_field}')")
    if spec.kind in ("t2v", "r2v") and has_image:
        bad("reference_image", raw["reference_image"],
            f"{spec.name} is {spec.kind} and takes no input image; use an i2v model "
            f"(default {catalog.defaults['image']}) or drop it")
    if "last_frame_image" in raw and not spec.last_frame:
        bad("last_frame_image", raw["last_frame_image"],
            f"{spec.name} takes no last frame; first-and-last-frame models: "
            + ", ".join(n for n, s in catalog.models.items() if s.last_frame))
    if spec.kind == "r2v" and "reference_urls" not in raw:
        bad("reference_urls", None, f"is required: {spec.name} generates from reference images or videos")
    if spec.kind != "r2v" and "reference_urls" in raw:
        bad("reference_urls", raw["reference_urls"], f"only reference-to-video models take it, not {spec.name}")

    # Prompt lengths (the service would silently truncate; we refuse so nothing is lost unseen).
    prompt = raw["prompt"]
    if len(prompt) > spec.prompt_max:
        bad("prompt", prompt, f"{len(prompt)} characters; {spec.name} takes at most {spec.prompt_max}")
    negative = raw.get("negative_prompt")
    if negative is not None and len(negative) > spec.negative_prompt_max:
        bad("negative_prompt", negative,
            f"{len(negative)} characters; {spec.name} takes at most {spec.negative_prompt_max}")

    # Duration.
    if "duration" in raw:
        duration = raw["duration"]
        if not spec.duration_ok(duration):
            bad("duration", duration, f"{spec.name} takes {spec.durations_text()} whole seconds")
    else:
        duration = spec.default_duration
        defaults.append(f"duration={duration}")

    size, tier, ratio = _resolve_size(raw, spec, catalog, bad, warnings, defaults)

    # fps: no model takes it; conformed locally after download.
    fps = float(raw.get("fps", spec.fps))
    if "fps" not in raw:
        defaults.append(f"fps={spec.fps}")
    elif abs(fps - spec.fps) > 1e-6:
        warnings.append(f"fps: {spec.name} renders at {spec.fps} fps (no model takes an fps "
                        f"parameter); the video is conformed locally to {fps:g} fps and both files are kept")
    if "motion_strength" in raw:
        warnings.append("motion_strength: no Wan model has a motion-strength parameter; not sent "
                        "(describe the motion in the prompt instead)")
    audio = raw.get("audio")
    if audio is not None and spec.audio == "none" and audio:
        warnings.append(f"audio: {spec.name} makes silent video; audio=true cannot be honoured")
    if audio is False and spec.audio == "default":
        warnings.append(f"audio: {spec.name} always makes sound (no switch); audio=false cannot be honoured")
    shot_type = raw.get("shot_type")
    if shot_type is not None and not spec.shot_type:
        warnings.append(f"shot_type: {spec.name} has no shot_type parameter; not sent")
        shot_type = None
    for n, ref in enumerate(raw.get("reference_urls", [])):
        problem = _reference_problem(ref)
        if problem:
            bad(f"reference_urls.{n}", ref, problem)

    # Images, last: they may read files or URLs, so only once the cheap checks passed.
    refs: dict[str, ImageRef | None] = {"reference_image": None, "last_frame_image": None}
    if not problems and spec.image is not None:
        for key in refs:
            if key in raw:
                image_value: str | bytes = raw_images.get(key, raw[key])
                try:
                    refs[key] = resolve_image(image_value, key, spec.image, fetch=fetch_images)
                except InvalidRequest as exc:
                    problems.extend(exc.problems)
                    continue
                ref = refs[key]
                if ref is not None and ref.sha256 is None:
                    warnings.append(f"{key}: {ref.form} image not checked locally"
                                    + (" (no network in --dry-run)" if ref.form == "url" else
                                       " (oss:// is only readable by the service)"))
    if problems:
        raise _invalid(problems)

    if spec.needs_image and refs["reference_image"] is not None and (size or "size" in raw):
        warnings.append(f"size: {spec.name} takes a resolution tier ({tier}); the output keeps the "
                        "input image's aspect ratio, so width and height follow the image")
    return VideoRequest(
        model=spec.name, wire_model=spec.regions[region_name], region=region_name, spec=spec,
        prompt=prompt, negative_prompt=negative, duration=int(duration), fps=fps,
        size=size, tier=tier, ratio=ratio, seed=raw.get("seed"),
        reference_image=refs["reference_image"], last_frame_image=refs["last_frame_image"],
        reference_urls=list(raw.get("reference_urls", [])),
        motion_strength=raw.get("motion_strength"), audio=audio,
        prompt_extend=raw.get("prompt_extend"), watermark=raw.get("watermark"),
        shot_type=shot_type, item_id=raw.get("id"), warnings=warnings, defaults_applied=defaults,
    )


def _resolve_size(raw: dict[str, Any], spec: ModelSpec, catalog: Catalog, bad: Any,
                  warnings: list[str], defaults: list[str]) -> tuple[str | None, str, str | None]:
    """(size, tier, ratio) for the model's protocol, reporting what does not fit."""
    size_in = raw.get("size")
    size_norm = None
    if size_in is not None:
        w, h = parse_size(size_in.lower().replace("x", "*"))
        size_norm = f"{w}*{h}"
    tier_in = raw.get("resolution")
    ratio_in = raw.get("ratio")
    allowed_tiers = ", ".join(spec.tiers)
    if spec.protocol in ("size", "references"):
        if ratio_in is not None:
            warnings.append(f"ratio: {spec.name} takes an exact size; ratio is not sent")
        sizes = spec.sizes(catalog)
        if size_norm is None:
            if tier_in is not None:
                if tier_in not in spec.tiers:
                    bad("resolution", tier_in, f"{spec.name} takes {allowed_tiers}")
                    return None, tier_in, None
                size_norm = catalog.tiers[tier_in][0]
            else:
                size_norm = spec.default_size or sizes[0]
            defaults.append(f"size={size_norm}")
        elif size_norm not in sizes:
            bad("size", size_in, f"{spec.name} takes one of {', '.join(sizes)}")
            return size_norm, tier_of_size(*parse_size(size_norm)), None
        tier = next(t for t in spec.tiers if size_norm in catalog.tiers[t])
        if tier_in is not None and tier_in != tier:
            bad("resolution", tier_in, f"contradicts size {size_norm} ({tier})")
        return size_norm, tier, None
    if spec.protocol == "ratio":
        by_size = {s: (t, r) for t in spec.tiers for r, s in catalog.ratio_sizes[t].items()}
        if size_norm is not None:
            if size_norm not in by_size:
                bad("size", size_in, f"{spec.name} makes one of {', '.join(by_size)}")
                return size_norm, "720P", None
            tier, ratio = by_size[size_norm]
            return size_norm, tier, ratio
        tier = tier_in or spec.default_tier or spec.tiers[-1]
        ratio = ratio_in or spec.default_ratio or "16:9"
        if tier not in spec.tiers:
            bad("resolution", tier, f"{spec.name} takes {allowed_tiers}")
            return None, tier, ratio
        if tier_in is None:
            defaults.append(f"resolution={tier}")
        if ratio_in is None:
            defaults.append(f"ratio={ratio}")
        return catalog.ratio_sizes[tier][ratio], tier, ratio
    # resolution / media / keyframes: a tier; the input image sets the aspect.
    if ratio_in is not None:
        warnings.append(f"ratio: {spec.name} follows the input image's aspect; ratio is not sent")
    if size_norm is not None:
        tier = tier_of_size(*parse_size(size_norm))
        if tier_in is not None and tier_in != tier:
            bad("resolution", tier_in, f"contradicts size {size_norm} ({tier})")
    elif tier_in is not None:
        tier = tier_in
    else:
        tier = spec.default_tier or spec.tiers[-1]
        defaults.append(f"resolution={tier}")
    if tier not in spec.tiers:
        field_name = "size" if size_norm is not None else "resolution"
        bad(field_name, size_in if size_norm is not None else tier,
            f"{tier} is not a tier of {spec.name}; it takes {allowed_tiers}")
    return None, tier, None


REFERENCE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".mp4", ".mov")
REFERENCE_MAX_BYTES = 100 * 1024 * 1024


def _reference_problem(value: str) -> str | None:
    """r2v references: http(s) or oss:// URLs, or local image/video files (uploaded at submit)."""
    if value.lower().startswith(("http://", "https://", "oss://")):
        return None
    path = Path(os.path.expanduser(value.removeprefix("file://")))
    try:
        is_file = path.is_file()
    except (OSError, ValueError):  # a name too long, a NUL byte
        is_file = False
    if not is_file:
        return "must be an http(s) or oss:// URL, or an existing local image or video file"
    if path.suffix.lower() not in REFERENCE_SUFFIXES:
        return "local references must be " + ", ".join(REFERENCE_SUFFIXES) + " files"
    if path.stat().st_size > REFERENCE_MAX_BYTES:
        return f"over {REFERENCE_MAX_BYTES} bytes"
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _invalid(problems: list[dict[str, Any]]) -> InvalidRequest:
    first = problems[0]
    message = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
    return InvalidRequest(
        f"invalid request ({len(problems)} problem{'s' if len(problems) > 1 else ''}): {message}",
        "fix the fields named above; nothing was sent. `generate_video.py models` lists each "
        "model's sizes, durations and limits",
        problems=problems, code=first.get("code", "InvalidRequest"))
