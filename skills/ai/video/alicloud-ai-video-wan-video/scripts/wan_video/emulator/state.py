"""The task engine: tasks and their timelines, account limits, uploads and counters.

A task's status is never stored; it follows from timestamps. Each task becomes ready
`pending_seconds` after submission and starts as soon as its family (per region) has a
free concurrency slot, first come first served; the start is computed lazily the next
time anyone looks, as the moment it would have started. So no thread ticks, and a test
that sleeps sees exactly what a real client would.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..catalog import Catalog, ModelSpec
from .errors import TaskFailure
from .faults import FaultBook
from .render import RenderSpec
from .settings import DEFAULT_KEY, EmulatorSettings

PENDING, RUNNING, SUCCEEDED, FAILED, CANCELED = (
    "PENDING",
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
    "CANCELED",
)
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELED})
REQUEST_LOG_SIZE = 2000


@dataclass(frozen=True)
class TaskPlan:
    """What a submit will turn into, decided before the task exists (see planner.py)."""

    prompt: str | None
    actual_prompt: str | None
    usage: dict[str, Any]
    render: RenderSpec | None
    failure: TaskFailure | None  # ends FAILED as soon as it is scheduled
    input_summary: dict[str, Any]


@dataclass
class Task:
    """One submitted task; status() reads its timeline."""

    task_id: str
    request_id: str
    model: str  # the name the client sent (the region's wire name)
    spec: ModelSpec
    region: str
    api_key: str
    parameters: dict[str, Any]
    plan: TaskPlan
    late_failure: TaskFailure | None  # from fail_next: ends FAILED after running
    submit_ts: float
    ready_ts: float
    run_seconds: float
    url_ttl_seconds: float
    run_start_ts: float | None = None
    end_ts: float | None = None
    canceled: bool = False
    poll_count: int = 0

    @property
    def slot_key(self) -> tuple[str, str]:
        """Concurrency and rate limits are shared per family, per region."""
        return self.region, self.spec.family

    @property
    def failure(self) -> TaskFailure | None:
        return self.plan.failure or self.late_failure

    def status(self, now: float) -> str:
        if self.canceled:
            return CANCELED
        if self.run_start_ts is None or now < self.run_start_ts:
            return PENDING
        if self.end_ts is not None and now >= self.end_ts:
            return FAILED if self.failure else SUCCEEDED
        return RUNNING


class RateWindow:
    """Admissions in a sliding one-second window."""

    def __init__(self) -> None:
        self._times: deque[float] = deque()

    def admit(self, now: float, per_second: float) -> bool:
        while self._times and self._times[0] <= now - 1.0:
            self._times.popleft()
        if len(self._times) >= per_second:
            return False
        self._times.append(now)
        return True


@dataclass
class Counters:
    submits: int = 0
    submits_by_model: Counter[str] = field(default_factory=Counter)
    created_tasks: int = 0
    throttled: int = 0
    polls: int = 0
    downloads: int = 0


class Engine:
    """All mutable emulator state, behind one lock."""

    _settings: EmulatorSettings
    _fail_next: deque[dict[str, str]]
    _tasks: dict[str, Task]
    _queues: defaultdict[tuple[str, str], deque[Task]]
    _busy_until: defaultdict[tuple[str, str], list[float]]  # end times of started tasks
    _last_start: dict[tuple[str, str], float]
    _submit_windows: defaultdict[tuple[str, str], RateWindow]
    _query_windows: defaultdict[str, RateWindow]
    _uploads: dict[str, Path]
    counters: Counters
    requests: deque[dict[str, Any]]

    def __init__(
        self,
        catalog: Catalog,
        settings: EmulatorSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.catalog = catalog
        self.clock = clock
        self.faults = FaultBook()
        self._defaults = settings
        self._lock = threading.RLock()
        self._restore(settings)

    # ------------------------------------------------------------ settings

    @property
    def settings(self) -> EmulatorSettings:
        return self._settings

    def apply(self, overrides: Mapping[str, Any]) -> EmulatorSettings:
        """Merge a scenario into the settings (ValueError on a bad one)."""
        with self._lock:
            self._settings = self._settings.merged(overrides)
            if "faults" in overrides:
                self.faults.load(self._settings.faults)
            if "fail_next" in overrides:
                self._fail_next = deque(self._settings.fail_next)
            return self._settings

    def reset(self) -> EmulatorSettings:
        """Forget every task, upload and counter; back to the start-up settings."""
        with self._lock:
            self._restore(self._defaults)
            return self._settings

    def _restore(self, settings: EmulatorSettings) -> None:
        self._settings = settings
        self.faults.clear()
        self.faults.load(settings.faults)
        self._fail_next = deque(settings.fail_next)
        self._tasks = {}
        self._queues = defaultdict(deque)
        self._busy_until = defaultdict(list)
        self._last_start = {}
        self._submit_windows = defaultdict(RateWindow)
        self._query_windows = defaultdict(RateWindow)
        self._uploads = {}
        self.counters = Counters()
        self.requests = deque(maxlen=REQUEST_LOG_SIZE)

    def key_valid(self, key: str) -> bool:
        return key == DEFAULT_KEY or key in self._settings.keys

    # ------------------------------------------------------------ limits

    def count_submit(self, model: str | None) -> None:
        with self._lock:
            self.counters.submits += 1
            if model:
                self.counters.submits_by_model[model] += 1

    def admit_submit(self, spec: ModelSpec, region: str) -> bool:
        """Apply the family's submit rate limit (per region) to one submit."""
        with self._lock:
            settings = self._settings
            if not settings.limits:
                return True
            rps = settings.rps or spec.limits(region)[0]
            if self._submit_windows[(region, spec.family)].admit(self.clock(), rps):
                return True
            self.counters.throttled += 1
            return False

    def admit_query(self, region: str) -> bool:
        """Apply the account's query/list/cancel rate limit."""
        with self._lock:
            settings = self._settings
            if not settings.limits or self._query_windows[region].admit(
                self.clock(), settings.query_rps
            ):
                return True
            self.counters.throttled += 1
            return False

    def _concurrency(self, task: Task) -> float:
        settings = self._settings
        if not settings.limits:
            return float("inf")
        return settings.concurrency or task.spec.limits(task.region)[1]

    # ------------------------------------------------------------ tasks

    def create_task(
        self,
        *,
        request_id: str,
        model: str,
        spec: ModelSpec,
        region: str,
        api_key: str,
        parameters: dict[str, Any],
        plan: TaskPlan,
    ) -> Task:
        with self._lock:
            now = self.clock()
            settings = self._settings
            late = self._fail_next.popleft() if self._fail_next else None
            task = Task(
                task_id=str(uuid.uuid4()),
                request_id=request_id,
                model=model,
                spec=spec,
                region=region,
                api_key=api_key,
                parameters=parameters,
                plan=plan,
                late_failure=(late["code"], late["message"]) if late else None,
                submit_ts=now,
                ready_ts=now + settings.pending_for(),
                run_seconds=settings.run_for(spec.name, model, spec.typical_run_seconds),
                url_ttl_seconds=settings.url_ttl_seconds,
            )
            self._tasks[task.task_id] = task
            self._queues[task.slot_key].append(task)
            self.counters.created_tasks += 1
            return task

    def get(self, task_id: str, region: str | None, *, poll: bool = False) -> Task | None:
        """A live task of this region, or of any when None (None: unknown or expired)."""
        with self._lock:
            self._advance(self.clock())
            task = self._tasks.get(task_id)
            if task is None or region not in (None, task.region):
                return None
            if poll:
                task.poll_count += 1
                self.counters.polls += 1
            return task

    def cancel(self, task_id: str, region: str) -> bool | None:
        """Cancel a PENDING task: True if canceled, False if not PENDING, None if unknown."""
        with self._lock:
            now = self.clock()
            self._advance(now)
            task = self._tasks.get(task_id)
            if task is None or task.region != region:
                return None
            if task.status(now) != PENDING:
                return False
            task.canceled = True
            task.end_ts = now
            self._queues[task.slot_key].remove(task)
            return True

    def tasks(self, region: str | None = None) -> list[Task]:
        """Live tasks (of one region, or all), newest first."""
        with self._lock:
            self._advance(self.clock())
            found = [t for t in self._tasks.values() if region is None or t.region == region]
        return sorted(found, key=lambda t: t.submit_ts, reverse=True)

    def count_download(self) -> None:
        with self._lock:
            self.counters.downloads += 1

    def _advance(self, now: float) -> None:
        """Expire old tasks and start every queued task whose start time has come."""
        ttl = self._settings.task_ttl_seconds
        for task_id in [t.task_id for t in self._tasks.values() if t.submit_ts + ttl <= now]:
            task = self._tasks.pop(task_id)
            queue = self._queues[task.slot_key]
            if task in queue:
                queue.remove(task)
        for key, queue in self._queues.items():
            busy = self._busy_until[key]
            while queue:
                task = queue[0]
                start = max(task.ready_ts, self._last_start.get(key, 0.0))
                limit = self._concurrency(task)
                running_then = sorted(end for end in busy if end > start)
                if len(running_then) >= limit:
                    # The earliest moment fewer than `limit` tasks are still running.
                    start = running_then[len(running_then) - int(limit)]
                if start > now:
                    break
                queue.popleft()
                task.run_start_ts = start
                task.end_ts = start if task.plan.failure else start + task.run_seconds
                self._last_start[key] = start
                if task.end_ts > start:
                    busy.append(task.end_ts)
            horizon = min([now, *(t.ready_ts for t in queue)])
            busy[:] = [end for end in busy if end > horizon]

    # ------------------------------------------------------------ uploads

    def store_upload(self, key: str, path: Path) -> bool:
        """Record an uploaded object; False if the key exists (x-oss-forbid-overwrite)."""
        with self._lock:
            if key in self._uploads:
                return False
            self._uploads[key] = path
            return True

    def upload(self, key: str) -> Path | None:
        with self._lock:
            return self._uploads.get(key)

    # ------------------------------------------------------------ observation

    def log_request(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(entry)

    def stats(self, renders: int) -> dict[str, Any]:
        with self._lock:
            now = self.clock()
            self._advance(now)
            tasks = sorted(self._tasks.values(), key=lambda t: t.submit_ts)
            c = self.counters
            return {
                "submits": c.submits,
                "submits_by_model": dict(c.submits_by_model),
                "created_tasks": c.created_tasks,
                "throttled": c.throttled,
                "polls": c.polls,
                "downloads": c.downloads,
                "renders": renders,
                "max_running_by_family": _max_running(tasks),
                "faults_fired": self.faults.fired(),
                "faults_pending": self.faults.pending(),
                "fail_next_pending": list(self._fail_next),
                "tasks": [_task_stats(t, now) for t in tasks],
                "requests": list(self.requests),
            }


def _task_stats(task: Task, now: float) -> dict[str, Any]:
    return {
        "task_id": task.task_id,
        "model": task.model,
        "region": task.region,
        "status": task.status(now),
        "submit_ts": task.submit_ts,
        "run_start_ts": task.run_start_ts,
        "end_ts": task.end_ts if task.status(now) in TERMINAL else None,
        "poll_count": task.poll_count,
        "parameters": task.parameters,
        "input_summary": task.plan.input_summary,
    }


def _max_running(tasks: Iterable[Task]) -> dict[str, int]:
    """Peak number of simultaneously RUNNING tasks per family (the max over regions)."""
    edges: defaultdict[tuple[str, str], list[tuple[float, int]]] = defaultdict(list)
    for task in tasks:
        start, end = task.run_start_ts, task.end_ts
        if start is not None and end is not None and end > start:
            edges[task.slot_key] += [(start, 1), (end, -1)]
    peaks: dict[str, int] = {}
    for (_, family), marks in edges.items():
        running = peak = 0
        for _, delta in sorted(marks):  # an end sorts before a start at the same instant
            running += delta
            peak = max(peak, running)
        peaks[family] = max(peaks.get(family, 0), peak)
    return peaks
