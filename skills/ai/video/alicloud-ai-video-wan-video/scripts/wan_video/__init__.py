"""Video generation with Alibaba Cloud Model Studio (DashScope) Wan models.

    import wan_video
    result = wan_video.generate({"prompt": "a cat running under the moon", "duration": 5})
    result["local_path"], result["duration"], result["fps"]

Every function returns the same JSON-able dict the CLI prints, or raises WanVideoError
(with .code, .message, .hint, .exit_code, .task_id). Nothing heavy is imported here.
"""

from __future__ import annotations

from typing import Any

from .errors import InvalidRequest, WanVideoError

__version__ = "0.1.0"
__all__ = [
    "WanVideoError", "InvalidRequest", "generate", "submit", "wait", "status", "cancel",
    "dry_run", "generate_many", "agenerate", "asubmit", "await_task", "astatus", "acancel",
    "agenerate_many", "__version__",
]


def _options(**kw: Any) -> Any:
    from .lifecycle import RunOptions

    kw.setdefault("quiet", True)
    return RunOptions(**kw)


def dry_run(request: dict[str, Any], *, region: str | None = None) -> dict[str, Any]:
    """The wire body, endpoint, cost and warnings, with no key and no network."""
    from .lifecycle import dry_run as _dry
    from .request import normalize

    return _dry(normalize(request, region=region, fetch_images=False))


def generate(request: dict[str, Any], *, region: str | None = None, timeout: float | None = 600.0,
             output: str | None = None, max_cost: float | None = None, force: bool = False,
             quiet: bool = True, workspace: str | None = None) -> dict[str, Any]:
    """Submit (once), wait, download and verify. `reference_image` may be bytes."""
    from .lifecycle import generate as _gen
    from .request import normalize

    req = normalize(request, region=region)
    result, _ = _gen(req, _options(timeout=timeout, output=output, max_cost=max_cost, force=force,
                                   quiet=quiet, workspace=workspace))
    return result


def submit(request: dict[str, Any], *, region: str | None = None, max_cost: float | None = None,
           force: bool = False, workspace: str | None = None) -> dict[str, Any]:
    """Submit and return at once with the task id (and the resume command)."""
    from .lifecycle import generate as _gen
    from .request import normalize

    req = normalize(request, region=region)
    result, _ = _gen(req, _options(no_wait=True, max_cost=max_cost, force=force, workspace=workspace))
    return result


def wait(task_id: str, *, region: str | None = None, timeout: float | None = 600.0,
         output: str | None = None, quiet: bool = True) -> dict[str, Any]:
    """Wait for a task submitted by any process, then download and verify it."""
    from .lifecycle import wait_task

    result, _ = wait_task(task_id, region=region, opts=_options(timeout=timeout, output=output, quiet=quiet))
    return result


def status(task_id: str, *, region: str | None = None) -> dict[str, Any]:
    from .lifecycle import status_task

    return status_task(task_id, region=region)[0]


def cancel(task_id: str, *, region: str | None = None) -> dict[str, Any]:
    from .lifecycle import cancel_task

    return cancel_task(task_id, region=region)[0]


def generate_many(requests: list[dict[str, Any]], **kw: Any) -> list[dict[str, Any]]:
    """Many requests within the account's limits; one result (or error) dict per request, in order."""
    from .batch import generate_many as _many

    return _many(requests, **kw)


async def agenerate(request: dict[str, Any], **kw: Any) -> dict[str, Any]:
    import asyncio

    return await asyncio.to_thread(generate, request, **kw)


async def asubmit(request: dict[str, Any], **kw: Any) -> dict[str, Any]:
    import asyncio

    return await asyncio.to_thread(submit, request, **kw)


async def await_task(task_id: str, **kw: Any) -> dict[str, Any]:
    import asyncio

    return await asyncio.to_thread(wait, task_id, **kw)


async def astatus(task_id: str, **kw: Any) -> dict[str, Any]:
    import asyncio

    return await asyncio.to_thread(status, task_id, **kw)


async def acancel(task_id: str, **kw: Any) -> dict[str, Any]:
    import asyncio

    return await asyncio.to_thread(cancel, task_id, **kw)


async def agenerate_many(requests: list[dict[str, Any]], **kw: Any) -> list[dict[str, Any]]:
    import asyncio

    return await asyncio.to_thread(generate_many, requests, **kw)
