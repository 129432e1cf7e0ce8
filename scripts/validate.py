#!/usr/bin/env python3
"""Prove the skill is healthy, offline and without a key; leave a report as evidence.

    python scripts/validate.py [--only NAME ...] [--report PATH] [--live]

Each check is a function in CHECKS returning (ok, details). The report
(output/alicloud-ai-video-wan-video/validate_report.json) lists every check with its name,
ok and details; the exit status is 1 when any check failed. tests/test_skill_docs.py calls
the same functions.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SKILL_NAME = "alicloud-ai-video-wan-video"
SKILL_REL = f"skills/ai/video/{SKILL_NAME}"
SKILL_DIR = ROOT / SKILL_REL
ENTRY_REL = f"{SKILL_REL}/scripts/generate_video.py"
PACKAGE_DIR = SKILL_DIR / "scripts" / "wan_video"
SCHEMA_DIR = PACKAGE_DIR / "schemas"
OUTPUT_REL = f"output/{SKILL_NAME}"

ALLOWED_FRONTMATTER = {"name", "description", "license", "allowed-tools", "metadata", "compatibility"}
MAX_BODY_LINES = 500
SKIP_DIRS = {".git", ".venv", "venv", "output", "node_modules", "build", "dist", "__pycache__",
             ".pytest_cache", ".hypothesis", ".mypy_cache", ".ruff_cache"}
# Environment variables that would change what a dry run prints; examples run without them.
ISOLATED_ENV = ("DASHSCOPE_BASE_URL", "DASHSCOPE_HTTP_BASE_URL", "DASHSCOPE_WORKSPACE",
                "DASHSCOPE_REGION", "WAN_VIDEO_REGION", "DASHSCOPE_API_KEY")

Details = list[Any]


@dataclass
class Context:
    root: Path = ROOT
    python: str = sys.executable
    live: bool = False
    timeout: float = 60.0


@dataclass
class CheckResult:
    name: str
    ok: bool
    details: Details = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "details": self.details, "seconds": round(self.seconds, 3)}


# --------------------------------------------------------------------------- (a) the seed's check


def check_seed_py_compile(ctx: Context) -> tuple[bool, Details]:
    """The seed's validation, verbatim from the repository root:

    mkdir -p output/alicloud-ai-video-wan-video
    python -m py_compile skills/ai/video/alicloud-ai-video-wan-video/scripts/generate_video.py \
        && echo py_compile_ok > output/alicloud-ai-video-wan-video/validate.txt
    """
    out_dir = ctx.root / OUTPUT_REL
    out_dir.mkdir(parents=True, exist_ok=True)
    marker = out_dir / "validate.txt"
    marker.unlink(missing_ok=True)
    cmd = [ctx.python, "-m", "py_compile", ENTRY_REL]
    proc = subprocess.run(cmd, cwd=ctx.root, capture_output=True, text=True, timeout=ctx.timeout)
    details: Details = [f"mkdir -p {OUTPUT_REL}", f"python -m py_compile {ENTRY_REL} -> exit {proc.returncode}"]
    if proc.returncode != 0:
        details.append((proc.stderr or proc.stdout).strip())
        return False, details
    marker.write_text("py_compile_ok\n", encoding="utf-8")
    details.append(f"wrote {OUTPUT_REL}/validate.txt")
    return True, details


# --------------------------------------------------------------------------- (b) SKILL.md lint


def find_skill_mds(root: Path) -> list[Path]:
    """Every SKILL.md in the repository, outside virtualenvs, output and caches."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        if "SKILL.md" in filenames:
            found.append(Path(dirpath) / "SKILL.md")
    return found


def split_frontmatter(text: str) -> tuple[str | None, str]:
    """(frontmatter text, body) of a markdown file; frontmatter None when there is none."""
    match = re.match(r"\A---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", text, re.DOTALL)
    if not match:
        return None, text
    return match.group(1), text[match.end():]


def lint_skill_md(path: Path, root: Path = ROOT) -> list[str]:
    """Problems of one SKILL.md (empty when it follows the Agent Skills conventions)."""
    import yaml

    is_skill_folder = path.parent != root
    text = path.read_text(encoding="utf-8")
    front, body = split_frontmatter(text)
    if front is None:
        return ["no YAML frontmatter (the file must start with --- and a closing ---)"]
    try:
        meta = yaml.safe_load(front)
    except yaml.YAMLError as exc:
        return [f"frontmatter is not valid YAML: {exc}"]
    if not isinstance(meta, dict):
        return ["frontmatter must be a YAML mapping"]
    problems = []
    unexpected = sorted(set(meta) - ALLOWED_FRONTMATTER)
    if unexpected:
        problems.append(f"unexpected frontmatter key(s): {', '.join(map(str, unexpected))}; allowed: "
                        + ", ".join(sorted(ALLOWED_FRONTMATTER)))
    name = meta.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append("missing 'name'")
    else:
        if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name):
            problems.append(f"name {name!r} is not kebab-case (lowercase letters, digits, single hyphens)")
        if len(name) > 64:
            problems.append(f"name is {len(name)} characters; at most 64")
        if is_skill_folder and name != path.parent.name:
            problems.append(f"name {name!r} differs from the folder name {path.parent.name!r}")
    description = meta.get("description")
    if not isinstance(description, str) or not description.strip():
        problems.append("missing 'description'")
    else:
        if len(description) > 1024:
            problems.append(f"description is {len(description)} characters; at most 1024")
        if "<" in description or ">" in description:
            problems.append("description contains angle brackets")
    if "compatibility" in meta:
        compat = meta["compatibility"]
        if not isinstance(compat, str) or not compat.strip() or len(compat) > 500:
            problems.append("compatibility must be a non-empty string of at most 500 characters")
    if "metadata" in meta and not isinstance(meta["metadata"], dict):
        problems.append("metadata must be a mapping")
    lines = len(body.splitlines())
    if lines >= MAX_BODY_LINES:
        problems.append(f"body is {lines} lines; keep it under {MAX_BODY_LINES} (move details to references/)")
    return problems


def lint_openai_yaml(path: Path, skill_name: str) -> list[str]:
    """Problems of an agents/openai.yaml (display metadata)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        return [f"not valid YAML: {exc}"]
    interface = data.get("interface") if isinstance(data, dict) else None
    if not isinstance(interface, dict):
        return ["needs an 'interface' mapping"]
    problems = []
    for key in ("display_name", "short_description", "default_prompt"):
        if not isinstance(interface.get(key), str) or not interface[key].strip():
            problems.append(f"interface.{key} must be a non-empty string")
    short = interface.get("short_description")
    if isinstance(short, str) and not 25 <= len(short) <= 64:
        problems.append(f"interface.short_description is {len(short)} characters; 25 to 64")
    prompt = interface.get("default_prompt")
    if isinstance(prompt, str) and f"${skill_name}" not in prompt:
        problems.append(f"interface.default_prompt should name the skill as ${skill_name}")
    return problems


def check_skill_md_lint(ctx: Context) -> tuple[bool, Details]:
    details: Details = []
    ok = True
    paths = find_skill_mds(ctx.root)
    if ctx.root / "SKILL.md" not in paths:
        ok = False
        details.append("SKILL.md: the repository's entry manifest is missing")
    if ctx.root / SKILL_REL / "SKILL.md" not in paths:
        ok = False
        details.append(f"{SKILL_REL}/SKILL.md: missing")
    for path in paths:
        rel = path.relative_to(ctx.root)
        problems = lint_skill_md(path, ctx.root)
        agents = path.parent / "agents" / "openai.yaml"
        if path.parent != ctx.root and agents.is_file():
            problems += [f"agents/openai.yaml: {p}" for p in lint_openai_yaml(agents, path.parent.name)]
        ok = ok and not problems
        details.append({"file": str(rel), "problems": problems})
    return ok, details


# --------------------------------------------------------------------------- (c) schemas, catalog


def check_json_schemas(ctx: Context) -> tuple[bool, Details]:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    details: Details = []
    ok = True
    schemas = sorted(SCHEMA_DIR.glob("*.json"))
    if not schemas:
        return False, [f"no schemas in {SCHEMA_DIR.relative_to(ROOT)}"]
    for path in schemas:
        rel = str(path.relative_to(ROOT))
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
            if schema.get("$schema") != "https://json-schema.org/draft/2020-12/schema":
                raise SchemaError(f"$schema is {schema.get('$schema')!r}, not draft 2020-12")
            Draft202012Validator.check_schema(schema)
        except (ValueError, SchemaError) as exc:
            ok = False
            details.append(f"{rel}: {str(exc).splitlines()[0]}")
        else:
            details.append(f"{rel}: valid 2020-12 schema")
    return ok, details


def load_models_yaml(path: Path | None = None) -> dict[str, Any]:
    import yaml

    with open(path or PACKAGE_DIR / "models.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def catalog_schema_problems(data: Any) -> list[str]:
    """models.yaml against schemas/models.schema.json, every error with its path."""
    from jsonschema import Draft202012Validator

    schema = json.loads((SCHEMA_DIR / "models.schema.json").read_text(encoding="utf-8"))
    errors = sorted(Draft202012Validator(schema).iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'.'.join(map(str, e.absolute_path)) or '(catalog)'}: {e.message}" for e in errors]


def _size_ok(size: Any) -> bool:
    return isinstance(size, str) and bool(re.fullmatch(r"[1-9][0-9]*\*[1-9][0-9]*", size))


def _duration_ok(durations: dict[str, Any], seconds: Any) -> bool:
    if "values" in durations:
        return seconds in durations["values"]
    return durations.get("min", 0) <= seconds <= durations.get("max", 0)


DEFAULT_KINDS = {"text": "t2v", "image": "i2v", "keyframes": "kf2v", "references": "r2v"}


def catalog_problems(data: dict[str, Any]) -> list[str]:
    """Cross-references of models.yaml that a JSON Schema cannot express."""
    problems: list[str] = []
    regions = data.get("regions", {})
    tiers = data.get("tiers", {})
    ratio_sizes = data.get("ratio_sizes", {})
    families = data.get("families", {})
    images = data.get("images", {})
    models = data.get("models", {})
    deprecated = data.get("deprecated", {})
    unsupported = data.get("unsupported", {})

    if data.get("default_region") not in regions:
        problems.append(f"default_region {data.get('default_region')!r} is not a key of regions")
    for tier in ratio_sizes:
        if tier not in tiers:
            problems.append(f"ratio_sizes.{tier}: not a tier of the tiers table")
    seen_sizes: dict[str, str] = {}
    for tier, sizes in tiers.items():
        for size in sizes:
            if size in seen_sizes:
                problems.append(f"tiers.{tier}: size {size} is also in {seen_sizes[size]}")
            seen_sizes[size] = tier

    for name, m in models.items():
        where = f"models.{name}"
        m_regions = m.get("regions", {})
        for region in m_regions:
            if region not in regions:
                problems.append(f"{where}.regions: {region!r} is not a key of the top-level regions")
        if m.get("family") not in families:
            problems.append(f"{where}.family: {m.get('family')!r} is not a key of families")
        table = ratio_sizes if m.get("protocol") == "ratio" else tiers
        table_name = "ratio_sizes" if m.get("protocol") == "ratio" else "tiers"
        m_tiers = m.get("tiers", [])
        for tier in m_tiers:
            if tier not in table:
                problems.append(f"{where}.tiers: {tier!r} is not a key of {table_name}")
        if "default_tier" in m and m["default_tier"] not in m_tiers:
            problems.append(f"{where}.default_tier: {m['default_tier']!r} is not one of its tiers {m_tiers}")
        if "default_size" in m:
            allowed = [s for t in m_tiers for s in tiers.get(t, [])]
            if m["default_size"] not in allowed:
                problems.append(f"{where}.default_size: {m['default_size']!r} is not a size of its tiers")
        durations = m.get("durations", {})
        if "min" in durations and durations["min"] > durations.get("max", 0):
            problems.append(f"{where}.durations: min {durations['min']} is above max {durations.get('max')}")
        if "default_duration" in m and durations and not _duration_ok(durations, m["default_duration"]):
            problems.append(f"{where}.default_duration: {m['default_duration']} is not allowed by {durations}")
        if isinstance(m.get("image"), str) and m["image"] not in images:
            problems.append(f"{where}.image: {m['image']!r} is not a key of images")
        for key in ("price", "price_silent"):
            if key not in m:
                continue
            if set(m[key]) != set(m_regions):
                problems.append(f"{where}.{key}: regions {sorted(m[key])} differ from the model's "
                                f"regions {sorted(m_regions)}")
            for region, by_tier in m[key].items():
                if set(by_tier) != set(m_tiers):
                    problems.append(f"{where}.{key}.{region}: tiers {sorted(by_tier)} differ from the "
                                    f"model's tiers {sorted(m_tiers)}")
        for region in m.get("region_limits", {}):
            if region not in m_regions:
                problems.append(f"{where}.region_limits: {region!r} is not one of the model's regions")
        if "replacement" in m and m["replacement"] not in models:
            problems.append(f"{where}.replacement: {m['replacement']!r} is not a catalog model")
        if m.get("replacement") == name:
            problems.append(f"{where}.replacement: names the model itself")

    for section, entries in (("deprecated", deprecated), ("unsupported", unsupported)):
        for name, entry in entries.items():
            repl = entry.get("replacement")
            if repl is not None:
                if repl not in models:
                    problems.append(f"{section}.{name}.replacement: {repl!r} is not a catalog model")
                elif models[repl].get("listed", True) is False:
                    problems.append(f"{section}.{name}.replacement: {repl!r} is itself unlisted")

    for role, name in data.get("defaults", {}).items():
        if name not in models:
            problems.append(f"defaults.{role}: {name!r} is not a catalog model")
            continue
        want = DEFAULT_KINDS.get(role)
        if want and models[name].get("kind") != want:
            problems.append(f"defaults.{role}: {name!r} is {models[name].get('kind')}, not {want}")
        if data.get("default_region") not in models[name].get("regions", {}):
            problems.append(f"defaults.{role}: {name!r} is not served in the default region")
        if models[name].get("listed", True) is False:
            problems.append(f"defaults.{role}: {name!r} is unlisted")

    # One name, one meaning: catalog, deprecated and unsupported names never overlap, and a
    # regional name never shadows another model or a refused name.
    for a, b in (("models", "deprecated"), ("models", "unsupported"), ("deprecated", "unsupported")):
        for name in sorted(set(data.get(a, {})) & set(data.get(b, {}))):
            problems.append(f"{name!r} is in both {a} and {b}")
    by_region: dict[tuple[str, str], str] = {}
    for name, m in models.items():
        for region, wire in m.get("regions", {}).items():
            if (region, wire) in by_region:
                problems.append(f"models.{name}.regions.{region}: {wire!r} is also the name of "
                                f"{by_region[(region, wire)]} in {region}")
            by_region[(region, wire)] = name
            if wire != name and wire in models:
                problems.append(f"models.{name}.regions.{region}: {wire!r} is another catalog model")
            if wire in deprecated or wire in unsupported:
                problems.append(f"models.{name}.regions.{region}: {wire!r} is a refused name")
    return problems


def check_catalog(ctx: Context) -> tuple[bool, Details]:
    if str(SKILL_DIR / "scripts") not in sys.path:
        sys.path.insert(0, str(SKILL_DIR / "scripts"))
    from wan_video.catalog import build_catalog

    data = load_models_yaml()
    problems = catalog_schema_problems(data)
    problems += catalog_problems(data)
    if not problems:
        try:
            catalog = build_catalog(data)
        except Exception as exc:  # the loader is the last word on the shape
            problems.append(f"catalog.build_catalog fails: {type(exc).__name__}: {exc}")
        else:
            return True, [f"models.yaml: {len(catalog.models)} models, {len(catalog.deprecated)} deprecated "
                          f"and {len(catalog.unsupported)} unsupported names; schema and cross-checks pass"]
    return False, problems


# --------------------------------------------------------------------------- (d) tables


def load_skill_tables() -> Any:
    """scripts/skill_tables.py as a module (scripts/ is not a package)."""
    name = "repo_scripts_skill_tables"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "skill_tables.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def check_skill_tables(ctx: Context) -> tuple[bool, Details]:
    problems = load_skill_tables().check()
    return not problems, problems or ["every generated table matches the catalog and the schemas"]


# --------------------------------------------------------------------------- (e) example requests


@dataclass
class Example:
    source: str  # file:line
    request: str  # the JSON text, as written
    expect: int  # 0 or 2
    args: list[str] = field(default_factory=list)  # extra CLI arguments (e.g. --region)

    def label(self) -> str:
        return f"{self.source} ({'invalid-request' if self.expect else 'request'})"


FENCE = re.compile(r"^```json[ \t]+(request|invalid-request)[ \t]*$")
REQUEST_ARG = re.compile(r"--request\s+'([^']*)'")
REGION_ARG = re.compile(r"--region[ =](\S+)")


def doc_files(skill_dir: Path = SKILL_DIR) -> list[Path]:
    """SKILL.md and every reference of the skill."""
    return [skill_dir / "SKILL.md", *sorted((skill_dir / "references").glob("*.md"))]


def find_examples(paths: list[Path] | None = None, root: Path = ROOT) -> list[Example]:
    """Tagged fenced blocks, plus every --request '...' on a command line."""
    examples = []
    for path in paths or doc_files():
        rel = path.relative_to(root) if path.is_relative_to(root) else path
        lines = path.read_text(encoding="utf-8").splitlines()
        i = 0
        while i < len(lines):
            match = FENCE.match(lines[i])
            if match:
                start = i
                body = []
                i += 1
                while i < len(lines) and not lines[i].startswith("```"):
                    body.append(lines[i])
                    i += 1
                expect = 2 if match.group(1) == "invalid-request" else 0
                examples.append(Example(f"{rel}:{start + 1}", "\n".join(body), expect))
            else:
                for found in REQUEST_ARG.finditer(lines[i]):
                    region = REGION_ARG.search(lines[i])
                    examples.append(Example(f"{rel}:{i + 1}", found.group(1), 0,
                                            ["--region", region.group(1)] if region else []))
            i += 1
    return examples


def isolated_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ISOLATED_ENV}
    env.pop("PYTHONPATH", None)
    return env


def run_example(example: Example, python: str = sys.executable, timeout: float = 60.0) -> list[str]:
    """Problems of one example run through the real script with --dry-run (empty: as expected)."""
    try:
        parsed = json.loads(example.request)
    except json.JSONDecodeError as exc:
        return [f"not valid JSON ({exc.msg}); examples must be JSON objects"]
    if not isinstance(parsed, dict):
        return ["not a JSON object"]
    cmd = [python, "scripts/generate_video.py", "--request", example.request, "--dry-run", *example.args]
    proc = subprocess.run(cmd, cwd=SKILL_DIR, capture_output=True, text=True, timeout=timeout,
                          env=isolated_env())
    try:
        out = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return [f"stdout is not one JSON object (exit {proc.returncode}): {proc.stdout[:200]!r} "
                f"{proc.stderr[-300:]!r}"]
    if not isinstance(out, dict):
        return ["stdout is JSON but not an object"]
    problems = []
    if proc.returncode != example.expect:
        message = out.get("error", {}).get("message", "") if isinstance(out.get("error"), dict) else ""
        problems.append(f"exit {proc.returncode}, expected {example.expect}: {message}")
    elif example.expect == 0 and out.get("status") != "DRY_RUN":
        problems.append(f"status {out.get('status')!r}, expected DRY_RUN")
    elif example.expect == 2 and "error" not in out:
        problems.append("exit 2 without an error object")
    return problems


def check_example_requests(ctx: Context) -> tuple[bool, Details]:
    examples = find_examples()
    if not any(e.source.startswith(f"{SKILL_REL}/SKILL.md") for e in examples):
        return False, ["no example request found in SKILL.md (expected --request '...' commands)"]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 2)) as pool:
        results = list(pool.map(lambda e: run_example(e, ctx.python, ctx.timeout), examples))
    details: Details = []
    ok = True
    for example, problems in zip(examples, results, strict=True):
        ok = ok and not problems
        details.append({"example": example.label(), "ok": not problems, "problems": problems})
    return ok, details


# --------------------------------------------------------------------------- runner

# --------------------------------------------------------------------------- (g) end to end, with evidence

EVIDENCE_FILES = ("request.json", "wire.json", "submit.json", "polls.jsonl", "final.json", "probe.json",
                  "result.json", "run.log")
E2E_REQUESTS = {
    "text-to-video": {"prompt": "validate: a paper boat on a pond", "model": "wan2.5-t2v-preview",
                      "size": "832*480", "duration": 5, "seed": 7},
    "image-to-video": {"prompt": "validate: the scene comes alive", "model": "wan2.2-i2v-flash",
                       "resolution": "480P", "duration": 5, "seed": 7},
}
LIVE_REQUEST = {"prompt": "a paper boat drifting on a calm pond, soft morning light",
                "model": "wan2.2-t2v-plus", "size": "832*480", "duration": 5}
LIVE_MAX_COST_CNY = 1.0


def evidence_problems(result: dict[str, Any], secrets: list[str]) -> list[str]:
    """What is missing from a run's evidence, or leaked into it."""
    import hashlib

    problems = []
    folder = Path(result.get("evidence_dir") or "/nonexistent")
    if not result.get("task_id"):
        problems.append("no task id in the result")
    for name in EVIDENCE_FILES:
        if not (folder / name).is_file() or (folder / name).stat().st_size == 0:
            problems.append(f"{folder}/{name} is missing or empty")
    if problems:
        return problems
    polls = [json.loads(line) for line in (folder / "polls.jsonl").read_text().splitlines() if line.strip()]
    if not polls or polls[-1].get("status") != "SUCCEEDED" or not all("body" in p or "error" in p for p in polls):
        problems.append("polls.jsonl does not hold every poll answer up to SUCCEEDED")
    final = json.loads((folder / "final.json").read_text())
    if not (final.get("output") or {}).get("video_url"):
        problems.append("final.json has no video_url")
    probe = json.loads((folder / "probe.json").read_text())
    local = Path(result.get("original_path") or result.get("local_path") or "/nonexistent")
    if not local.is_file():
        problems.append(f"the video {local} is missing")
    elif hashlib.sha256(local.read_bytes()).hexdigest() != probe.get("sha256"):
        problems.append("probe.json's sha256 does not match the file")
    if (probe.get("probe") or {}).get("codec") != "h264":
        problems.append("the probe does not show an H.264 video")
    text = "\n".join(p.read_text(errors="replace") for p in folder.iterdir() if p.is_file())
    for secret in secrets:
        if secret and secret in text:
            problems.append("a secret (the API key) appears in the evidence")
    for param in ("Signature=", "OSSAccessKeyId="):
        for m in re.finditer(re.escape(param) + r"([^&\s\"']+)", text):
            if m.group(1) != "REDACTED":
                problems.append(f"an unredacted {param[:-1]} appears in the evidence")
                break
    return problems


def _run_script(ctx: Context, env: dict[str, str], args: list[str], timeout: float) -> tuple[int, Any]:
    proc = subprocess.run([ctx.python, str(ROOT / ENTRY_REL), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    try:
        return proc.returncode, json.loads(proc.stdout)
    except json.JSONDecodeError:
        return proc.returncode, {"unparsed_stdout": proc.stdout[-2000:], "stderr": proc.stderr[-2000:]}


def check_end_to_end(ctx: Context) -> tuple[bool, Details]:
    """Offline: the emulator, a t2v and an i2v run through the real script, evidence checked.

    With --live (DASHSCOPE_API_KEY set): the seeds' workflow on the real service instead:
    a read-only preflight first, then one minimal bounded task, reporting its cost.
    """
    sys.path.insert(0, str(SKILL_DIR / "scripts"))
    from wan_video.media import make_sample_image

    details: Details = []
    ok = True
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DASHSCOPE_BASE_URL", "DASHSCOPE_HTTP_BASE_URL"))}
    env.pop("OUTPUT_DIR", None)  # the evidence belongs in this repository's output/
    if ctx.live:
        key = env.get("DASHSCOPE_API_KEY", "")
        if not key:
            return False, ["--live needs DASHSCOPE_API_KEY (or the credentials file) and the network"]
        code, doctor = _run_script(ctx, env, ["doctor", "--model", LIVE_REQUEST["model"]], 120)
        details.append({"step": "doctor", "exit": code, "ok": doctor.get("ok"), "error": doctor.get("error")})
        if code != 0:
            return False, details
        code, res = _run_script(ctx, env, ["--request", json.dumps(LIVE_REQUEST), "--timeout", "900",
                                           "--max-cost", str(LIVE_MAX_COST_CNY)], 960)
        problems = evidence_problems(res, [key]) if code == 0 else [f"exit {code}: {res.get('error')}"]
        details.append({"step": "live text-to-video", "exit": code, "task_id": res.get("task_id") or
                        (res.get("error") or {}).get("task_id"), "evidence_dir": res.get("evidence_dir"),
                        "cost_cny": res.get("cost_cny"), "problems": problems})
        return code == 0 and not problems, details

    from wan_video.emulator import EmulatorServer, EmulatorSettings

    image = ROOT / OUTPUT_REL / "validate" / "first_frame.png"
    image.parent.mkdir(parents=True, exist_ok=True)
    make_sample_image(str(image), 960, 720, "validate: first frame", seed=7)
    key = "sk-validate-" + os.urandom(8).hex()
    settings = EmulatorSettings(run_seconds=2.0, pending_seconds=0.3, keys=[key])
    with EmulatorServer(port=0, settings=settings) as emulator:
        env.update(DASHSCOPE_BASE_URL=emulator.api_url, DASHSCOPE_API_KEY=key)
        for name, request in E2E_REQUESTS.items():
            request = dict(request)
            if name == "image-to-video":
                request["reference_image"] = str(image)
            # --force: validation proves a fresh run each time, not a cache hit of the last one
            code, res = _run_script(ctx, env, ["--request", json.dumps(request), "--timeout", "120", "--force"], 180)
            problems = evidence_problems(res, [key]) if code == 0 else [f"exit {code}: {res}"]
            ok = ok and code == 0 and not problems
            details.append({"step": name, "exit": code, "task_id": res.get("task_id"),
                            "evidence_dir": res.get("evidence_dir"), "local_path": res.get("local_path"),
                            "measured": {k: res.get(k) for k in ("width", "height", "fps", "duration")},
                            "problems": problems})
    return ok, details


Check = Callable[[Context], tuple[bool, Details]]

# In order. Add new checks here (e.g. an end-to-end run against the emulator).
CHECKS: list[tuple[str, Check]] = [
    ("seed_py_compile", check_seed_py_compile),
    ("skill_md_lint", check_skill_md_lint),
    ("json_schemas", check_json_schemas),
    ("catalog", check_catalog),
    ("skill_tables", check_skill_tables),
    ("example_requests", check_example_requests),
    ("end_to_end", check_end_to_end),
]


def run_checks(ctx: Context, only: list[str] | None = None) -> list[CheckResult]:
    results = []
    for name, fn in CHECKS:
        if only and name not in only:
            continue
        start = time.monotonic()
        try:
            ok, details = fn(ctx)
        except Exception as exc:  # a crashing check is a failed check, and the others still run
            ok, details = False, [f"check crashed: {type(exc).__name__}: {exc}"]
        results.append(CheckResult(name, ok, details, time.monotonic() - start))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=[n for n, _ in CHECKS],
                        help="run only this check (repeatable)")
    parser.add_argument("--report", type=Path, default=ROOT / OUTPUT_REL / "validate_report.json",
                        help="where to write the JSON report")
    parser.add_argument("--live", action="store_true",
                        help="also run checks that need DASHSCOPE_API_KEY and the network (when any exist)")
    args = parser.parse_args(argv)
    os.chdir(ROOT)  # the seed's check runs from the repository root
    ctx = Context(live=args.live)
    results = run_checks(ctx, args.only)
    ok = all(r.ok for r in results)
    runs = [d for r in results if r.name == "end_to_end" for d in r.details if isinstance(d, dict)]
    report = {"ok": ok, "skill": SKILL_NAME, "python": sys.executable, "live": args.live,
              "task_ids": [d["task_id"] for d in runs if d.get("task_id")],
              "evidence_dirs": [d["evidence_dir"] for d in runs if d.get("evidence_dir")],
              "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "checks": [r.to_dict() for r in results]}
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for r in results:
        print(f"{'ok  ' if r.ok else 'FAIL'} {r.name} ({r.seconds:.1f}s)", file=sys.stderr)
        if not r.ok:
            for line in r.details:
                if isinstance(line, dict) and not line.get("problems"):
                    continue
                print(f"     {json.dumps(line, ensure_ascii=False) if isinstance(line, dict) else line}",
                      file=sys.stderr)
    shown = args.report.relative_to(ROOT) if args.report.is_relative_to(ROOT) else args.report
    passed = sum(r.ok for r in results)
    print(f"{passed}/{len(results)} checks passed; report: {shown}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
