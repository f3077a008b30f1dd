"""Loaders that turn a model into a timed ``run(flows)`` for each backend of the matrix.

Backends: "torch" (eager PyTorch, the reference), "onnxruntime", "openvino", "tvm" (MetaSchedule-tuned) and
"tvm-untuned" (the same graph compiled without tuning records, its own row). The compiled backends go through
the project's export (``lexnet.export``) and runtime API (``lexnet.runtimes``): each cell times
``classifier.run(flows)``, the fast path a router calls.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from lexnet.bench.sources import Loaded, ModelSource, SkipCell

if TYPE_CHECKING:
    from torch import nn

__all__ = ["BACKENDS", "DEVICES", "PRECISIONS", "available_devices", "load_backend"]

logger = logging.getLogger(__name__)

BACKENDS = ("torch", "onnxruntime", "openvino", "tvm", "tvm-untuned")
PRECISIONS = ("fp32", "bf16", "int8")
DEVICES = ("cpu", "cuda")


def available_devices() -> list[str]:
    """CPU always; CUDA where torch sees a GPU."""
    devices = ["cpu"]
    try:
        import torch
    except ImportError:
        return devices
    if torch.cuda.is_available():
        devices.append("cuda")
    return devices


def _load_torch(source: ModelSource, precision: str, device: str, threads: int) -> Loaded:
    import torch

    if precision == "int8":
        raise SkipCell("eager PyTorch has no INT8 kernels for these convolutions (INT8 runs on onnxruntime/openvino)")
    if device == "cuda" and not torch.cuda.is_available():
        raise SkipCell("no CUDA device visible to torch")
    start = time.perf_counter()
    torch.set_num_threads(threads)
    model = source.build_model().to(device)
    load_s = time.perf_counter() - start
    scaling = source.scaling
    autocast = precision == "bf16"

    def run(flows: np.ndarray) -> object:
        x = torch.from_numpy(scaling.apply(flows)).to(device)
        with torch.inference_mode(), torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=autocast):
            out = model(x)
        if device == "cuda":
            torch.cuda.synchronize()
        return out

    size = source.checkpoint / "weights.safetensors" if source.checkpoint is not None else None
    note = "" if source.trained else "untrained weights"
    return Loaded(run, load_s, size.stat().st_size if size is not None else None, note)


class _RawInput:
    """Builds an nn.Module that takes raw int16 flows and scales them inside the graph (the bundle's raw mode)."""

    @staticmethod
    def wrap(model: nn.Module, source: ModelSource) -> nn.Module:
        import torch
        from torch import nn

        from lexnet.models import is_prototype_model

        s = source.scaling
        prototype = is_prototype_model(model)

        class RawInputModel(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, flows: torch.Tensor) -> Any:
                values = flows.to(torch.float32)
                sizes = (values.abs() - s.size_min) / (s.size_max - s.size_min)
                directions = (torch.sign(values) - s.direction_min) / (s.direction_max - s.direction_min)
                out = self.model(torch.stack([sizes, directions], dim=-1).unsqueeze(1))
                if prototype:
                    return out.logits, out.similarities, out.positions
                return out

        return RawInputModel().eval()


def load_backend(
    source: ModelSource,
    backend: str,
    precision: str,
    device: str,
    threads: int,
    workdir: Path,
    bundles: dict[str, Path] | None = None,
    bundle_policy: Any = None,
) -> Loaded:
    """Load ``source`` on ``backend``; raises ``SkipCell`` naming why a combination cannot run here."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    if device not in available_devices():
        raise SkipCell(f"no {device} device on this machine")
    if threads > (os.cpu_count() or 1):
        raise SkipCell(f"{threads} threads asked, the machine has {os.cpu_count()} cores")
    if backend == "torch":
        return _load_torch(source, precision, device, threads)
    from lexnet.bench import _runtimes

    if _runtimes.available():
        return _runtimes.load(source, backend, precision, device, threads, workdir, bundle_policy, bundles)
    raise SkipCell(f"{backend} artifacts need lexnet.export and lexnet.runtimes: install the 'onnx' extra")
