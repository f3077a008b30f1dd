"""One in-process timing harness for every backend, so cells compare.

A cell is timed as: warm-up calls, then repeated calls of ``run(flows)`` on the same batch until both a minimum
number of repetitions and a time budget are reached (or a maximum of repetitions; a very slow cell stops
after several budgets' worth of calls, and its counts say how many it got). Each repetition's wall time is
divided by the batch size: medians, 10th and 90th percentiles are microseconds per flow. Memory is the
process's resident set size, sampled around every call (its peak over the cell), plus the Python-heap peak of
one extra call under ``tracemalloc`` (numpy buffers are counted there; a backend's native arenas are not).
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np

__all__ = ["Timing", "TimingPolicy", "measure_load", "rss_mb", "time_batches"]

T = TypeVar("T")

# A cell stops repeating once it spent this many times its budget, even below the minimum repetitions.
SLOW_CELL_FACTOR = 5.0


@dataclass(frozen=True, kw_only=True)
class TimingPolicy:
    """How long and how often a cell is timed.

    Attributes:
        warmup: untimed calls first (allocations, lazy compilation, caches).
        min_repetitions: timed calls at least, whatever the budget.
        max_repetitions: timed calls at most, whatever the budget.
        budget_s: keep repeating until this much time was spent in timed calls.
    """

    warmup: int = 3
    min_repetitions: int = 5
    max_repetitions: int = 2000
    budget_s: float = 1.0

    def __post_init__(self) -> None:
        if self.warmup < 0 or self.min_repetitions < 1 or self.max_repetitions < self.min_repetitions:
            raise ValueError(
                f"need warmup >= 0 and 1 <= min_repetitions <= max_repetitions; got {self.warmup},"
                f" {self.min_repetitions}, {self.max_repetitions}"
            )
        if self.budget_s < 0:
            raise ValueError(f"budget_s must be >= 0, got {self.budget_s}")

    def with_budget(self, budget_s: float) -> TimingPolicy:
        return TimingPolicy(
            warmup=self.warmup,
            min_repetitions=self.min_repetitions,
            max_repetitions=self.max_repetitions,
            budget_s=budget_s,
        )


@dataclass(frozen=True)
class Timing:
    """What one cell measured; times are microseconds per flow."""

    batch: int
    warmup: int
    repetitions: int
    median_us: float
    p10_us: float
    p25_us: float
    p75_us: float
    p90_us: float
    mean_us: float
    min_us: float
    max_us: float
    std_us: float
    flows_per_second: float
    timed_s: float
    peak_rss_mb: float
    python_peak_mb: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rss_mb() -> float:
    """Resident set size of this process in MiB (0.0 where psutil is not installed)."""
    try:
        import psutil
    except ImportError:
        return 0.0
    return psutil.Process().memory_info().rss / 2**20


def measure_load(load: Callable[[], T]) -> tuple[T, float]:
    """Call ``load`` (read an artifact, build a session, compile) and return its result and seconds taken."""
    start = time.perf_counter()
    result = load()
    return result, time.perf_counter() - start


def _python_peak_mb(run: Callable[[np.ndarray], object], flows: np.ndarray) -> float:
    tracemalloc.start()
    try:
        run(flows)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20


def time_batches(
    run: Callable[[np.ndarray], object],
    flows: np.ndarray,
    policy: TimingPolicy,
    clock: Callable[[], float] = time.perf_counter,
) -> Timing:
    """Time ``run(flows)`` under ``policy``; ``flows`` is one batch, its first axis the batch size.

    ``clock`` returns seconds (the tests pass a simulated one).
    """
    batch = len(flows)
    if batch < 1:
        raise ValueError("flows must hold at least one flow")
    warmup = 0
    while warmup < policy.warmup:
        start = clock()
        run(flows)
        warmup += 1
        if 0 < policy.budget_s < clock() - start:
            break  # a call slower than the whole budget: one warm-up is enough, and the count below says so

    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    samples: list[float] = []
    peak_rss = rss_mb()
    try:
        spent = 0.0
        while len(samples) < policy.max_repetitions and (
            len(samples) < policy.min_repetitions or spent < policy.budget_s
        ):
            if 0 < SLOW_CELL_FACTOR * policy.budget_s < spent:
                break  # very slow cells (an untuned library at batch 1) stop early; ``repetitions`` records it
            start = clock()
            run(flows)
            elapsed = clock() - start
            samples.append(elapsed)
            spent += elapsed
            if len(samples) % 16 == 1:
                peak_rss = max(peak_rss, rss_mb())
    finally:
        if gc_was_enabled:
            gc.enable()
    peak_rss = max(peak_rss, rss_mb())

    per_flow = np.asarray(samples) / batch * 1e6
    p10, p25, median, p75, p90 = np.percentile(per_flow, [10, 25, 50, 75, 90])
    return Timing(
        batch=batch,
        warmup=warmup,
        repetitions=len(samples),
        median_us=float(median),
        p10_us=float(p10),
        p25_us=float(p25),
        p75_us=float(p75),
        p90_us=float(p90),
        mean_us=float(per_flow.mean()),
        min_us=float(per_flow.min()),
        max_us=float(per_flow.max()),
        std_us=float(per_flow.std()),
        flows_per_second=float(1e6 / median) if median > 0 else float("inf"),
        timed_s=float(sum(samples)),
        peak_rss_mb=peak_rss,
        python_peak_mb=_python_peak_mb(run, flows),
    )
