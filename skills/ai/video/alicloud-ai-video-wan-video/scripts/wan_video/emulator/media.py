"""Input media: which fields hold URLs, which URLs are acceptable, and fetching images.

The service reads inputs from public http(s) URLs, `oss://` temporary-upload URLs (only
with `X-DashScope-OssResourceResolve: enable`) and `data:` URLs. The emulator has no
internet: it fetches http(s) only from loopback hosts and treats every other host as
unreachable. Fetched bytes are stored content-addressed, so equal inputs render once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import av
import httpx
from PIL import Image, UnidentifiedImageError

from . import errors
from .errors import TaskFailed

# Input fields holding one URL, and fields holding a list of them (SDK aigc/video_synthesis.py).
URL_FIELDS = (
    "img_url",
    "first_frame_url",
    "last_frame_url",
    "audio_url",
    "head_frame",
    "tail_frame",
    "reference_url",
)
URL_LIST_FIELDS = ("reference_urls", "reference_video_urls")
MEDIA_URL_KEYS = ("url", "reference_voice")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
FETCH_TIMEOUT = 10.0
_DATA_URL = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(?:;[^;,]*)*?);base64,(?P<data>.*)", re.S)


def input_urls(input_: dict[str, Any]) -> Iterator[str]:
    """Every URL-valued entry of a submit's `input`."""
    for name in URL_FIELDS:
        value = input_.get(name)
        if isinstance(value, str) and value:
            yield value
    for name in URL_LIST_FIELDS:
        for value in input_.get(name) or ():
            if isinstance(value, str) and value:
                yield value
    for item in input_.get("media") or ():
        if isinstance(item, dict):
            for key in MEDIA_URL_KEYS:
                value = item.get(key)
                if isinstance(value, str) and value:
                    yield value


def url_acceptable(url: str, oss_resolve: bool) -> bool:
    """Whether the gateway takes this URL at submit (it is fetched only later)."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "oss":
        return oss_resolve and url.startswith("oss://") and len(url) > len("oss://")
    if scheme in ("http", "https"):
        return bool(urlsplit(url).hostname)
    return scheme == "data" and _DATA_URL.match(url) is not None


def summarize(value: Any) -> Any:
    """The input as stats show it: data: URLs shortened, everything else as sent."""
    if isinstance(value, str) and value.startswith("data:"):
        head = value.split(",", 1)[0]
        return f"{head},<{len(value) - len(head) - 1} chars>"
    if isinstance(value, list):
        return [summarize(v) for v in value]
    if isinstance(value, dict):
        return {k: summarize(v) for k, v in value.items()}
    return value


class MediaStore:
    """Resolves input URLs to local files (uploads, data: URLs, loopback http)."""

    def __init__(self, directory: Path, uploads: Callable[[str], Path | None]) -> None:
        self.directory = directory
        self._uploads = uploads

    def fetch(self, url: str) -> Path:
        """The URL's bytes as a local file; TaskFailed says what the service would report."""
        if url.startswith("oss://"):
            path = self._uploads(url[len("oss://") :])
            if path is None:
                raise TaskFailed(errors.MEDIA_NOT_FOUND)
            return path
        if url.startswith("data:"):
            match = _DATA_URL.match(url)
            try:
                data = base64.b64decode(match["data"] if match else "", validate=False)
            except (binascii.Error, ValueError):
                raise TaskFailed(errors.MEDIA_FORMAT) from None
            return self._store(data)
        host = (urlsplit(url).hostname or "").lower()
        if host not in LOOPBACK_HOSTS:
            # decision: no internet here, so every public host is unreachable.
            raise TaskFailed(errors.MEDIA_DOWNLOAD_FAILED)
        try:
            response = httpx.get(url, timeout=FETCH_TIMEOUT, follow_redirects=True)
        except httpx.HTTPError:
            raise TaskFailed(errors.MEDIA_DOWNLOAD_FAILED) from None
        if response.status_code != 200:
            raise TaskFailed(errors.MEDIA_DOWNLOAD_FAILED)
        return self._store(response.content)

    def _store(self, data: bytes) -> Path:
        path = self.directory / hashlib.sha256(data).hexdigest()
        if not path.exists():
            partial = path.with_name(f"{path.name}.{uuid.uuid4().hex}.part")
            partial.write_bytes(data)
            partial.replace(path)  # atomic: a concurrent equal write lands the same bytes
        return path

    def first_video_frame(self, path: Path) -> Path:
        """A still of a clip's first frame (wan2.7 `first_clip`), as a PNG."""
        target = self.directory / f"{path.name}.first.png"
        if target.exists():
            return target
        try:
            with av.open(str(path)) as container:
                frame = next(container.decode(video=0))
                frame.to_image().save(target, "PNG")
        except (av.FFmpegError, StopIteration):
            raise TaskFailed(errors.MEDIA_FORMAT) from None
        return target


def check_image(path: Path, limits: dict[str, Any] | None) -> tuple[int, int]:
    """(width, height) of an acceptable input image; TaskFailed says why not.

    decision: the docs give the limits (formats, 240-8000 px per side, 10 or 20 MB) but not
    the wording of their errors; these messages are the emulator's own.
    """
    try:
        with Image.open(path) as img:
            fmt = (img.format or "").lower()
            width, height = img.size
    except (UnidentifiedImageError, OSError):
        raise TaskFailed(errors.MEDIA_FORMAT) from None
    if limits is None:
        return width, height
    if fmt not in limits["formats"]:
        raise TaskFailed(errors.MEDIA_FORMAT)
    if path.stat().st_size > limits["max_bytes"]:
        mb = limits["max_bytes"] // (1024 * 1024)
        raise TaskFailed(("InvalidParameter", f"The image file is too large, the maximum is {mb} MB."))
    low, high = limits["min_side"], limits["max_side"]
    if not (low <= width <= high and low <= height <= high):
        raise TaskFailed(
            ("InvalidParameter", f"The image width and height must be between {low} and {high} pixels.")
        )
    return width, height
