"""The API key and the endpoint: where each comes from, and redaction of secrets."""

from __future__ import annotations

import configparser
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .catalog import load_catalog
from .config import env
from .errors import EXIT_AUTH, WanVideoError

CREDENTIALS_FILE = "~/.alibabacloud/credentials"


@dataclass
class Credentials:
    key: str
    source: str  # never the key itself
    warnings: list[str] = field(default_factory=list)

    def __repr__(self) -> str:  # keep the key out of tracebacks and logs
        return f"Credentials(source={self.source!r})"


def find_key(required: bool = True) -> Credentials | None:
    """DASHSCOPE_API_KEY, else dashscope_api_key in the credentials file's profile."""
    key = env("DASHSCOPE_API_KEY")
    if key:
        return Credentials(key, "env:DASHSCOPE_API_KEY")
    profile = env("ALIBABA_CLOUD_PROFILE") or "default"
    path = Path(os.path.expanduser(CREDENTIALS_FILE))
    warnings: list[str] = []
    if path.is_file():
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            warnings.append(f"{CREDENTIALS_FILE} is readable by others (mode {oct(mode & 0o777)}); "
                            f"run: chmod 600 {CREDENTIALS_FILE}")
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path, encoding="utf-8")
        except configparser.Error:
            warnings.append(f"{CREDENTIALS_FILE} is not a valid INI file")
        else:
            if parser.has_option(profile, "dashscope_api_key"):
                value = parser.get(profile, "dashscope_api_key").strip()
                if value:
                    return Credentials(value, f"file:{CREDENTIALS_FILE}[{profile}]", warnings)
    if not required:
        return None
    raise WanVideoError(
        "MissingApiKey",
        "no DashScope API key found",
        "set it in the environment: export DASHSCOPE_API_KEY=sk-..., or add "
        f"dashscope_api_key = sk-... under [{profile}] in {CREDENTIALS_FILE} (chmod 600); "
        "the environment wins. Keys are per region: create it in the Model Studio console of "
        "the region you call.",
        exit_code=EXIT_AUTH,
    )


def endpoint(region: str, workspace: str | None = None) -> tuple[str, str]:
    """(API root ending in /api/v1, where it came from) for a region."""
    override = env("DASHSCOPE_BASE_URL") or env("DASHSCOPE_HTTP_BASE_URL")
    if override:
        return override.rstrip("/"), "env:DASHSCOPE_BASE_URL"
    workspace = workspace or env("DASHSCOPE_WORKSPACE")
    host = load_catalog().host(region, workspace)
    return host + "/api/v1", f"region:{region}" + (":workspace" if workspace else "")


_SIGNED_PARAM = re.compile(
    r"((?:Signature|OSSAccessKeyId|security-token|x-oss-credential|x-oss-signature|"
    r"AccessKeyId|token|sig)=)[^&\s\"']+", re.IGNORECASE)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._\-]+", re.IGNORECASE)
_KEY_SHAPE = re.compile(r"\bsk-[A-Za-z0-9]{8,}\b")


def redact(text: str, *secrets: str | None) -> str:
    """Remove keys, bearer tokens and URL signatures from text bound for a log or a file."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    text = _BEARER.sub(r"\1***", text)
    text = _SIGNED_PARAM.sub(r"\1REDACTED", text)
    return _KEY_SHAPE.sub("sk-***", text)
