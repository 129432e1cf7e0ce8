"""Reference images in every form (URL, oss://, path, file://, data: URI, bytes): checked and hashed."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from .errors import InvalidRequest

FORMAT_ALIASES = {"jpg": "jpeg", "mpo": "jpeg"}


@dataclass
class ImageRef:
    """One input image: where it came from, its content hash, and how it goes on the wire."""

    field: str
    form: str  # url | oss | path | data | bytes
    display: str  # safe to print: never the bytes
    sha256: str | None = None  # of the content; None when the content was not seen
    info: dict[str, Any] = dc_field(default_factory=dict)
    local_path: str | None = None  # uploaded through the SDK at submit
    data_uri: str | None = None  # sent inline
    url: str | None = None  # sent as is

    @property
    def identity(self) -> str:
        """What the cache key uses: the content hash, or the URL when the content is unseen."""
        return f"sha256:{self.sha256}" if self.sha256 else f"url:{self.url}"

    def wire_value(self) -> str:
        """The value the body carries (a local file becomes oss:// when uploaded at submit)."""
        if self.data_uri:
            return self.data_uri
        if self.url:
            return self.url
        return f"<upload:{self.local_path}>"


def _problem(field_name: str, value: Any, message: str) -> InvalidRequest:
    return InvalidRequest(
        f"{field_name}: {message}",
        "reference images must be real JPEG, PNG, BMP or WEBP images within the model's limits "
        "(`generate_video.py models` lists them)",
        problems=[{"field": field_name, "value": value, "problem": message, "code": "InvalidImage"}],
        code="InvalidImage",
    )


def _check(field_name: str, display: str, data: bytes, limits: dict[str, Any]) -> dict[str, Any]:
    from .media import image_info

    max_bytes = int(limits.get("max_bytes", 20 * 1024 * 1024))
    if len(data) > max_bytes:
        raise _problem(field_name, display,
                       f"{len(data)} bytes is over this model's limit of {max_bytes} bytes")
    try:
        info = image_info(data)
    except Exception as exc:  # NotAnImage and friends: refuse it
        # media.image_info names what the bytes are (text, a key, HTML) but never quotes them,
        # so a local .env or key file cannot leak through this message.
        why = str(getattr(exc, "message", exc)).removeprefix("The reference image is not a readable image: ")
        # ... except binary it cannot name, which it shows as its first bytes in hex ("unknown
        # bytes 0x5348454c4c3d2f62" is "SHELL=/b" of /proc/self/environ): dropped here too.
        why = re.sub(r"unknown bytes 0x[0-9a-f]+", "unknown bytes", why)
        raise _problem(field_name, display, f"not an image by its content: {why.rstrip('.')}") from None
    fmt = FORMAT_ALIASES.get(info["format"], info["format"])
    allowed = limits.get("formats", ["jpeg", "png", "bmp", "webp"])
    if fmt not in allowed:
        raise _problem(field_name, display, f"format {fmt} is not one of {', '.join(allowed)}")
    lo, hi = int(limits.get("min_side", 240)), int(limits.get("max_side", 8000))
    w, h = int(info["width"]), int(info["height"])
    if not (lo <= w <= hi and lo <= h <= hi):
        raise _problem(field_name, display,
                       f"{w}x{h} pixels: each side must be between {lo} and {hi}")
    return info


def _mime(info: dict[str, Any]) -> str:
    return str(info.get("mime") or f"image/{info['format']}")


def resolve_image(value: str | bytes, field_name: str, limits: dict[str, Any],
                  *, fetch: bool = True) -> ImageRef:
    """Turn any accepted form into an ImageRef, refusing what is not a usable image."""
    if isinstance(value, (bytes, bytearray)):
        data = bytes(value)
        info = _check(field_name, f"<{len(data)} bytes>", data, limits)
        return ImageRef(field_name, "bytes", f"<{len(data)} bytes>", hashlib.sha256(data).hexdigest(),
                        info, data_uri=f"data:{_mime(info)};base64," + base64.b64encode(data).decode())
    text = value.strip()
    lower = text.lower()
    if lower.startswith("data:"):
        head, sep, payload = text.partition(",")
        display = f"{head[:40]},<{len(payload)} base64 chars>"
        if not sep or ";base64" not in head.lower():
            raise _problem(field_name, display, "a data: URI must be data:image/<type>;base64,<data>")
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise _problem(field_name, display, "the base64 data does not decode") from None
        info = _check(field_name, display, data, limits)
        return ImageRef(field_name, "data", display, hashlib.sha256(data).hexdigest(), info,
                        data_uri=f"data:{_mime(info)};base64," + payload)
    if lower.startswith(("http://", "https://")):
        if not fetch:
            return ImageRef(field_name, "url", text, url=text)
        data = _fetch(field_name, text, int(limits.get("max_bytes", 20 * 1024 * 1024)))
        info = _check(field_name, text, data, limits)
        return ImageRef(field_name, "url", text, hashlib.sha256(data).hexdigest(), info, url=text)
    if lower.startswith("oss://"):
        return ImageRef(field_name, "oss", text, url=text)
    if lower.startswith("file://"):
        text = unquote(urlparse(text).path)
    if "://" in text:
        raise _problem(field_name, value, "only http(s)://, oss://, file:// and data: URIs are accepted")
    path = Path(os.path.expanduser(text))
    max_bytes = int(limits.get("max_bytes", 20 * 1024 * 1024))
    try:  # a name too long, a folder we may not enter: OSError from the checks themselves
        if not path.is_file():
            raise _problem(field_name, str(value), "no such file" if not path.exists() else "not a regular file")
        size = path.stat().st_size
        if size > max_bytes:  # refuse before reading a huge file
            raise _problem(field_name, str(path), f"{size} bytes is over this model's limit of {max_bytes} bytes")
        # Read at most one byte past the limit: a /proc or /sys file says 0 bytes and may not end.
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise _problem(field_name, str(value), f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    info = _check(field_name, str(path), data, limits)
    return ImageRef(field_name, "path", str(path), hashlib.sha256(data).hexdigest(), info,
                    local_path=str(path.resolve()))


def _fetch(field_name: str, url: str, max_bytes: int) -> bytes:
    """Read a URL's image (bounded) so it is checked and hashed like a local file."""
    import httpx

    chunks: list[bytes] = []
    total = 0
    try:
        with httpx.stream("GET", url, timeout=20.0, follow_redirects=True) as resp:
            if resp.status_code != 200:
                raise _problem(field_name, url, f"the URL answered HTTP {resp.status_code}")
            for chunk in resp.iter_bytes():
                total += len(chunk)
                if total > max_bytes:
                    raise _problem(field_name, url, f"more than {max_bytes} bytes")
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise _problem(field_name, url, f"could not be read ({type(exc).__name__})") from None
    return b"".join(chunks)
