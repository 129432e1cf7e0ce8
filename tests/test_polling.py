"""polling: the poll schedule as a pure function of elapsed time (no HTTP, no sleeping)."""

from __future__ import annotations

import random

import pytest
from wan_video.polling import (
    BACKOFF,
    CAP,
    DENSE,
    FIRST_POLL,
    MIN_GAP,
    Expectation,
    Schedule,
    expect,
)

GOOD = 0.05  # the spread of an expectation from run-time history
CATALOG = 0.6  # the spread of a catalog guess


def poll_times(exp: Expectation, end: float, *, seed: int = 0, jitter: float = 0.1) -> list[float]:
    """When a task that runs `end` seconds is polled (from its start) until a poll sees it ended."""
    schedule = Schedule(exp, jitter=jitter, rng=random.Random(seed))
    times, now = [0.0], 0.0
    while now < end:
        now += schedule.next_delay(now)
        times.append(now)
    return times


def sdk_doubling(end: float) -> list[float]:
    """dashscope 2.x Jobs.wait: poll at once, then 1 s doubling to 8 s."""
    times, now, interval = [0.0], 0.0, 1.0
    while now < end:
        now += interval
        interval = min(interval * 2, 8.0)
        times.append(now)
    return times


@pytest.mark.parametrize("exp", [Expectation(60, GOOD, "history(1)"), Expectation(300, CATALOG, "catalog"),
                                 Expectation(5, GOOD, "history(1)")])
def test_first_poll_is_early(exp: Expectation) -> None:
    for seed in range(50):
        delay = Schedule(exp, rng=random.Random(seed)).next_delay(0.0)
        assert FIRST_POLL <= delay <= FIRST_POLL * 1.1  # never just short of it: that costs a poll


@pytest.mark.parametrize("seconds", [10, 30, 60, 90, 240])
def test_good_expectation_clusters_polls_near_the_end(seconds: float) -> None:
    exp = Expectation(seconds, GOOD, "history(1)")
    window_start = seconds * (1 - GOOD)
    for seed in range(20):
        times = poll_times(exp, seconds, seed=seed)
        first = times[1]
        before = [t for t in times if first < t < window_start]
        # Before the window: the fewest hops of at most CAP (about half CAP or more each) ...
        assert len(before) <= -(-(window_start - first) // (CAP * 0.9))
        hops = [b - a for a, b in zip([first, *before], before, strict=False)]
        assert all(hop >= CAP / 2 * 0.9 for hop in hops)
        # ... then polls from the window's start until the end is seen, one window step apart.
        step = max(DENSE, seconds * 2 * GOOD / 4)
        assert window_start <= times[len(before) + 2] <= window_start + 0.1 * CAP
        assert times[-1] - seconds <= step * 1.1 + 1e-9


@pytest.mark.parametrize("seconds", [10, 17, 25, 38, 52, 66, 79, 90])
def test_good_expectation_beats_the_sdk_doubling(seconds: float) -> None:
    """No more polls than dashscope's 1-2-4-8 s back-off, and at most half its delay."""
    ours_polls, ours_delay = [], []
    for seed in range(20):
        times = poll_times(Expectation(seconds, GOOD, "history(1)"), seconds, seed=seed)
        ours_polls.append(len(times))
        ours_delay.append(times[-1] - seconds)
    sdk = sdk_doubling(seconds + 0.001)
    assert max(ours_polls) <= len(sdk)
    assert sum(ours_delay) / len(ours_delay) <= max(1.0, (sdk[-1] - seconds) / 2)


def test_the_last_hop_lands_on_the_window_start_never_before() -> None:
    exp = Expectation(60, GOOD, "history(1)")
    for seed in range(50):
        schedule = Schedule(exp, rng=random.Random(seed))
        elapsed = 50.0  # one hop from the window (57 s)
        landed = elapsed + schedule.next_delay(elapsed)
        assert schedule.window_start <= landed <= schedule.window_start + 0.1 * (schedule.window_start - elapsed)


def test_a_catalog_guess_far_too_long_still_notices_an_early_end() -> None:
    """The guess says 300 s, the task ends at 10 s: noticed within about its own run time."""
    for seed in range(20):
        times = poll_times(Expectation(300, CATALOG, "catalog"), 10.0, seed=seed)
        assert times[-1] - 10.0 <= 10.0
        assert len(times) <= 8


@pytest.mark.parametrize("exp", [Expectation(60, GOOD, "history(1)"), Expectation(300, CATALOG, "catalog")])
def test_after_the_window_it_backs_off_to_the_cap(exp: Expectation) -> None:
    schedule = Schedule(exp, jitter=0.0)
    elapsed = schedule.window_end + 0.1
    delays = []
    for _ in range(12):
        delay = schedule.next_delay(elapsed)
        delays.append(delay)
        elapsed += delay
    assert delays[0] == pytest.approx(DENSE * BACKOFF)
    assert all(b == pytest.approx(min(CAP, a * BACKOFF)) for a, b in zip(delays, delays[1:], strict=False))
    assert delays[-1] == pytest.approx(CAP)


@pytest.mark.parametrize(("elapsed", "retry_after", "at_least"), [
    (0.0, 30.0, 30.0),    # before the first poll
    (20.0, 12.5, 12.5),   # on the way to the window
    (59.0, 4.0, 4.0),     # inside the window
    (500.0, 60.0, 60.0),  # long past it
])
def test_retry_after_is_honoured(elapsed: float, retry_after: float, at_least: float) -> None:
    for seed in range(20):
        schedule = Schedule(Expectation(60, GOOD, "history(1)"), rng=random.Random(seed))
        assert schedule.next_delay(elapsed, retry_after) >= at_least


@pytest.mark.parametrize("elapsed", [0.0, 1.0, 5.0, 20.0, 40.0, 57.5, 59.0, 61.0, 62.5, 200.0])
@pytest.mark.parametrize("jitter", [0.0, 0.1, 0.3])
def test_jitter_is_bounded(elapsed: float, jitter: float) -> None:
    exp = Expectation(60, GOOD, "history(1)")
    nominal = Schedule(exp, jitter=0.0).next_delay(elapsed)
    for seed in range(200):
        delay = Schedule(exp, jitter=jitter, rng=random.Random(seed)).next_delay(elapsed)
        assert max(MIN_GAP, nominal * (1 - jitter)) - 1e-9 <= delay <= max(MIN_GAP, nominal * (1 + jitter)) + 1e-9


def test_no_jitter_is_deterministic_and_never_below_the_minimum_gap() -> None:
    exp = Expectation(2.0, GOOD, "history(1)")
    a = [Schedule(exp, jitter=0.0).next_delay(t) for t in (0.0, 1.99, 2.0, 2.05, 2.2)]
    b = [Schedule(exp, jitter=0.0).next_delay(t) for t in (0.0, 1.99, 2.0, 2.05, 2.2)]
    assert a == b
    assert min(a) >= MIN_GAP


@pytest.mark.parametrize(("history", "seconds", "spread", "source"), [
    ([], 300 * (10 / 5) ** 0.5, CATALOG, "catalog"),
    ([40.0], 40.0, GOOD, "history(1)"),
    ([40.0, 44.0], 42.0, GOOD, "history(2)"),
    ([40.0, 40.0, 40.0], 40.0, 0.03, "history(3)"),
    ([20.0, 40.0, 60.0], 40.0, 0.5, "history(3)"),
])
def test_expect_prefers_history_over_the_catalog(history: list[float], seconds: float, spread: float,
                                                 source: str) -> None:
    exp = expect(300, 10, 5, history)
    assert exp.seconds == pytest.approx(seconds)
    assert exp.spread == pytest.approx(spread)
    assert exp.source == source
