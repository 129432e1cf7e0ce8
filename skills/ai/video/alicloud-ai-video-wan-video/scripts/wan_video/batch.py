"""Many requests at once within the account's limits: per-family concurrency and submit rate.

Each item goes through the same lifecycle as a single run (cache, state, evidence, verification),
so re-running a batch resumes it: done items are cached, running ones are waited on, nothing is
submitted twice.

Scheduling decision: a family's slots are `concurrency` tasks running on the service plus up to
`queue_ahead` (default: the same number) submitted early, which the service keeps PENDING and
starts the moment a slot frees. Without them every round would idle for the time it takes to
notice a finished task and submit the next. If the service answers a submit with a concurrency
429 instead of queueing, queue-ahead is switched off for that family and the item keeps its place.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import EXIT_FAILED, EXIT_INVALID, EXIT_OK, InvalidRequest, WanVideoError
from .ratelimit import RateLimiter

QUERY_RPS = 20.0  # per account, shared by query, list and cancel


class FamilySlots:
    """Slots of one model family in one region: an adaptive semaphore."""

    def __init__(self, concurrency: int, queue_ahead: int, rps: float) -> None:
        self.concurrency = concurrency
        self.queue_ahead = queue_ahead
        # 25 % under the limit: arrival jitter must not put six submits in one service second.
        self.limiter = RateLimiter(rps, margin=0.25)
        self._cond = threading.Condition()
        self.in_flight = 0
        self.max_in_flight = 0

    @property
    def capacity(self) -> int:
        return self.concurrency + self.queue_ahead

    def acquire(self, stop: threading.Event) -> bool:
        with self._cond:
            while self.in_flight >= self.capacity:
                if stop.is_set():
                    return False
                self._cond.wait(0.2)
            if stop.is_set():
                return False
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return True

    def release(self) -> None:
        with self._cond:
            self.in_flight -= 1
            self._cond.notify()

    def no_queue_ahead(self) -> None:
        with self._cond:
            self.queue_ahead = 0


@dataclass
class Item:
    index: int
    item_id: str
    raw: Any
    req: Any = None
    error: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    exit_code: int = EXIT_OK
    state: str = "queued"  # queued | running | done | failed | invalid | cached | skipped


@dataclass
class BatchReport:
    items: list[Item]
    elapsed: float
    families: dict[str, dict[str, Any]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        done = [i for i in self.items if i.state in ("done", "cached")]
        failed = [i for i in self.items if i.state in ("failed", "invalid")]
        cost = sum(float((i.result or {}).get("cost_cny") or 0.0) for i in self.items
                   if i.state == "done")
        return {
            "summary": True, "total": len(self.items), "succeeded": len(done),
            "cached": sum(1 for i in self.items if i.state == "cached"),
            "failed": len(failed), "skipped": sum(1 for i in self.items if i.state in ("queued", "skipped")),
            "failures": [{"id": i.item_id, "code": (i.error or {}).get("code"),
                          "message": (i.error or {}).get("message")} for i in failed],
            "cost_cny": round(cost, 6), "elapsed_s": round(self.elapsed, 3), "families": self.families,
        }


def parse_jsonl(text: str) -> list[Item]:
    items: list[Item] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            items.append(Item(len(items), f"line{n}", None, state="invalid",
                              error={"code": "InvalidJSON", "message": f"line {n}: {exc.msg}",
                                     "hint": "one JSON object per line"}, exit_code=EXIT_INVALID))
            continue
        item_id = str(raw.get("id")) if isinstance(raw, dict) and raw.get("id") else f"line{n}"
        items.append(Item(len(items), item_id, raw))
    return items


def run_batch(items: list[Item], *, region: str | None = None, concurrency: int | None = None,
              queue_ahead: int | None = None, max_cost: float | None = None, force: bool = False,
              timeout: float | None = None, workspace: str | None = None,
              on_result: Callable[[Item], None] | None = None, quiet: bool = False,
              stream: Any = None, download: bool = True) -> BatchReport:
    """Validate every item up front, then run the valid ones within each family's limits."""
    from .lifecycle import RunOptions, cost_guard, generate, open_service
    from .progress import Progress
    from .request import normalize
    from .store import Store

    started = time.monotonic()
    stream = stream or sys.stderr
    for item in items:  # invalid lines are reported before anything is submitted
        if item.state == "invalid":
            continue
        try:
            item.req = normalize(item.raw, region=region)
            cost_guard(item.req, max_cost)
        except WanVideoError as exc:
            item.state, item.error, item.exit_code = "invalid", exc.to_dict(), exc.exit_code
    invalid = [i for i in items if i.state == "invalid"]
    if invalid and not quiet:
        for i in invalid:
            stream.write(f"[wan-video] batch: {i.item_id} refused before submitting: "
                         f"{(i.error or {}).get('message')}\n")
    valid = [i for i in items if i.state != "invalid"]
    store = Store()
    families: dict[tuple[str, str], FamilySlots] = {}
    for i in valid:
        fam = (i.req.spec.family, i.req.region)
        if fam not in families:
            rps, conc = i.req.spec.limits(i.req.region)
            if concurrency is not None:
                conc = max(1, min(conc, concurrency))
            families[fam] = FamilySlots(conc, conc if queue_ahead is None else queue_ahead, rps)
    services: dict[str, Any] = {}
    read_limiter = RateLimiter(QUERY_RPS * 0.75)
    for i in valid:
        if i.req.region not in services:
            svc, _ = open_service(i.req.region, workspace)
            svc.read_limiter = read_limiter
            services[i.req.region] = svc
    stop = threading.Event()
    lock = threading.Lock()
    progress = Progress(stream, quiet=quiet)
    deadline = None if timeout is None else started + timeout

    def counts() -> str:
        with lock:
            states = [i.state for i in items]
        done = sum(s in ("done", "cached") for s in states)
        failed = sum(s in ("failed", "invalid") for s in states)
        running = states.count("running")
        queued = states.count("queued")
        elapsed = time.monotonic() - started
        eta = ""
        if done and queued + running:
            eta = f", ETA {elapsed / done * (queued + running):.0f}s"
        return f"done {done}, failed {failed}, running {running}, queued {queued}{eta}"

    def work(item: Item) -> Item:
        fam = families[(item.req.spec.family, item.req.region)]
        state = store.load(item.req.cache_key())
        from .lifecycle import _cached

        if state and not force:
            try:
                hit = _cached(state)
            except WanVideoError as exc:
                item.state, item.error, item.exit_code = "failed", exc.to_dict(), exc.exit_code
                return item
            if hit is not None:
                item.state, item.result = "cached", hit
                return item
        if not fam.acquire(stop):
            item.state = "skipped"
            return item
        held = [True]

        def release() -> None:
            if held[0]:
                held[0] = False
                fam.release()

        with lock:
            item.state = "running"
        opts = RunOptions(force=force, quiet=True, service=services[item.req.region], store=store,
                          download=download,
                          before_submit=fam.limiter.acquire, on_terminal=release,
                          timeout=(deadline - time.monotonic()) if deadline else 10 * 86400)
        try:
            item.result, item.exit_code = generate(item.req, opts)
            item.state = "done"
        except WanVideoError as exc:
            if exc.code == "Throttling.Concurrency" and fam.queue_ahead:
                fam.no_queue_ahead()
            item.state, item.error, item.exit_code = "failed", exc.to_dict(), exc.exit_code
        except Exception as exc:  # one item's bug never stops the others
            item.state, item.exit_code = "failed", EXIT_FAILED
            item.error = {"code": "InternalError", "message": f"{type(exc).__name__}: {exc}", "hint": ""}
        finally:
            release()
        return item

    results: list[Future[Item]] = []
    # Finished items download on their worker thread: extra threads keep freed slots refilled.
    workers = sum(f.capacity + f.concurrency for f in families.values()) + 2
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="wan-batch")
    try:
        for item in valid:
            fut = pool.submit(work, item)
            if on_result:
                fut.add_done_callback(lambda f: on_result(f.result()))
            results.append(fut)
        last = 0.0
        while not all(f.done() for f in results):
            time.sleep(0.2)
            if not quiet and time.monotonic() - last >= 2.0:
                progress.note("batch: " + counts())
                last = time.monotonic()
    except KeyboardInterrupt:
        stop.set()
        progress.note("batch: interrupted; no more submits. Tasks already submitted keep running; "
                      "run the same batch command again to resume (nothing is submitted twice)")
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
        for svc in services.values():
            svc.close()
    fam_report = {f"{k[0]}@{k[1]}": {"concurrency": v.concurrency, "queue_ahead": v.queue_ahead,
                                     "max_in_flight": v.max_in_flight} for k, v in families.items()}
    return BatchReport(items, time.monotonic() - started, fam_report)


def _line(item: Item) -> dict[str, Any]:
    if item.state in ("done", "cached") and item.result:
        return {"id": item.item_id, "index": item.index, **item.result}
    return {"id": item.item_id, "index": item.index, "status": item.state.upper(), "error": item.error}


def run_batch_cli(args: Any) -> tuple[dict[str, Any], int]:
    """`batch FILE.jsonl`: one JSON line per item on stdout, then the summary object."""
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"batch: cannot read {args.file}: {type(exc).__name__}",
                             "give a UTF-8 JSONL file: one request object per line",
                             code="InvalidArguments") from None
    items = parse_jsonl(text)
    if not items:
        raise InvalidRequest("batch: the file has no requests", "one request object per line",
                             code="InvalidArguments")
    if args.dry_run:
        from .lifecycle import dry_run
        from .request import normalize

        for item in items:
            if item.state == "invalid":
                out: dict[str, Any] = _line(item)
            else:
                try:
                    out = {"id": item.item_id, "index": item.index,
                           **dry_run(normalize(item.raw, region=args.region, fetch_images=False),
                                     max_cost=args.max_cost)}
                except WanVideoError as exc:
                    item.state, item.error = "invalid", exc.to_dict()
                    out = _line(item)
            sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        bad = sum(1 for i in items if i.state == "invalid")
        return {"summary": True, "dry_run": True, "total": len(items), "invalid": bad}, (EXIT_INVALID if bad else EXIT_OK)

    printed: set[int] = set()
    print_lock = threading.Lock()

    def emit_item(item: Item) -> None:
        with print_lock:
            if item.index not in printed:
                printed.add(item.index)
                sys.stdout.write(json.dumps(_line(item), ensure_ascii=False) + "\n")
                sys.stdout.flush()

    if args.as_completed:
        for item in items:
            if item.state == "invalid":
                emit_item(item)
    report = run_batch(items, region=args.region, concurrency=args.concurrency, max_cost=args.max_cost,
                       force=args.force, timeout=args.timeout, workspace=args.workspace,
                       on_result=emit_item if args.as_completed else None, quiet=args.quiet,
                       download=not args.no_download)
    if not args.as_completed:
        for item in items:
            emit_item(item)
    summary = report.summary()
    code = EXIT_OK if summary["succeeded"] == summary["total"] else max(
        (i.exit_code for i in items if i.exit_code), default=EXIT_FAILED)
    return summary, code


def generate_many(requests: list[dict[str, Any]], **kw: Any) -> list[dict[str, Any]]:
    """Python API: one dict per request, in order (a result, or {"error": {...}})."""
    items = [Item(n, str(r.get("id", n)) if isinstance(r, dict) else str(n), r) for n, r in enumerate(requests)]
    kw.setdefault("quiet", True)
    report = run_batch(items, **kw)
    return [_line(i) for i in report.items]
