"""Configuration read in one place: the environment variables the tool honours, and its paths."""

from __future__ import annotations

import os
from pathlib import Path

SKILL_NAME = "alicloud-ai-video-wan-video"

# Every environment variable the tool reads, with what it does (README lists the same).
ENV_VARS: dict[str, str] = {
    "DASHSCOPE_API_KEY": "API key (wins over the credentials file)",
    "ALIBABA_CLOUD_PROFILE": "profile in ~/.alibabacloud/credentials (default: default)",
    "DASHSCOPE_BASE_URL": "API root (…/api/v1) overriding region and workspace, e.g. the emulator",
    "DASHSCOPE_HTTP_BASE_URL": "the 1.x SDK's name for DASHSCOPE_BASE_URL (used when that is unset)",
    "DASHSCOPE_WORKSPACE": "workspace id: use the workspace-scoped host of the region",
    "DASHSCOPE_REGION": "region when the request and --region name none",
    "WAN_VIDEO_REGION": "region, taking precedence over DASHSCOPE_REGION",
    "OUTPUT_DIR": "base folder for videos and evidence (default ./output)",
    "WAN_VIDEO_LIVE": "set to 1 (with a key) to run the live tests and `make validate LIVE=1`",
}


def env(name: str) -> str | None:
    """One environment variable, empty meaning unset."""
    if name not in ENV_VARS:
        raise KeyError(f"{name} is not a documented variable")
    value = os.environ.get(name, "").strip()
    return value or None


def output_root() -> Path:
    """output/alicloud-ai-video-wan-video below OUTPUT_DIR (default ./output)."""
    return Path(env("OUTPUT_DIR") or "output").expanduser() / SKILL_NAME


def videos_dir() -> Path:
    return output_root() / "videos"


def tasks_dir() -> Path:
    return output_root() / "tasks"


def state_dir() -> Path:
    return output_root() / "state"
