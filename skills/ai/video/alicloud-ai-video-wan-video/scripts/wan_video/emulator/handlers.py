"""Request handlers: one function per operation, speaking the service's wire format.

Handlers are plain synchronous functions (app.py runs them in the threadpool) that take
the `Service` and a `Call` and return a Starlette response, or raise `ApiError` /
`OssError`, which app.py turns into the service's JSON or OSS's XML error bodies.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import formatdate
from pathlib import Path
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from ..catalog import Catalog
from . import errors, media, oss
from .errors import ApiError, OssError
from .faults import Connections, FaultRule, drop_connection
from .planner import Planner
from .render import VideoCache
from .state import FAILED, PENDING, RUNNING, SUCCEEDED, TERMINAL, Engine, Task

CHINA = timezone(timedelta(hours=8))  # the service prints times in UTC+8
ACCOUNT_UID = "1230000000000001"  # the emulated Alibaba Cloud main account
LIST_WINDOW_SECONDS = 86400


@dataclass(frozen=True)
class Service:
    """Everything the handlers share."""

    catalog: Catalog
    engine: Engine
    planner: Planner
    videos: VideoCache
    signer: oss.Signer
    data_dir: Path
    connections: Connections  # uvicorn's live connections, for faults that cut them


@dataclass(frozen=True)
class Call:
    """The parts of a request a handler needs."""

    region: str
    headers: Headers
    query: Mapping[str, str]
    request_id: str
    origin: str  # scheme://host:port as the client addressed us
    fault: FaultRule | None = None


# ---------------------------------------------------------------- common checks


def authenticate(svc: Service, call: Call) -> str:
    """The caller's API key (Authorization: Bearer ...), or 401."""
    scheme, _, key = call.headers.get("authorization", "").strip().partition(" ")
    key = key.strip()
    if not scheme or (scheme.lower() == "bearer" and not key):
        raise ApiError(errors.NO_API_KEY)
    if scheme.lower() != "bearer" or not svc.engine.key_valid(key):
        raise ApiError(errors.INVALID_API_KEY)
    return key


def _query_allowed(svc: Service, call: Call) -> None:
    if not svc.engine.admit_query(call.region):
        raise ApiError(errors.RATE_QUOTA)


# ---------------------------------------------------------------- submit


def submit(svc: Service, call: Call, body: bytes, service_path: str) -> Response:
    """POST /services/aigc/{video-generation|image2video}/video-synthesis."""
    api_key = authenticate(svc, call)
    if call.headers.get("x-dashscope-async", "").strip().lower() != "enable":
        raise ApiError(errors.SYNC_NOT_SUPPORTED)
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise ApiError(errors.BODY_INVALID)
    model = payload.get("model")
    svc.engine.count_submit(model if isinstance(model, str) else None)
    if not isinstance(model, str) or not model:
        raise ApiError(errors.EMPTY_MODEL)
    spec = svc.catalog.for_wire(model, call.region)
    if spec is None:
        raise ApiError(errors.MODEL_NOT_EXIST)
    if service_path != spec.path:
        raise ApiError(errors.URL_ERROR)
    if not svc.engine.admit_submit(spec, call.region):
        raise ApiError(errors.RATE_QUOTA)
    input_ = payload.get("input")
    if not isinstance(input_, dict) or not input_:
        raise ApiError(errors.EMPTY_INPUT)
    parameters = payload.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ApiError(errors.BODY_INVALID)
    missing = _missing_field(spec.kind, spec.protocol, input_)
    if missing:
        raise ApiError(errors.field_required(missing))
    oss_resolve = call.headers.get("x-dashscope-ossresourceresolve", "").lower() == "enable"
    if not all(media.url_acceptable(u, oss_resolve) for u in media.input_urls(input_)):
        raise ApiError(errors.INVALID_URL)
    plan = svc.planner.plan(spec, model, input_, parameters)
    task = svc.engine.create_task(
        request_id=call.request_id,
        model=model,
        spec=spec,
        region=call.region,
        api_key=api_key,
        parameters=parameters,
        plan=plan,
    )
    return JSONResponse(
        {"output": {"task_status": PENDING, "task_id": task.task_id}, "request_id": call.request_id}
    )


def _missing_field(kind: str, protocol: str, input_: dict[str, Any]) -> str | None:
    """The first required input the model's protocol lacks."""
    if kind in ("t2v", "r2v") and not _text(input_.get("prompt")):
        return "input.prompt"
    required = {
        "resolution": ("input.img_url", _text(input_.get("img_url"))),
        "keyframes": ("input.first_frame_url", _text(input_.get("first_frame_url"))),
        "media": ("input.media", _media_items(input_.get("media"))),
        "references": (
            "input.reference_urls",
            _urls(input_.get("reference_urls")) or _urls(input_.get("reference_video_urls")),
        ),
    }
    name, present = required.get(protocol, ("", True))
    return None if present else name


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _urls(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(_text(v) for v in value)


def _media_items(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(m, dict) and _text(m.get("type")) and _text(m.get("url")) for m in value)
    )


# ---------------------------------------------------------------- query, cancel, list


def get_task(svc: Service, call: Call, task_id: str) -> Response:
    """GET /tasks/{task_id}: the task's current state (UNKNOWN if no such live task)."""
    authenticate(svc, call)
    _query_allowed(svc, call)
    task = svc.engine.get(task_id, call.region, poll=True)
    if task is None:
        return JSONResponse(
            {"request_id": call.request_id, "output": {"task_id": task_id, "task_status": "UNKNOWN"}}
        )
    return JSONResponse(task_body(svc, task, call))


def task_body(svc: Service, task: Task, call: Call) -> dict[str, Any]:
    """The query body for a task, shaped like the service's for its status."""
    now = svc.engine.clock()
    status = task.status(now)
    output: dict[str, Any] = {
        "task_id": task.task_id,
        "task_status": status,
        "submit_time": _clock(task.submit_ts),
    }
    if status in (RUNNING, SUCCEEDED, FAILED):
        output["scheduled_time"] = _clock(task.run_start_ts or task.submit_ts)
    if status in TERMINAL:
        output["end_time"] = _clock(task.end_ts or now)
    body: dict[str, Any] = {"request_id": call.request_id, "output": output}
    if status == FAILED and task.failure:
        output["code"], output["message"] = task.failure
    elif status == SUCCEEDED:
        if task.plan.prompt is not None:
            output["orig_prompt"] = task.plan.prompt
        if task.plan.actual_prompt is not None:
            output["actual_prompt"] = task.plan.actual_prompt
        expires = int((task.end_ts or now) + task.url_ttl_seconds)
        output["video_url"] = oss.result_url(svc.signer, call.origin, task.task_id, expires)
        body["usage"] = task.plan.usage
    return body


def _clock(epoch: float) -> str:
    """YYYY-MM-DD HH:mm:ss.SSS in UTC+8, as the service prints times."""
    moment = datetime.fromtimestamp(epoch, CHINA)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def cancel_task(svc: Service, call: Call, task_id: str) -> Response:
    """POST /tasks/{task_id}/cancel: only a PENDING task can be canceled."""
    authenticate(svc, call)
    _query_allowed(svc, call)
    if not svc.engine.cancel(task_id, call.region):
        raise ApiError(errors.CANCEL_NOT_PENDING)  # decision: unknown ids answer the same
    return JSONResponse({"request_id": call.request_id})


def list_tasks(svc: Service, call: Call) -> Response:
    """GET /tasks: the account's tasks in this region, newest first, paged."""
    authenticate(svc, call)
    _query_allowed(svc, call)
    q = call.query
    now = svc.engine.clock()
    end = _list_time(q, "end_time", now + 1)
    start = _list_time(q, "start_time", end - LIST_WINDOW_SECONDS)
    page_no = _positive_int(q, "page_no", 1)
    page_size = _positive_int(q, "page_size", 10)
    selected = [
        t
        for t in svc.engine.tasks(call.region)
        if start <= t.submit_ts < end
        and q.get("task_id") in (None, "", t.task_id)
        and q.get("model_name") in (None, "", t.model)
        and q.get("status") in (None, "", t.status(now))
    ]
    page = selected[(page_no - 1) * page_size : page_no * page_size]
    return JSONResponse(
        {
            "total": len(selected),
            "data": [_list_item(t, now) for t in page],
            "total_page": math.ceil(len(selected) / page_size),
            "page_no": page_no,
            "request_id": call.request_id,
            "page_size": page_size,
        }
    )


def _list_time(query: Mapping[str, str], name: str, default: float) -> float:
    value = query.get(name)
    if not value:
        return default
    try:
        moment = datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=CHINA)
    except ValueError:
        raise ApiError(errors.parameter_invalid(name)) from None
    # end_time names a whole second: include tasks created during it.
    return moment.timestamp() + (1 if name == "end_time" else 0)


def _positive_int(query: Mapping[str, str], name: str, default: int) -> int:
    value = query.get(name)
    if value is None or value == "":
        return default
    if not value.isdigit() or int(value) < 1:
        raise ApiError(errors.parameter_invalid(name))
    return int(value)


def _list_item(task: Task, now: float) -> dict[str, Any]:
    status = task.status(now)
    item: dict[str, Any] = {
        "api_key_id": str(int(hashlib.md5(task.api_key.encode()).hexdigest()[:7], 16)),
        "caller_parent_id": ACCOUNT_UID,
        "caller_uid": ACCOUNT_UID,
    }
    if status in TERMINAL and task.end_ts is not None:
        item["end_time"] = _ms(task.end_ts)
    item.update(
        gmt_create=_ms(task.submit_ts),
        model_name=task.model,
        region=task.region,
        request_id=task.request_id,
        start_time=_ms(task.submit_ts),
        status=status,
        task_id=task.task_id,
        user_api_unique_key=f"apikey:v1:aigc:{task.spec.path}:video-synthesis:{task.model}",
    )
    return item


def _ms(epoch: float) -> int:
    return int(epoch * 1000)


# ---------------------------------------------------------------- uploads


def upload_policy(svc: Service, call: Call) -> Response:
    """GET /uploads?action=getPolicy&model=M: a signed form-post policy for OSS."""
    api_key = authenticate(svc, call)
    if call.query.get("action") != "getPolicy":
        raise ApiError(errors.parameter_invalid("action"))
    model = call.query.get("model")
    if not model:
        raise ApiError(errors.EMPTY_MODEL)
    if svc.catalog.for_wire(model, call.region) is None:
        raise ApiError(errors.MODEL_NOT_EXIST)
    now = svc.engine.clock()
    data = oss.upload_policy(svc.signer, api_key, f"{call.origin}/_oss", now)
    return JSONResponse({"data": data, "request_id": call.request_id})


def oss_upload(svc: Service, call: Call, spooled: Path) -> Response:
    """POST /_oss: OSS PostObject with the policy from upload_policy()."""
    boundary = oss.boundary_of(call.headers.get("content-type", ""))
    if boundary is None:
        raise OssError(
            errors.oss_invalid_argument(
                "The body of your POST request is not well-formed multipart/form-data."
            )
        )
    fields, part = oss.parse_form(spooled, boundary)
    if part is None:
        raise OssError(errors.oss_invalid_argument("Missing form field(s): file."))
    oss.check_post(svc.signer, fields, part.end - part.start, svc.engine.clock())
    key = fields["key"]
    if svc.engine.upload(key) is not None:
        raise OssError(errors.OSS_ALREADY_EXISTS)
    target = svc.data_dir / "uploads" / uuid.uuid4().hex
    oss.copy_range(spooled, part.start, part.end, target)
    if not svc.engine.store_upload(key, target):  # a concurrent post of the same key won
        target.unlink()
        raise OssError(errors.OSS_ALREADY_EXISTS)
    status = fields.get("success_action_status", "204")
    return Response(status_code=int(status) if status in ("200", "201", "204") else 204)


# ---------------------------------------------------------------- downloads


def download(svc: Service, call: Call, task_id: str, head: bool) -> Response:
    """GET|HEAD /_oss_result/{task_id}.mp4?Expires=&OSSAccessKeyId=&Signature=."""
    svc.engine.count_download()
    rule = call.fault
    fault = rule.kind if rule else None
    expires, signature = call.query.get("Expires", ""), call.query.get("Signature", "")
    if not expires.isdigit() or not signature or call.query.get("OSSAccessKeyId") != oss.ACCESS_KEY_ID:
        raise OssError(errors.OSS_ACCESS_DENIED)
    if not oss.result_signature_ok(svc.signer, task_id, int(expires), signature):
        raise OssError(errors.OSS_SIGNATURE_MISMATCH)
    now = svc.engine.clock()
    if fault == "expire" or int(expires) < now:
        raise OssError(errors.oss_expired(int(expires), now))
    task = svc.engine.get(task_id, None)
    if task is None or task.status(now) != SUCCEEDED or task.plan.render is None:
        raise OssError(errors.OSS_NO_SUCH_KEY)
    if fault == "not_video":
        return HTMLResponse(_NOT_VIDEO_PAGE)
    path = svc.videos.path(task.plan.render)
    blob = oss.Blob(path, path.stat().st_size, svc.engine.settings.video_padding_bytes)
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": f'"{path.stem[:32].upper()}"',
        "Last-Modified": formatdate(task.end_ts or now, usegmt=True),
        "x-oss-request-id": call.request_id,
    }
    if fault == "endless":
        return StreamingResponse(_endless(blob), media_type="video/mp4", headers=headers)
    if rule and rule.kind == "truncate":
        cut = min(rule.bytes or blob.size // 2, blob.size)
        return _CutShort(blob, cut, headers, svc.connections)
    try:
        wanted = oss.parse_range(call.headers.get("range"), blob.size)
    except oss.RangeNotSatisfiable:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{blob.size}"})
    start, end = wanted or (0, blob.size)
    headers["Content-Length"] = str(end - start)
    status = 200
    if wanted:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{blob.size}"
    if head:
        return Response(status_code=status, headers=headers, media_type="video/mp4")
    if rule and rule.kind == "trickle":
        body: Any = _trickle(blob, start, end, rule.bytes_per_second)
    else:
        body = blob.chunks(start, end)
    return StreamingResponse(body, status_code=status, media_type="video/mp4", headers=headers)


_NOT_VIDEO_PAGE = (
    "<!DOCTYPE html><html><head><title>Access verification</title></head>"
    "<body><p>Please complete the verification to continue.</p></body></html>"
)


async def _trickle(blob: oss.Blob, start: int, end: int, per_second: int) -> AsyncIterator[bytes]:
    """The bytes at `per_second`: each chunk waits its share of time before it goes out."""
    step = max(1, min(16384, per_second // 10))
    for chunk in blob.chunks(start, end, chunk=step):
        await asyncio.sleep(len(chunk) / per_second)
        yield chunk


async def _endless(blob: oss.Blob) -> AsyncIterator[bytes]:
    """The video's bytes, then zeros, forever (until the client hangs up)."""
    for chunk in blob.chunks(0, blob.size):
        yield chunk
    filler = bytes(64 * 1024)
    while True:
        yield filler
        await asyncio.sleep(0.001)


class _CutShort(Response):
    """Promise the whole file in Content-Length, send part of it, then close."""

    def __init__(
        self, blob: oss.Blob, limit: int, headers: dict[str, str], connections: Connections
    ) -> None:
        super().__init__(
            status_code=200,
            media_type="video/mp4",
            headers={**headers, "Content-Length": str(blob.size)},
        )
        self.blob, self.limit, self.connections = blob, limit, connections

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        for chunk in self.blob.chunks(0, self.limit):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await drop_connection(scope, receive, self.connections, reset=False)


# ---------------------------------------------------------------- control


def current_settings(svc: Service, call: Call) -> Response:
    """GET /_emulator/scenario: the settings in force."""
    return JSONResponse({"settings": svc.engine.settings.to_dict()})


def scenario(svc: Service, call: Call, body: bytes) -> Response:
    """POST /_emulator/scenario: merge a JSON object into the settings; 400 lists problems."""
    try:
        overrides = json.loads(body or b"{}")
    except ValueError:
        raise ApiError(errors.BODY_INVALID) from None
    if not isinstance(overrides, dict):
        raise ApiError(errors.WireError(400, "InvalidParameter", "A scenario is a JSON object."))
    try:
        settings = svc.engine.apply(overrides)
    except ValueError as exc:
        raise ApiError(errors.WireError(400, "InvalidParameter", str(exc))) from None
    return JSONResponse({"settings": settings.to_dict()})


def reset(svc: Service, call: Call) -> Response:
    """POST /_emulator/reset: forget tasks, uploads and counters; start-up settings."""
    return JSONResponse({"settings": svc.engine.reset().to_dict()})


def stats(svc: Service, call: Call) -> Response:
    """GET /_emulator/stats: counters, tasks and the request log."""
    return JSONResponse(svc.engine.stats(renders=svc.videos.renders))
