"""make validate's end-to-end step: the evidence check it applies to each run can fail."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest_helpers import ROOT, cli

sys.path.insert(0, str(ROOT / "scripts"))
import validate  # noqa: E402

pytestmark = pytest.mark.usefixtures("isolated")


@pytest.fixture
def run(emulator, cli_env):
    code, res, err = cli(["--request", json.dumps(validate.E2E_REQUESTS["text-to-video"]), "--timeout", "60"])
    assert code == 0, (res, err)
    return res, cli_env["DASHSCOPE_API_KEY"]


def test_a_real_run_has_complete_evidence_free_of_secrets(run):
    res, key = run
    assert validate.evidence_problems(res, [key]) == []


@pytest.mark.parametrize("damage, expected", [
    (lambda d: (d / "polls.jsonl").unlink(), "polls.jsonl is missing or empty"),
    (lambda d: (d / "run.log").write_text(""), "run.log is missing or empty"),
    (lambda d: (d / "final.json").write_text('{"output": {}}'), "final.json has no video_url"),
    (lambda d: (d / "run.log").write_text("Signature=abc123"), "an unredacted Signature appears in the evidence"),
])
def test_incomplete_or_leaky_evidence_is_caught(run, damage, expected):
    res, key = run
    damage(Path(res["evidence_dir"]))
    assert any(expected in p for p in validate.evidence_problems(res, [key]))


def test_a_leaked_key_is_caught(run):
    res, key = run
    (Path(res["evidence_dir"]) / "run.log").write_text(f"Authorization: Bearer {key}")
    assert "a secret (the API key) appears in the evidence" in validate.evidence_problems(res, [key])
