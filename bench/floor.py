"""The compute floor: the machine's measured peak multiply-add rate, and the time a model cannot go below.

The peak is the best rate of repeated square matrix products, measured in the same run as the benchmark (the
load of the machine changes it), taking the fastest of the libraries that can run it: FP32 through ONNX
Runtime's ``MatMul`` (MLAS) and torch's ``mm`` (numpy's where neither is installed), because either can be the
slow one (on an AVX-512 AMD EPYC, torch's ``mm`` reached half of MLAS's rate); INT8 through ONNX
Runtime's ``MatMulInteger`` (uint8 x int8 -> int32, the kernel family its quantized convolutions run on), or
``torch._int_mm`` where ONNX Runtime is absent (torch's INT8 product is a slow fallback on CPUs without VNNI).
BF16 uses the FP32 peak unless a BF16 product is measurably faster. A cell's floor is its model's multiply-adds
per flow divided by the peak of its precision at its thread count; cells report measured / floor.
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


def _onnxruntime_product(precision: str, side: int, threads: int) -> tuple[Callable[[], object], str] | None:
    """A one-node ONNX Runtime session: ``MatMul`` in FP32, ``MatMulInteger`` (uint8 activations x int8 weights,
    as its quantized convolutions run) in INT8; ``None`` where ONNX Runtime is absent or for BF16."""
    if precision not in ("fp32", "int8"):
        return None
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper
    except ImportError:
        return None
    rng = np.random.default_rng(0)
    if precision == "int8":
        a = rng.integers(0, 128, (side, side), dtype=np.uint8)
        b = rng.integers(-64, 64, (side, side), dtype=np.int8)
        op, types, method = (
            "MatMulInteger",
            (TensorProto.UINT8, TensorProto.INT8, TensorProto.INT32),
            "uint8 x int8->int32",
        )
    else:
        a, b = rng.standard_normal((2, side, side), dtype=np.float32)
        op, types, method = "MatMul", (TensorProto.FLOAT,) * 3, "float32"
    graph = helper.make_graph(
        [helper.make_node(op, ["a", "b"], ["c"])],
        f"{precision}_peak",
        [helper.make_tensor_value_info("a", types[0], [side, side])],
        [helper.make_tensor_value_info("c", types[2], [side, side])],
        initializer=[helper.make_tensor("b", types[1], [side, side], b.tobytes(), raw=True)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    feeds = {"a": a}
    return (lambda: session.run(None, feeds)), f"onnxruntime {op} {method}"


def _torch_rate(precision: str, threads: int, budget_s: float, side: int) -> tuple[float, int, str] | None:
    found = _torch_product(precision, side)
    if found is None:
        return None
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        rate, reps = _best_rate(found[0], side**3, budget_s)
    finally:
        torch.set_num_threads(previous)
    return rate, reps, found[1]


def _candidate_rates(precision: str, threads: int, budget_s: float, side: int) -> list[tuple[float, int, str]]:
    """Rates of every product that can run ``precision`` here. INT8 skips torch when ONNX Runtime measured it:
    torch's fallback INT8 product can take a second per product on CPUs without VNNI."""
    rates = []
    product = _onnxruntime_product(precision, side, threads)
    if product is not None:
        rate, reps = _best_rate(product[0], side**3, budget_s)
        rates.append((rate, reps, product[1]))
    if precision != "int8" or not rates:
        measured = _torch_rate(precision, threads, budget_s, side)
        if measured is not None:
            rates.append(measured)
    if precision == "fp32" and not rates:
        rng = np.random.default_rng(0)
        a, b = rng.standard_normal((2, side, side), dtype=np.float32)
        rate, reps = _best_rate(lambda: a @ b, side**3, budget_s)
        rates.append((rate, reps, "numpy matmul float32 (threads as numpy's BLAS sets them)"))
    return rates


def measure_peak(precision: str, threads: int, budget_s: float = 1.0, side: int = MATRIX_SIDE) -> Peak | None:
    """The best multiply-add rate of ``precision`` on ``threads`` threads over the products that can run it
    (``None`` where none can)."""
    if precision not in ("fp32", "bf16", "int8"):
        raise ValueError(f"unknown precision {precision!r}; expected 'fp32', 'bf16' or 'int8'")
    rates = _candidate_rates(precision, threads, budget_s, side)
    if not rates:
        return None
    for rate, _, method in rates:
        logger.info("%s, %d thread(s): %.1f G multiply-adds/s (%s)", precision, threads, rate / 1e9, method)
    rate, reps, method = max(rates)
    return Peak(precision, threads, rate / 1e9, method, reps)


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
