"""The emulator's knobs: timing, keys, limits, TTLs and scripted faults, as one dataclass.

Settings come from `EmulatorSettings(...)`, from `python -m wan_video.emulator` flags and from
`POST /_emulator/scenario` (a JSON object merged over the current settings). Merging is
shallow: a list or dict in the scenario replaces the current one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .faults import parse_rule

DEFAULT_KEY = "sk-emulator"
KEYS_ENV = "WAN_VIDEO_EMULATOR_KEYS"


@dataclass(frozen=True)
class EmulatorSettings:
    """Everything a test or a demo may want to change about the emulated service."""

    pending_seconds: float = 0.2  # PENDING before a task may start running
    run_seconds: float = 2.0  # RUNNING time of every task...
    run_seconds_by_model: dict[str, float] = field(default_factory=dict)  # ...or per model
    time_scale: float = 1.0  # multiplies pending and run times
    realistic: bool = False  # run for the catalog's typical_run_seconds instead
    keys: tuple[str, ...] = ()  # accepted API keys besides DEFAULT_KEY
    limits: bool = True  # enforce the catalog's RPS / concurrency and the query rate
    rps: float | None = None  # override every family's submit rate
    concurrency: int | None = None  # override every family's concurrent-task limit
    query_rps: float = 20.0  # query / list / cancel requests per second per account
    task_ttl_seconds: float = 86400.0  # then GET /tasks/{id} answers UNKNOWN
    url_ttl_seconds: float = 86400.0  # then the video_url answers 403 expired
    video_padding_bytes: int = 0  # append an MP4 `free` box of this size to every video
    fail_next: tuple[dict[str, str], ...] = ()  # {code, message} for the next created tasks
    faults: tuple[dict[str, Any], ...] = ()  # fault rules, see faults.py

    def merged(self, overrides: Mapping[str, Any]) -> EmulatorSettings:
        """A copy with `overrides` applied; ValueError lists every bad entry at once."""
        problems: list[str] = []
        values: dict[str, Any] = {}
        for name, raw in sorted(overrides.items()):
            check = _CHECKS.get(name)
            if check is None:
                problems.append(f"unknown setting {name!r}; known: {', '.join(sorted(_CHECKS))}")
                continue
            try:
                values[name] = check(raw)
            except (TypeError, ValueError) as exc:
                problems.append(f"{name}: {exc}")
        if problems:
            raise ValueError("; ".join(problems))
        return dataclasses.replace(self, **values)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["keys"] = list(self.keys)
        data["fail_next"] = list(self.fail_next)
        data["faults"] = list(self.faults)
        return data

    def pending_for(self) -> float:
        return self.pending_seconds * self.time_scale

    def run_for(self, catalog_name: str, wire_name: str, typical_seconds: float) -> float:
        """RUNNING seconds for a model (by catalog or wire name), after time_scale."""
        by_model = self.run_seconds_by_model
        if wire_name in by_model:
            base = by_model[wire_name]
        elif catalog_name in by_model:
            base = by_model[catalog_name]
        else:
            base = typical_seconds if self.realistic else self.run_seconds
        return base * self.time_scale


def _number(raw: Any, *, minimum: float = 0.0) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise TypeError(f"expected a number, got {raw!r}")
    if raw < minimum:
        raise ValueError(f"must be >= {minimum}, got {raw!r}")
    return float(raw)


def _optional(check: Any) -> Any:
    return lambda raw: None if raw is None else check(raw)


def _positive(raw: Any) -> float:
    value = _number(raw)
    if value <= 0:
        raise ValueError(f"must be > 0, got {raw!r}")
    return value


def _count(raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise ValueError(f"expected an integer >= 1, got {raw!r}")
    return raw


def _padding(raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise ValueError(f"expected an integer >= 0, got {raw!r}")
    if 0 < raw < 8:
        raise ValueError("an MP4 box needs at least 8 bytes (0 turns padding off)")
    return raw


def _bool(raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise TypeError(f"expected true or false, got {raw!r}")
    return raw


def _keys(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, str):
        raw = raw.split(",")
    if not isinstance(raw, (list, tuple)) or not all(isinstance(k, str) for k in raw):
        raise TypeError("expected a list of strings")
    return tuple(k.strip() for k in raw if k.strip())


def _by_model(raw: Any) -> dict[str, float]:
    if not isinstance(raw, Mapping):
        raise TypeError("expected an object of model name -> seconds")
    return {str(k): _number(v) for k, v in raw.items()}


def _fail_next(raw: Any) -> tuple[dict[str, str], ...]:
    if not isinstance(raw, (list, tuple)):
        raise TypeError("expected a list of {code, message} objects")
    items = []
    for item in raw:
        if (
            not isinstance(item, Mapping)
            or set(item) != {"code", "message"}
            or not all(isinstance(v, str) and v for v in item.values())
        ):
            raise ValueError(f"each item needs exactly a non-empty code and message: {item!r}")
        items.append(dict(item))
    return tuple(items)


def _faults(raw: Any) -> tuple[dict[str, Any], ...]:
    if not isinstance(raw, (list, tuple)):
        raise TypeError("expected a list of fault rules")
    for item in raw:
        parse_rule(item)  # validate now, so a bad rule fails the scenario call
    return tuple(dict(item) for item in raw)


_CHECKS: dict[str, Any] = {
    "pending_seconds": _number,
    "run_seconds": _number,
    "run_seconds_by_model": _by_model,
    "time_scale": _number,
    "realistic": _bool,
    "keys": _keys,
    "limits": _bool,
    "rps": _optional(_positive),
    "concurrency": _optional(_count),
    "query_rps": _positive,
    "task_ttl_seconds": _number,
    "url_ttl_seconds": _number,
    "video_padding_bytes": _padding,
    "fail_next": _fail_next,
    "faults": _faults,
}
