"""Evidence under output/alicloud-ai-video-wan-video/: per task every exchange, the file's proof, a run log."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from .config import output_root, tasks_dir
from .credentials import redact
from .store import atomic_write


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime()) + f".{int(time.time() * 1000) % 1000:03d}"


class Evidence:
    """tasks/<task_id>/ with request, wire body, submit answer, polls, final answer, probe, run.log.

    Until the task id is known, lines are kept in memory; `bind` writes them. Everything passes
    through `redact` with the API key, so neither the key, a bearer header nor a URL signature
    can reach a file.
    """

    def __init__(self, secret: str | None = None, *, echo: Any = None) -> None:
        self._secret = secret
        self._echo = echo
        self.task_id: str | None = None
        self.dir: Path | None = None
        self._pending_log: list[str] = []
        self._pending_files: dict[str, Any] = {}

    def _clean(self, text: str) -> str:
        return redact(text, self._secret)

    def bind(self, task_id: str) -> Path:
        """Give the evidence its folder (tasks/<task_id>/) and flush what was kept."""
        self.task_id = task_id
        safe = "".join(c for c in task_id if c.isalnum() or c in "-_")[:128]
        self.dir = tasks_dir() / safe
        tasks_dir().mkdir(parents=True, exist_ok=True, mode=0o700)  # owner-only, like the folders in it
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        for name, obj in self._pending_files.items():
            self.write(name, obj)
        self._pending_files.clear()
        if self._pending_log:
            self._append("run.log", "".join(self._pending_log))
            self._pending_log.clear()
        _index(task_id, self.dir)
        return self.dir

    def write(self, name: str, obj: Any) -> None:
        if self.dir is None:
            self._pending_files[name] = obj
            return
        text = json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True, default=str) + "\n"
        atomic_write(self.dir / name, self._clean(text))

    def _append(self, name: str, text: str) -> None:
        assert self.dir is not None
        fd = os.open(self.dir / name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, self._clean(text).encode("utf-8"))
        finally:
            os.close(fd)

    def jsonl(self, name: str, obj: Any) -> None:
        line = json.dumps(obj, ensure_ascii=False, sort_keys=True, default=str) + "\n"
        if self.dir is None:
            self._pending_log.append(f"{_now()} {name}: {self._clean(line)}")
            return
        self._append(name, line)

    def log(self, message: str) -> None:
        line = f"{_now()} {message}\n"
        if self._echo:
            self._echo(self._clean(message))
        if self.dir is None:
            self._pending_log.append(line)
        else:
            self._append("run.log", line)

    def flush_unbound(self, cache_key: str) -> Path | None:
        """A run that never got a task id still leaves its log (attempts/<time>-<key>/)."""
        if self.dir is not None or not (self._pending_log or self._pending_files):
            return self.dir
        folder = output_root() / "attempts" / f"{time.strftime('%Y%m%dT%H%M%S')}-{cache_key[:12]}"
        folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.dir = folder
        for name, obj in self._pending_files.items():
            self.write(name, obj)
        self._append("run.log", "".join(self._pending_log))
        self._pending_files.clear()
        self._pending_log.clear()
        return folder


def _index(task_id: str, folder: Path) -> None:
    """index.jsonl: task id -> its evidence folder (append-only, one line per new task)."""
    index = output_root() / "index.jsonl"
    marker = folder / ".indexed"
    if marker.exists():
        return
    fd = os.open(index, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (json.dumps({"task_id": task_id, "dir": str(folder), "at": _now()}) + "\n").encode())
    finally:
        os.close(fd)
    marker.touch(mode=0o600)


def ledger_add(entry: dict[str, Any]) -> None:
    """One line per finished task with its actual cost (from the service's usage)."""
    path = output_root() / "ledger.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8"))
    finally:
        os.close(fd)


def ledger_entries() -> list[dict[str, Any]]:
    path = output_root() / "ledger.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out
