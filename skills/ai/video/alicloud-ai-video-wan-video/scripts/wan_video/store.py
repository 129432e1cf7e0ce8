"""Crash-safe task state on disk, keyed by the request's cache key, with a per-request lock."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .config import state_dir
from .errors import EXIT_PENDING, WanVideoError


def atomic_write(path: Path, data: bytes | str, mode: int = 0o600) -> None:
    """Write a whole file or nothing: temp file in the same folder, fsync, rename, fsync the folder."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def write_json(path: Path, obj: Any) -> None:
    from .credentials import redact

    atomic_write(path, redact(json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True)) + "\n")


def read_json(path: Path) -> Any | None:
    """A JSON file, or None if it is missing or unreadable (a torn file cannot exist: writes are atomic)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class Store:
    """state/<cache_key>.json per request and state/tasks/<task_id>.json pointing back to it."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root else state_dir()

    def _path(self, cache_key: str) -> Path:
        return self.root / f"{cache_key}.json"

    def _task_path(self, task_id: str) -> Path:
        safe = "".join(c for c in task_id if c.isalnum() or c in "-_")[:128]
        return self.root / "tasks" / f"{safe}.json"

    def load(self, cache_key: str) -> dict[str, Any] | None:
        return read_json(self._path(cache_key))

    def save(self, cache_key: str, state: dict[str, Any]) -> dict[str, Any]:
        state = dict(state, cache_key=cache_key, updated_at=time.time())
        write_json(self._path(cache_key), state)
        if state.get("task_id"):
            link = self._task_path(state["task_id"])
            if read_json(link) != {"cache_key": cache_key}:
                write_json(link, {"cache_key": cache_key})
        return state

    def update(self, cache_key: str, **changes: Any) -> dict[str, Any]:
        return self.save(cache_key, {**(self.load(cache_key) or {}), **changes})

    def by_task(self, task_id: str) -> tuple[str, dict[str, Any]] | None:
        link = read_json(self._task_path(task_id))
        if not link:
            return None
        state = self.load(link["cache_key"])
        return (link["cache_key"], state) if state else None

    def all(self) -> list[dict[str, Any]]:
        out = []
        for path in sorted(self.root.glob("*.json")):
            state = read_json(path)
            if isinstance(state, dict):
                out.append(state)
        return out

    def known_task_ids(self) -> set[str]:
        return {p.stem for p in (self.root / "tasks").glob("*.json")}

    @contextlib.contextmanager
    def lock(self, cache_key: str, deadline: float | None = None,
             on_wait: Any = None) -> Iterator[None]:
        """Hold the request's lock: a second process with the same request waits, then reuses the result."""
        # The state folder first, owner-only: mkdir(parents=True) gives parents the umask's mode.
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock_dir = self.root / "locks"
        lock_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(lock_dir / f"{cache_key}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            told = False
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                if not told and on_wait:
                    on_wait()
                    told = True
                if deadline is not None and time.monotonic() >= deadline:
                    state = self.load(cache_key) or {}
                    raise WanVideoError(
                        "StillRunning", "another process is running this same request and did not "
                        "finish before the timeout", "run the same command again to pick up its result",
                        exit_code=EXIT_PENDING, task_id=state.get("task_id"))
                time.sleep(0.1)
            yield
        finally:
            os.close(fd)  # closing releases the flock; a killed process releases it too
