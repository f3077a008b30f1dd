"""The compute floor: the machine's measured peak multiply-add rate, and the time a model cannot go below.

The peak is the best rate of repeated square matrix products, measured in the same run as the benchmark (the
load of the machine changes it): FP32 through torch's sgemm (numpy's where torch is absent), INT8 through
``torch._int_mm`` (int8 x int8 -> int32, the VNNI path) where this torch build has it. BF16 uses the FP32 peak
unless a BF16 product is measurably faster. A cell's floor is its model's multiply-adds per flow divided by the
peak of its precision at its thread count; cells report measured / floor.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["Peak", "cell_floor_us", "floor_us_per_flow", "measure_peak", "measure_peaks"]

logger = logging.getLogger(__name__)

# Square matrices of this side keep each product long enough (tens of ms) to time, and fit in L2/L3 blocks.
MATRIX_SIDE = 1024


@dataclass(frozen=True)
class Peak:
    """Best measured multiply-add rate of one precision at one thread count."""

    precision: str
    threads: int
    gmacs: float
    method: str
    repetitions: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _best_rate(product: Callable[[], object], macs: int, budget_s: float) -> tuple[float, int]:
    """Best multiply-adds per second over repetitions of ``product`` within ``budget_s``."""
    for _ in range(2):
        product()
    best, reps, start = float("inf"), 0, time.perf_counter()
    while reps < 3 or time.perf_counter() - start < budget_s:
        tick = time.perf_counter()
        product()
        best = min(best, time.perf_counter() - tick)
        reps += 1
    return macs / best, reps


def _torch_product(precision: str, side: int) -> tuple[Callable[[], object], str] | None:
    try:
        import torch
    except ImportError:
        return None
    generator = torch.Generator().manual_seed(0)
    if precision == "int8":
        if not hasattr(torch, "_int_mm"):
            return None
        a = torch.randint(-64, 64, (side, side), dtype=torch.int8, generator=generator)
        b = torch.randint(-64, 64, (side, side), dtype=torch.int8, generator=generator)
        try:
            torch._int_mm(a, b)
        except RuntimeError as error:
            logger.warning("INT8 peak not measurable: torch._int_mm failed on this CPU (%s)", error)
            return None
        return (lambda: torch._int_mm(a, b)), "torch._int_mm int8->int32"
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a = torch.randn(side, side, generator=generator).to(dtype)
    b = torch.randn(side, side, generator=generator).to(dtype)
    return (lambda: torch.mm(a, b)), f"torch.mm {dtype}".replace("torch.", "")


def measure_peak(precision: str, threads: int, budget_s: float = 1.0, side: int = MATRIX_SIDE) -> Peak | None:
    """The best multiply-add rate of ``precision`` on ``threads`` threads (``None`` where it is not measurable)."""
    if precision not in ("fp32", "bf16", "int8"):
        raise ValueError(f"unknown precision {precision!r}; expected 'fp32', 'bf16' or 'int8'")
    macs = side**3
    found = _torch_product(precision, side)
    if found is not None:
        import torch

        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            rate, reps = _best_rate(found[0], macs, budget_s)
        finally:
            torch.set_num_threads(previous)
        method = found[1]
    elif precision == "fp32":
        rng = np.random.default_rng(0)
        a, b = rng.standard_normal((2, side, side), dtype=np.float32)
        rate, reps = _best_rate(lambda: a @ b, macs, budget_s)
        method = "numpy matmul float32 (threads as numpy's BLAS sets them)"
    else:
        return None
    peak = Peak(precision, threads, rate / 1e9, method, reps)
    logger.info("peak %s, %d thread(s): %.1f G multiply-adds/s (%s)", precision, threads, peak.gmacs, method)
    return peak


def measure_peaks(threads: list[int], budget_s: float = 1.0) -> dict[tuple[str, int], Peak]:
    """FP32, BF16 and INT8 peaks for each thread count; BF16 falls back to FP32's when not faster."""
    peaks: dict[tuple[str, int], Peak] = {}
    for count in threads:
        for precision in ("fp32", "bf16", "int8"):
            peak = measure_peak(precision, count, budget_s)
            if peak is not None:
                peaks[(precision, count)] = peak
        fp32, bf16 = peaks.get(("fp32", count)), peaks.get(("bf16", count))
        if fp32 is not None and (bf16 is None or bf16.gmacs < fp32.gmacs):
            peaks[("bf16", count)] = Peak("bf16", count, fp32.gmacs, f"{fp32.method} (no faster BF16 product)", 0)
    return peaks


def floor_us_per_flow(macs_per_flow: int, peak: Peak | None) -> float | None:
    """Microseconds per flow at the measured peak: the time no backend can beat on this machine."""
    if peak is None or peak.gmacs <= 0:
        return None
    return macs_per_flow / (peak.gmacs * 1e9) * 1e6


def cell_floor_us(
    macs_by_part: dict[str, int], precision: str, threads: int, peaks: dict[tuple[str, int], Peak]
) -> float | None:
    """The floor of one cell. INT8 artifacts keep the prototype head (distances, minimum, log, last layer) in
    FP32 unless asked otherwise, so for prototype models only the backbone runs at the INT8 peak."""
    peak = peaks.get((precision, threads))
    if precision != "int8" or "prototypes" not in macs_by_part:
        return floor_us_per_flow(sum(macs_by_part.values()), peak)
    head = macs_by_part.get("prototypes", 0) + macs_by_part.get("classifier", 0)
    backbone = floor_us_per_flow(sum(macs_by_part.values()) - head, peak)
    head_floor = floor_us_per_flow(head, peaks.get(("fp32", threads)))
    if backbone is None or head_floor is None:
        return None
    return backbone + head_floor
