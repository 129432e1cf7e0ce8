"""The emulated OSS: upload policies and form posts in, signed result URLs and byte ranges out."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import mmap
import re
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from . import errors

BUCKET = "dashscope-file-mgr"
ACCESS_KEY_ID = "LTAI5tEmulatorAccessKey"  # looks like an OSS AccessKeyId; grants nothing
POLICY_SECONDS = 300
MAX_FILE_MB = 100  # the doc example's value (UPLOAD); the real value is per model
CAPACITY_LIMIT_MB = 999999999
FORM_FIELDS = ("OSSAccessKeyId", "Signature", "policy", "key")
_CHINA = timezone(timedelta(hours=8))


class Signer:
    """HMAC-SHA1 signatures, as OSS uses for policies and presigned URLs."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def sign(self, text: str) -> str:
        digest = hmac.new(self._secret, text.encode(), hashlib.sha1).digest()
        return base64.b64encode(digest).decode()

    def valid(self, text: str, signature: str) -> bool:
        return hmac.compare_digest(self.sign(text), signature)


# ---------------------------------------------------------------- uploads


def upload_policy(signer: Signer, api_key: str, upload_host: str, now: float) -> dict[str, Any]:
    """The `data` of `GET /uploads?action=getPolicy`: a signed, 300-second post policy."""
    account = hashlib.md5(api_key.encode()).hexdigest()
    day = datetime.fromtimestamp(now, _CHINA).strftime("%Y-%m-%d")
    upload_dir = f"dashscope-instant/{account}/{day}/{uuid.uuid4()}"
    expiration = datetime.fromtimestamp(now + POLICY_SECONDS, timezone.utc)
    document = {
        "expiration": expiration.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "conditions": [
            {"bucket": BUCKET},
            ["content-length-range", 0, MAX_FILE_MB * 1024 * 1024],
            ["starts-with", "$key", upload_dir],
            {"x-oss-object-acl": "private"},
            {"x-oss-forbid-overwrite": "true"},
        ],
    }
    policy = base64.b64encode(json.dumps(document, separators=(",", ":")).encode()).decode()
    return {
        "policy": policy,
        "signature": signer.sign(policy),
        "upload_dir": upload_dir,
        "upload_host": upload_host,
        "expire_in_seconds": POLICY_SECONDS,
        "max_file_size_mb": MAX_FILE_MB,
        "capacity_limit_mb": CAPACITY_LIMIT_MB,
        "oss_access_key_id": ACCESS_KEY_ID,
        "x_oss_object_acl": "private",
        "x_oss_forbid_overwrite": "true",
    }


def check_post(signer: Signer, fields: dict[str, str], file_size: int, now: float) -> None:
    """Enforce what OSS enforces on a PostObject: signature, expiry, key prefix, size."""
    missing = [name for name in FORM_FIELDS if not fields.get(name)]
    if missing:
        raise errors.OssError(
            errors.oss_invalid_argument(f"Missing form field(s): {', '.join(missing)}.")
        )
    if fields["OSSAccessKeyId"] != ACCESS_KEY_ID or not signer.valid(
        fields["policy"], fields["Signature"]
    ):
        raise errors.OssError(errors.OSS_SIGNATURE_MISMATCH)
    document = json.loads(base64.b64decode(fields["policy"]))
    expiration = datetime.strptime(document["expiration"], "%Y-%m-%dT%H:%M:%S.000Z")
    if expiration.replace(tzinfo=timezone.utc).timestamp() < now:
        raise errors.OssError(errors.OSS_POLICY_EXPIRED)
    for condition in document["conditions"]:
        if isinstance(condition, list) and condition[0] == "starts-with":
            if not fields["key"].startswith(condition[2]):
                raise errors.OssError(errors.oss_policy_condition(json.dumps(condition)))
        elif isinstance(condition, list) and condition[0] == "content-length-range":
            if not condition[1] <= file_size <= condition[2]:
                raise errors.OssError(errors.OSS_TOO_LARGE)


@dataclass(frozen=True)
class FormFile:
    """Where the file part of a multipart body sits inside the spooled body."""

    filename: str
    start: int
    end: int


_NAME = re.compile(rb'\bname="([^"]*)"')
_FILENAME = re.compile(rb'\bfilename="([^"]*)"')


def boundary_of(content_type: str) -> bytes | None:
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    return match.group(1).encode() if match else None


def parse_form(body: Path, boundary: bytes) -> tuple[dict[str, str], FormFile | None]:
    """Split a spooled multipart/form-data body into text fields and the file's offsets.

    The body is memory-mapped, so a 100 MB upload is never read into memory; only the
    small text fields are copied out.
    """
    fields: dict[str, str] = {}
    file: FormFile | None = None
    delimiter = b"--" + boundary
    with open(body, "rb") as fh:
        if body.stat().st_size == 0:
            return fields, file
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            pos = data.find(delimiter)
            while pos != -1:
                pos += len(delimiter)
                if data[pos : pos + 2] == b"--":
                    break
                head_end = data.find(b"\r\n\r\n", pos)
                if head_end == -1:
                    break
                head = data[pos:head_end]
                start = head_end + 4
                end = data.find(b"\r\n" + delimiter, start)
                if end == -1:
                    break
                name = _NAME.search(head)
                filename = _FILENAME.search(head)
                if filename and name:
                    file = FormFile(filename.group(1).decode(errors="replace"), start, end)
                elif name:
                    fields[name.group(1).decode()] = data[start:end].decode(errors="replace")
                pos = end + 2
    return fields, file


def copy_range(source: Path, start: int, end: int, target: Path) -> None:
    with open(source, "rb") as src, open(target, "wb") as dst:
        src.seek(start)
        left = end - start
        while left > 0:
            chunk = src.read(min(left, 1 << 20))
            if not chunk:
                break
            dst.write(chunk)
            left -= len(chunk)


# ---------------------------------------------------------------- results


def result_url(signer: Signer, origin: str, task_id: str, expires: int) -> str:
    """A presigned-looking URL for a task's video, valid until `expires` (epoch seconds)."""
    signature = signer.sign(_string_to_sign(task_id, expires))
    return (
        f"{origin}/_oss_result/{task_id}.mp4?Expires={expires}"
        f"&OSSAccessKeyId={ACCESS_KEY_ID}&Signature={quote(signature, safe='')}"
    )


def result_signature_ok(signer: Signer, task_id: str, expires: int, signature: str) -> bool:
    return signer.valid(_string_to_sign(task_id, expires), signature)


def _string_to_sign(task_id: str, expires: int) -> str:
    # OSS signs "VERB\nContent-MD5\nContent-Type\nExpires\n/bucket/object".
    return f"GET\n\n\n{expires}\n/dashscope-result/{task_id}.mp4"


@dataclass(frozen=True)
class Blob:
    """A rendered MP4 plus an optional top-level `free` box generated on the fly."""

    path: Path
    file_size: int
    padding: int = 0

    @property
    def size(self) -> int:
        return self.file_size + self.padding

    def chunks(self, start: int, end: int, chunk: int = 256 * 1024) -> Iterator[bytes]:
        """Bytes [start, end) of the padded file, in chunks, never all in memory."""
        with open(self.path, "rb") as fh:
            fh.seek(min(start, self.file_size))
            pos = start
            while pos < min(end, self.file_size):
                data = fh.read(min(chunk, self.file_size - pos, end - pos))
                if not data:
                    return
                pos += len(data)
                yield data
        while pos < end:
            n = min(chunk, end - pos)
            yield self._padding_bytes(pos - self.file_size, n)
            pos += n

    def _padding_bytes(self, offset: int, length: int) -> bytes:
        header = _free_box_header(self.padding)
        head = header[offset : offset + length] if offset < len(header) else b""
        return head + bytes(length - len(head))


def _free_box_header(size: int) -> bytes:
    if size < 2**32:
        return struct.pack(">I4s", size, b"free")
    return struct.pack(">I4sQ", 1, b"free", size)  # 64-bit "largesize" form


class RangeNotSatisfiable(Exception):
    pass


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """[start, end) for a single `bytes=` range; None to send the whole body.

    Malformed or multi-range headers are ignored (RFC 9110 allows it); a range that starts
    past the end raises RangeNotSatisfiable.
    """
    if not header:
        return None
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if not match or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if first == "":
        suffix = int(last)
        if suffix == 0:
            raise RangeNotSatisfiable
        return max(0, size - suffix), size
    start = int(first)
    if last != "" and int(last) < start:
        return None  # an invalid range is ignored, like a malformed one
    if start >= size:
        raise RangeNotSatisfiable
    end = size if last == "" else min(int(last) + 1, size)
    return start, end
