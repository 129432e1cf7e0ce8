"""Normalized request -> the DashScope submit body for the model's protocol. Pure functions."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from .request import VideoRequest


@dataclass
class WireCall:
    """One submit: the path below /api/v1, the JSON body, and the local files to upload first."""

    path: str
    body: dict[str, Any]
    # (pointer into body["input"], local path): replaced by the oss:// URL of the upload.
    uploads: list[tuple[tuple[str | int, ...], str]] = field(default_factory=list)

    @property
    def needs_oss_resolve(self) -> bool:
        return bool(self.uploads) or _has_oss(self.body.get("input", {}))

    def with_uploads(self, urls: dict[str, str]) -> dict[str, Any]:
        """The body with each local file replaced by its uploaded URL."""
        body = copy.deepcopy(self.body)
        for pointer, local in self.uploads:
            target: Any = body["input"]
            for key in pointer[:-1]:
                target = target[key]
            target[pointer[-1]] = urls[local]
        return body


def _has_oss(value: Any) -> bool:
    if isinstance(value, str):
        return value.startswith("oss://")
    if isinstance(value, dict):
        return any(_has_oss(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_oss(v) for v in value)
    return False


def build(req: VideoRequest) -> WireCall:
    """The exact body the service receives for this request."""
    spec = req.spec
    inp: dict[str, Any] = {"prompt": req.prompt}
    if req.negative_prompt:
        inp["negative_prompt"] = req.negative_prompt
    params: dict[str, Any] = {}
    uploads: list[tuple[tuple[str | int, ...], str]] = []

    def image(pointer: tuple[str | int, ...], ref: Any) -> str:
        if ref.local_path:
            uploads.append((pointer, ref.local_path))
        return str(ref.wire_value())

    if spec.protocol in ("size", "references"):
        params["size"] = req.size
    elif spec.protocol == "ratio":
        params["resolution"] = req.tier
        params["ratio"] = req.ratio
    else:
        params["resolution"] = req.tier

    if spec.protocol == "resolution":
        inp["img_url"] = image(("img_url",), req.reference_image)
    elif spec.protocol == "keyframes":
        inp["first_frame_url"] = image(("first_frame_url",), req.reference_image)
        if req.last_frame_image is not None:
            inp["last_frame_url"] = image(("last_frame_url",), req.last_frame_image)
    elif spec.protocol == "media":
        media: list[dict[str, Any]] = [{"type": "first_frame", "url": ""}]
        media[0]["url"] = image(("media", 0, "url"), req.reference_image)
        if req.last_frame_image is not None:
            media.append({"type": "last_frame", "url": ""})
            media[1]["url"] = image(("media", 1, "url"), req.last_frame_image)
        inp["media"] = media
    elif spec.protocol == "references":
        inp["reference_urls"] = list(req.reference_urls)

    params["duration"] = req.duration
    if req.seed is not None:
        params["seed"] = req.seed
    if req.prompt_extend is not None:
        params["prompt_extend"] = req.prompt_extend
    if req.watermark is not None:
        params["watermark"] = req.watermark
    if req.shot_type is not None:
        params["shot_type"] = req.shot_type
    if spec.audio == "switch" and req.audio is not None:
        params["audio"] = req.audio
    body = {"model": req.wire_model, "input": inp, "parameters": params}
    return WireCall(path=spec.submit_path, body=body, uploads=uploads)


def redacted_body(call: WireCall) -> dict[str, Any]:
    """The body for display and evidence: inline image data shortened, never printed whole."""

    def shorten(value: Any) -> Any:
        if isinstance(value, str) and value.startswith("data:") and len(value) > 80:
            head = value.split(",", 1)[0]
            return f"{head},<{len(value) - len(head) - 1} base64 chars>"
        if isinstance(value, dict):
            return {k: shorten(v) for k, v in value.items()}
        if isinstance(value, list):
            return [shorten(v) for v in value]
        return value

    return shorten(call.body)
