"""Configuration is read in one place, and the README lists exactly what the code reads."""

from __future__ import annotations

import re

from conftest_helpers import ROOT, SKILL
from wan_video.config import ENV_VARS


def test_readme_table_lists_exactly_the_variables_the_code_reads():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = set(re.findall(r"^\| `([A-Z_]+)` \|", readme, flags=re.M))
    assert table == set(ENV_VARS)


def test_only_config_py_reads_the_environment():
    package = SKILL / "scripts" / "wan_video"
    offenders = []
    for path in package.glob("*.py"):
        if path.name == "config.py":
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"os\.environ|os\.getenv|getenv\(", text):
            offenders.append(path.name)
    assert offenders == []


def test_every_env_call_names_a_documented_variable():
    package = SKILL / "scripts" / "wan_video"
    named = set()
    for path in package.glob("*.py"):
        named |= set(re.findall(r"\benv\(\"([A-Z_]+)\"\)", path.read_text(encoding="utf-8")))
    named |= {"WAN_VIDEO_REGION", "DASHSCOPE_REGION"}  # read through request.REGION_ENV
    assert named <= set(ENV_VARS), named - set(ENV_VARS)
