#!/usr/bin/env python3
"""make bench: finish detection, batch makespan, start-up and delivery, side by side, in one run.

    python scripts/bench.py [--quick]

Everything runs against the emulator in its own processes (their own GIL) on free loopback
ports, next to what users would otherwise write with the dashscope SDK. Figures are ratios
taken in this same run (machines are noisy); absolute times are reported but not targeted.
Writes output/alicloud-ai-video-wan-video/bench/bench.md (tables: target, measured,
PASS/MISS), bench.json (every number) and bench.png. Takes about 6 minutes on 2 cores;
--quick (fewer, shorter tasks) is for trying the script, not for the figures.

1. Finish detection. Tasks whose run time is a fixed function of model, resolution and
   duration (12 kinds, 10-90 s) are waited on by our poll_until_done with a run-time history
   from one earlier run of each kind (that earlier run is the cold, catalog-only case), by
   dashscope 2.x `client.videos.jobs.wait` and by 1.x `VideoSynthesis.wait`, concurrently, on
   separate tasks of each kind. Delay = the moment the waiter returned minus the task's end
   (the emulator's end_ts); polls per task and the query rate come from the emulator's log.
2. Batch makespan. 200 tasks of 2.5 s at the account limit of 5 (rps 5, concurrency 5): our
   generate_many against asyncio.gather of the SDK's AsyncClient.videos.generate.
3. Start-up and cache: whole-process wall times of the CLI against `import dashscope`.
4. Delivery: wan_video.download against `curl -o` on a 256 MB video, and its peak memory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SKILL = ROOT / "skills/ai/video/alicloud-ai-video-wan-video"
SCRIPT = SKILL / "scripts/generate_video.py"
OUT = ROOT / "output/alicloud-ai-video-wan-video/bench"
sys.path.insert(0, str(SKILL / "scripts"))

import httpx  # noqa: E402

KEY = "sk-emulator"
HEADERS = {"Authorization": f"Bearer {KEY}", "X-DashScope-Async": "enable"}
PY = sys.executable


def note(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------- the emulator
class Emulator:
    """The emulator in a process of its own, on a free loopback port, driven over HTTP."""

    def __init__(self, scratch: Path, **settings: Any) -> None:
        scenario = Path(tempfile.mkstemp(suffix=".json", dir=scratch)[1])
        scenario.write_text(json.dumps(settings))
        self.proc = subprocess.Popen([PY, "-m", "wan_video.emulator", "--port", "0", "--scenario", str(scenario)],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "EMULATOR":
            self.proc.kill()
            raise RuntimeError(f"the emulator did not start: {line!r}")
        self.api_url = line[1]
        self.base_url = self.api_url.removesuffix("/api/v1")
        self.http = httpx.Client(timeout=60)

    def scenario(self, **settings: Any) -> dict[str, Any]:
        response = self.http.post(self.base_url + "/_emulator/scenario", json=settings)
        response.raise_for_status()
        return response.json()["settings"]  # type: ignore[no-any-return]

    def reset(self, **settings: Any) -> None:
        self.http.post(self.base_url + "/_emulator/reset").raise_for_status()
        if settings:
            self.scenario(**settings)

    def stats(self) -> dict[str, Any]:
        return self.http.get(self.base_url + "/_emulator/stats").json()  # type: ignore[no-any-return]

    def submit(self, path: str, body: dict[str, Any]) -> tuple[str, float]:
        """POST a task as a neutral submitter: (task id, our clock when the submit started)."""
        submitted = time.time()
        response = self.http.post(self.api_url + path, json=body, headers=HEADERS)
        response.raise_for_status()
        return response.json()["output"]["task_id"], submitted

    def wait_succeeded(self, task_id: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body: dict[str, Any] = self.http.get(f"{self.api_url}/tasks/{task_id}", headers=HEADERS).json()
            if body["output"]["task_status"] == "SUCCEEDED":
                return body
            time.sleep(0.1)
        raise RuntimeError(f"task {task_id} did not succeed in {timeout}s")

    def close(self) -> None:
        self.http.close()
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@contextlib.contextmanager
def emulator(scratch: Path, **settings: Any) -> Iterator[Emulator]:
    emu = Emulator(scratch, **settings)
    try:
        yield emu
    finally:
        emu.close()


@contextlib.contextmanager
def environ(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# ------------------------------------------------------------------------------- figures
def pct(values: list[float], q: float) -> float | None:
    """The q-th percentile with linear interpolation (numpy's default), None when empty."""
    if not values:
        return None
    data = sorted(values)
    k = (len(data) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def med(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most requests that started within any `window` seconds."""
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


@dataclass
class Row:
    """One target: what it is, the goal, what was measured, and whether it was met."""

    section: str
    metric: str
    target: str
    measured: str
    ok: bool | None  # None: reported, no target

    @property
    def verdict(self) -> str:
        return "—" if self.ok is None else ("PASS" if self.ok else "MISS")


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)

    def add(self, section: str, metric: str, target: str, measured: str, ok: bool | None) -> None:
        self.rows.append(Row(section, metric, target, measured, ok))


def fmt(value: float | None, unit: str = "s", digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{unit}"


# ------------------------------------------------------------------------------- 1. finish detection
@dataclass(frozen=True)
class Kind:
    """A kind of task: on the real service its run time follows model, resolution and duration."""

    model: str
    size: str | None
    resolution: str | None
    duration: int
    seconds: float  # the emulated run time of this kind


# 12 kinds whose run times spread evenly over 10-90 s (not on any client's poll grid).
KINDS = [
    Kind("wan2.2-t2v-flash", "832*480", None, 5, 10.0),
    Kind("wanx2.1-t2v-turbo", "832*480", None, 5, 17.3),
    Kind("wan2.2-t2v-flash", "1280*720", None, 5, 24.5),
    Kind("wanx2.1-t2v-turbo", "1280*720", None, 5, 31.8),
    Kind("wan2.5-t2v-preview", "832*480", None, 5, 39.1),
    Kind("wan2.2-t2v-flash", "1920*1080", None, 5, 46.4),
    Kind("wan2.5-t2v-preview", "1280*720", None, 5, 53.6),
    Kind("wan2.6-t2v", "1280*720", None, 5, 60.9),
    Kind("wan2.7-t2v", None, "720P", 5, 68.2),
    Kind("wan2.5-t2v-preview", "1920*1080", None, 10, 75.5),
    Kind("wan2.6-t2v", "1920*1080", None, 10, 82.7),
    Kind("wan2.7-t2v", None, "1080P", 10, 90.0),
]
SUBMIT_GAP = 0.5  # seconds between submits, so the waits do not all start in the same instant
CLIENTS = ("ours", "sdk2", "sdk1")
CLIENT_NAMES = {
    "ours-cold": "ours, cold (catalog only)",
    "ours": "ours (poll_until_done, history)",
    "sdk2": "dashscope 2.x jobs.wait",
    "sdk1": "dashscope 1.x VideoSynthesis.wait",
}


def kind_request(kind: Kind, n: int) -> Any:
    from wan_video.request import normalize

    raw: dict[str, Any] = {"model": kind.model, "prompt": f"bench finish detection {n}", "duration": kind.duration}
    if kind.size:
        raw["size"] = kind.size
    else:
        raw["resolution"] = kind.resolution
    return normalize(raw, fetch_images=False)


def finish_detection(scratch: Path, quick: bool, during_cold: Callable[[], None] | None = None) -> dict[str, Any]:
    """Round A: our cold waits (they give the history). Round B: ours (warm), 2.x and 1.x at once."""
    import dashscope
    from dashscope import VideoSynthesis
    from wan_video.evidence import Evidence
    from wan_video.lifecycle import RunHistory, poll_until_done
    from wan_video.polling import expect
    from wan_video.progress import Progress
    from wan_video.service import Service
    from wan_video.wire import build

    kinds = [Kind(k.model, k.size, k.resolution, k.duration, round(k.seconds / 4, 1)) for k in KINDS] if quick else KINDS
    kinds = sorted(kinds, key=lambda k: -k.seconds)  # longest first: the round ends sooner
    # No family limit may queue a task (the waits are compared, not the account); queries keep
    # the service's 20/s, so a client that exceeds it is throttled as it would be.
    settings = {"pending_seconds": 0.2, "rps": 100, "concurrency": 100, "query_rps": 20}
    results: dict[str, Any] = {"kinds": [k.__dict__ for k in KINDS], "settings": settings, "tasks": []}
    with emulator(scratch, **settings) as emu:
        dashscope.base_http_api_url = emu.api_url  # 1.x reads this global for fetch/wait
        service = Service(KEY, emu.api_url)
        sdk2 = dashscope.Client(api_key=KEY, base_url=emu.api_url)
        history = RunHistory()

        def ours(task_id: str, submitted: float, req: Any, cold: bool) -> dict[str, Any]:
            kind = (req.model, req.tier, req.duration)
            catalog = expect(req.spec.typical_run_seconds, req.duration, req.spec.default_duration, [])
            exp = catalog if cold else expect(req.spec.typical_run_seconds, req.duration,
                                               req.spec.default_duration, history.recent(kind))
            body = poll_until_done(service, task_id, exp=exp, submitted=submitted,
                                   deadline=time.monotonic() + 900, ev=Evidence(KEY),
                                   progress=Progress(quiet=True), kind=kind, catalog_exp=catalog,
                                   history=history)
            return {"noticed": time.time(), "status": body["output"]["task_status"],
                    "expected": round(exp.seconds, 2), "spread": exp.spread, "source": exp.source}

        def v2(task_id: str, submitted: float, req: Any, cold: bool) -> dict[str, Any]:
            job = sdk2.videos.jobs.wait(task_id)
            return {"noticed": time.time(), "status": job.status}

        def v1(task_id: str, submitted: float, req: Any, cold: bool) -> dict[str, Any]:
            rsp = VideoSynthesis.wait(task_id, api_key=KEY)
            return {"noticed": time.time(), "status": (rsp.output or {}).get("task_status")}

        waiters = {"ours-cold": ours, "ours": ours, "sdk2": v2, "sdk1": v1}

        def run_round(clients: list[str], label: str, alongside: Callable[[], None] | None) -> list[dict[str, Any]]:
            started = time.time()
            jobs: list[tuple[dict[str, Any], Any]] = []  # (what is known of the task, its waiter)
            with ThreadPoolExecutor(max_workers=len(kinds) * len(clients) + 2) as pool:
                side = pool.submit(alongside) if alongside else None
                n = 0
                for i, kind in enumerate(kinds):
                    order = clients[i % len(clients):] + clients[:i % len(clients)]  # rotate who goes first
                    for client in order:
                        req = kind_request(kind, n)
                        call = build(req)
                        emu.scenario(run_seconds=kind.seconds)  # this task's run time, fixed at submit
                        task_id, submitted = emu.submit(call.path, call.body)
                        info = {"round": label, "client": client, "kind": f"{kind.model} {req.tier} {kind.duration}s",
                                "run_seconds": kind.seconds, "task_id": task_id, "submitted": submitted}
                        jobs.append((info, pool.submit(waiters[client], task_id, submitted, req, client == "ours-cold")))
                        n += 1
                        time.sleep(SUBMIT_GAP)
                for info, future in jobs:
                    info.update(future.result())
                if side is not None:
                    side.result()
            stats = emu.stats()
            ends = {t["task_id"]: t for t in stats["tasks"]}
            queries = [r for r in stats["requests"] if r["method"] == "GET" and "/tasks/" in r["path"]
                       and r["time"] >= started]
            by_task: dict[str, list[dict[str, Any]]] = {}
            for r in queries:
                by_task.setdefault(r["path"].rsplit("/", 1)[-1], []).append(r)
            for info, _ in jobs:
                task = ends[info["task_id"]]
                info["end_ts"] = task["end_ts"]
                info["delay"] = round(info["noticed"] - task["end_ts"], 3)
                mine = by_task.get(str(info["task_id"]), [])
                info["polls"] = len(mine)
                info["throttled"] = sum(1 for r in mine if r["status"] == 429)
            client_of = {info["task_id"]: info["client"] for info, _ in jobs}
            windows = {"all": max_in_window([r["time"] for r in queries])}
            for client in clients:
                windows[client] = max_in_window([r["time"] for r in queries if client_of.get(
                    r["path"].rsplit("/", 1)[-1]) == client])
            results.setdefault("query_windows", {})[label] = windows
            results.setdefault("throttled", {})[label] = sum(1 for r in queries if r["status"] == 429)
            return [info for info, _ in jobs]

        note(f"1. finish detection, round A: our cold waits on {len(kinds)} tasks (10-90 s), "
             "which give the run-time history")
        results["tasks"] += run_round(["ours-cold"], "A", during_cold)
        note("1. finish detection, round B: ours (warm), dashscope 2.x and 1.x on "
             f"{len(kinds) * 3} tasks at once")
        results["tasks"] += run_round(list(CLIENTS), "B", None)
        service.close()
        sdk2.close()
    summary = {}
    for client in ("ours-cold", *CLIENTS):
        rows = [t for t in results["tasks"] if t["client"] == client]
        delays = [t["delay"] for t in rows]
        summary[client] = {"tasks": len(rows), "succeeded": sum(t["status"] == "SUCCEEDED" for t in rows),
                           "median_delay": med(delays), "p95_delay": pct(delays, 95),
                           "mean_polls": statistics.mean(t["polls"] for t in rows) if rows else None,
                           "median_polls": med([t["polls"] for t in rows]),
                           "throttled": sum(t["throttled"] for t in rows)}
    results["summary"] = summary
    return results


# ------------------------------------------------------------------------------- 2. batch makespan
BATCH_MODEL = "wan2.5-t2v-preview"  # family limits 5 rps, 5 running at once (as the catalog says)


def batch_makespan(scratch: Path, quick: bool) -> dict[str, Any]:
    import dashscope
    from wan_video.batch import generate_many

    n = 40 if quick else 200
    run = 2.5
    settings = {"pending_seconds": 0.2, "run_seconds": run, "rps": 5, "concurrency": 5, "query_rps": 20}
    requests = [{"model": BATCH_MODEL, "prompt": "bench batch", "size": "832*480", "duration": 5, "seed": i}
                for i in range(n)]
    out: dict[str, Any] = {"n": n, "run_seconds": run, "settings": settings,
                           "ideal": math.ceil(n / 5) * run}
    with emulator(scratch, **settings) as emu:
        note(f"2. batch makespan: our generate_many, {n} tasks of {run}s at 5 at once")
        home = Path(tempfile.mkdtemp(prefix="batch-", dir=scratch))
        with environ(DASHSCOPE_API_KEY=KEY, DASHSCOPE_BASE_URL=emu.api_url, OUTPUT_DIR=str(home)):
            started = time.monotonic()
            lines = generate_many(requests, timeout=1200)
            wall = time.monotonic() - started
        out["ours"] = _batch_stats(emu.stats(), wall, n, run)
        out["ours"]["succeeded"] = sum(1 for line in lines if line.get("status") == "SUCCEEDED")
        out["ours"]["downloaded"] = sum(1 for line in lines if line.get("local_path"))
        out["ours"]["errors"] = _count_errors(line.get("error", {}).get("code") for line in lines if line.get("error"))
        shutil.rmtree(home, ignore_errors=True)

        note(f"2. batch makespan: asyncio.gather of {n} dashscope AsyncClient.videos.generate")
        emu.reset(**settings)

        async def sdk_batch() -> list[Any]:
            client = dashscope.AsyncClient(api_key=KEY, base_url=emu.api_url)
            try:
                return await asyncio.gather(*(client.videos.generate(
                    model=BATCH_MODEL, prompt="bench batch", size="832*480", duration=5, seed=i)
                    for i in range(n)), return_exceptions=True)
            finally:
                await client.aclose()

        started = time.monotonic()
        outcomes = asyncio.run(sdk_batch())
        wall = time.monotonic() - started
        out["sdk2"] = _batch_stats(emu.stats(), wall, n, run)
        out["sdk2"]["succeeded"] = sum(1 for o in outcomes if not isinstance(o, BaseException)
                                       and getattr(o, "status", None) == "SUCCEEDED")
        out["sdk2"]["errors"] = _count_errors(_sdk_error(o) for o in outcomes if isinstance(o, BaseException))
    return out


def _sdk_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}({getattr(exc, 'status_code', None) or getattr(exc, 'code', None) or ''})"


def _count_errors(codes: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for code in codes:
        counts[str(code)] = counts.get(str(code), 0) + 1
    return counts


def _batch_stats(stats: dict[str, Any], wall: float, n: int, run: float) -> dict[str, Any]:
    tasks = [t for t in stats["tasks"] if t["end_ts"]]
    span = (max(t["end_ts"] for t in tasks) - min(t["submit_ts"] for t in tasks)) if tasks else None
    busy = sum((t["end_ts"] - t["run_start_ts"]) for t in tasks if t["run_start_ts"])
    first = min((t["submit_ts"] for t in stats["tasks"]), default=0.0)
    throttled = [{"op": r["method"] + (" /tasks/{id}" if "/tasks/" in r["path"] else " " + r["path"].rsplit("/", 2)[-2]),
                  "at": round(r["time"] - first, 3)} for r in stats["requests"] if r["status"] == 429]
    return {"makespan": round(wall, 3), "service_span": round(span, 3) if span else None,
            "throttled_requests": throttled[:50],
            "created_tasks": stats["created_tasks"], "throttled": stats["throttled"],
            "max_running": max(stats["max_running_by_family"].values(), default=0),
            "polls": stats["polls"], "submits": stats["submits"],
            "utilisation": round(busy / (5 * wall), 3) if wall else None}


# ------------------------------------------------------------------------------- 3. start-up and cache
def startup_and_cache(scratch: Path, utility: Emulator, quick: bool) -> dict[str, Any]:
    reps = 3 if quick else 10
    home = Path(tempfile.mkdtemp(prefix="cli-", dir=scratch))
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("DASHSCOPE_", "WAN_VIDEO_", "ALIBABA_"))}
    base_env["OUTPUT_DIR"] = str(home)
    emu_env = {**base_env, "DASHSCOPE_API_KEY": KEY, "DASHSCOPE_BASE_URL": utility.api_url}
    request = json.dumps({"model": BATCH_MODEL, "prompt": "bench cache hit", "size": "832*480",
                          "duration": 5, "seed": 7})
    commands: dict[str, tuple[list[str], dict[str, str], int]] = {
        "import dashscope": ([PY, "-c", "import dashscope"], base_env, 0),
        "validation error": ([PY, str(SCRIPT), "--request", '{"prompt": "a cat", "duration": 99}'], base_env, 2),
        "--dry-run": ([PY, str(SCRIPT), "--request", '{"prompt": "a cat"}', "--dry-run"], base_env, 0),
        "cache hit": ([PY, str(SCRIPT), "--request", request, "--timeout", "60"], emu_env, 0),
    }
    note("3. start-up: one real run first, so the same request is then a cache hit")
    first = subprocess.run(commands["cache hit"][0], env=emu_env, capture_output=True, text=True)
    first_result = json.loads(first.stdout)
    if first.returncode != 0:
        raise RuntimeError(f"the real run failed: {first.stdout[-500:]}")
    note(f"3. start-up: {reps} runs each of {', '.join(commands)}, interleaved")
    times: dict[str, list[float]] = {name: [] for name in commands}
    checks: dict[str, list[Any]] = {name: [] for name in commands}
    window_start = time.time()
    for _ in range(reps):
        for name, (argv, env, code) in commands.items():
            started = time.perf_counter()
            proc = subprocess.run(argv, env=env, capture_output=True, text=True)
            times[name].append(time.perf_counter() - started)
            if proc.returncode != code:
                raise RuntimeError(f"{name}: exit {proc.returncode}, expected {code}: {proc.stdout[-300:]}")
            if name != "import dashscope":
                parsed = json.loads(proc.stdout)
                checks[name].append(parsed.get("cached") if name == "cache hit" else
                                    parsed.get("status") or parsed.get("error", {}).get("code"))
    window_end = time.time()
    network = [r for r in utility.stats()["requests"] if not r["path"].startswith("/_emulator")
               and window_start <= r["time"] <= window_end]
    shutil.rmtree(home, ignore_errors=True)
    return {"reps": reps, "times": {k: [round(t, 4) for t in v] for k, v in times.items()},
            "median": {k: med(v) for k, v in times.items()}, "answers": checks,
            "first_run_task": first_result.get("task_id"), "cache_hit_requests": len(network)}


# ------------------------------------------------------------------------------- 4. delivery
# Peak RSS from VmHWM: getrusage's ru_maxrss would include the parent's peak (Linux carries
# it across fork and exec).
PEAK_RSS = """
def peak_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
"""
RSS_CHILD = PEAK_RSS + """
import json, sys, time
from wan_video.download import download
started = time.perf_counter()
result = download(sys.argv[1], sys.argv[2], timeout=300)
print(json.dumps({"bytes": result.bytes, "seconds": time.perf_counter() - started, "maxrss_kb": peak_kb()}))
"""
IMPORT_CHILD = PEAK_RSS + """
import json
from wan_video.download import download
print(json.dumps({"maxrss_kb": peak_kb()}))
"""


def delivery(scratch: Path, utility: Emulator, quick: bool) -> dict[str, Any]:
    from wan_video.download import download

    if shutil.which("curl") is None:
        raise RuntimeError("the delivery comparison needs curl on PATH")
    big = 256 * 2**20
    reps = 3 if quick else 7
    call = {"model": BATCH_MODEL, "input": {"prompt": "bench delivery"},
            "parameters": {"size": "832*480", "duration": 5}}
    task_id, _ = utility.submit("/services/aigc/video-generation/video-synthesis", call)
    url = utility.wait_succeeded(task_id)["output"]["video_url"]
    folder = Path(tempfile.mkdtemp(prefix="delivery-", dir=OUT))  # the disk the videos go to
    dest = folder / "video.mp4"
    out: dict[str, Any] = {"reps": reps}
    try:
        utility.scenario(video_padding_bytes=big)
        subprocess.run(["curl", "-sS", "-o", str(dest), url], check=True)  # renders the video once
        size = dest.stat().st_size
        dest.unlink()
        note(f"4. delivery: {reps} x curl -o and wan_video.download of {size / 2**20:.0f} MiB, interleaved")
        curl_t: list[float] = []
        ours_t: list[float] = []
        for _ in range(reps):
            started = time.perf_counter()
            subprocess.run(["curl", "-sS", "-o", str(dest), url], check=True)
            curl_t.append(time.perf_counter() - started)
            dest.unlink()
            started = time.perf_counter()
            result = download(url, str(dest), timeout=300)
            ours_t.append(time.perf_counter() - started)
            assert result.bytes == size
            dest.unlink()
        out.update(bytes=size, curl_seconds=[round(t, 4) for t in curl_t], ours_seconds=[round(t, 4) for t in ours_t],
                   curl_mbps=size / 2**20 / med(curl_t), ours_mbps=size / 2**20 / med(ours_t),  # type: ignore[operator]
                   paired_ratios=[round(c / o, 3) for c, o in zip(curl_t, ours_t, strict=True)])
        out["ratio"] = out["ours_mbps"] / out["curl_mbps"]
        note("4. delivery: peak memory of a download in a fresh process, 16 MB and 256 MB")
        rss: dict[str, Any] = {}
        for label, padding in (("16MB", 16 * 2**20), ("256MB", big)):
            utility.scenario(video_padding_bytes=padding)
            proc = subprocess.run([PY, "-c", RSS_CHILD, url, str(dest)], capture_output=True, text=True, check=True)
            rss[label] = json.loads(proc.stdout)
            dest.unlink()
        proc = subprocess.run([PY, "-c", IMPORT_CHILD], capture_output=True, text=True, check=True)
        rss["import only"] = json.loads(proc.stdout)
        out["rss_mb"] = {k: v["maxrss_kb"] / 1024 for k, v in rss.items()}
        out["rss_detail"] = rss
    finally:
        utility.scenario(video_padding_bytes=0)
        shutil.rmtree(folder, ignore_errors=True)
    return out


# ------------------------------------------------------------------------------- report
def judge(report: Report) -> None:
    d = report.data
    fd = d.get("finish_detection")
    if fd:
        s = fd["summary"]
        ours, v2 = s["ours"], s["sdk2"]
        report.add("1. Finish detection", "median delay, ours (history) vs dashscope 2.x",
                   "≤ 0.5x", f"{fmt(ours['median_delay'])} vs {fmt(v2['median_delay'])} = "
                   f"{ours['median_delay'] / v2['median_delay']:.2f}x",
                   ours["median_delay"] <= 0.5 * v2["median_delay"])
        report.add("1. Finish detection", "polls per task, ours (history) vs dashscope 2.x (mean)",
                   "≤ 1.0x", f"{ours['mean_polls']:.1f} vs {v2['mean_polls']:.1f} = "
                   f"{ours['mean_polls'] / v2['mean_polls']:.2f}x", ours["mean_polls"] <= v2["mean_polls"])
        worst = max(w["ours"] if "ours" in w else w.get("ours-cold", 0) for w in fd["query_windows"].values())
        report.add("1. Finish detection", "our queries in any 1 s window (12 concurrent waits)",
                   "≤ 20", str(worst), worst <= 20)
        report.add("1. Finish detection", "all three clients' queries in any 1 s window (36 waits)",
                   "(≤ 20: else 429)", str(fd["query_windows"]["B"]["all"]), None)
        report.add("1. Finish detection", "p95 delay, ours (history) vs dashscope 2.x", "—",
                   f"{fmt(ours['p95_delay'])} vs {fmt(v2['p95_delay'])}", None)
        cold = s["ours-cold"]
        report.add("1. Finish detection", "cold (catalog only): median delay, polls", "—",
                   f"{fmt(cold['median_delay'])}, {cold['mean_polls']:.1f} polls", None)
        lines = ["| client | tasks | succeeded | median delay | p95 delay | polls/task (mean) | polls/task (median) | 429s |",
                 "|---|---|---|---|---|---|---|---|"]
        for client in ("ours-cold", *CLIENTS):
            c = s[client]
            lines.append(f"| {CLIENT_NAMES[client]} | {c['tasks']} | {c['succeeded']} | {fmt(c['median_delay'])} | "
                         f"{fmt(c['p95_delay'])} | {c['mean_polls']:.1f} | {c['median_polls']:g} | {c['throttled']} |")
        report.tables["1. Finish detection"] = "\n".join(lines)
        lines = ["| kind | run | " + " | ".join(f"{CLIENT_NAMES[c]}: delay / polls" for c in ("ours-cold", *CLIENTS)) + " |",
                 "|---|---|" + "---|" * 4]
        for kind in sorted({t["kind"] for t in fd["tasks"]}, key=lambda k: next(
                t["run_seconds"] for t in fd["tasks"] if t["kind"] == k)):
            cells = []
            for client in ("ours-cold", *CLIENTS):
                t = next((t for t in fd["tasks"] if t["kind"] == kind and t["client"] == client), None)
                cells.append(f"{t['delay']:.2f}s / {t['polls']}" if t else "")
            run = next(t["run_seconds"] for t in fd["tasks"] if t["kind"] == kind)
            lines.append(f"| {kind} | {run:g}s | " + " | ".join(cells) + " |")
        report.tables["1. Finish detection, per kind"] = "\n".join(lines)
    bm = d.get("batch")
    if bm:
        ours, v2, ideal = bm["ours"], bm["sdk2"], bm["ideal"]
        report.add("2. Batch makespan", f"our makespan, {bm['n']} tasks (ideal {ideal:g}s)", "≤ 1.05x ideal",
                   f"{ours['makespan']:.1f}s = {ours['makespan'] / ideal:.3f}x", ours["makespan"] <= 1.05 * ideal)
        report.add("2. Batch makespan", "429s we received", "0", str(ours["throttled"]), ours["throttled"] == 0)
        report.add("2. Batch makespan", "our tasks succeeded (and downloaded)", f"{bm['n']}",
                   f"{ours['succeeded']} ({ours.get('downloaded', 0)})", ours["succeeded"] == bm["n"])
        report.add("2. Batch makespan", "dashscope 2.x asyncio.gather: makespan, succeeded, 429s", "—",
                   f"{v2['makespan']:.1f}s, {v2['succeeded']}/{bm['n']}, {v2['throttled']} 429s", None)
        lines = ["| client | makespan | service span | vs ideal | succeeded | failed | 429s | max running | "
                 "utilisation | polls |", "|---|---|---|---|---|---|---|---|---|---|"]
        for name, c in (("ours (generate_many, downloads on)", ours), ("dashscope 2.x gather(AsyncClient.videos.generate)", v2)):
            failed = sum(c["errors"].values())
            lines.append(f"| {name} | {c['makespan']:.1f}s | {fmt(c['service_span'], 's', 1)} | "
                         f"{c['makespan'] / ideal:.3f}x | {c['succeeded']} | {failed} | {c['throttled']} | "
                         f"{c['max_running']} | {c['utilisation']:.0%} | {c['polls']} |")
        lines.append(f"| ideal: ceil({bm['n']}/5) x {bm['run_seconds']:g}s | {ideal:.1f}s | | 1.000x | | | 0 | 5 | 100% | |")
        errors = "; ".join(f"{k}: {v}" for k, v in v2["errors"].items()) or "none"
        ours_429 = ", ".join(f"{r['op']} at {r['at']:.1f}s" for r in ours["throttled_requests"]) or "none"
        report.tables["2. Batch makespan"] = "\n".join(lines) + (
            f"\n\nSDK failures: {errors}. Our 429s: {ours_429}. Ours includes downloading, probing and a "
            "contact sheet of every video (run_batch has no option to skip them); the SDK's does not download.")
    st = d.get("startup")
    if st:
        m = st["median"]
        base = m["import dashscope"]
        for name in ("validation error", "--dry-run"):
            report.add("3. Start-up and cache", f"{name}, whole process (median of {st['reps']})", "≤ 0.5x import dashscope",
                       f"{fmt(m[name])} vs {fmt(base)} = {m[name] / base:.2f}x", m[name] <= 0.5 * base)
        hits = all(a is True for a in st["answers"]["cache hit"])
        report.add("3. Start-up and cache", f"cache hit, whole process (median of {st['reps']})", "< 1 s",
                   fmt(m["cache hit"]), m["cache hit"] < 1.0 and hits)
        report.add("3. Start-up and cache", "requests to the service during the cache hits", "0",
                   str(st["cache_hit_requests"]), st["cache_hit_requests"] == 0)
        lines = ["| command | median | min | max |", "|---|---|---|---|"]
        for name, values in st["times"].items():
            lines.append(f"| {name} | {fmt(med(values))} | {fmt(min(values))} | {fmt(max(values))} |")
        report.tables["3. Start-up and cache"] = "\n".join(lines)
    dv = d.get("delivery")
    if dv:
        report.add("4. Delivery", f"download throughput vs curl -o ({dv['bytes'] / 2**20:.0f} MiB, median of {dv['reps']})",
                   "≥ 0.9x", f"{dv['ours_mbps']:.0f} vs {dv['curl_mbps']:.0f} MiB/s = {dv['ratio']:.2f}x",
                   dv["ratio"] >= 0.9)
        r16, r256 = dv["rss_mb"]["16MB"], dv["rss_mb"]["256MB"]
        report.add("4. Delivery", "peak RSS of a download process, 16 MB vs 256 MB", "both < 100 MB, similar",
                   f"{r16:.0f} vs {r256:.0f} MB (import alone {dv['rss_mb']['import only']:.0f} MB)",
                   r16 < 100 and r256 < 100 and abs(r256 - r16) <= 16)
        lines = ["| | median | min | max |", "|---|---|---|---|"]
        for name, values in (("curl -o", dv["curl_seconds"]), ("wan_video.download", dv["ours_seconds"])):
            lines.append(f"| {name} | {fmt(med(values))} | {fmt(min(values))} | {fmt(max(values))} |")
        lines.append(f"\nPaired ratios (curl time / ours, per round): {', '.join(f'{r:.2f}' for r in dv['paired_ratios'])}.")
        report.tables["4. Delivery"] = "\n".join(lines)


def write_markdown(report: Report, path: Path) -> str:
    d = report.data
    load = " / ".join(f"{x:.1f}" for x in (*d["machine"]["load_before"][:1], *d["machine"]["load_after"][:1]))
    lines = ["# Benchmarks", "", f"One run of `make bench` on {d['machine']['cpus']} CPUs, {d['started']} "
             f"({d['elapsed']:.0f} s in all; load average before / after: {load}). Ratios are taken within "
             "this run; absolute times are for reference only.", "",
             "| section | metric | target | measured | verdict |",
             "|---|---|---|---|---|"]
    for r in report.rows:
        lines.append(f"| {r.section} | {r.metric} | {r.target} | {r.measured} | {r.verdict} |")
    for title, table in report.tables.items():
        lines += ["", f"## {title}", "", table]
    lines += ["", "## How", "", __doc__.split("\n\n", 2)[-1].strip() if __doc__ else ""]
    text = "\n".join(lines) + "\n"
    path.write_text(text, encoding="utf-8")
    return text


def write_chart(report: Report, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = report.data
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    ax = axes[0][0]
    fd = d.get("finish_detection")
    if fd:
        clients = ["ours-cold", *CLIENTS]
        data = [[t["delay"] for t in fd["tasks"] if t["client"] == c] for c in clients]
        ax.boxplot(data, showfliers=True)
        short = {"ours-cold": "ours, cold\n(catalog)", "ours": "ours\n(history)", "sdk2": "SDK 2.x\njobs.wait",
                 "sdk1": "SDK 1.x\nVideoSynthesis.wait"}
        ax.set_xticks(range(1, len(clients) + 1),
                      [f"{short[c]}\n{fd['summary'][c]['mean_polls']:.1f} polls/task" for c in clients], fontsize=8)
        ax.set_ylabel("delay from the task's end to noticing it (s)")
        ax.set_title("1. Finish detection (tasks of 10-90 s)")
    ax = axes[0][1]
    bm = d.get("batch")
    if bm:
        names = ["ideal", "ours", "dashscope 2.x gather"]
        values = [bm["ideal"], bm["ours"]["makespan"], bm["sdk2"]["makespan"]]
        bars = ax.bar(names, values, color=["#999999", "#2a7ab9", "#d9822b"])
        labels = ["", *(f"{c['succeeded']}/{bm['n']} ok, {bm['n'] - c['succeeded']} failed, {c['throttled']} x 429"
                        for c in (bm["ours"], bm["sdk2"]))]
        for bar, label in zip(bars, labels, strict=True):
            ax.annotate(label, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center",
                        va="bottom", fontsize=8)
        ax.set_ylabel("makespan (s)")
        ax.set_title(f"2. Batch of {bm['n']} tasks at 5 at once")
    ax = axes[1][0]
    st = d.get("startup")
    if st:
        names = list(st["median"])
        ax.bar(names, [st["median"][n] for n in names], color=["#999999", "#2a7ab9", "#2a7ab9", "#2a7ab9"])
        ax.set_ylabel("whole-process wall time, median (s)")
        ax.set_title("3. Start-up and cache hit")
        ax.tick_params(axis="x", labelsize=8)
    ax = axes[1][1]
    dv = d.get("delivery")
    if dv:
        ax.bar(["curl -o", "wan_video.download"], [dv["curl_mbps"], dv["ours_mbps"]], color=["#999999", "#2a7ab9"])
        ax.set_ylabel("MiB/s (256 MiB, loopback)")
        ax.set_title(f"4. Delivery ({dv['ratio']:.2f}x curl; peak RSS {dv['rss_mb']['16MB']:.0f} / "
                     f"{dv['rss_mb']['256MB']:.0f} MB for 16 / 256 MB)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


PARTS = ("finish", "batch", "startup", "delivery")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer and shorter tasks: to try the script")
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS), help="run only these parts")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="wan-video-bench-"))
    report = Report()
    report.data.update(started=time.strftime("%Y-%m-%d %H:%M:%S"), quick=args.quick,
                       machine={"cpus": os.cpu_count(), "python": sys.version.split()[0],
                                "load_before": os.getloadavg()})
    started = time.monotonic()
    try:
        with emulator(scratch, limits=False, run_seconds=0.5, pending_seconds=0.1) as utility:
            # Start-up and delivery are short and CPU-bound; they run while round A's cold
            # waits sleep (their figure is only reported), not during the compared round B.
            def alongside() -> None:
                if "startup" in args.only:
                    report.data["startup"] = startup_and_cache(scratch, utility, args.quick)
                if "delivery" in args.only:
                    report.data["delivery"] = delivery(scratch, utility, args.quick)

            if "finish" in args.only:
                report.data["finish_detection"] = finish_detection(scratch, args.quick, alongside)
            else:
                alongside()
        if "batch" in args.only:
            report.data["batch"] = batch_makespan(scratch, args.quick)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report.data["elapsed"] = time.monotonic() - started
    report.data["machine"]["load_after"] = os.getloadavg()
    judge(report)
    report.data["targets"] = [r.__dict__ | {"verdict": r.verdict} for r in report.rows]
    (OUT / "bench.json").write_text(json.dumps(report.data, indent=2, default=str) + "\n", encoding="utf-8")
    text = write_markdown(report, OUT / "bench.md")
    write_chart(report, OUT / "bench.png")
    print(text)
    note(f"wrote {OUT / 'bench.md'}, bench.json and bench.png in {report.data['elapsed']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
