"""Cost from the catalog's prices: estimates before a run, actuals from the service's usage."""

from __future__ import annotations

from typing import Any

from .catalog import ModelSpec, load_catalog, tier_of_size


def _money(value: float) -> float:
    return round(value, 6)


def price(spec: ModelSpec, region: str, tier: str, audio: bool) -> dict[str, Any]:
    """Unit price for a model/region/tier/audio variant, in the region's currency and in CNY."""
    catalog = load_catalog()
    currency = catalog.currency(region)
    unit = spec.price_per_second(region, tier, audio)
    if unit is None:
        return {"currency": currency, "per_second": None, "per_second_cny": None}
    cny = unit * catalog.usd_to_cny if currency == "USD" else unit
    return {"currency": currency, "per_second": unit, "per_second_cny": _money(cny)}


def estimate(spec: ModelSpec, region: str, tier: str, seconds: float, audio: bool) -> dict[str, Any]:
    """What a run of `seconds` costs if it succeeds (failures are free)."""
    catalog = load_catalog()
    p = price(spec, region, tier, audio)
    out: dict[str, Any] = {
        "model": spec.name, "region": region, "tier": tier, "seconds": seconds,
        "audio_variant": bool(spec.price_silent) and audio if spec.price_silent else None,
        **p,
    }
    if p["per_second"] is None:
        out.update(amount=None, amount_cny=None, note="no price in the catalog for this tier")
        return out
    out["amount"] = _money(p["per_second"] * seconds)
    out["amount_cny"] = _money(p["per_second_cny"] * seconds)
    if catalog.regions[region].get("free_quota") and spec.free_seconds:
        out["note"] = (f"mainland China accounts get {spec.free_seconds} free seconds of this model "
                       "for 90 days after activation; not assumed here")
    return out


def estimate_request(req: Any) -> dict[str, Any]:
    return estimate(req.spec, req.region, req.tier, req.duration, req.has_audio)


def actual(spec: ModelSpec, region: str, usage: dict[str, Any] | None, fallback_tier: str,
           audio: bool) -> dict[str, Any] | None:
    """Cost of a finished task from its `usage` (billed seconds and SR/size when present)."""
    if not usage:
        return None
    seconds = usage.get("duration", usage.get("output_video_duration", usage.get("video_duration")))
    if seconds is None:
        return None
    tier = fallback_tier
    if "SR" in usage:
        tier = f"{int(usage['SR'])}P"
    elif isinstance(usage.get("size"), str) and "*" in usage["size"]:
        w, h = usage["size"].split("*")
        tier = tier_of_size(int(w), int(h))
    if isinstance(usage.get("audio"), bool):
        audio = usage["audio"]
    out = estimate(spec, region, tier, float(seconds), audio)
    out["source"] = "usage"
    return out
