"""Where an ONNX model spends its time: ONNX Runtime's profiler, summed per operator type and per node.

Used to say which operator limits a cell that misses its target (``lexnet bench --profile MODEL.onnx``).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["OperatorTime", "profile_onnx"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OperatorTime:
    """Total kernel time of one operator type (or node) over the profiled runs, and its share."""

    name: str
    microseconds: float
    share: float
    calls: int


def _summarise(events: list[dict], key: str) -> list[OperatorTime]:
    totals: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    for event in events:
        if event.get("cat") != "Node" or not str(event.get("name", "")).endswith("_kernel_time"):
            continue
        name = event["args"].get("op_name", "?") if key == "op" else event["name"].removesuffix("_kernel_time")
        totals[name] += float(event.get("dur", 0))
        calls[name] += 1
    grand = sum(totals.values()) or 1.0
    ranked = sorted(totals.items(), key=lambda item: -item[1])
    return [OperatorTime(name, us, us / grand, calls[name]) for name, us in ranked]


def profile_onnx(
    model_path: str | os.PathLike[str], flows: np.ndarray, threads: int, runs: int = 20, input_name: str = "flows"
) -> tuple[list[OperatorTime], list[OperatorTime]]:
    """Profile ``runs`` calls of the model on ``flows``; returns (per operator type, per node), slowest first."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as folder:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(folder) / "profile")
        session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        for _ in range(2 + runs):
            session.run(None, {input_name: flows})
        trace = Path(session.end_profiling())
        events = json.loads(trace.read_text())
    by_op, by_node = _summarise(events, "op"), _summarise(events, "node")
    for entry in by_op[:5]:
        logger.info("%s: %.0f%% of kernel time", entry.name, 100 * entry.share)
    return by_op, by_node
