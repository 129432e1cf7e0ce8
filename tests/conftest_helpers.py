"""Helpers shared by the tests: run the CLI in-process, read emulator stats, scan outputs."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SKILL = ROOT / "skills" / "ai" / "video" / "alicloud-ai-video-wan-video"
SCRIPT = SKILL / "scripts" / "generate_video.py"


@contextlib.contextmanager
def patched_env(env: dict[str, str] | None):
    saved = {k: os.environ.get(k) for k in (env or {})}
    try:
        for k, v in (env or {}).items():
            if v == "":
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def cli(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, Any, str]:
    """Run generate_video.py's main in this process: (exit code, parsed stdout JSON, stderr)."""
    from wan_video.cli import main

    out, err = io.StringIO(), io.StringIO()
    with patched_env(env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    text = out.getvalue()
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        parsed = text
    return code, parsed, err.getvalue()


def stats(emulator: Any) -> dict[str, Any]:
    return emulator.stats()


def evidence_files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def all_output_text(root: Path) -> str:
    """Every text file the tool wrote under root (binary media skipped)."""
    chunks = []
    for path in root.rglob("*"):
        if path.is_file() and path.suffix not in (".mp4", ".png", ".part", ".jpg", ".lock"):
            try:
                chunks.append(path.read_text(encoding="utf-8"))
            except UnicodeDecodeError:
                continue
    return "\n".join(chunks)
