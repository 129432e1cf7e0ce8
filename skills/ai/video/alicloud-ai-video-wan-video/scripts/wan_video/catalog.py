"""The model catalog (models.yaml): models, regions, tiers, prices and limits as data."""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CATALOG_PATH = Path(__file__).with_name("models.yaml")

TIER_PIXELS = {"480P": 832 * 480, "720P": 1280 * 720, "1080P": 1920 * 1080}


def parse_size(size: str) -> tuple[int, int]:
    """'1280*720' -> (1280, 720); raises ValueError on anything else."""
    parts = size.replace("x", "*").split("*")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ValueError(f"not a W*H size: {size!r}")
    return int(parts[0]), int(parts[1])


def tier_of_size(width: int, height: int) -> str:
    """The resolution tier whose pixel count is nearest to width*height."""
    pixels = width * height
    return min(TIER_PIXELS, key=lambda t: abs(TIER_PIXELS[t] - pixels))


@dataclass(frozen=True)
class ModelSpec:
    """One model as the catalog describes it."""

    name: str
    kind: str  # t2v | i2v | kf2v | r2v
    protocol: str  # size | ratio | resolution | media | keyframes | references
    path: str  # video-generation | image2video
    family: str
    regions: dict[str, str]  # region -> the name the service knows it by there
    tiers: list[str]
    durations: dict[str, Any]  # {min, max} or {values}
    default_duration: int
    fps: int
    audio: str  # none | default | switch
    prompt_max: int
    negative_prompt_max: int
    price: dict[str, dict[str, float]]
    free_seconds: int
    typical_run_seconds: int
    rps: float
    concurrency: int
    default_size: str | None = None
    default_tier: str | None = None
    price_silent: dict[str, dict[str, float]] = field(default_factory=dict)
    image: dict[str, Any] | None = None
    last_frame: str | None = None
    listed: bool = True
    shot_type: bool = False
    default_ratio: str | None = None
    replacement: str | None = None
    region_limits: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def needs_image(self) -> bool:
        return self.kind in ("i2v", "kf2v")

    @property
    def submit_path(self) -> str:
        """Path below /api/v1 that takes this model's submits."""
        return f"/services/aigc/{self.path}/video-synthesis"

    def sizes(self, catalog: Catalog) -> list[str]:
        """Every W*H this model accepts as `size` (size/references protocols)."""
        if self.protocol == "ratio":
            return [s for t in self.tiers for s in catalog.ratio_sizes[t].values()]
        return [s for t in self.tiers for s in catalog.tiers[t]]

    def duration_ok(self, seconds: float) -> bool:
        if seconds != int(seconds):
            return False
        if "values" in self.durations:
            return int(seconds) in self.durations["values"]
        return self.durations["min"] <= seconds <= self.durations["max"]

    def durations_text(self) -> str:
        if "values" in self.durations:
            return ", ".join(str(v) for v in self.durations["values"])
        return f"{self.durations['min']}-{self.durations['max']}"

    def limits(self, region: str) -> tuple[float, int]:
        """(submits per second, concurrent tasks) for this model in a region."""
        own = self.region_limits.get(region, {})
        return float(own.get("rps", self.rps)), int(own.get("concurrency", self.concurrency))

    def price_per_second(self, region: str, tier: str, audio: bool = True) -> float | None:
        table = self.price_silent if (not audio and self.price_silent) else self.price
        return table.get(region, {}).get(tier)


@dataclass(frozen=True)
class Catalog:
    """Everything in models.yaml, loaded once."""

    models: dict[str, ModelSpec]
    regions: dict[str, dict[str, Any]]
    default_region: str
    usd_to_cny: float
    tiers: dict[str, list[str]]
    ratio_sizes: dict[str, dict[str, str]]
    families: dict[str, dict[str, float]]
    defaults: dict[str, str]
    deprecated: dict[str, dict[str, str]]
    unsupported: dict[str, dict[str, str]]
    raw: dict[str, Any]

    def get(self, name: str) -> ModelSpec | None:
        return self.models.get(name)

    def canonical(self, name: str) -> ModelSpec | None:
        """A model by its catalog name or by any region-specific name."""
        if name in self.models:
            return self.models[name]
        for spec in self.models.values():
            if name in spec.regions.values():
                return spec
        return None

    def for_wire(self, wire_name: str, region: str) -> ModelSpec | None:
        """The model the service in `region` knows as `wire_name` (None: 'Model not exist')."""
        for spec in self.models.values():
            if spec.regions.get(region) == wire_name:
                return spec
        return None

    def suggestions(self, name: str, n: int = 3) -> list[str]:
        names = list(self.models) + [
            w for s in self.models.values() for w in s.regions.values() if w not in self.models
        ]
        return difflib.get_close_matches(name, names, n=n, cutoff=0.5)

    def default_model(self, has_image: bool, has_last_frame: bool = False, has_refs: bool = False) -> str:
        if has_refs:
            return self.defaults["references"]
        if has_last_frame:
            return self.defaults["keyframes"]
        return self.defaults["image" if has_image else "text"]

    def host(self, region: str, workspace: str | None = None) -> str:
        info = self.regions[region]
        if workspace:
            return str(info["workspace_host"]).format(workspace=workspace)
        return str(info["host"])

    def currency(self, region: str) -> str:
        return str(self.regions[region]["currency"])


def _spec(name: str, entry: dict[str, Any], families: dict[str, Any],
          images: dict[str, Any]) -> ModelSpec:
    fam = families[entry["family"]]
    image = entry.get("image")
    fields = {k: v for k, v in entry.items() if k in ModelSpec.__dataclass_fields__}
    fields.update(
        name=name,
        rps=float(fam["rps"]),
        concurrency=int(fam["concurrency"]),
        image=images[image] if isinstance(image, str) else image,
    )
    return ModelSpec(**fields)


def build_catalog(data: dict[str, Any]) -> Catalog:
    families = data["families"]
    images = data.get("images", {})
    models = {n: _spec(n, e, families, images) for n, e in data["models"].items()}
    return Catalog(
        models=models,
        regions=data["regions"],
        default_region=data["default_region"],
        usd_to_cny=float(data["usd_to_cny"]),
        tiers=data["tiers"],
        ratio_sizes=data["ratio_sizes"],
        families=families,
        defaults=data["defaults"],
        deprecated=data.get("deprecated", {}),
        unsupported=data.get("unsupported", {}),
        raw=data,
    )


@functools.cache
def load_catalog(path: str | None = None) -> Catalog:
    """Load and index models.yaml (cached per path)."""
    import yaml

    with open(path or CATALOG_PATH, encoding="utf-8") as fh:
        return build_catalog(yaml.safe_load(fh))
