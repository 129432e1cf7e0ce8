"""download: a real HTTP server on 127.0.0.1 misbehaving in each way a storage server can."""

from __future__ import annotations

import hashlib
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from wan_video import download as dl
from wan_video.errors import EXIT_FAILED, EXIT_NETWORK, WanVideoError

# A body that sniffs as MP4 (an 'ftyp' box first) followed by deterministic noise.
BODY = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + random.Random(7).randbytes(300_000)
SHA = hashlib.sha256(BODY).hexdigest()
EXPIRED_XML = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n  <Code>AccessDenied</Code>\n'
               b"  <Message>Request has expired.</Message>\n  <RequestId>64F0</RequestId>\n</Error>\n")
DENIED_XML = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n  <Code>SignatureDoesNotMatch</Code>\n'
              b"  <Message>The request signature we calculated does not match.</Message>\n</Error>\n")


@dataclass
class Behaviour:
    """What the server does. `script` holds one action per request, then `ranges` decides."""

    body: bytes = BODY
    ranges: bool = True  # honour Range with 206; False answers 200 with the whole body
    if_range: bool = True  # a Range whose If-Range does not match gets the whole body
    etag: str | None = '"v1"'
    content_type: str = "video/mp4"
    script: list[tuple[Any, ...]] = field(default_factory=list)
    requests: list[dict[str, str | None]] = field(default_factory=list)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    behaviour: Behaviour

    def log_message(self, *args: Any) -> None:  # keep the test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        b = self.server.behaviour  # type: ignore[attr-defined]
        b.requests.append({"path": self.path, "range": self.headers.get("Range"),
                           "if_range": self.headers.get("If-Range"),
                           "accept_encoding": self.headers.get("Accept-Encoding")})
        action = b.script.pop(0) if b.script else ("serve",)
        try:
            getattr(self, "act_" + action[0])(b, *action[1:])
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- actions -----------------------------------------------------------------------------

    def act_serve(self, b: Behaviour, cut: int | None = None, stall: float = 0.0) -> None:
        """Serve the body (or the asked range); with cut, stop at that absolute byte and hang up."""
        start = 0
        rng = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        use_range = b.ranges and rng and not (b.if_range and if_range and if_range != b.etag)
        if use_range:
            start = int(rng.removeprefix("bytes=").split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(b.body) - 1}/{len(b.body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", b.content_type)
        self.send_header("Content-Length", str(len(b.body) - start))
        if b.etag:
            self.send_header("ETag", b.etag)
        self.end_headers()
        end = len(b.body) if cut is None else max(start, cut)
        self.wfile.write(b.body[start:end])
        self.wfile.flush()
        if cut is not None:
            if stall:
                time.sleep(stall)
            self.close_connection = True  # the socket closes mid-body

    def act_status(self, b: Behaviour, status: int, body: bytes = b"", headers: tuple = ()) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def act_redirect(self, b: Behaviour, to: str) -> None:
        self.send_response(302)
        self.send_header("Location", to)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def act_endless(self, b: Behaviour) -> None:
        """A chunked body that never ends."""
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        block = BODY[:65536]
        while True:
            self.wfile.write(f"{len(block):x}\r\n".encode() + block + b"\r\n")

    def act_trickle(self, b: Behaviour, every: float) -> None:
        """The first 64 bytes at once, then one byte every `every` seconds."""
        self.send_response(200)
        self.send_header("Content-Length", str(len(b.body)))
        self.end_headers()
        self.wfile.write(b.body[:64])
        self.wfile.flush()
        for i in range(64, len(b.body)):
            time.sleep(every)
            self.wfile.write(b.body[i:i + 1])
            self.wfile.flush()

    def act_huge(self, b: Behaviour) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(10 * 1024**3))
        self.end_headers()
        self.wfile.write(b.body[:1024])
        self.close_connection = True


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def behaviour(server, monkeypatch) -> Behaviour:
    server.behaviour = Behaviour()
    monkeypatch.setattr(dl, "_BACKOFF_BASE", 0.001)  # keep retries fast; the logic is the same
    return server.behaviour


@pytest.fixture
def url(server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/result/video.mp4"


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --------------------------------------------------------------------------- success


@pytest.mark.parametrize("script, ranges, resumed, requests", [
    ([], True, 0, 1),
    ([("serve", 100_000)], True, 1, 2),
    ([("serve", 1_000), ("serve", 50_000), ("serve", 200_000)], True, 3, 4),
    # Each drop brings new bytes, so none uses up a retry: five drops with retries=3 still finish.
    ([("serve", n) for n in (10_000, 20_000, 30_000, 40_000, 50_000)], True, 5, 6),
    # A server that answers 200 to Range: the download starts over and still completes.
    ([("serve", 100_000)], False, 0, 2),
    ([("status", 503, b"", (("Retry-After", "0"),)), ("status", 500)], True, 0, 3),
])
def test_download_completes(behaviour, url, tmp_path, script, ranges, resumed, requests):
    behaviour.script, behaviour.ranges = list(script), ranges
    dest = tmp_path / "videos" / "out.mp4"
    result = dl.download(url, dest, retries=3)
    assert dest.read_bytes() == BODY
    assert (result.path, result.bytes, result.sha256, result.resumed, result.content_type) == (
        str(dest), len(BODY), SHA, resumed, "video/mp4")
    assert result.elapsed >= 0
    assert files(dest.parent) == ["out.mp4"]  # no .part or .part.json left behind
    assert len(behaviour.requests) == requests
    ranges_sent = [r["range"] for r in behaviour.requests]
    assert ranges_sent[0] is None
    assert all(r["accept_encoding"] == "identity" for r in behaviour.requests)
    if ranges and resumed:
        assert ranges_sent[1:] == [f"bytes={s[1]}-" for s in script]
        assert {r["if_range"] for r in behaviour.requests[1:]} == {'"v1"'}


def test_download_reports_progress_and_replaces_an_old_file(behaviour, url, tmp_path):
    dest = tmp_path / "out.mp4"
    dest.write_bytes(b"an older video")
    calls: list[tuple[int, int | None]] = []
    dl.download(url, dest, chunk_size=64 * 1024, progress=lambda done, total: calls.append((done, total)))
    assert dest.read_bytes() == BODY
    assert calls[-1] == (len(BODY), len(BODY))
    assert [c[0] for c in calls] == sorted(c[0] for c in calls) and len(calls) >= 4
    assert {c[1] for c in calls} == {len(BODY)}


def test_download_follows_a_redirect(behaviour, url, tmp_path):
    behaviour.script = [("redirect", "/elsewhere/video.mp4")]
    result = dl.download(url, tmp_path / "out.mp4")
    assert (result.sha256, [r["path"] for r in behaviour.requests]) == (
        SHA, ["/result/video.mp4", "/elsewhere/video.mp4"])


def test_download_flushing_to_disk_on_the_way_keeps_file_and_hash_whole(behaviour, url, tmp_path, monkeypatch):
    monkeypatch.setattr(dl, "_SYNC_BYTES", 4096)  # the background fdatasync runs ~70 times
    result = dl.download(url, tmp_path / "out.mp4", chunk_size=8192)
    assert (result.sha256, result.bytes, (tmp_path / "out.mp4").read_bytes()) == (SHA, len(BODY), BODY)
    assert files(tmp_path) == ["out.mp4"]


def test_download_still_goes_through_a_configured_proxy(behaviour, url, tmp_path, monkeypatch):
    """The big-read client is only used without a proxy: a proxy in the environment still applies."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # the discard port: nothing listens
    with pytest.raises(WanVideoError) as caught:
        dl.download(url, tmp_path / "out.mp4", retries=0)
    assert caught.value.code == "DownloadFailed" and behaviour.requests == []


def test_download_resumes_a_part_file_left_by_an_earlier_call(behaviour, url, tmp_path):
    dest = tmp_path / "out.mp4"
    behaviour.script = [("serve", 120_000), ("status", 503)]
    with pytest.raises(WanVideoError) as err:
        dl.download(url, dest, retries=0)
    assert (err.value.code, err.value.exit_code, err.value.retryable, err.value.http_status) == (
        "DownloadFailed", EXIT_NETWORK, True, 503)
    assert files(tmp_path) == ["out.mp4.part", "out.mp4.part.json"]
    assert (tmp_path / "out.mp4.part").stat().st_size == 120_000

    result = dl.download(url, dest)
    assert (result.bytes, result.sha256, result.resumed) == (len(BODY), SHA, 1)
    assert behaviour.requests[-1]["range"] == "bytes=120000-"
    assert files(tmp_path) == ["out.mp4"]


@pytest.mark.parametrize("if_range", [True, False])
def test_download_starts_over_when_the_object_changed_between_calls(behaviour, url, tmp_path, if_range):
    dest = tmp_path / "out.mp4"
    behaviour.script = [("serve", 120_000), ("status", 503)]
    with pytest.raises(WanVideoError):
        dl.download(url, dest, retries=0)
    new_body = BODY[:32] + bytes(reversed(BODY[32:]))
    # With If-Range the server sends the new object whole; without it, it sends a 206 with the
    # new ETag, which the client must refuse to splice onto the old prefix.
    behaviour.body, behaviour.etag, behaviour.if_range = new_body, '"v2"', if_range
    result = dl.download(url, dest)
    assert (result.sha256, result.resumed) == (hashlib.sha256(new_body).hexdigest(), 0)
    assert dest.read_bytes() == new_body


def test_a_part_file_without_a_validator_is_not_trusted(behaviour, url, tmp_path):
    (tmp_path / "out.mp4.part").write_bytes(b"bytes of unknown origin")
    result = dl.download(url, tmp_path / "out.mp4")
    assert (result.sha256, result.resumed, behaviour.requests[0]["range"]) == (SHA, 0, None)


# --------------------------------------------------------------------------- failures


@pytest.mark.parametrize("script, kwargs, code, exit_code, retryable, message", [
    # One attempt with progress, then retries + 1 that bring nothing new.
    ([("serve", 100_000)] * 4, {"retries": 2}, "DownloadIncomplete", EXIT_NETWORK, True,
     "Downloading {url} stopped after 100000 of {n} bytes: RemoteProtocolError: peer closed connection "
     "without sending complete message body (received 0 bytes, expected {rest})."),
    ([("status", 500)] * 4, {"retries": 3}, "DownloadFailed", EXIT_NETWORK, True,
     "GET {url} kept answering HTTP 500."),
    ([("status", 404, b"<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>")],
     {}, "DownloadFailed", EXIT_FAILED, False,
     "GET {url} answered HTTP 404 (NoSuchKey: The specified key does not exist.)."),
    ([("status", 403, DENIED_XML)], {}, "DownloadFailed", EXIT_FAILED, False,
     "GET {url} answered HTTP 403 (SignatureDoesNotMatch: The request signature we calculated does not match.)."),
    ([("status", 403, EXPIRED_XML)], {}, "URLExpired", EXIT_FAILED, False,
     "The download URL has expired (HTTP 403): {url}"),
    ([("huge",)], {"max_bytes": 1024**3}, "DownloadTooLarge", EXIT_FAILED, False,
     "GET {url} is larger than the 1073741824-byte limit: Content-Length says 10737418240 bytes."),
    ([("endless",)], {"max_bytes": 1 << 20}, "DownloadTooLarge", EXIT_FAILED, False,
     "GET {url} is larger than the 1048576-byte limit: more than 1048576 bytes arrived."),
])
def test_download_fails_cleanly(behaviour, url, tmp_path, script, kwargs, code, exit_code, retryable, message):
    behaviour.script = list(script)
    dest = tmp_path / "out.mp4"
    with pytest.raises(WanVideoError) as err:
        dl.download(url, dest, **kwargs)
    e = err.value
    assert (e.code, e.exit_code, e.retryable) == (code, exit_code, retryable)
    assert e.message == message.format(url=url, n=len(BODY), rest=len(BODY) - 100_000)
    assert not dest.exists()
    if code in ("DownloadTooLarge", "URLExpired", "DownloadFailed"):
        assert files(tmp_path) == []
    assert len(behaviour.requests) == len(script)


def test_download_incomplete_keeps_the_part_file_for_a_resume(behaviour, url, tmp_path):
    behaviour.ranges = False  # every attempt starts over and is cut at the same byte
    behaviour.script = [("serve", 100_000)] * 4
    with pytest.raises(WanVideoError) as err:
        dl.download(url, tmp_path / "out.mp4", retries=2)
    assert err.value.code == "DownloadIncomplete"
    assert "resumes from the .part file" in err.value.hint
    assert files(tmp_path) == ["out.mp4.part", "out.mp4.part.json"]


def test_url_expired_by_its_expires_parameter(behaviour, url, tmp_path):
    behaviour.script = [("status", 403, b"<Error><Code>AccessDenied</Code></Error>")]
    signed = f"{url}?OSSAccessKeyId=LTAIabc&Expires=1700000000&Signature=c2lnbmF0dXJl"
    with pytest.raises(WanVideoError) as err:
        dl.download(signed, tmp_path / "out.mp4")
    e = err.value
    assert (e.code, e.exit_code, e.http_status) == ("URLExpired", EXIT_FAILED, 403)
    assert e.message == (f"The download URL has expired at 2023-11-14T22:13:20Z (HTTP 403): "
                         f"{url}?OSSAccessKeyId=REDACTED&Expires=1700000000&Signature=REDACTED")
    assert "24 hours" in e.hint and "submitted again" in e.hint


@pytest.mark.parametrize("body, kind, shown", [
    (b"<!DOCTYPE html><html><head><title>Sign in</title></head></html>", "an HTML page",
     ", starts with '<!DOCTYPE html><html><head><titl'"),
    (b'{"code":"InvalidApiKey","message":"No API-key provided."}', "JSON", ", starts with '{\"code\":\"InvalidApiKey\",\"message'"),
    (b"short", "text", ""),
])
def test_download_refuses_a_body_that_is_not_a_video(behaviour, url, tmp_path, body, kind, shown):
    behaviour.body, behaviour.content_type = body, "text/html"
    dest = tmp_path / "out.mp4"
    with pytest.raises(WanVideoError) as err:
        dl.download(url, dest)
    e = err.value
    assert (e.code, e.exit_code, e.http_status) == ("NotAVideo", EXIT_FAILED, 200)
    assert e.message == f"GET {url} returned {kind}, not a video (Content-Type: text/html{shown})."
    assert files(tmp_path) == []
    assert len(behaviour.requests) == 1


def test_a_failed_download_leaves_an_existing_dest_untouched(behaviour, url, tmp_path):
    dest = tmp_path / "out.mp4"
    dest.write_bytes(b"the previous video")
    behaviour.body = b"<html>error</html>"
    with pytest.raises(WanVideoError):
        dl.download(url, dest)
    assert dest.read_bytes() == b"the previous video"


def test_wall_clock_timeout_stops_a_trickling_server(behaviour, url, tmp_path):
    behaviour.script = [("trickle", 0.01)]
    started = time.monotonic()
    with pytest.raises(WanVideoError) as err:
        dl.download(url, tmp_path / "out.mp4", timeout=0.5, stall_timeout=5)
    took = time.monotonic() - started
    assert (err.value.code, err.value.exit_code, err.value.retryable) == ("DownloadTimeout", EXIT_NETWORK, True)
    assert err.value.message.startswith(f"Downloading {url} took longer than 0.5s (")
    assert 0.5 <= took < 1.5
    assert not (tmp_path / "out.mp4").exists()


def test_stall_timeout_retries_then_gives_up(behaviour, url, tmp_path):
    # The server sends 50 000 bytes, then goes silent; resumed requests get nothing at all.
    behaviour.script = [("serve", 50_000, 2.0)] + [("serve", 50_000, 2.0)] * 2
    started = time.monotonic()
    with pytest.raises(WanVideoError) as err:
        dl.download(url, tmp_path / "out.mp4", retries=1, stall_timeout=0.2)
    assert (err.value.code, err.value.exit_code) == ("DownloadTimeout", EXIT_NETWORK)
    assert err.value.message == (f"Downloading {url} stalled after 50000 of {len(BODY)} bytes: "
                                 "no answer within 0.2s (ReadTimeout).")
    assert time.monotonic() - started < 1.5
    assert [r["range"] for r in behaviour.requests] == [None, "bytes=50000-", "bytes=50000-"]


def test_connection_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(dl, "_BACKOFF_BASE", 0.001)
    import socket

    with socket.socket() as s:  # a port that was free a moment ago and has no listener
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(WanVideoError) as err:
        dl.download(f"http://127.0.0.1:{port}/v.mp4", tmp_path / "out.mp4", retries=1)
    e = err.value
    assert (e.code, e.exit_code, e.retryable) == ("DownloadFailed", EXIT_NETWORK, True)
    assert e.message.startswith(f"Could not connect for http://127.0.0.1:{port}/v.mp4: ConnectError: ")


# --------------------------------------------------------------------------- redaction


@pytest.mark.parametrize("url, expected", [
    ("https://b.oss-cn-beijing.aliyuncs.com/v.mp4?Expires=1700000000&OSSAccessKeyId=LTAI5t&Signature=abc%2Bdef%3D",
     "https://b.oss-cn-beijing.aliyuncs.com/v.mp4?Expires=1700000000&OSSAccessKeyId=REDACTED&Signature=REDACTED"),
    ("https://h/v.mp4?x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-credential=LTAI%2F20250101%2Fcn&"
     "x-oss-date=20250101T000000Z&x-oss-expires=86400&x-oss-signature=deadbeef&x-oss-security-token=CAIS",
     "https://h/v.mp4?x-oss-signature-version=REDACTED&x-oss-credential=REDACTED&"
     "x-oss-date=20250101T000000Z&x-oss-expires=86400&x-oss-signature=REDACTED&x-oss-security-token=REDACTED"),
    ("https://s3/v.mp4?X-Amz-Credential=AK&X-Amz-Signature=00&X-Amz-Security-Token=t&X-Amz-Expires=60",
     "https://s3/v.mp4?X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&X-Amz-Security-Token=REDACTED&X-Amz-Expires=60"),
    ("https://h/v.mp4?api_key=sk-1&access_token=t&apiKey=k&security-token=s&x-oss-process=video/snapshot",
     "https://h/v.mp4?api_key=REDACTED&access_token=REDACTED&apiKey=REDACTED&security-token=REDACTED&x-oss-process=video/snapshot"),
    ("https://user:pa55@h/v.mp4?a=1&flag#frag", "https://REDACTED@h/v.mp4?a=1&flag#frag"),
    ("https://h/v.mp4", "https://h/v.mp4"),
    ("https://h/v.mp4?x%2Doss%2Dsignature=abc&Sig=1", "https://h/v.mp4?x%2Doss%2Dsignature=REDACTED&Sig=1"),
    ("http://127.0.0.1:8089/x?Signature=", "http://127.0.0.1:8089/x?Signature=REDACTED"),
])
def test_redact_url(url, expected):
    assert dl.redact_url(url) == expected
