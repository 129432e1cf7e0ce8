"""The only code that talks to DashScope, through the dashscope SDK (2.x Client and its transport).

Decisions (see references/api_reference.md):
* The SDK client is built with max_retries=0: its transport re-sends any request on 429/5xx
  and on resets, which for a submit can create a second paid task. Reads are retried here,
  in one place (`read`), honouring Retry-After; a submit only when nothing can have been created.
* Submits go through the SDK's async-task helper (`Jobs.create`, what `client.videos.jobs`
  wraps), bound to the model's path: 2.x has no public route for kf2v's image2video path.
  Local images are uploaded by the SDK's own temporary-file upload (`upload_media_value`).
* Task queries, cancel and list use the SDK transport directly and keep the raw JSON, so every
  poll answer is evidence as the service sent it, and so `GET /tasks` is read from `data`
  (SDK 2.0.2's `jobs.list` reads `tasks` and always comes back empty).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .errors import EXIT_NETWORK, WanVideoError, from_service

CN_TZ = timezone(timedelta(hours=8))  # the service's clock for task times and list filters
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN"})
# A DashScope answer is a few KB (a 100-task list page is ~60 KB). httpx reads an answer whole,
# so a proxy or hostile endpoint sending 50 MB would cost several times that in memory (and a
# copy in the evidence): anything above this is refused as a bad answer before it is read.
MAX_ANSWER_BYTES = 4 * 1024 * 1024


@dataclass
class Answer:
    """One HTTP exchange: status, parsed body, headers that matter, latency."""

    status: int
    body: dict[str, Any]
    request_id: str | None
    retry_after: float | None
    latency: float


class SubmitOutcomeUnknown(Exception):
    """The submit may have reached the service: reconcile before deciding anything."""

    def __init__(self, reason: str, started: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.started = started


def _retry_after(headers: Any) -> float | None:
    for name in ("retry-after-ms", "retry-after"):
        value = headers.get(name) if headers is not None else None
        if value:
            try:
                seconds = float(value)
            except ValueError:
                return None
            return seconds / 1000.0 if name == "retry-after-ms" else seconds
    return None


def _parse_body(text: str) -> dict[str, Any] | None:
    try:
        body = json.loads(text)
    except (json.JSONDecodeError, ValueError):
        return None
    return body if isinstance(body, dict) else None


def _describe(text: str) -> str:
    head = text.lstrip()[:60].replace("\n", " ")
    if head.lower().startswith(("<!doctype", "<html")):
        return "an HTML page"
    return f"{len(text)} bytes starting {head!r}" if text else "an empty body"


def _bound_answers(http_client: Any, max_bytes: int = MAX_ANSWER_BYTES) -> None:
    """Refuse answers larger than max_bytes, and answers that trickle in past their timeout.

    httpx's read timeout is per socket read, so a server sending a byte a second never trips
    it; the whole body must arrive within the request's read timeout from its headers. Both
    refusals are transport errors, so the SDK reports them like a dropped connection: reads
    are retried, and a submit is reconciled (it may have created a task).
    """
    import httpx

    class Bounded(httpx.SyncByteStream):
        def __init__(self, inner: Any, seconds: float | None) -> None:
            self._inner = inner
            self._seconds = seconds
            self._deadline = None if seconds is None else time.monotonic() + seconds

        def __iter__(self) -> Any:
            got = 0
            for chunk in self._inner:
                got += len(chunk)
                if got > max_bytes:
                    raise httpx.ReadError(f"the answer is larger than {max_bytes} bytes; refused")
                if self._deadline is not None and time.monotonic() > self._deadline:
                    raise httpx.ReadTimeout(f"the answer kept trickling in for over {self._seconds:g}s")
                yield chunk

        def close(self) -> None:
            self._inner.close()

    def hook(response: Any) -> None:
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > max_bytes:
            raise httpx.ReadError(f"the answer is {length} bytes (over {max_bytes}); refused")
        timeouts = response.request.extensions.get("timeout") or {}
        response.stream = Bounded(response.stream, timeouts.get("read"))

    hooks = http_client.event_hooks
    hooks["response"] = [*hooks.get("response", []), hook]
    http_client.event_hooks = hooks


def _has_task_status(answer: Answer) -> None:
    """A task answer must say the task's status; one that does not is junk, worth another read."""
    output = answer.body.get("output")
    if not (isinstance(output, dict) and isinstance(output.get("task_status"), str) and output["task_status"]):
        text = json.dumps(answer.body, ensure_ascii=False)
        shown = text if len(text) <= 300 else text[:300] + "..."
        raise WanVideoError(
            "BadServiceResponse", f"the task query answered without a task_status: {shown}",
            "retry `wait TASK_ID`; if it persists the endpoint is not DashScope",
            exit_code=EXIT_NETWORK, retryable=True, request_id=answer.request_id)


def _not_sent(exc: BaseException) -> bool:
    """True when a transport failure happened before any byte of the request left."""
    import httpx

    cause = exc.__cause__ or exc
    return isinstance(cause, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


class Service:
    """DashScope for one key, region endpoint and workspace."""

    def __init__(self, api_key: str, api_root: str, *, workspace: str | None = None,
                 timeout: float = 30.0, submit_timeout: float = 60.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        import dashscope

        self.api_root = api_root.rstrip("/")
        self._key = api_key
        self.workspace = workspace
        self.timeout = timeout
        self.submit_timeout = submit_timeout
        self._sleep = sleep
        self.client = dashscope.Client(api_key=api_key, base_url=self.api_root, workspace=workspace,
                                       max_retries=0, timeout=timeout)
        _bound_answers(self.client.transport.http_client)
        self.retries: list[dict[str, Any]] = []  # every retry, for the evidence
        self.read_limiter: Any = None  # batch: one pace for every read, under the 20/s query limit

    def close(self) -> None:
        self.client.close()

    # ------------------------------------------------------------------ raw exchanges
    def _exchange(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                  timeout: float | None = None) -> Answer:
        """One request through the SDK transport; errors become WanVideoError."""
        from dashscope.v2.errors import DashScopeError

        if self.read_limiter is not None:
            self.read_limiter.acquire()
        started = time.monotonic()
        try:
            resp = self.client.transport.request(method, path, params=params,
                                                 timeout=timeout or self.timeout, sdk_module="aigc")
        except DashScopeError as exc:
            raise WanVideoError(
                "NetworkError", f"{method} {path}: {exc.message}",
                "check the network and the endpoint (`generate_video.py doctor`)",
                exit_code=EXIT_NETWORK, retryable=True) from None
        latency = time.monotonic() - started
        text = resp.text
        body = _parse_body(text)
        request_id = resp.headers.get("x-request-id") or (body or {}).get("request_id")
        if resp.status_code >= 400:
            err = from_service((body or {}).get("code"), (body or {}).get("message") or
                               f"HTTP {resp.status_code} with {_describe(text)}",
                               http_status=resp.status_code, request_id=request_id)
            err.details = {"retry_after": _retry_after(resp.headers)}
            if resp.status_code >= 500:
                # The HTTP exchange failed, not a task: an InternalError here says nothing about
                # the task (exit 1 is for tasks that failed). Retried, then "service unavailable".
                err.exit_code, err.retryable = EXIT_NETWORK, True
            raise err
        if body is None:
            raise WanVideoError(
                "BadServiceResponse", f"{method} {path} answered HTTP {resp.status_code} with "
                f"{_describe(text)} instead of JSON", "a proxy or gateway answered in the service's place;"
                " retry later", exit_code=EXIT_NETWORK, retryable=True, request_id=request_id)
        return Answer(resp.status_code, body, request_id, _retry_after(resp.headers), latency)

    def read(self, method: str, path: str, *, params: dict[str, Any] | None = None,
             deadline: float | None = None, attempts: int = 6,
             check: Callable[[Answer], None] | None = None) -> Answer:
        """A read (query, list, cancel-check) retried on 429, 5xx, resets and junk bodies.

        `check` may refuse a 200 answer that lacks what the caller needs (raising a retryable
        WanVideoError), so such an answer is retried like any other junk.
        """
        from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt

        def retryable(exc: BaseException) -> bool:
            return isinstance(exc, WanVideoError) and exc.retryable

        def wait(state: Any) -> float:
            exc = state.outcome.exception()
            hinted = (exc.details or {}).get("retry_after") if isinstance(exc.details, dict) else None
            base = min(8.0, 0.5 * 2 ** (state.attempt_number - 1))
            delay = max(hinted or 0.0, base * random.uniform(0.8, 1.2))
            if deadline is not None:
                delay = max(0.0, min(delay, deadline - time.monotonic()))
            self.retries.append({"op": f"{method} {path}", "attempt": state.attempt_number,
                                 "error": getattr(exc, "code", type(exc).__name__),
                                 "delay": round(delay, 3), "at": time.time()})
            return delay

        def stop(state: Any) -> bool:
            if stop_after_attempt(attempts)(state):
                return True
            return deadline is not None and time.monotonic() >= deadline

        try:
            for attempt in Retrying(retry=retry_if_exception(retryable), wait=wait, stop=stop,
                                    sleep=self._sleep, reraise=True):
                with attempt:
                    # No single exchange may outlive the deadline by much: a slow or trickling
                    # answer otherwise holds the poll loop well past it.
                    timeout = None if deadline is None else min(
                        self.timeout, max(5.0, deadline - time.monotonic()))
                    answer = self._exchange(method, path, params=params, timeout=timeout)
                    if check is not None:
                        check(answer)
                    return answer
        except RetryError as exc:  # pragma: no cover - reraise=True re-raises the last error
            raise exc.last_attempt.exception() from None  # type: ignore[misc]
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ operations
    def query(self, task_id: str, *, deadline: float | None = None) -> Answer:
        return self.read("GET", f"/tasks/{task_id}", deadline=deadline, check=_has_task_status)

    def cancel(self, task_id: str) -> Answer:
        """POST /tasks/{id}/cancel; only a PENDING task can be cancelled."""
        return self._exchange("POST", f"/tasks/{task_id}/cancel")

    def list_tasks(self, *, model: str | None = None, status: str | None = None,
                   start: datetime | None = None, end: datetime | None = None,
                   page_size: int = 100, deadline: float | None = None) -> list[dict[str, Any]]:
        """Every task of the account in a window (default the last 24 h), newest first."""
        params: dict[str, Any] = {"page_no": 1, "page_size": page_size}
        if model:
            params["model_name"] = model
        if status:
            params["status"] = status
        if start:
            params["start_time"] = start.astimezone(CN_TZ).strftime("%Y%m%d%H%M%S")
        if end:
            params["end_time"] = end.astimezone(CN_TZ).strftime("%Y%m%d%H%M%S")
        tasks: list[dict[str, Any]] = []
        while True:
            body = self.read("GET", "/tasks", params=params, deadline=deadline).body
            page = body.get("data") or body.get("tasks") or []
            tasks.extend(t for t in page if isinstance(t, dict))
            total_pages = int(body.get("total_page") or 1)
            if params["page_no"] >= total_pages or not page or params["page_no"] >= 20:
                return tasks
            params["page_no"] += 1

    def submit(self, call: Any) -> Answer:
        """Send one submit (a wire.WireCall), exactly once.

        Raises SubmitOutcomeUnknown when it may have landed; WanVideoError with
        details.certainly_not_created when it cannot have.
        """
        from dashscope.v2.errors import APIConnectionError, APIStatusError, DashScopeError
        from dashscope.v2.resources._jobs import Jobs

        body = call.with_uploads(self.upload_files([p for _, p in call.uploads], call.body["model"]))
        inp = body["input"]
        headers = {"X-DashScope-OssResourceResolve": "enable"} if call.needs_oss_resolve else {}
        path = call.path
        service = path.removeprefix("/services/").strip("/")
        jobs = Jobs(self.client, service, "aigc")
        started = time.monotonic()
        try:
            job = jobs.create(model=body["model"], input=inp, parameters=body.get("parameters"),
                              headers=headers or None, timeout=self.submit_timeout)
        except APIStatusError as exc:
            status = exc.status_code or 0
            data = exc.body if isinstance(exc.body, dict) else {}
            if status >= 500 or status == 0:
                raise SubmitOutcomeUnknown(f"HTTP {status} after the submit was sent", started) from None
            err = from_service(data.get("code") or exc.code, data.get("message") or exc.message,
                               http_status=status, request_id=exc.request_id)
            err.details = {"retry_after": _retry_after(exc.headers), "certainly_not_created": True}
            raise err from None
        except APIConnectionError as exc:
            if _not_sent(exc):
                raise WanVideoError("ConnectionFailed", f"could not connect to {self.api_root}: {exc.message}",
                                    "check the network, the region and DASHSCOPE_BASE_URL "
                                    "(`generate_video.py doctor`)", exit_code=EXIT_NETWORK,
                                    retryable=True, details={"certainly_not_created": True}) from None
            raise SubmitOutcomeUnknown(f"connection lost after sending: {exc.message}", started) from None
        except DashScopeError as exc:
            raise SubmitOutcomeUnknown(f"unexpected SDK error after sending: {exc}", started) from None
        except (ValueError, KeyError, TypeError) as exc:  # 200 with a body that is not a task
            raise SubmitOutcomeUnknown(f"unreadable submit answer: {type(exc).__name__}", started) from None
        latency = time.monotonic() - started
        answer_body = {"request_id": job.request_id, "output": job.output}
        if not job.task_id:
            raise SubmitOutcomeUnknown("the submit answer carried no task_id", started)
        if not job.status:
            # A real submit answer always says PENDING; one without a status is not a task
            # answer we can trust (its id may be made up): reconcile through the task list.
            raise SubmitOutcomeUnknown("the submit answer carried no task_status", started)
        return Answer(200, answer_body, job.request_id, None, latency)

    def upload_files(self, paths: list[str], model: str) -> dict[str, str]:
        """Local files -> oss:// URLs through the SDK's temporary-file upload.

        Only the image values are handed to the uploader: it uploads any string that names an
        existing file, so giving it the whole input would upload a prompt that happens to be a path.
        """
        from dashscope.v2.resources._oss import upload_media_value

        urls: dict[str, str] = {}
        for path in paths:
            try:
                url, uploaded = upload_media_value(self.client, path, model, self._key, self.workspace)
            except Exception as exc:  # the SDK raises several types here; all mean "not uploaded"
                raise WanVideoError("UploadFailed", f"uploading {path} failed: {type(exc).__name__}: {exc}",
                                    "retry; or pass the image as an http(s) URL or a data: URI",
                                    exit_code=EXIT_NETWORK, retryable=True,
                                    details={"certainly_not_created": True}) from None
            if not uploaded or not str(url).startswith("oss://"):
                raise WanVideoError("UploadFailed", f"the SDK did not upload {path}",
                                    "pass the image as an http(s) URL or a data: URI",
                                    exit_code=EXIT_NETWORK, details={"certainly_not_created": True})
            urls[path] = str(url)
        return urls


def now_cn() -> datetime:
    return datetime.now(CN_TZ)


def parse_cn_time(text: str | None) -> float | None:
    """'2025-09-29 14:18:52.331' (UTC+8) -> epoch seconds."""
    if not text:
        return None
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=CN_TZ).timestamp()
        except ValueError:
            continue
    return None
