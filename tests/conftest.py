"""Shared fixtures: one real emulator per test session, reset before every test that uses it."""

from __future__ import annotations

from collections.abc import Iterator

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
