#!/usr/bin/env python3
"""Generate the tables of SKILL.md and the references from the catalog and the schemas.

    python scripts/skill_tables.py            print every table
    python scripts/skill_tables.py --write    rewrite the generated blocks in place
    python scripts/skill_tables.py --check    exit 1 (with a diff) when a block is stale

A generated block sits between two HTML comments:

    <!-- BEGIN GENERATED: models (scripts/skill_tables.py) -->
    ...
    <!-- END GENERATED: models -->
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SKILL_DIR = ROOT / "skills" / "ai" / "video" / "alicloud-ai-video-wan-video"
SCRIPTS_DIR = SKILL_DIR / "scripts"
SCHEMA_DIR = SCRIPTS_DIR / "wan_video" / "schemas"

# The repository's copy of wan_video, not whatever is installed.
sys.path.insert(0, str(SCRIPTS_DIR))

from wan_video.catalog import Catalog, ModelSpec, load_catalog  # noqa: E402
from wan_video.errors import MESSAGE_HINTS, SERVICE_ERRORS  # noqa: E402

# Which blocks each file must carry.
TARGETS: dict[Path, tuple[str, ...]] = {
    SKILL_DIR / "SKILL.md": ("request", "response", "models", "sizes"),
    SKILL_DIR / "references" / "troubleshooting.md": ("names", "errors", "messages"),
}

# Meanings of response fields whose schema entry has no description (a description wins).
RESPONSE_NOTES: dict[str, str] = {
    "video_url": "Signed URL of the video on the service (valid 24 h).",
    "seed": "The seed the service used, when it reports one (else the requested seed).",
    "task_id": "The service's task id; `wait TASK_ID` resumes it.",
    "model": "Catalog model name.",
    "region": "Region the task ran in.",
    "status": "SUCCEEDED, PENDING, RUNNING, FAILED, CANCELED, UNKNOWN; DRY_RUN or SUBMITTED locally.",
    "local_path": "The downloaded MP4.",
    "sha256": "SHA-256 of the downloaded file.",
    "width": "Pixels, measured from the delivered file.",
    "height": "Pixels, measured from the delivered file.",
    "usage": "The service's `usage` object (billed seconds, SR or size, video_count).",
    "cost_cny": "Cost in CNY: the estimate before the run, the actual from `usage` after.",
    "cost": "Cost detail: unit price, currency, tier, seconds, audio variant.",
    "evidence_dir": "Folder holding the request, wire body, polls, URL, checksum and run log.",
    "cached": "true when an earlier identical request's result was reused (nothing paid).",
    "warnings": "Every field that was not sent or not honoured, and why.",
}

# Requirements that depend on the model's kind, not on the schema.
CONDITIONAL_REQUIRED: dict[str, Callable[[ModelSpec], bool]] = {
    "reference_image": lambda spec: spec.needs_image,
    "reference_urls": lambda spec: spec.protocol == "references",
}

AUDIO_TEXT = {
    "none": "silent",
    "default": "yes",
    "switch": "yes; `audio: false` for silent (cheaper)",
}

BEGIN = "<!-- BEGIN GENERATED: {name} (scripts/skill_tables.py) -->"
END = "<!-- END GENERATED: {name} -->"


def _load_schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))


def _cell(text: Any) -> str:
    """A table cell: pipes escaped, and `*` escaped outside code spans (W*H is not emphasis)."""
    parts = str(text).replace("|", "\\|").replace("\n", " ").split("`")
    return "`".join(p if i % 2 else p.replace("*", "\\*") for i, p in enumerate(parts))


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _schema_type(prop: dict[str, Any]) -> str:
    if "enum" in prop:
        return "one of " + ", ".join(f"`{v}`" for v in prop["enum"])
    kind = prop.get("type", "any")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if kind == "array":
        item = prop.get("items", {}).get("type", "any")
        lo, hi = prop.get("minItems"), prop.get("maxItems")
        count = f" ({lo}-{hi} items)" if lo is not None and hi is not None else ""
        return f"array of {item}{count}"
    return str(kind)


def request_table(catalog: Catalog) -> str:
    """field | type | required | meaning: exactly the request schema's properties."""
    schema = _load_schema("request.schema.json")
    required = set(schema.get("required", []))
    rows = []
    for name, prop in schema["properties"].items():
        if name in required:
            need = "yes"
        elif name in CONDITIONAL_REQUIRED:
            kinds = sorted({s.kind for s in catalog.models.values() if CONDITIONAL_REQUIRED[name](s)})
            need = "for " + ", ".join(kinds)
        else:
            need = "no"
        rows.append([f"`{name}`", _schema_type(prop), need, prop.get("description", "")])
    return _table(["field", "type", "required", "meaning"], rows)


def response_table(catalog: Catalog) -> str:
    """field | type | meaning: the response schema's result properties."""
    schema = _load_schema("response.schema.json")
    props = schema["$defs"]["result"]["properties"]
    rows = []
    for name, prop in props.items():
        meaning = prop.get("description") or RESPONSE_NOTES.get(name)
        if not meaning:
            raise SystemExit(f"response field {name!r} has no meaning: add a description to "
                             "response.schema.json (or RESPONSE_NOTES in scripts/skill_tables.py)")
        rows.append([f"`{name}`", _schema_type(prop), meaning])
    return _table(["field", "type", "meaning"], rows)


def _regions(spec: ModelSpec) -> str:
    parts = []
    for region, wire in spec.regions.items():
        parts.append(region if wire == spec.name else f"{region} as `{wire}`")
    return ", ".join(parts)


def _sizes(spec: ModelSpec) -> str:
    tiers = ", ".join(spec.tiers)
    if spec.protocol in ("size", "references"):
        return f"`size` in {tiers} (default `{spec.default_size}`)"
    if spec.protocol == "ratio":
        return f"`resolution` {tiers} + `ratio` (default {spec.default_tier})"
    return f"`resolution` {tiers} (default {spec.default_tier}); aspect of the image"


def _model_cell(spec: ModelSpec) -> str:
    cell = f"`{spec.name}`"
    if not spec.listed:
        cell += " (in no official table; may answer 'Model not exist.'"
        cell += f"; use `{spec.replacement}`)" if spec.replacement else ")"
    return cell


def models_table(catalog: Catalog) -> str:
    """model | kind | regions | sizes or tiers | durations | fps | audio: every catalog model."""
    rows = [[_model_cell(s), s.kind + (" (+last frame)" if s.last_frame else ""), _regions(s),
             _sizes(s), s.durations_text(), str(s.fps), AUDIO_TEXT.get(s.audio, s.audio)]
            for s in catalog.models.values()]
    return _table(["model", "kind", "regions", "sizes or tiers", "durations (s)", "fps", "audio"], rows)


def sizes_table(catalog: Catalog) -> str:
    """tier | `size` values (t2v, r2v) | resolution+ratio outputs (wan2.7)."""
    tiers = list(dict.fromkeys([*catalog.tiers, *catalog.ratio_sizes]))
    rows = []
    for tier in tiers:
        sizes = ", ".join(f"`{s}`" for s in catalog.tiers.get(tier, [])) or "-"
        ratios = ", ".join(f"{r} `{s}`" for r, s in catalog.ratio_sizes.get(tier, {}).items()) or "-"
        rows.append([tier, sizes, ratios])
    return _table(["tier", "`size` values (size models)", "`ratio` outputs (ratio models)"], rows)


def names_table(catalog: Catalog) -> str:
    """Names the tool refuses or doubts, and what to use instead."""
    rows = []
    for name, entry in catalog.deprecated.items():
        rows.append([f"`{name}`", "refused (exit 2, `DeprecatedModel`)", entry["reason"],
                     f"`{entry['replacement']}`"])
    for name, entry in catalog.unsupported.items():
        repl = entry.get("replacement")
        rows.append([f"`{name}`", f"refused (exit 2, `UnsupportedModel`): {entry['kind']}",
                     entry["reason"], f"`{repl}`" if repl else "-"])
    for spec in catalog.models.values():
        if not spec.listed:
            rows.append([f"`{spec.name}`", "accepted with a warning", "in no official model table",
                         f"`{spec.replacement}`" if spec.replacement else "-"])
    return _table(["name", "what the tool does", "why", "use instead"], rows)


def errors_table(catalog: Catalog) -> str:
    """Every service error code errors.py knows: exit code, whether reads retry it, the hint."""
    rows = [[f"`{code}`", str(exit_code), "yes" if retryable else "no", hint]
            for code, (exit_code, retryable, hint) in SERVICE_ERRORS.items()]
    return _table(["service code", "exit", "retryable", "what to do"], rows)


def messages_table(catalog: Catalog) -> str:
    """Service messages that override the code's diagnosis (checked first to last)."""
    rows = [[f"`{needle}`", str(exit_code), hint] for needle, exit_code, hint in MESSAGE_HINTS]
    return _table(["message contains", "exit", "what to do"], rows)


TABLES: dict[str, Callable[[Catalog], str]] = {
    "request": request_table,
    "response": response_table,
    "models": models_table,
    "sizes": sizes_table,
    "names": names_table,
    "errors": errors_table,
    "messages": messages_table,
}


def render(name: str, catalog: Catalog | None = None) -> str:
    """One table, as markdown."""
    return TABLES[name](catalog or load_catalog())


def _block_re(name: str) -> re.Pattern[str]:
    return re.compile(re.escape(BEGIN.format(name=name)) + r"\n(.*?)\n?" + re.escape(END.format(name=name)),
                      re.DOTALL)


def extract(text: str, name: str) -> str | None:
    """The current content of a generated block, or None when the file has no such block."""
    match = _block_re(name).search(text)
    return match.group(1).strip("\n") if match else None


def replace(text: str, name: str, table: str) -> str:
    block = BEGIN.format(name=name) + "\n" + table + "\n" + END.format(name=name)
    return _block_re(name).sub(lambda _: block, text, count=1)


def check(targets: dict[Path, tuple[str, ...]] = TARGETS) -> list[str]:
    """Problems: missing files, missing blocks, stale blocks (with a diff)."""
    catalog = load_catalog()
    problems = []
    for path, names in targets.items():
        rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        if not path.is_file():
            problems.append(f"{rel}: missing")
            continue
        text = path.read_text(encoding="utf-8")
        for name in names:
            current = extract(text, name)
            if current is None:
                problems.append(f"{rel}: no generated block {name!r} (add the BEGIN/END markers)")
                continue
            wanted = render(name, catalog)
            if current != wanted:
                diff = "\n".join(difflib.unified_diff(current.splitlines(), wanted.splitlines(),
                                                      f"{rel} ({name})", "generated", lineterm=""))
                problems.append(f"{rel}: table {name!r} is stale; run `python scripts/skill_tables.py "
                                f"--write`\n{diff}")
    return problems


def write(targets: dict[Path, tuple[str, ...]] = TARGETS) -> list[Path]:
    """Rewrite every block that exists; returns the files changed."""
    catalog = load_catalog()
    changed = []
    for path, names in targets.items():
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        new = text
        for name in names:
            if extract(new, name) is not None:
                new = replace(new, name, render(name, catalog))
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 when a generated block is stale")
    mode.add_argument("--write", action="store_true", help="rewrite the generated blocks in place")
    parser.add_argument("table", nargs="?", choices=sorted(TABLES), help="print only this table")
    args = parser.parse_args(argv)
    if args.check:
        problems = check()
        for problem in problems:
            print(problem, file=sys.stderr)
        if not problems:
            print("skill tables are up to date", file=sys.stderr)
        return 1 if problems else 0
    if args.write:
        for path in write():
            print(f"rewrote {path.relative_to(ROOT)}", file=sys.stderr)
        return 0
    for name in [args.table] if args.table else TABLES:
        print(f"{BEGIN.format(name=name)}\n{render(name)}\n{END.format(name=name)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
