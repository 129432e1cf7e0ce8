"""Streaming, resumable, atomic download of a result video, with bounded memory and time.

The body streams into ``DEST.part`` next to the destination; only a complete, checked file is
renamed to DEST, so DEST is never half-written. After a failure the ``.part`` file and its
``.part.json`` validator (ETag / Last-Modified) stay behind, and the next call for the same
DEST resumes with a Range request if the server still serves the same object; a body that is
not a video, or is too large, is deleted instead. Two processes must not download to the same
DEST at once.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlsplit, urlunsplit

from .errors import EXIT_FAILED, EXIT_NETWORK, EXIT_QUOTA, WanVideoError
from .media import kind_phrase, sniff_video

# Enough of the body to tell a video from an HTML or XML page; a video box header is 8 bytes.
_SNIFF_BYTES = 64
# How much of an error body we read to find out why (OSS error documents are < 1 KiB).
_ERROR_BODY_BYTES = 64 * 1024
# Backoff between attempts that made no progress: base * 2**n seconds, capped, with jitter.
# The first retry after a dropped connection is immediate (resuming is cheap).
_BACKOFF_BASE = 0.25
_BACKOFF_CAP = 4.0
# httpcore reads 64 KiB from the socket at a time; a client that download() makes reads up to
# chunk_size (1 MiB by default): on a fast link (and on loopback) the per-read work of the HTTP
# parser, not the network, limited the download (~30 % less CPU per byte at 1 MiB).
_MIN_READ_BYTES = 64 * 1024
# Pieces smaller than this are gathered into one write; larger ones are written as they come.
_WRITE_BATCH = 64 * 1024
# The file is flushed to disk in the background every 32 MiB, so the fsync before the rename
# has little left to do (on loopback it was ~15 % of a 256 MB download).
_SYNC_BYTES = 32 << 20

_EXPIRED_HINT = (
    "Result URLs live 24 hours. While the task is still within its lifetime, query it again "
    "(`generate_video.py status TASK_ID`) for a fresh video_url and download that; once the "
    "task has expired the video is gone and the request must be submitted again."
)
_RETRY_HINT = "Run the download again: it resumes from the .part file where this one stopped."


def hash_file(path: str | os.PathLike[str], hasher: Any = None) -> Any:
    """Feed a file into a sha256 (a new one unless given) in 1 MiB blocks; returns the hasher."""
    hasher = hasher if hasher is not None else hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            hasher.update(block)
    return hasher


@dataclass(frozen=True)
class DownloadResult:
    """What a finished download delivered."""

    path: str
    bytes: int
    sha256: str
    resumed: int  # how many times the transfer continued with a Range request
    content_type: str | None
    elapsed: float  # seconds


class _Dropped(Exception):
    """The attempt ended early and another may succeed (internal).

    kind is "drop" (connection lost mid-body), "stall" (no bytes within the stall timeout) or
    "connect" (the server could not be reached); restart means the .part file was discarded
    and the next attempt starts at byte zero.
    """

    def __init__(self, why: str, kind: str = "drop", *, restart: bool = False) -> None:
        super().__init__(why)
        self.why = why
        self.kind = kind
        self.restart = restart


class _RetryStatus(Exception):
    """A transient HTTP status (429, 5xx) worth another attempt (internal)."""

    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(status)
        self.status = status
        self.retry_after = retry_after


class _Part:
    """The .part file: how much of it is written, its running hash, and what makes a resume safe."""

    def __init__(self, dest: Path) -> None:
        self.path = dest.with_name(dest.name + ".part")
        self.meta_path = dest.with_name(dest.name + ".part.json")
        self.offset = 0
        self.hasher = hashlib.sha256()
        self.total: int | None = None
        self.validator: dict[str, str] = {}
        self.resumed = 0  # Range requests the server honoured

    def load(self) -> None:
        """Adopt a .part left by an earlier call if its validator was recorded, else start clean."""
        try:
            meta = json.loads(self.meta_path.read_text())
            size = self.path.stat().st_size
        except (OSError, ValueError):
            self.reset()
            return
        validator = {k: v for k, v in meta.items() if k in ("etag", "last_modified") and isinstance(v, str)}
        if not validator or size == 0:
            self.reset()
            return
        self.validator = validator
        self.total = meta.get("total") if isinstance(meta.get("total"), int) else None
        hash_file(self.path, self.hasher)  # re-hash the prefix so the digest covers the whole file
        self.offset = size

    def reset(self) -> None:
        """Throw away what was received and start again from byte zero."""
        self.path.unlink(missing_ok=True)
        self.meta_path.unlink(missing_ok=True)
        self.offset, self.total, self.validator = 0, None, {}
        self.hasher = hashlib.sha256()

    def remember(self, headers: Any, total: int | None) -> None:
        """Record what identifies this object, so a later call resumes only the same one."""
        self.total = total
        self.validator = {}
        if headers.get("etag"):
            self.validator["etag"] = headers["etag"]
        if headers.get("last-modified"):
            self.validator["last_modified"] = headers["last-modified"]
        if self.validator:
            self.meta_path.write_text(json.dumps({**self.validator, "total": total}))
        else:
            self.meta_path.unlink(missing_ok=True)

    def matches(self, headers: Any) -> bool:
        """Whether a 206 answer comes from the object the .part file started with."""
        etag = self.validator.get("etag")
        modified = self.validator.get("last_modified")
        if etag and headers.get("etag") and headers["etag"] != etag:
            return False
        return not (modified and headers.get("last-modified") and headers["last-modified"] != modified)

    def finish(self, dest: Path) -> None:
        """fsync the file, rename it into place, fsync the directory so the rename is durable."""
        self.path.touch()  # an empty body never opened a writer
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(self.path, dest)
        self.meta_path.unlink(missing_ok=True)
        _fsync_dir(dest.parent)


class _Writer:
    """Appends the body to the .part file and hashes it on the way.

    Pieces smaller than `batch_bytes` are gathered into writes of that size; larger ones (most,
    on a fast link) go straight to the file, with no copy into a buffer.

    Hashing and writing are done in the receiving thread: on a loopback benchmark a worker
    thread for them only competed with the receiver and the server for the CPU, and on a real
    link the network is the bottleneck by far. A helper thread only flushes the file to disk
    every _SYNC_BYTES (fdatasync waits on the disk, not the CPU), so the fsync before the
    rename has little left to do. Closing flushes, so afterwards the file and the hash hold
    exactly the bytes received, ready for a resume.
    """

    def __init__(self, path: Path, hasher: Any, batch_bytes: int) -> None:
        self._fh = path.open("ab", buffering=batch_bytes)
        self._hasher = hasher
        self._unsynced = 0
        self._due = threading.Event()
        self._closing = False
        self._syncer = threading.Thread(target=self._sync_loop, name="wan-video-download-sync", daemon=True)
        self._syncer.start()

    def write(self, piece: bytes) -> None:
        self._hasher.update(piece)
        self._fh.write(piece)
        self._unsynced += len(piece)
        if self._unsynced >= _SYNC_BYTES:
            self._unsynced = 0
            self._due.set()

    def _sync_loop(self) -> None:
        while True:
            self._due.wait()
            self._due.clear()
            if self._closing:
                return
            try:
                os.fdatasync(self._fh.fileno())
            except (OSError, ValueError):
                pass  # only an early start: the fsync before the rename reports a real problem

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing = True
        self._due.set()
        self._syncer.join()
        self._fh.close()


class _BigReads:
    """An httpcore network backend whose socket reads take up to `read_bytes` at a time.

    httpcore asks its stream for 64 KiB per read (HTTP11Connection.READ_NUM_BYTES); this
    backend's streams read more when more has arrived. It is plugged in through httpcore's
    public `network_backend` hook (duck-typed, so httpcore is only imported when downloading).
    """

    def __init__(self, inner: Any, read_bytes: int) -> None:
        self._inner = inner
        self._read_bytes = read_bytes

    def connect_tcp(self, *args: Any, **kwargs: Any) -> _BigReadStream:
        return _BigReadStream(self._inner.connect_tcp(*args, **kwargs), self._read_bytes)

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> _BigReadStream:
        return _BigReadStream(self._inner.connect_unix_socket(*args, **kwargs), self._read_bytes)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _BigReadStream:
    def __init__(self, inner: Any, read_bytes: int) -> None:
        self._inner = inner
        self._read_bytes = read_bytes

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max(max_bytes, self._read_bytes), timeout)  # type: ignore[no-any-return]

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, *args: Any, **kwargs: Any) -> _BigReadStream:
        return _BigReadStream(self._inner.start_tls(*args, **kwargs), self._read_bytes)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def _own_client(httpx: Any, read_bytes: int) -> Any:
    """The httpx client a download makes for itself: redirects followed, big socket reads.

    With a proxy configured in the environment, httpx's own transport is kept (it applies the
    proxy settings; a custom transport would bypass them). The big reads need one attribute of
    httpx.HTTPTransport, `_pool`; were it renamed, reads would simply stay at 64 KiB.
    """
    import urllib.request

    if urllib.request.getproxies():
        return httpx.Client(follow_redirects=True, verify=_ssl_context())
    import httpcore

    transport = httpx.HTTPTransport(verify=_ssl_context())
    if isinstance(getattr(transport, "_pool", None), httpcore.ConnectionPool):
        backend = _BigReads(httpcore.SyncBackend(), read_bytes)  # duck-typed NetworkBackend
        transport._pool = httpcore.ConnectionPool(ssl_context=_ssl_context(),
                                                  network_backend=backend)  # type: ignore[arg-type]
    return httpx.Client(follow_redirects=True, transport=transport)


@functools.lru_cache(maxsize=1)
def _ssl_context() -> Any:
    """httpx's default TLS context (certifi, or SSL_CERT_FILE / SSL_CERT_DIR), made once.

    Loading the CA bundle takes ~20 ms, paid by every new httpx client: once per process is
    enough (a context is safe to share between threads), which matters to a batch of downloads.
    """
    import httpx

    return httpx.create_ssl_context()


def download(
    url: str,
    dest: str | os.PathLike[str],
    *,
    timeout: float = 60.0,
    max_bytes: int = 2 * 1024**3,
    retries: int = 3,
    chunk_size: int = 1 << 20,
    progress: Callable[[int, int | None], None] | None = None,
    stall_timeout: float = 30.0,
    client: Any = None,
) -> DownloadResult:
    """Stream url to dest atomically, resuming dropped transfers; returns size, sha256 and timing.

    `timeout` bounds the whole download (wall clock; a read in flight may overrun it by at most
    `stall_timeout`); `stall_timeout` bounds each wait for more bytes. `retries` is how many
    attempts in a row may fail without receiving new bytes: an attempt that makes progress
    does not use one up, so a long transfer over a flaky link still finishes. `chunk_size` is
    the largest socket read (when this function makes the client) and how often progress is
    reported: `progress(done, total)` is called about once per chunk and at the end.
    `client` is an optional httpx.Client (redirects are followed when this function makes one).
    Raises WanVideoError: NotAVideo, URLExpired, DownloadFailed, DownloadIncomplete,
    DownloadTimeout or DownloadTooLarge.
    """
    import httpx

    dest_p = Path(dest)
    safe_url = redact_url(url)
    started = time.monotonic()
    deadline = started + timeout
    own_client = client is None
    try:
        dest_p.parent.mkdir(parents=True, exist_ok=True)
        part = _Part(dest_p)
        part.load()
        if own_client:
            client = _own_client(httpx, max(_MIN_READ_BYTES, chunk_size))
        failures = 0  # attempts in a row that brought no new bytes
        high_water = part.offset
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _timeout_error(safe_url, timeout, part.offset, part.total)
            try:
                content_type = _attempt(client, httpx, url, safe_url, part, min(stall_timeout, remaining),
                                        max_bytes, chunk_size, progress, deadline, timeout)
                break
            except _Dropped as exc:
                problem: _Dropped | _RetryStatus = exc
                if exc.restart:
                    continue  # a fresh start is no failure, and cannot repeat: it sends no Range
            except _RetryStatus as exc:
                problem = exc
            if part.offset > high_water:
                high_water, failures = part.offset, 0
            else:
                failures += 1
            if failures > retries:
                raise _give_up(safe_url, part, problem)
            # A dropped connection is resumed at once; repeated failures back off.
            delay = 0.0 if failures == 0 else min(_BACKOFF_CAP, _BACKOFF_BASE * 2 ** (failures - 1))
            if isinstance(problem, _RetryStatus) and problem.retry_after is not None:
                delay = max(delay, problem.retry_after)
            delay *= random.uniform(0.8, 1.2)  # jitter, so parallel downloads do not retry in step
            if delay and time.monotonic() + delay >= deadline:
                raise _give_up(safe_url, part, problem)
            time.sleep(delay)
        part.finish(dest_p)
    except WanVideoError as exc:
        if exc.code in ("NotAVideo", "DownloadTooLarge"):
            part.reset()  # nothing worth resuming
        raise
    except OSError as exc:
        raise WanVideoError(
            "DownloadFailed", f"Writing {dest_p} failed: {exc.strerror or exc}.",
            "Check free disk space and permissions on the output directory.",
            exit_code=EXIT_FAILED) from None
    finally:
        if own_client and client is not None:
            client.close()
    if progress is not None:
        progress(part.offset, part.offset)
    return DownloadResult(
        path=str(dest_p), bytes=part.offset, sha256=part.hasher.hexdigest(), resumed=part.resumed,
        content_type=content_type, elapsed=round(time.monotonic() - started, 3),
    )


def _attempt(client: Any, httpx: Any, url: str, safe_url: str, part: _Part, wait: float,
             max_bytes: int, chunk_size: int, progress: Callable[[int, int | None], None] | None,
             deadline: float, timeout: float) -> str | None:
    """One GET from part.offset to the end; returns the Content-Type, or raises to try again."""
    headers = {"Accept-Encoding": "identity"}  # bytes on the wire are the file; Content-Length counts them
    asked_from = part.offset
    if asked_from:
        headers["Range"] = f"bytes={asked_from}-"
        validator = part.validator.get("etag") or part.validator.get("last_modified")
        if validator:
            headers["If-Range"] = validator
    limits = httpx.Timeout(connect=wait, read=wait, write=wait, pool=wait)
    try:
        with client.stream("GET", url, headers=headers, timeout=limits) as resp:
            status = resp.status_code
            total = _content_length(resp.headers)
            if status == 206 and asked_from:
                span = _content_range(resp.headers.get("content-range", ""))
                if span is None or span[0] != asked_from or not part.matches(resp.headers):
                    part.reset()  # not the bytes we asked for, or another object: start over
                    raise _Dropped("the Range answer did not continue the same object", restart=True)
                total = span[2] if span[2] is not None else (asked_from + total if total is not None else None)
                part.resumed += 1
            elif status == 416 and asked_from:
                span = _content_range(resp.headers.get("content-range", ""))
                if span and span[2] == asked_from and part.total == asked_from:
                    return resp.headers.get("content-type")  # the .part file was already whole
                part.reset()
                raise _Dropped("the server refused the Range request (HTTP 416)", restart=True)
            elif status in (200, 206):
                if asked_from:
                    part.reset()  # the server ignored Range (or If-Range failed): whole body again
            else:
                _raise_for_status(resp, url, safe_url)
            if total is not None and total > max_bytes:
                raise _too_large(safe_url, max_bytes, f"Content-Length says {total} bytes")
            if part.offset == 0:
                part.remember(resp.headers, total)
            else:
                part.total = total
            with _Writer(part.path, part.hasher, _WRITE_BATCH) as writer:
                _stream_body(resp, part, writer, total, max_bytes, chunk_size, safe_url, progress,
                             deadline, timeout)
            # Without a length (a close-delimited body) an early close looks like the end; the
            # caller's probe() then finds the MP4 truncated.
            if total is not None and part.offset < total:
                raise _Dropped(f"the connection closed at byte {part.offset}")
            return resp.headers.get("content-type")
    except httpx.TimeoutException as exc:
        if time.monotonic() >= deadline:
            raise _timeout_error(safe_url, timeout, part.offset, part.total) from None
        kind = "connect" if isinstance(exc, httpx.ConnectTimeout) else "stall"
        raise _Dropped(f"no answer within {wait:g}s ({type(exc).__name__})", kind) from None
    except httpx.ConnectError as exc:
        raise _Dropped(f"{type(exc).__name__}: {exc}", "connect") from None
    except (httpx.TransportError, httpx.StreamError) as exc:
        raise _Dropped(f"{type(exc).__name__}: {exc}") from None


def _stream_body(resp: Any, part: _Part, writer: _Writer, total: int | None, max_bytes: int,
                 chunk_size: int, safe_url: str, progress: Callable[[int, int | None], None] | None,
                 deadline: float, timeout: float) -> None:
    """Hand the body to the writer, sniffing its first bytes and enforcing every limit."""
    head = b"" if part.offset == 0 else None  # None: sniffed when the .part file was started
    next_report = part.offset + chunk_size
    # iter_raw() without a size yields each network read as it arrives, so the clock and the
    # byte limit are checked even when a server trickles; the writer batches the pieces.
    for piece in resp.iter_raw():
        if head is not None:
            head += piece
            if len(head) < _SNIFF_BYTES:
                continue
            _sniff_or_refuse(head, resp, safe_url)
            piece, head = head, None
        part.offset += len(piece)
        if part.offset > max_bytes:
            raise _too_large(safe_url, max_bytes, f"more than {max_bytes} bytes arrived")
        writer.write(piece)
        if time.monotonic() > deadline:
            raise _timeout_error(safe_url, timeout, part.offset, total)
        if progress is not None and part.offset >= next_report:
            progress(part.offset, total)
            next_report = part.offset + chunk_size
    if head is not None:  # the whole body was shorter than the sniff window
        _sniff_or_refuse(head, resp, safe_url)
        part.offset += len(head)
        writer.write(head)


def _sniff_or_refuse(head: bytes, resp: Any, safe_url: str) -> None:
    kind = sniff_video(head)
    if kind is None:
        return
    ctype = resp.headers.get("content-type") or "none"
    start = head[:32].decode("utf-8", "replace").split("\n")[0].strip() if kind != "empty" else ""
    shown = f", starts with {start!r}" if kind in ("HTML page", "XML error", "XML document", "JSON") else ""
    raise WanVideoError(
        "NotAVideo",
        f"GET {safe_url} returned {kind_phrase(kind)}, not a video (Content-Type: {ctype}{shown}).",
        "The URL answered with something other than the video: an error or login page, or a "
        "proxy's page. Check the URL (query the task again for its video_url); nothing was saved.",
        exit_code=EXIT_FAILED, http_status=resp.status_code)


def _raise_for_status(resp: Any, url: str, safe_url: str) -> None:
    """Turn an error status into URLExpired, a retry, or DownloadFailed."""
    status = resp.status_code
    body = b""
    for piece in resp.iter_raw():
        body += piece
        if len(body) >= _ERROR_BODY_BYTES:
            break
    text = body[:_ERROR_BODY_BYTES].decode("utf-8", "replace")
    if status in (400, 403):
        expired_at = _expires_param(url)
        past = expired_at is not None and expired_at <= time.time()
        if "expired" in text.lower() or past:
            when = (" at " + datetime.fromtimestamp(expired_at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                    if expired_at is not None else "")
            raise WanVideoError(
                "URLExpired", f"The download URL has expired{when} (HTTP {status}): {safe_url}",
                _EXPIRED_HINT, exit_code=EXIT_FAILED, http_status=status)
    if status == 429 or status >= 500:
        raise _RetryStatus(status, _retry_after(resp.headers.get("retry-after")))
    code = _xml_field(text, "Code")
    message = _xml_field(text, "Message")
    detail = f" ({code}: {message})" if code and message else (f" ({code})" if code else "")
    raise WanVideoError(
        "DownloadFailed", f"GET {safe_url} answered HTTP {status}{detail}.",
        "Check that the URL is complete and unmodified (signed URLs break if any character "
        "changes); query the task again for its video_url.",
        exit_code=EXIT_FAILED, http_status=status)


def _give_up(safe_url: str, part: _Part, problem: _Dropped | _RetryStatus) -> WanVideoError:
    if isinstance(problem, _RetryStatus):
        # 429 is throttling (exit 4 by the CLI convention), not an unavailable service.
        throttled = problem.status == 429
        return WanVideoError(
            "DownloadFailed", f"GET {safe_url} kept answering HTTP {problem.status}.",
            "The storage service is throttling downloads; wait a minute, then run it again."
            if throttled else "The storage service is failing for now; retry later.",
            exit_code=EXIT_QUOTA if throttled else EXIT_NETWORK, retryable=True, http_status=problem.status)
    if problem.kind == "connect":
        return WanVideoError(
            "DownloadFailed", f"Could not connect for {safe_url}: {problem.why}.",
            "Check the network (and any proxy settings), then run the download again.",
            exit_code=EXIT_NETWORK, retryable=True)
    got = f"{part.offset} of {part.total} bytes" if part.total is not None else f"{part.offset} bytes"
    code, verb = ("DownloadTimeout", "stalled") if problem.kind == "stall" else ("DownloadIncomplete", "stopped")
    return WanVideoError(code, f"Downloading {safe_url} {verb} after {got}: {problem.why}.",
                         _RETRY_HINT, exit_code=EXIT_NETWORK, retryable=True)


def _timeout_error(safe_url: str, timeout: float, done: int, total: int | None) -> WanVideoError:
    got = f"{done} of {total} bytes" if total is not None else f"{done} bytes"
    return WanVideoError(
        "DownloadTimeout", f"Downloading {safe_url} took longer than {timeout:g}s ({got} received).",
        _RETRY_HINT + " Raise the download timeout on a slow link.",
        exit_code=EXIT_NETWORK, retryable=True)


def _too_large(safe_url: str, max_bytes: int, why: str) -> WanVideoError:
    return WanVideoError(
        "DownloadTooLarge", f"GET {safe_url} is larger than the {max_bytes}-byte limit: {why}.",
        "A result video is at most a few hundred MB; check the URL, or raise max_bytes.",
        exit_code=EXIT_FAILED)


# --------------------------------------------------------------------------- header parsing


def _content_length(headers: Any) -> int | None:
    try:
        value = int(headers.get("content-length", ""))
    except ValueError:
        return None
    return value if value >= 0 else None


def _content_range(value: str) -> tuple[int, int, int | None] | None:
    """(first, last, total or None) from 'bytes 100-199/200', or None if it does not parse."""
    match = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", value or "")
    if not match:
        # 'bytes */200' (416) carries only the total.
        star = re.fullmatch(r"\s*bytes\s+\*/(\d+)\s*", value or "")
        return (-1, -1, int(star.group(1))) if star else None
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), int(match.group(2)), total


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _expires_param(url: str) -> float | None:
    """The epoch second an OSS-style signed URL expires at, if it says."""
    for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        if name.lower() == "expires":
            try:
                return float(value)
            except ValueError:
                return None
    return None


def _xml_field(text: str, tag: str) -> str | None:
    match = re.search(rf"<{tag}>([^<]{{1,300}})</{tag}>", text)
    return match.group(1).strip() if match else None


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some platforms cannot open a directory; the rename still happened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- redaction

# Query parameters kept verbatim although they match the patterns below: they are not secret.
_KEEP_PARAMS = {"expires", "x-oss-expires", "x-oss-date", "x-oss-process", "x-oss-additional-headers"}
_SECRET_WORDS = ("signature", "token", "key", "credential")


def redact_url(url: str) -> str:
    """The URL with signatures, tokens, keys and credentials replaced by REDACTED (for logs)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc
    if "@" in netloc:  # user:password@host
        netloc = "REDACTED@" + netloc.rsplit("@", 1)[1]
    fields = []
    for field in parts.query.split("&") if parts.query else []:
        name, sep, _value = field.partition("=")
        lowered = unquote_plus(name).lower()
        secret = lowered not in _KEEP_PARAMS and (
            lowered.startswith("x-oss-") or any(word in lowered for word in _SECRET_WORDS))
        fields.append(f"{name}=REDACTED" if secret and sep else field)
    return urlunsplit((parts.scheme, netloc, parts.path, "&".join(fields), parts.fragment))
