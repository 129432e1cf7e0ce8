"""Routes: which URL runs which handler, plus the request-id/log layer around everything.

API routes live under `/api/v1` (cn-beijing) and `/regions/{region}/api/v1`; OSS lives
at `/_oss` (uploads) and `/_oss_result` (videos); the control plane at `/_emulator`.
Layers, outermost first: RequestLog (request id, X-Request-ID, request log) ->
FaultMiddleware (scripted faults) -> FastAPI routes -> handlers (in the threadpool).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import errors, handlers, oss
from .errors import ApiError, OssError
from .faults import FaultMiddleware
from .handlers import Call, Service
from .state import Engine

API_ROOT = "/api/v1"
SPOOL_LIMIT = (oss.MAX_FILE_MB + 1) * 1024 * 1024  # the file plus its form fields


def create_app(svc: Service) -> ASGIApp:
    """The emulator as one ASGI application."""
    api = APIRouter()

    @api.post("/services/aigc/{service_path}/video-synthesis")
    async def submit(request: Request, service_path: str) -> Response:
        body = await request.body()
        return await _run(svc, request, handlers.submit, body, service_path)

    @api.get("/tasks")
    @api.get("/tasks/")
    async def list_tasks(request: Request) -> Response:
        return await _run(svc, request, handlers.list_tasks)

    @api.get("/tasks/{task_id}")
    async def get_task(request: Request, task_id: str) -> Response:
        return await _run(svc, request, handlers.get_task, task_id)

    @api.post("/tasks/{task_id}/cancel")
    async def cancel_task(request: Request, task_id: str) -> Response:
        return await _run(svc, request, handlers.cancel_task, task_id)

    @api.get("/uploads")
    @api.get("/uploads/")
    async def upload_policy(request: Request) -> Response:
        return await _run(svc, request, handlers.upload_policy)

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(api, prefix=API_ROOT)
    app.include_router(api, prefix="/regions/{region}" + API_ROOT)

    @app.post("/_oss")
    async def oss_upload(request: Request) -> Response:
        spool = svc.data_dir / "spool" / uuid.uuid4().hex
        try:
            if not await _spool(request, spool):
                return errors.oss_response(errors.OSS_TOO_LARGE, _request_id(request), _host(request))
            return await _run(svc, request, handlers.oss_upload, spool)
        finally:
            spool.unlink(missing_ok=True)

    @app.api_route("/_oss_result/{name}", methods=["GET", "HEAD"])
    async def download(request: Request, name: str) -> Response:
        task_id = name.removesuffix(".mp4")
        return await _run(svc, request, handlers.download, task_id, request.method == "HEAD")

    @app.get("/_emulator/scenario")
    async def current_settings(request: Request) -> Response:
        return await _run(svc, request, handlers.current_settings)

    @app.post("/_emulator/scenario")
    async def scenario(request: Request) -> Response:
        body = await request.body()
        return await _run(svc, request, handlers.scenario, body)

    @app.post("/_emulator/reset")
    async def reset(request: Request) -> Response:
        return await _run(svc, request, handlers.reset)

    @app.get("/_emulator/stats")
    async def stats(request: Request) -> Response:
        return await _run(svc, request, handlers.stats)

    @app.exception_handler(HTTPException)
    async def unrouted(request: Request, exc: HTTPException) -> Response:
        # decision: a wrong service path answers like a model on the wrong endpoint;
        # anything else unrouted gets a flat 404 in the service's error shape.
        error = errors.URL_ERROR if "/services/" in request.url.path else errors.NOT_FOUND
        return errors.error_response(error, _request_id(request))

    return RequestLog(FaultMiddleware(app, svc.engine.faults, svc.connections), svc.engine)


async def _run(
    svc: Service, request: Request, handler: Callable[..., Response], *args: Any
) -> Response:
    """Run a synchronous handler off the event loop; turn its errors into wire bodies."""
    request_id = _request_id(request)
    try:
        region = request.path_params.get("region", svc.catalog.default_region)
        if region not in svc.catalog.regions:
            raise ApiError(errors.NOT_FOUND)
        call = Call(
            region=region,
            headers=request.headers,
            query=request.query_params,
            request_id=request_id,
            origin=f"{request.url.scheme}://{request.url.netloc}",
            fault=getattr(request.state, "fault", None),
        )
        return await run_in_threadpool(handler, svc, call, *args)
    except ApiError as exc:
        return errors.error_response(exc.error, request_id, exc.retry_after)
    except OssError as exc:
        return errors.oss_response(exc.error, request_id, _host(request))


async def _spool(request: Request, target: Any) -> bool:
    """Write the request body to `target`; False (and stop) once it exceeds SPOOL_LIMIT."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > SPOOL_LIMIT:
        return False
    size = 0
    with open(target, "wb") as fh:
        async for chunk in request.stream():
            size += len(chunk)
            if size > SPOOL_LIMIT:
                return False
            fh.write(chunk)
    return True


def _request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or uuid.uuid4())


def _host(request: Request) -> str:
    return request.url.netloc


class RequestLog:
    """Give every request an id (echoed as X-Request-ID) and record it in the log."""

    def __init__(self, app: ASGIApp, engine: Engine) -> None:
        self.app = app
        self.engine = engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = str(uuid.uuid4())
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status: int | None = None
        started = time.time()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            fault = state.get("fault")
            self.engine.log_request(
                {
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,  # None: the connection was cut before any answer
                    "time": started,
                    "seconds": round(time.time() - started, 4),
                    "fault": fault.kind if fault else None,
                }
            )
