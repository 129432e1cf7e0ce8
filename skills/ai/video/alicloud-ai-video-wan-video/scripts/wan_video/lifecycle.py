"""submit -> record -> poll -> download -> verify -> evidence.

The order is what makes a paid task impossible to lose: the request's state is written
(atomically) before the submit is sent and again the moment its task id is known, before any
waiting; a second run of the same request finds it and resumes instead of paying again.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from .config import videos_dir
from .cost import actual, estimate_request
from .credentials import Credentials, endpoint, find_key, redact
from .errors import (
    EXIT_CONFIRM,
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_NETWORK,
    EXIT_OK,
    EXIT_PENDING,
    WanVideoError,
    from_service,
)
from .evidence import Evidence, ledger_add
from .polling import Expectation, Schedule, expect
from .progress import Progress
from .request import VideoRequest
from .service import TERMINAL, Answer, Service, SubmitOutcomeUnknown, parse_cn_time
from .store import Store
from .wire import WireCall, build, redacted_body

DEFAULT_TIMEOUT = 50.0  # fits an agent's 60-second tool call with room to print
SCRIPT = "python scripts/generate_video.py"
# A delivered Wan video runs at a few Mbit/s; 32 MiB per second of video is far above any real
# file, and refuses an endless or absurd body before it fills the disk (download.py's own
# default is 2 GiB, which an endless stream takes ~40 s to reach on loopback).
DOWNLOAD_BYTES_PER_SECOND = 32 * 1024 * 1024
DOWNLOAD_MIN_BYTES = 256 * 1024 * 1024
# Poll answers go to the evidence as sent, up to this size; a larger one (a proxy's junk) is
# kept as its size and first characters, so a hostile endpoint cannot fill the disk.
EVIDENCE_BODY_CHARS = 64 * 1024
# A task we submitted less than a day ago that answers UNKNOWN is asked again this many times
# (a second apart) before UNKNOWN is believed: recording it terminal would block resuming it.
UNKNOWN_CONFIRMATIONS = 2


@dataclass
class RunOptions:
    output: str | None = None
    no_wait: bool = False
    timeout: float | None = None
    max_cost: float | None = None
    workspace: str | None = None
    force: bool = False
    quiet: bool = False
    cancel_on_interrupt: bool = False
    download: bool = True
    store: Store | None = None
    progress: Progress | None = None
    service: Service | None = None  # batch shares one
    before_submit: Any = None  # called right before each submit attempt (batch: rate limit)
    on_terminal: Any = None  # called once the task is terminal, before the download (batch: slot)
    on_submitted: Any = None  # called with the task id once it is recorded
    max_download_bytes: int | None = None  # None: DOWNLOAD_BYTES_PER_SECOND x the video's seconds


def resume_command(task_id: str, region: str | None = None) -> str:
    cmd = f"{SCRIPT} wait {task_id}"
    return cmd + (f" --region {region}" if region and region != "cn-beijing" else "")


def cost_guard(req: VideoRequest, max_cost: float | None) -> dict[str, Any]:
    est = estimate_request(req)
    if max_cost is not None and est.get("amount_cny") is not None and est["amount_cny"] > max_cost:
        raise WanVideoError(
            "CostLimitExceeded",
            f"estimated cost {est['amount_cny']:.4f} CNY ({req.model}, {req.tier}, {req.duration}s) "
            f"is above --max-cost {max_cost:g} CNY",
            "raise --max-cost, or shorten the duration / lower the resolution; nothing was submitted",
            exit_code=EXIT_CONFIRM, details={"estimate": est})
    return est


def dry_run(req: VideoRequest, *, workspace: str | None = None, max_cost: float | None = None) -> dict[str, Any]:
    """What would be sent, where, and what it would cost; no key and no network."""
    call = build(req)
    est = cost_guard(req, max_cost)
    api_root, source = endpoint(req.region, workspace)
    headers = {"X-DashScope-Async": "enable", "Authorization": "Bearer <DASHSCOPE_API_KEY>",
               "Content-Type": "application/json"}
    if call.needs_oss_resolve:
        headers["X-DashScope-OssResourceResolve"] = "enable"
    return {
        "status": "DRY_RUN", "model": req.model, "region": req.region,
        "endpoint": api_root + call.path, "endpoint_source": source,
        "headers": headers, "wire_body": redacted_body(call),
        "uploads": [p for _, p in call.uploads], "request": req.summary(),
        "defaults_applied": req.defaults_applied, "cache_key": req.cache_key(),
        "cost": est, "cost_cny": est.get("amount_cny"),
        "video_url": None, "duration": None, "fps": None, "seed": req.seed, "task_id": None,
        "cached": False, "warnings": req.warnings,
    }


def open_service(region: str, workspace: str | None = None) -> tuple[Service, Credentials]:
    creds = find_key()
    assert creds is not None
    api_root, _ = endpoint(region, workspace)
    return Service(creds.key, api_root, workspace=workspace), creds


# ---------------------------------------------------------------------------- generate
def generate(req: VideoRequest, opts: RunOptions) -> tuple[dict[str, Any], int]:
    """The whole run for one request: cached, resumed or submitted once, then delivered."""
    est = cost_guard(req, opts.max_cost)
    store = opts.store or Store()
    progress = opts.progress or Progress(quiet=opts.quiet)
    timeout = DEFAULT_TIMEOUT if opts.timeout is None else opts.timeout
    deadline = time.monotonic() + timeout
    key = req.cache_key()
    for warning in req.warnings:
        progress.note(f"warning: {warning}")
    if opts.output:
        _check_output_free(Path(opts.output), store.load(key))

    # A cache hit costs no key and no network.
    state = store.load(key)
    if state and not opts.force:
        hit = _cached(state)
        if hit is not None:
            return hit, EXIT_OK

    service = opts.service
    creds = find_key() if service is None else None
    if service is None:
        assert creds is not None
        service, _ = open_service(req.region, opts.workspace)
        for warning in creds.warnings:
            progress.note(f"warning: {warning}")
    secret = creds.key if creds else getattr(service, "_key", None)
    ev = Evidence(secret)
    try:
        with store.lock(key, deadline, on_wait=lambda: progress.note(
                "another process is running this same request; waiting for it")):
            state = store.load(key)  # the other process may have finished it meanwhile
            if state and not opts.force:
                hit = _cached(state)
                if hit is not None:
                    return hit, EXIT_OK
            task_id = _task_for(req, state, opts, service, store, key, ev, progress, deadline)
            progress.note(f"task_id={task_id}  resume: {resume_command(task_id, req.region)}")
            if opts.on_submitted:
                opts.on_submitted(task_id)
            if opts.no_wait:
                return _pending_result(req, task_id, "PENDING", ev, est, submitted=True), EXIT_OK
            return _wait_and_deliver(service, task_id, req, store, key, ev, progress, deadline, opts, est)
    except WanVideoError as exc:
        ev.log(f"error {exc.code}: {exc.message}")
        ev.flush_unbound(key)
        raise
    finally:
        if opts.service is None:
            service.close()
        progress.done()


def _cached(state: dict[str, Any]) -> dict[str, Any] | None:
    """The recorded result when the file is still there and intact; a recorded failure re-raised."""
    status = state.get("status")
    if status == "SUCCEEDED" and state.get("result"):
        path = state["result"].get("local_path")
        if path and Path(path).is_file() and _sha256(Path(path)) == state["result"].get("sha256"):
            return {**state["result"], "cached": True}
        return None
    if status in ("FAILED", "CANCELED", "UNKNOWN") and state.get("error"):
        err = state["error"]
        raise WanVideoError(err.get("code", "TaskFailed"), err.get("message", ""),
                            (err.get("hint", "") + " (recorded from an earlier run; --force submits anew, "
                             "and is paid again if it succeeds)").strip(),
                            exit_code=int(err.get("exit_code", EXIT_FAILED)), task_id=state.get("task_id"),
                            status=status)
    return None


def _check_output_free(path: Path, state: dict[str, Any] | None) -> None:
    mine = (state or {}).get("result", {}).get("local_path") if state else None
    if path.exists() and (not mine or Path(mine).resolve() != path.resolve()):
        raise WanVideoError("OutputExists", f"--output {path} already exists and is not this request's video",
                            "choose another path or remove the file; a different video is never overwritten",
                            exit_code=EXIT_INVALID)


def _task_for(req: VideoRequest, state: dict[str, Any] | None, opts: RunOptions, service: Service,
              store: Store, key: str, ev: Evidence, progress: Progress, deadline: float) -> str:
    """The task this request runs as: the recorded one, one found by reconciling, or a new submit."""
    if state and not opts.force and state.get("task_id") and state.get("status") not in (
            "FAILED", "CANCELED", "UNKNOWN"):
        ev.bind(state["task_id"])
        ev.log(f"resuming task {state['task_id']} recorded at {state.get('submitted_at')}")
        return str(state["task_id"])
    call = build(req)
    if state and not opts.force and state.get("status") == "SUBMITTING":
        # An earlier run died between sending and recording: look before paying again.
        found = _reconcile(service, req, float(state["submit_started"]), store, key, ev, deadline)
        if found:
            ev.bind(found)
            ev.write("request.json", req.summary())
            ev.write("wire.json", redacted_body(call))
            return found
    return _submit(req, call, service, store, key, ev, progress, deadline, opts)


def _submit(req: VideoRequest, call: WireCall, service: Service, store: Store, key: str,
            ev: Evidence, progress: Progress, deadline: float, opts: RunOptions) -> str:
    """Exactly one paid task: retried only when nothing can have been created."""
    ev.write("request.json", req.summary())
    ev.write("wire.json", redacted_body(call))
    attempt = 0
    while True:
        attempt += 1
        if opts.before_submit:
            opts.before_submit()
        # Stamped right before sending: reconciliation tells submits apart by this time.
        started = time.time()
        store.save(key, {"status": "SUBMITTING", "submit_started": started, "model": req.model,
                         "wire_model": req.wire_model, "region": req.region, "tier": req.tier,
                         "duration": req.duration, "request": req.summary()})
        ev.log(f"submit attempt {attempt}: POST {call.path} model={req.wire_model}")
        try:
            answer = service.submit(call)
        except SubmitOutcomeUnknown as exc:
            ev.log(f"submit outcome unknown ({exc.reason}); reconciling through GET /tasks")
            found = _reconcile(service, req, started, store, key, ev, deadline)
            if found:
                ev.bind(found)
                return found
            if attempt >= 3 or time.monotonic() >= deadline:
                raise WanVideoError(
                    "SubmitOutcomeUnknown", f"the submit's answer was lost ({exc.reason}) and no matching "
                    "task was found", "run the same command again: it reconciles before submitting",
                    exit_code=EXIT_NETWORK, retryable=True) from None
            progress.note("submit answer lost and no task was created; sending again")
            continue
        except WanVideoError as exc:
            details = exc.details if isinstance(exc.details, dict) else {}
            ev.jsonl("retries.jsonl", {"op": "submit", "attempt": attempt, "code": exc.code,
                                       "message": exc.message, "at": time.time()})
            if details.get("certainly_not_created"):
                store.save(key, {"status": "NOT_SUBMITTED", "model": req.model, "region": req.region,
                                 "error": exc.to_dict()})
                wait_s = details.get("retry_after") or min(8.0, 0.5 * 2 ** attempt)
                if exc.retryable and attempt < 6 and time.monotonic() + wait_s < deadline:
                    ev.log(f"submit refused ({exc.code}); nothing was created; retrying in {wait_s:.1f}s")
                    time.sleep(wait_s)
                    continue
            raise
        task_id = str(answer.body["output"]["task_id"])
        # Recorded before anything else happens: from here on the task cannot be lost.
        store.update(key, status="SUBMITTED", task_id=task_id, submitted_at=started,
                     submit_request_id=answer.request_id)
        ev.bind(task_id)
        ev.write("submit.json", {"at": started, "latency": round(answer.latency, 3), "body": answer.body})
        ev.log(f"submitted: task {task_id} (request_id {answer.request_id})")
        return task_id


RECONCILE_SKEW = 5.0  # seconds of clock difference tolerated between us and the service


def _owner(task: dict[str, Any], claims: dict[str, float]) -> str | None:
    """Which unanswered submit (cache key -> send time) a listed task most likely came from.

    A task belongs to the submit sent closest before its creation (within the skew); submits
    of one account are paced apart, so two live claims never share a creation instant.
    """
    created = float(task.get("gmt_create", 0)) / 1000.0
    eligible = {k: t for k, t in claims.items() if t - RECONCILE_SKEW <= created}
    if not eligible:
        return None
    return min(eligible, key=lambda k: abs(created - eligible[k]))


def _reconcile(service: Service, req: VideoRequest, started: float, store: Store, key: str,
               ev: Evidence, deadline: float) -> str | None:
    """Find the task an unanswered submit may have created, and record it before anyone else can.

    Same model, created since the submit was sent, not already any request's task, and closer
    in time to this submit than to any other unanswered submit of the same model on this
    machine (crashed siblings of a batch reconcile at once). Serialized by a lock per model
    so two reconciliations never adopt the same task.
    """
    window_start = datetime.fromtimestamp(started - 120, timezone.utc)
    for look in range(3):
        try:
            tasks = service.list_tasks(model=req.wire_model, start=window_start,
                                       end=datetime.now(timezone.utc) + timedelta(minutes=2),
                                       deadline=deadline)
        except WanVideoError as exc:
            ev.log(f"reconcile: list failed ({exc.code}: {exc.message})")
            tasks = []
        with store.lock(f"reconcile-{req.region}-{req.wire_model}", deadline):
            known = store.known_task_ids()
            claims = {st["cache_key"]: float(st["submit_started"]) for st in store.all()
                      if st.get("status") == "SUBMITTING" and st.get("wire_model") == req.wire_model
                      and st.get("submit_started") and st.get("cache_key") != key}
            claims[key] = started
            fresh = [t for t in tasks if t.get("task_id") not in known
                     and float(t.get("gmt_create", 0)) / 1000.0 >= started - RECONCILE_SKEW]
            mine = [t for t in fresh if _owner(t, claims) == key]
            ev.jsonl("reconcile.jsonl", {"look": look, "candidates": [t.get("task_id") for t in fresh],
                                         "mine": [t.get("task_id") for t in mine], "rivals": len(claims) - 1,
                                         "listed": len(tasks), "at": time.time()})
            if len(mine) == 1:
                found = str(mine[0]["task_id"])
                store.update(key, status="SUBMITTED", task_id=found, submitted_at=started, reconciled=True)
                ev.log(f"reconcile: adopted task {found}")
                return found
            if len(mine) > 1:
                raise WanVideoError(
                    "AmbiguousSubmit", f"the submit's answer was lost and {len(mine)} new {req.wire_model} "
                    "tasks appeared since; cannot tell which is this request's",
                    "check them with `status TASK_ID`; run again with --force to submit anew (paid again)",
                    exit_code=EXIT_NETWORK, details={"candidates": [t.get("task_id") for t in mine]})
        if look == 2 or time.monotonic() + 1 >= deadline:
            break  # (no pause after the last look: nothing would read the list again)
        time.sleep(1.0)  # the list can lag the submit by a moment
    return None


# ---------------------------------------------------------------------------- waiting
class RunHistory:
    """Run times (RUNNING start to end) per model/tier/duration: from the store, and live.

    Shared by every wait in the process, so in a batch the first finished task of a kind
    re-plans the polls of all the others of that kind at once (they are woken, not left
    sleeping on a catalog guess).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._runs: dict[tuple[str, str, int], list[float]] = {}
        self._generation: dict[tuple[str, str, int], int] = {}

    def seed(self, kind: tuple[str, str, int], store: Store) -> list[float]:
        with self._cond:
            if kind not in self._runs:
                runs = []
                for st in store.all():
                    if (st.get("model"), st.get("tier"), st.get("duration")) == kind and st.get("run_seconds"):
                        runs.append((st.get("updated_at", 0), float(st["run_seconds"])))
                self._runs[kind] = [r for _, r in sorted(runs)]
            return list(self._runs[kind])

    def add(self, kind: tuple[str, str, int], seconds: float) -> None:
        with self._cond:
            self._runs.setdefault(kind, []).append(seconds)
            self._generation[kind] = self._generation.get(kind, 0) + 1
            self._cond.notify_all()

    def generation(self, kind: tuple[str, str, int]) -> int:
        with self._cond:
            return self._generation.get(kind, 0)

    def recent(self, kind: tuple[str, str, int]) -> list[float]:
        with self._cond:
            return list(self._runs.get(kind, []))

    def sleep(self, kind: tuple[str, str, int] | None, seconds: float, seen: int) -> bool:
        """Sleep up to `seconds`; True (early) when a new run time of this kind arrived."""
        if kind is None:
            time.sleep(seconds)
            return False
        end = time.monotonic() + seconds
        with self._cond:
            while self._generation.get(kind, 0) == seen:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True


RUN_HISTORY = RunHistory()


def _run_seconds(output: dict[str, Any]) -> float | None:
    """Service-side run time: from scheduling (RUNNING) to the end, else from submit."""
    end = parse_cn_time(output.get("end_time"))
    start = parse_cn_time(output.get("scheduled_time")) or parse_cn_time(output.get("submit_time"))
    return (end - start) if (end and start) else None


def poll_until_done(service: Service, task_id: str, *, exp: Expectation, submitted: float | None,
                    deadline: float, ev: Evidence, progress: Progress, on_answer: Any = None,
                    kind: tuple[str, str, int] | None = None, catalog_exp: Expectation | None = None,
                    history: RunHistory = RUN_HISTORY) -> dict[str, Any]:
    """Poll one task until it is terminal or the deadline passes; every answer goes to evidence.

    Time is measured from the moment the service started running the task (its
    scheduled_time, mapped onto our clock through the submit time), so a task that waited in
    the service's queue is not polled as if it were late.
    """
    schedule = Schedule(exp)
    origin = submitted or time.time()
    skew = 0.0  # our clock minus the service's, learnt from the submit time
    last_status = None
    unknown_seen = 0
    seen = history.generation(kind) if kind else 0
    while True:
        try:
            answer: Answer = service.query(task_id, deadline=deadline)
        except WanVideoError as exc:
            ev.jsonl("polls.jsonl", {"at": time.time(), "error": exc.code, "message": exc.message})
            if exc.retryable and time.monotonic() < deadline:
                continue
            exc.task_id = task_id
            raise
        body = answer.body
        output: dict[str, Any] = body["output"] if isinstance(body.get("output"), dict) else {}
        status = str(output.get("task_status") or "")
        ev.jsonl("polls.jsonl", {"at": time.time(), "latency": round(answer.latency, 3),
                                 "status": status, "body": _evidence_body(body)})
        if on_answer:
            on_answer(status, body)
        server_submit = parse_cn_time(output.get("submit_time"))
        if submitted and server_submit and last_status is None:
            skew = submitted - server_submit
        scheduled = parse_cn_time(output.get("scheduled_time"))
        if status == "RUNNING" and scheduled:
            # never in the future: clocks and the service's own stamps can disagree by seconds
            origin = min(scheduled + skew, time.time())
        elapsed = time.time() - origin
        if status != last_status:
            ev.log(f"status {status or '(none)'} after {time.time() - (submitted or origin):.1f}s")
            last_status = status
        if not status:
            raise WanVideoError("BadServiceResponse", f"the task query answered without a task_status: {body}",
                                "retry `wait TASK_ID`; if it persists the endpoint is not DashScope",
                                exit_code=EXIT_NETWORK, retryable=True, task_id=task_id)
        if (status == "UNKNOWN" and submitted and time.time() - submitted < 86000
                and unknown_seen < UNKNOWN_CONFIRMATIONS and time.monotonic() + 1.0 < deadline):
            unknown_seen += 1
            ev.log(f"UNKNOWN for a task submitted {time.time() - submitted:.0f}s ago; asking again")
            time.sleep(1.0)
            continue
        if status in TERMINAL:
            run = _run_seconds(output)
            if status == "SUCCEEDED" and kind and run:
                history.add(kind, run)
            return body
        phase = "queued" if status == "PENDING" else "generating"
        progress.status(status, phase, elapsed, exp.seconds)
        if status == "PENDING":
            # Queued: its run has not started, so the end is at least exp.seconds away.
            delay = schedule.next_delay(min(elapsed, exp.seconds * 0.25), answer.retry_after)
        else:
            delay = schedule.next_delay(elapsed, answer.retry_after)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WanVideoError(
                "StillRunning", f"task {task_id} is still {status} after {time.time() - (submitted or origin):.0f}s "
                f"(expected about {exp.seconds:.0f}s of running)",
                "the task keeps running on the service (and is not submitted again): resume with "
                "the command in `resume`", exit_code=EXIT_PENDING, task_id=task_id, status=status)
        if history.sleep(kind, min(delay, remaining), seen) and kind:
            # Another task of this kind just finished: plan around what it took.
            seen = history.generation(kind)
            exp = expect(catalog_exp.seconds if catalog_exp else exp.seconds, 1, 1, history.recent(kind))
            schedule = Schedule(exp)


def _wait_and_deliver(service: Service, task_id: str, req: VideoRequest | None, store: Store,
                      key: str | None, ev: Evidence, progress: Progress, deadline: float,
                      opts: RunOptions, est: dict[str, Any] | None) -> tuple[dict[str, Any], int]:
    state = store.load(key) if key else None
    region = req.region if req else (state or {}).get("region")
    kind = (req.model, req.tier, req.duration) if req is not None else None
    if req is not None and kind is not None:
        exp = expect(req.spec.typical_run_seconds, req.duration, req.spec.default_duration,
                     RUN_HISTORY.seed(kind, store))
    else:
        exp = Expectation(120.0, 0.8, "default")
    submitted = (state or {}).get("submitted_at")
    ev.log(f"waiting: expected run time {exp.seconds:.0f}s ({exp.source}), deadline in "
           f"{max(0.0, deadline - time.monotonic()):.0f}s")
    try:
        body = poll_until_done(service, task_id, exp=exp, submitted=submitted, deadline=deadline,
                               ev=ev, progress=progress, kind=kind)
    except WanVideoError as exc:
        if exc.code == "StillRunning":
            exc.resume = resume_command(task_id, region)
            ev.log(f"deadline reached; resume with: {exc.resume}")
            if key:
                store.update(key, status=exc.status or "RUNNING")
        else:
            # Polling gave up (network, throttling, junk answers): the task itself is fine and
            # still recorded, so the error names it and how to pick it up again.
            exc.task_id = exc.task_id or task_id
            exc.resume = exc.resume or resume_command(task_id, region)
        raise
    except KeyboardInterrupt:
        progress.done()
        cancelled = False
        if opts.cancel_on_interrupt:
            try:
                service.cancel(task_id)
                cancelled = True
            except WanVideoError as exc:
                ev.log(f"cancel on interrupt refused: {exc.code}")
        cmd = resume_command(task_id, region)
        ev.log("interrupted; task " + ("cancelled" if cancelled else "left running") + f"; resume: {cmd}")
        raise WanVideoError(
            "Interrupted", f"interrupted while waiting for task {task_id}; the task was "
            + ("cancelled (it was still PENDING)" if cancelled else "left running on the service"),
            "resume with the command in `resume`" if not cancelled else "nothing more to do",
            exit_code=EXIT_PENDING if not cancelled else EXIT_FAILED, task_id=task_id,
            resume=None if cancelled else cmd) from None
    return finish(service, task_id, body, req=req, store=store, key=key, ev=ev, progress=progress,
                  opts=opts, est=est, deadline=deadline)


def finish(service: Service, task_id: str, body: dict[str, Any], *, req: VideoRequest | None,
           store: Store, key: str | None, ev: Evidence, progress: Progress, opts: RunOptions,
           est: dict[str, Any] | None, deadline: float) -> tuple[dict[str, Any], int]:
    """A terminal answer: failure recorded and raised, or the video delivered and verified."""
    output: dict[str, Any] = body.get("output") or {}
    status = output.get("task_status")
    state = (store.load(key) if key else None) or {}
    model = req.model if req else state.get("model") or "unknown"
    region = req.region if req else state.get("region")
    ev.write("final.json", _evidence_body(body))
    run_seconds = _run_seconds(output)
    if status != "SUCCEEDED":
        if status == "UNKNOWN":
            age = time.time() - float(state["submitted_at"]) if state.get("submitted_at") else None
            likely = ("it is older than 24 h and expired" if age and age > 86000 else
                      "it never existed for this key and region (wrong --region or another account's id?)")
            err = WanVideoError("TaskUnknown", f"task {task_id} is UNKNOWN to the service: {likely}",
                                "task ids live 24 h and are per region and account; submit again if the "
                                "video is still needed", exit_code=EXIT_FAILED, task_id=task_id, status=status)
        elif status == "CANCELED":
            err = WanVideoError("TaskCanceled", f"task {task_id} was cancelled", "submit again if needed",
                                exit_code=EXIT_FAILED, task_id=task_id, status=status)
        else:
            err = from_service(output.get("code"), output.get("message"), task_id=task_id,
                               request_id=body.get("request_id"), task_failed=True)
            err.status = status
        if key:
            store.update(key, status=status, error=err.to_dict(), run_seconds=run_seconds)
        if opts.on_terminal:
            opts.on_terminal()
        ev.log(f"task {status}: {err.code}: {err.message}")
        raise err

    video_url = output.get("video_url")
    if not video_url:
        raise WanVideoError("NoVideoURL", f"task {task_id} SUCCEEDED but its answer has no video_url: "
                            f"output keys {sorted(output)}", "query it again with `status`; report the body "
                            "in the evidence folder if it persists", exit_code=EXIT_FAILED, task_id=task_id)
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else None
    spec = req.spec if req else None
    expires = _url_expiry(video_url)
    if key:  # never the signed URL on disk: a re-download queries the task for it again
        store.update(key, status="SUCCEEDED", video_url=redact(video_url), url_expires_at=expires,
                     usage=usage, run_seconds=run_seconds)
    cost = None
    if spec is not None and region:
        cost = actual(spec, region, usage, req.tier if req else "720P", req.has_audio if req else True)
    elif state.get("model"):
        from .catalog import load_catalog

        cat_spec = load_catalog().get(state["model"])
        if cat_spec and region:
            cost = actual(cat_spec, region, usage, state.get("tier") or "720P", True)
    result: dict[str, Any] = {
        "status": "SUCCEEDED", "task_id": task_id, "model": model, "region": region,
        # The signature is a bearer credential for the file: stdout and evidence get the URL
        # without it; the video itself is at local_path.
        "video_url": redact(video_url), "url_expires_at": expires, "usage": usage,
        "cost": cost, "cost_cny": (cost or {}).get("amount_cny"),
        "seed": req.seed if req else None, "run_seconds": run_seconds,
        "warnings": list(req.warnings) if req else [], "cached": False,
        "evidence_dir": str(ev.dir) if ev.dir else None,
    }
    if cost and not state.get("ledgered"):
        ledger_add({"at": time.time(), "task_id": task_id, "model": model, "region": region,
                    "tier": cost.get("tier"), "seconds": cost.get("seconds"), "amount": cost.get("amount"),
                    "currency": cost.get("currency"), "amount_cny": cost.get("amount_cny")})
        if key:
            store.update(key, ledgered=True)
    if opts.on_terminal:
        opts.on_terminal()
    if opts.download:
        try:
            result.update(deliver(video_url, task_id, req, opts, ev, progress, deadline))
        except WanVideoError as exc:
            # The task succeeded and is recorded; only the file is missing. `wait` queries the
            # task again (a fresh URL) and downloads, resuming any .part file.
            exc.task_id = exc.task_id or task_id
            exc.resume = exc.resume or resume_command(task_id, region)
            raise
    ev.write("result.json", result)
    if key:
        store.update(key, result=result)
    ev.log(f"done: {result.get('local_path')} sha256={result.get('sha256')}")
    return result, EXIT_OK


def _evidence_body(body: dict[str, Any]) -> Any:
    """The answer as sent, or its size and start when it is too large to keep whole."""
    import json

    text = json.dumps(body, ensure_ascii=False, default=str)
    if len(text) <= EVIDENCE_BODY_CHARS:
        return body
    return {"truncated": True, "chars": len(text), "head": text[:2048]}


def _url_expiry(url: str) -> float | None:
    try:
        value = parse_qs(urlparse(url).query).get("Expires", [None])[0]
        return float(value) if value else None
    except ValueError:
        return None


def _sha256(path: Path) -> str:
    from .download import hash_file

    return str(hash_file(path).hexdigest())


def deliver(video_url: str, task_id: str, req: VideoRequest | None, opts: RunOptions, ev: Evidence,
            progress: Progress, deadline: float) -> dict[str, Any]:
    """Download (streamed, resumable, atomic), probe, conform fps if asked, contact sheet."""
    from .download import download
    from .media import conform_fps, contact_sheet, probe

    safe = "".join(c for c in task_id if c.isalnum() or c in "-_")[:128]
    dest = Path(opts.output) if opts.output else videos_dir() / f"{safe}.mp4"
    progress.note(f"downloading {redact(video_url)} -> {dest}")
    seconds = req.duration if req is not None else 15
    max_bytes = opts.max_download_bytes or max(DOWNLOAD_MIN_BYTES, int(seconds) * DOWNLOAD_BYTES_PER_SECOND)
    # The download gets at least a minute of its own: a finished, paid video is worth the wait.
    dl = download(video_url, str(dest), timeout=max(60.0, deadline - time.monotonic()), max_bytes=max_bytes)
    info = probe(str(dest))
    ev.write("probe.json", {"path": str(dest), "sha256": dl.sha256, "bytes": dl.bytes,
                            "resumed": dl.resumed, "probe": info})
    warnings: list[str] = []
    out = {"original_path": str(dest), "local_path": str(dest), "sha256": dl.sha256,
           "duration": info["duration"], "fps": info["fps"], "width": info["width"],
           "height": info["height"], "audio": info["audio"], "codec": info["codec"], "bytes": dl.bytes}
    if req is not None:
        if abs(info["duration"] - req.duration) > 0.6:
            warnings.append(f"duration: asked {req.duration}s, the file has {info['duration']:.2f}s")
        if req.needs_fps_conform:
            conformed = dest.with_name(f"{dest.stem}.{req.fps:g}fps{dest.suffix}")
            cinfo = conform_fps(str(dest), str(conformed), req.fps)
            out.update(local_path=str(conformed), sha256=_sha256(conformed), bytes=conformed.stat().st_size,
                       duration=cinfo["duration"],
                       fps=cinfo["fps"], width=cinfo["width"], height=cinfo["height"])
            ev.write("conform.json", {"from": str(dest), "to": str(conformed), "probe": cinfo})
    sheet = dest.with_name(f"{dest.stem}.contact.png")
    out["contact_sheet"] = contact_sheet(str(dest), str(sheet))
    if warnings:
        out["warnings"] = (list(req.warnings) if req else []) + warnings
    return out


def _pending_result(req: VideoRequest | None, task_id: str, status: str, ev: Evidence,
                    est: dict[str, Any] | None, submitted: bool = False) -> dict[str, Any]:
    region = req.region if req else None
    return {
        "status": "SUBMITTED" if submitted else status, "task_id": task_id,
        "model": req.model if req else None, "region": region,
        "resume": resume_command(task_id, region), "video_url": None, "duration": None, "fps": None,
        "seed": req.seed if req else None, "cost_estimate": est,
        "evidence_dir": str(ev.dir) if ev.dir else None, "cached": False,
        "warnings": list(req.warnings) if req else [],
    }


# ---------------------------------------------------------------------------- by task id
def wait_task(task_id: str, *, region: str | None = None, opts: RunOptions | None = None) -> tuple[dict[str, Any], int]:
    """Resume waiting for a task from any process, then deliver it."""
    opts = opts or RunOptions()
    store = opts.store or Store()
    found = store.by_task(task_id)
    key, state = found if found else (None, {})
    region = region or state.get("region") or "cn-beijing"
    if state.get("status") == "SUCCEEDED" and state.get("result"):
        hit = _cached(state)
        if hit is not None:
            return hit, EXIT_OK
    req = None
    if state.get("request"):
        from .request import normalize

        try:
            req = normalize(_raw_from_summary(state["request"]), region=region, fetch_images=False)
        except WanVideoError:
            req = None
    progress = opts.progress or Progress(quiet=opts.quiet)
    timeout = DEFAULT_TIMEOUT if opts.timeout is None else opts.timeout
    deadline = time.monotonic() + timeout
    service, creds = open_service(region, opts.workspace)
    ev = Evidence(creds.key)
    ev.bind(task_id)
    ev.log(f"wait {task_id} (region {region})")
    try:
        if key:
            with store.lock(key, deadline):
                return _wait_and_deliver(service, task_id, req, store, key, ev, progress, deadline, opts, None)
        return _wait_and_deliver(service, task_id, req, store, None, ev, progress, deadline, opts, None)
    finally:
        service.close()
        progress.done()


def _raw_from_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """Enough of the normalized request to know its model, tier and duration again."""
    keep = ("model", "region", "prompt", "duration", "fps", "seed", "audio")
    raw = {k: summary[k] for k in keep if summary.get(k) is not None}
    if summary.get("size"):
        raw["size"] = summary["size"]
    elif summary.get("tier"):
        raw["resolution"] = summary["tier"]
    if summary.get("ratio") and not summary.get("size"):
        raw["ratio"] = summary["ratio"]
    for k in ("reference_image", "last_frame_image"):
        if summary.get(k):
            raw[k] = "oss://recorded/placeholder.png"  # only the model's rules matter here
    if summary.get("reference_urls"):
        raw["reference_urls"] = summary["reference_urls"]
    return raw


def status_task(task_id: str, *, region: str | None = None, workspace: str | None = None) -> tuple[dict[str, Any], int]:
    store = Store()
    found = store.by_task(task_id)
    state = found[1] if found else {}
    region = region or state.get("region") or "cn-beijing"
    service, creds = open_service(region, workspace)
    try:
        answer = service.query(task_id, deadline=time.monotonic() + 20)
    finally:
        service.close()
    output = answer.body.get("output") or {}
    # As in generate's result: a video_url's signature is a bearer credential for the file, so
    # stdout gets the URL without it (`wait TASK_ID` downloads the video).
    import json

    shown = json.loads(redact(json.dumps(answer.body, ensure_ascii=False), creds.key))
    return {"task_id": task_id, "status": output.get("task_status"), "region": region,
            "model": state.get("model"), "local": {k: state.get(k) for k in ("status", "cache_key", "submitted_at")}
            if state else None, "answer": shown,
            "resume": resume_command(task_id, region)}, EXIT_OK


def cancel_task(task_id: str, *, region: str | None = None, workspace: str | None = None) -> tuple[dict[str, Any], int]:
    store = Store()
    found = store.by_task(task_id)
    key, state = found if found else (None, {})
    region = region or state.get("region") or "cn-beijing"
    service, _ = open_service(region, workspace)
    try:
        answer = service.cancel(task_id)
    except WanVideoError as exc:
        exc.task_id = task_id
        raise
    finally:
        service.close()
    if key:
        store.update(key, status="CANCELED", error={"code": "TaskCanceled", "message": "cancelled by the user",
                                                    "hint": "submit again if needed", "exit_code": EXIT_FAILED})
    return {"task_id": task_id, "status": "CANCELED", "region": region, "answer": answer.body}, EXIT_OK
