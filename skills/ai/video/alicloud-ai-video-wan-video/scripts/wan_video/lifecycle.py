"""submit -> record -> poll -> download -> verify -> evidence."""

from __future__ import annotations

from typing import Any

from .cost import estimate_request
from .credentials import endpoint
from .errors import EXIT_CONFIRM, WanVideoError
from .request import VideoRequest
from .wire import build, redacted_body


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
