"""The timing harness: repetitions, budget and per-flow statistics."""

from __future__ import annotations

import time

import numpy as np
import pytest
from lexnet.bench.harness import TimingPolicy, time_batches


def test_per_flow_statistics_divide_by_the_batch():
    calls = []

    def run(flows):
        calls.append(len(flows))
        time.sleep(0.002)

    policy = TimingPolicy(warmup=2, min_repetitions=5, max_repetitions=5, budget_s=0.0)
    timing = time_batches(run, np.zeros((100, 20), dtype=np.int16), policy)

    # 2 warm-up + 5 timed + 1 under tracemalloc.
    assert calls == [100] * 8
    assert timing.repetitions == 5
    # 2 ms per call of 100 flows: 20 µs per flow at least; sleeping overshoots a little, never undershoots.
    assert 20.0 <= timing.median_us < 40.0
    assert timing.p10_us <= timing.median_us <= timing.p90_us
    assert timing.flows_per_second == pytest.approx(1e6 / timing.median_us)


def test_budget_keeps_repeating_until_spent():
    policy = TimingPolicy(warmup=0, min_repetitions=1, max_repetitions=10_000, budget_s=0.05)

    timing = time_batches(lambda flows: time.sleep(0.005), np.zeros((1, 20)), policy)

    # Each call sleeps at least 5 ms, so 50 ms are spent after at most 10 calls (fewer on a busy machine).
    assert 2 <= timing.repetitions <= 10
    assert timing.timed_s >= 0.05


def test_max_repetitions_bounds_a_fast_call():
    policy = TimingPolicy(warmup=0, min_repetitions=1, max_repetitions=7, budget_s=10.0)

    timing = time_batches(lambda flows: None, np.zeros((1, 20)), policy)

    assert timing.repetitions == 7


def test_bad_policies_are_refused():
    with pytest.raises(ValueError, match="min_repetitions"):
        TimingPolicy(min_repetitions=0)
    with pytest.raises(ValueError, match="budget_s"):
        TimingPolicy(budget_s=-1.0)
