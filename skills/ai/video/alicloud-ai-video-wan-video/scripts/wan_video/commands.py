"""The subcommands other than generate and models: wait, status, cancel, list, doctor, spend, batch."""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from typing import Any

from .errors import EXIT_AUTH, EXIT_NETWORK, EXIT_OK, WanVideoError


def dispatch(command: str, args: argparse.Namespace) -> tuple[dict[str, Any], int]:
    from . import lifecycle

    if command == "wait":
        opts = lifecycle.RunOptions(output=args.output, timeout=args.timeout, quiet=args.quiet,
                                    workspace=args.workspace)
        return lifecycle.wait_task(args.task_id, region=args.region, opts=opts)
    if command == "status":
        return lifecycle.status_task(args.task_id, region=args.region, workspace=args.workspace)
    if command == "cancel":
        return lifecycle.cancel_task(args.task_id, region=args.region, workspace=args.workspace)
    if command == "list":
        return list_tasks(args)
    if command == "doctor":
        return doctor(args)
    if command == "spend":
        return spend(args.days)
    if command == "batch":
        from .batch import run_batch_cli

        return run_batch_cli(args)
    raise AssertionError(command)


def list_tasks(args: argparse.Namespace) -> tuple[dict[str, Any], int]:
    """Local records, and the account's tasks of the last 24 h unless --local."""
    from .store import Store

    local = [{k: s.get(k) for k in ("task_id", "status", "model", "region", "submitted_at", "cache_key")}
             for s in Store().all() if s.get("task_id")]
    out: dict[str, Any] = {"local": sorted(local, key=lambda s: s.get("submitted_at") or 0, reverse=True)}
    if not args.local:
        from .catalog import load_catalog
        from .lifecycle import open_service

        region = args.region or load_catalog().default_region
        service, _ = open_service(region, args.workspace)
        try:
            out["remote"] = service.list_tasks(model=args.model, status=args.status,
                                               deadline=time.monotonic() + 30)
        finally:
            service.close()
        out["region"] = region
    return out, EXIT_OK


def doctor(args: argparse.Namespace) -> tuple[dict[str, Any], int]:
    """Read-only preflight: key source, endpoint, reachability, key accepted, model in region."""
    from .catalog import load_catalog
    from .credentials import endpoint, find_key
    from .evidence import Evidence
    from .request import choose_region

    catalog = load_catalog()
    checks: list[dict[str, Any]] = []
    first_problem: WanVideoError | None = None

    def check(name: str, ok: bool, detail: Any, error: WanVideoError | None = None) -> None:
        nonlocal first_problem
        entry: dict[str, Any] = {"check": name, "ok": ok, "detail": detail}
        if error is not None:
            entry["error"] = {"code": error.code, "message": error.message, "hint": error.hint}
            if first_problem is None:
                first_problem = error
        checks.append(entry)

    region = choose_region(None, args.region, catalog)
    api_root, source = endpoint(region, args.workspace)
    check("region", True, {"region": region, "endpoint": api_root, "endpoint_source": source})
    if args.model:
        from .request import resolve_model

        try:
            spec, warnings = resolve_model(args.model, region, False, False, False, catalog)
            check("model", True, {"model": spec.name, "wire_name": spec.regions[region], "kind": spec.kind,
                                  "regions": spec.regions, "warnings": warnings})
        except WanVideoError as exc:
            check("model", False, {"model": args.model}, exc)
    creds = None
    try:
        creds = find_key()
        assert creds is not None
        check("api_key", True, {"source": creds.source, "warnings": creds.warnings})
    except WanVideoError as exc:
        check("api_key", False, {"source": None}, exc)
    if creds is not None:
        from .service import Service

        service = Service(creds.key, api_root, workspace=args.workspace, timeout=10.0)
        try:
            # A query for a task id that cannot exist: read-only, free, and it proves both that
            # the endpoint answers and that the key is accepted (UNKNOWN, not 401).
            started = time.monotonic()
            answer = service._exchange("GET", "/tasks/00000000-0000-0000-0000-000000000000")
            latency = round(time.monotonic() - started, 3)
            check("reachable", True, {"latency_s": latency, "request_id": answer.request_id})
            check("key_accepted", True, {"probe": "GET /tasks/<nil-uuid>",
                                         "status": (answer.body.get("output") or {}).get("task_status")})
        except WanVideoError as exc:
            if exc.http_status in (401, 403):
                check("reachable", True, {"http_status": exc.http_status})
                check("key_accepted", False, {"http_status": exc.http_status}, exc)
            else:
                if exc.exit_code != EXIT_NETWORK:
                    exc.exit_code = EXIT_NETWORK
                check("reachable", False, {"endpoint": api_root}, exc)
        finally:
            service.close()
    ok = first_problem is None
    report = {"ok": ok, "region": region, "endpoint": api_root, "key_source": creds.source if creds else None,
              "checks": checks, "costs_nothing": True}
    ev = Evidence(creds.key if creds else None)
    ev.bind(f"doctor-{time.strftime('%Y%m%dT%H%M%S')}")
    ev.write("doctor.json", report)
    report["evidence_dir"] = str(ev.dir)
    if first_problem is not None:
        problem: WanVideoError = first_problem
        report["error"] = {"code": problem.code, "message": problem.message, "hint": problem.hint}
        return report, problem.exit_code or EXIT_AUTH
    return report, EXIT_OK


def spend(days: int) -> tuple[dict[str, Any], int]:
    """The ledger of actual costs, summed by day and model."""
    from .evidence import ledger_entries

    since = time.time() - days * 86400
    by_day: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(float))
    totals: dict[str, float] = defaultdict(float)
    tasks = 0
    for entry in ledger_entries():
        if float(entry.get("at", 0)) < since:
            continue
        tasks += 1
        day = time.strftime("%Y-%m-%d", time.localtime(float(entry["at"])))
        amount = float(entry.get("amount_cny") or 0.0)
        by_day[day][entry.get("model", "?")] += amount
        totals[entry.get("model", "?")] += amount
    return {"days": days, "tasks": tasks,
            "by_day": {d: {m: round(v, 6) for m, v in ms.items()} for d, ms in sorted(by_day.items())},
            "by_model_cny": {m: round(v, 6) for m, v in totals.items()},
            "total_cny": round(sum(totals.values()), 6),
            "note": "actual cost from each task's usage at catalog prices; free quota is not subtracted"}, EXIT_OK
