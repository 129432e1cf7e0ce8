"""Scripted faults: rules, the book that hands them out, and the ASGI layer that acts on them.

A rule `{"op": ..., "kind": ..., "count": N, ...}` fires on the next N requests of its
operation (count -1: forever), before authentication, the way a flaky gateway or network
would. Network-level kinds are answered here; the download-only kinds (truncate, trickle,
endless, not_video, expire) need the video and are passed to the download handler through
`scope["state"]["fault"]`.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import struct
import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from http import HTTPStatus
from typing import Any

from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import errors

OPS = ("submit", "poll", "list", "cancel", "upload", "download", "policy")
_JSON_OPS = ("submit", "poll", "list", "cancel", "policy")
_DOWNLOAD_KINDS = ("truncate", "trickle", "endless", "not_video", "expire")
KIND_OPS: dict[str, tuple[str, ...]] = {
    "status": OPS,
    "reset": OPS,
    "slow": OPS,
    "html": OPS,
    "malformed": _JSON_OPS,
    "missing_fields": ("submit", "poll", "list", "policy"),
    "huge": _JSON_OPS,
    "ambiguous": ("submit",),
    "unknown": ("poll",),
    **{kind: ("download",) for kind in _DOWNLOAD_KINDS},
}

HUGE_DEFAULT_BYTES = 50 * 1024 * 1024
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class FaultRule:
    """One scripted fault; see the module docstring and README for each kind."""

    op: str
    kind: str
    count: int = 1  # -1: forever
    status: int | None = None  # status / html: the HTTP status to answer with
    code: str | None = None  # status: error code (default: by status)
    message: str | None = None  # status: error message (default: by code/status)
    retry_after: float | None = None  # status: Retry-After header seconds
    delay: float = 1.0  # slow: seconds before answering normally
    bytes: int | None = None  # huge: body size; truncate: bytes sent before closing
    bytes_per_second: int = 65536  # trickle: download rate


def parse_rule(raw: Any) -> FaultRule:
    """Validate one rule object; ValueError says what is wrong."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"a fault rule is an object, got {raw!r}")
    unknown = set(raw) - set(FaultRule.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown fault field(s) {sorted(unknown)} in {dict(raw)!r}")
    op, kind = raw.get("op"), raw.get("kind")
    if op not in OPS:
        raise ValueError(f"fault op must be one of {', '.join(OPS)}, got {op!r}")
    if kind not in KIND_OPS:
        raise ValueError(f"fault kind must be one of {', '.join(KIND_OPS)}, got {kind!r}")
    if op not in KIND_OPS[kind]:
        raise ValueError(f"fault kind {kind!r} applies to {', '.join(KIND_OPS[kind])}, not {op!r}")
    try:
        rule = FaultRule(**raw)
    except TypeError as exc:
        raise ValueError(str(exc)) from None
    if not isinstance(rule.count, int) or rule.count == 0 or rule.count < -1:
        raise ValueError(f"fault count must be a positive integer or -1, got {rule.count!r}")
    for name in ("status", "bytes", "bytes_per_second"):
        value = getattr(rule, name)
        if value is not None and (not isinstance(value, int) or value <= 0):
            raise ValueError(f"fault {name} must be a positive integer, got {value!r}")
    return rule


class FaultBook:
    """The live rules, consumed per matching request (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[list[Any]] = []  # [rule, remaining]
        self._fired: Counter[str] = Counter()

    def load(self, raw_rules: Iterable[Mapping[str, Any]]) -> None:
        """Replace the live rules (counts start afresh)."""
        rules = [parse_rule(r) for r in raw_rules]
        with self._lock:
            self._rules = [[r, r.count] for r in rules]

    def clear(self) -> None:
        with self._lock:
            self._rules = []
            self._fired.clear()

    def take(self, op: str) -> FaultRule | None:
        """The first live rule for `op`, consuming one use of it."""
        with self._lock:
            for entry in self._rules:
                rule, remaining = entry
                if rule.op != op:
                    continue
                if remaining > 0:
                    entry[1] -= 1
                    if entry[1] == 0:
                        self._rules.remove(entry)
                self._fired[f"{op}:{rule.kind}"] += 1
                return rule
        return None

    def fired(self) -> dict[str, int]:
        with self._lock:
            return dict(self._fired)

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{**asdict(rule), "count": remaining} for rule, remaining in self._rules]


# ---------------------------------------------------------------- which operation a path is

_API = r"^(?:/regions/[^/]+)?/api/v1"
_ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("POST", re.compile(_API + r"/services/aigc/[^/]+/video-synthesis/?$"), "submit"),
    ("GET", re.compile(_API + r"/tasks/?$"), "list"),
    ("GET", re.compile(_API + r"/tasks/(?P<id>[^/]+)/?$"), "poll"),
    ("POST", re.compile(_API + r"/tasks/(?P<id>[^/]+)/cancel/?$"), "cancel"),
    ("GET", re.compile(_API + r"/uploads/?$"), "policy"),
    ("POST", re.compile(r"^/_oss/?$"), "upload"),
    ("GET", re.compile(r"^/_oss_result/(?P<id>[^/]+?)(?:\.mp4)?$"), "download"),
    ("HEAD", re.compile(r"^/_oss_result/(?P<id>[^/]+?)(?:\.mp4)?$"), "download"),
)


def classify(method: str, path: str) -> tuple[str, str | None] | None:
    """(op, task id or None) for a request path, or None for control/unknown paths."""
    for route_method, pattern, op in _ROUTES:
        if method == route_method:
            match = pattern.match(path)
            if match:
                return op, match.groupdict().get("id")
    return None


# ---------------------------------------------------------------- dropping a connection

Connections = Callable[[], Iterable[Any]]


async def drop_connection(
    scope: Scope, receive: Receive, connections: Connections, *, reset: bool = True
) -> None:
    """Close the client's TCP connection: RST when `reset`, else a FIN after pending writes.

    uvicorn keeps its protocol objects (with `.client` and `.transport`) in the server
    state; the one whose peer is this scope's client carries our socket. SO_LINGER 0 turns
    the close into a reset, which clients see as 'connection reset by peer'.
    """
    client = tuple(scope.get("client") or ())
    protocol = next((p for p in connections() if tuple(p.client or ()) == client), None)
    if protocol is None:
        raise RuntimeError("no live connection for this request (not served by uvicorn?)")
    transport = protocol.transport
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()
    # uvicorn answers 500 for an app that returns without a response before the disconnect
    # has been seen, so wait for it (unread request body arrives first and is discarded).
    while (await receive())["type"] != "http.disconnect":
        pass


# ---------------------------------------------------------------- the ASGI layer


class FaultMiddleware:
    """Apply the next matching fault rule to a request, before the app sees it."""

    def __init__(self, app: ASGIApp, book: FaultBook, connections: Connections) -> None:
        self.app = app
        self.book = book
        self.connections = connections

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = classify(scope["method"], scope["path"]) if scope["type"] == "http" else None
        rule = self.book.take(found[0]) if found else None
        if found is None or rule is None:
            await self.app(scope, receive, send)
            return
        op, task_id = found
        state = scope.setdefault("state", {})
        state["fault"] = rule
        request_id = state.get("request_id") or str(uuid.uuid4())
        if rule.kind in _DOWNLOAD_KINDS:
            await self.app(scope, receive, send)  # the download handler acts on it
        elif rule.kind == "slow":
            await asyncio.sleep(rule.delay)
            await self.app(scope, receive, send)
        elif rule.kind == "reset":
            await drop_connection(scope, receive, self.connections)
        elif rule.kind == "ambiguous":
            await self.app(scope, receive, _swallow)
            await drop_connection(scope, receive, self.connections)
        else:
            response = _canned(rule, op, task_id, request_id, _host(scope))
            await response(scope, receive, send)


async def _swallow(message: Message) -> None:
    """A `send` that drops the app's answer: the client must never see it."""


def _host(scope: Scope) -> str:
    server = scope.get("server") or ("127.0.0.1", 0)
    return f"{server[0]}:{server[1]}"


def _canned(rule: FaultRule, op: str, task_id: str | None, request_id: str, host: str) -> Response:
    """The response of a fault that replaces the app's answer entirely."""
    if rule.kind == "status":
        status = rule.status or 500
        if op in ("upload", "download"):
            oss = errors.OSS_INTERNAL if status >= 500 else errors.OSS_ACCESS_DENIED
            wire = errors.OssWireError(status, rule.code or oss.code, rule.message or oss.message)
            return errors.oss_response(wire, request_id, host)
        default = errors.default_error(status)
        wire_error = errors.WireError(
            status, rule.code or default.code, rule.message or default.message
        )
        return errors.error_response(wire_error, request_id, rule.retry_after)
    if rule.kind == "html":
        status = rule.status or 502
        return HTMLResponse(_html_page(status), status_code=status)
    if rule.kind == "malformed":
        text = f'{{"request_id":"{request_id}","output":{{"task_id":"{task_id or ""}","task_st'
        return Response(text, media_type="application/json")
    if rule.kind == "missing_fields":
        return Response(_missing_fields(op, task_id, request_id), media_type="application/json")
    if rule.kind == "huge":
        size = rule.bytes or HUGE_DEFAULT_BYTES
        return StreamingResponse(
            _huge_body(size, task_id, request_id),
            media_type="application/json",
            headers={"Content-Length": str(size)},
        )
    if rule.kind == "unknown":
        body = {"request_id": request_id, "output": {"task_id": task_id, "task_status": "UNKNOWN"}}
        return Response(json.dumps(body), media_type="application/json")
    raise AssertionError(f"unhandled fault kind {rule.kind}")


def _html_page(status: int) -> str:
    """A gateway's error page, as a load balancer in front of the service would send."""
    try:
        title = f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        title = str(status)
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>Tengine</center>\r\n"
        "</body>\r\n</html>\r\n"
    )


def _missing_fields(op: str, task_id: str | None, request_id: str) -> str:
    body: dict[str, Any]
    if op == "list":
        body = {"request_id": request_id, "total": 0}
    elif op == "policy":
        body = {"request_id": request_id, "data": {}}
    else:  # submit / poll: an output without task_status
        body = {"request_id": request_id, "output": {"task_id": task_id or str(uuid.uuid4())}}
    return json.dumps(body)


async def _huge_body(size: int, task_id: str | None, request_id: str) -> AsyncIterator[bytes]:
    """A valid JSON document of exactly `size` bytes (when size allows), streamed."""
    head = (
        f'{{"request_id":"{request_id}","output":{{"task_id":"{task_id or ""}",'
        f'"task_status":"RUNNING"}},"padding":"'
    ).encode()
    tail = b'"}'
    filler = max(0, size - len(head) - len(tail))
    yield head[:size]
    while filler > 0:
        n = min(filler, _CHUNK)
        filler -= n
        yield b"x" * n
        await asyncio.sleep(0)  # let other requests run during a 50 MB body
    if size > len(head):
        yield tail[: size - len(head)]
