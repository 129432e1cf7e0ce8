"""Shared fixtures: one real emulator per test session, reset before every test that uses it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from wan_video.emulator import EmulatorServer, EmulatorSettings

# Fast timelines for tests; a test slows them down with emulator.scenario(...).
TEST_SETTINGS = EmulatorSettings(pending_seconds=0.05, run_seconds=0.3)


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    """The emulator on a free loopback port (srv.api_url is the DashScope base URL)."""
    with EmulatorServer(port=0, settings=TEST_SETTINGS) as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_emulator(request: pytest.FixtureRequest) -> None:
    """Tasks, counters, faults and settings start clean in every test that uses the emulator."""
    if "emulator" in request.fixturenames:
        request.getfixturevalue("emulator").reset()


# ---------------------------------------------------------------- the tool under test, isolated
@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    return tmp_path / "out"


@pytest.fixture
def cli_env(emulator, out_dir: Path, tmp_path: Path) -> dict[str, str]:
    """The environment a user would have: the emulator as the endpoint, a key, a private HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DASHSCOPE_", "WAN_VIDEO_", "ALIBABA_"))}
    env.update(DASHSCOPE_BASE_URL=emulator.api_url, DASHSCOPE_API_KEY="sk-emulator-secret-0123456789",
               OUTPUT_DIR=str(out_dir), HOME=str(tmp_path / "home"))
    return env


@pytest.fixture
def isolated(emulator, cli_env, monkeypatch, tmp_path):
    """Every path and variable pointed at tmp_path, and the emulator accepting the test key."""
    for key in list(os.environ):
        if key.startswith(("DASHSCOPE_", "WAN_VIDEO_", "ALIBABA_")):
            monkeypatch.delenv(key)
    for key, value in cli_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    emulator.scenario(keys=["sk-emulator", cli_env["DASHSCOPE_API_KEY"]], run_seconds=1.0, pending_seconds=0.2)


@pytest.fixture
def sample_image(tmp_path: Path) -> Path:
    from wan_video.media import make_sample_image

    path = tmp_path / "first.png"
    make_sample_image(str(path), 960, 720, "first frame")
    return path
