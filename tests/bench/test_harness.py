"""The timing harness: repetitions, budget and per-flow statistics."""

from __future__ import annotations

import numpy as np
import pytest
from lexnet.bench.harness import TimingPolicy, time_batches


class FakeClock:
    """A clock that only moves when the timed function says so: the statistics become exact."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_per_flow_statistics_divide_by_the_batch():
    clock, calls = FakeClock(), []
    durations = iter([0.0, 0.0, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0])  # warm-up, timed, tracemalloc

    def run(flows):
        calls.append(len(flows))
        clock.now += next(durations)

    policy = TimingPolicy(warmup=2, min_repetitions=5, max_repetitions=5, budget_s=0.0)
    timing = time_batches(run, np.zeros((100, 20), dtype=np.int16), policy, clock)

    # 2 warm-up + 5 timed + 1 under tracemalloc.
    assert calls == [100] * 8
    assert timing.repetitions == 5
    # Calls of 1..5 ms on 100 flows: 10..50 µs per flow, median 30.
    assert timing.median_us == pytest.approx(30.0)
    assert timing.min_us == pytest.approx(10.0)
    assert timing.p10_us == pytest.approx(14.0)
    assert timing.p90_us == pytest.approx(46.0)
    assert timing.flows_per_second == pytest.approx(1e6 / 30.0)
    assert timing.timed_s == pytest.approx(0.015)


def test_budget_keeps_repeating_until_spent():
    clock = FakeClock()

    def run(flows):
        clock.now += 1 / 128  # exact in binary: the sums below are exact too

    policy = TimingPolicy(warmup=0, min_repetitions=1, max_repetitions=10_000, budget_s=1 / 16)
    timing = time_batches(run, np.zeros((1, 20)), policy, clock)

    # 1/128 s per call: the 1/16 s budget is reached after 8 calls.
    assert timing.repetitions == 8
    assert timing.timed_s == pytest.approx(1 / 16)


def test_max_repetitions_bounds_a_fast_call():
    policy = TimingPolicy(warmup=0, min_repetitions=1, max_repetitions=7, budget_s=10.0)

    clock = FakeClock()

    def run(flows):
        clock.now += 1e-6

    timing = time_batches(run, np.zeros((1, 20)), policy, clock)

    assert timing.repetitions == 7


def test_bad_policies_are_refused():
    with pytest.raises(ValueError, match="min_repetitions"):
        TimingPolicy(min_repetitions=0)
    with pytest.raises(ValueError, match="budget_s"):
        TimingPolicy(budget_s=-1.0)


def test_a_very_slow_cell_stops_early_and_says_how_many_calls_it_got():
    clock = FakeClock()

    def run(flows):
        clock.now += 1.0  # each call takes four budgets

    policy = TimingPolicy(warmup=3, min_repetitions=5, max_repetitions=100, budget_s=0.25)
    timing = time_batches(run, np.zeros((1, 20)), policy, clock)

    assert timing.warmup == 1  # the first warm-up call already exceeded the budget
    assert timing.repetitions == 2  # 2 s spent > 5 budgets (1.25 s): stop below the minimum of 5
