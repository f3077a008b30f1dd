"""Where a benchmark cell's model comes from, and how each backend turns it into a ``run(flows)`` callable.

Every runner takes raw flows (int16 signed sizes [batch, packets]) and returns the model's outputs, so each
cell times the same work: scaling, the network and, for prototype models, the explanation outputs.

A cell that cannot run raises ``SkipCell`` with the reason, which the report prints in place of a time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lexnet.spec import InputSpec, ModelConfig, Scaling

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "Loaded",
    "ModelSource",
    "SkipCell",
    "checkpoint_accuracy",
    "find_model_source",
    "synthetic_flows",
]

logger = logging.getLogger(__name__)

# Scaling used for models without a checkpoint: sizes in bytes up to the MTU, directions in [-1, 1].
_DEFAULT_SCALING_MAX = float(InputSpec().mtu)


class SkipCell(Exception):  # noqa: N818  (a signal, not an error: the cell is reported as skipped with the reason)
    """This cell cannot run on this machine; the message says why."""


@dataclass
class Loaded:
    """A backend ready to time: the callable, how long loading took, and the artifact's size on disk."""

    run: Callable[[np.ndarray], object]
    load_s: float
    artifact_bytes: int | None
    note: str = ""
    close: Callable[[], None] | None = None
    classify: Callable[[np.ndarray], object] | None = None


@dataclass
class ModelSource:
    """One model of the matrix: its config and scaling, its checkpoint if one is shipped, its accuracy."""

    arch: str
    config: ModelConfig
    scaling: Scaling
    checkpoint: Path | None
    accuracy: float | None
    accuracy_source: str | None

    @property
    def trained(self) -> bool:
        return self.checkpoint is not None

    def build_model(self) -> nn.Module:
        """The model in eval mode: the checkpoint's weights, or untrained weights (timing does not depend on them)."""
        if self.checkpoint is not None:
            from lexnet.checkpoint import load_checkpoint

            return load_checkpoint(self.checkpoint).build_model()
        import torch

        from lexnet.models import create_model

        torch.manual_seed(0)
        return create_model(self.config).eval()


def _find_accuracy(metrics: Any, path: str = "") -> list[tuple[str, float]]:
    found: list[tuple[str, float]] = []
    if isinstance(metrics, dict):
        for key, value in metrics.items():
            where = f"{path}.{key}" if path else str(key)
            if str(key).endswith("accuracy") and isinstance(value, (int, float)):
                found.append((where, float(value)))
            else:
                found.extend(_find_accuracy(value, where))
    return found


def checkpoint_accuracy(metrics: dict[str, Any]) -> tuple[float | None, str | None]:
    """The hold-out accuracy a checkpoint records (test first, then held-out/validation; never a training
    accuracy), with its key path; ``(None, None)`` when it records none."""
    found = [(where, value) for where, value in _find_accuracy(metrics) if "train" not in where]
    for preferred in ("test", "holdout", "hold_out", "eval", "val"):
        for where, value in found:
            if preferred in where:
                return value, where
    if not found:
        return None, None
    where, value = found[0]
    return value, where


def find_model_source(arch: str, assets: Path | None = None, checkpoint: Path | None = None) -> ModelSource:
    """The checkpoint of ``arch``: ``checkpoint`` if given, else the shipped one (``assets/lexnet-default`` for
    LEXNet, ``assets/zoo/<arch>`` otherwise), else an untrained model of the default config."""
    from lexnet.checkpoint import default_checkpoint_path, read_checkpoint_metadata

    assets = assets if assets is not None else default_checkpoint_path().parent
    candidates = [checkpoint] if checkpoint is not None else []
    candidates += [assets / "lexnet-default"] if arch == "lexnet" else []
    candidates.append(assets / "zoo" / arch)
    for path in candidates:
        if (path / "checkpoint.json").is_file():
            meta = read_checkpoint_metadata(path)
            config = ModelConfig.from_dict(meta["config"])
            if config.arch != arch:
                continue
            accuracy, where = checkpoint_accuracy(meta.get("metrics", {}))
            source = f"{path.name}/checkpoint.json metrics.{where}" if where else None
            return ModelSource(arch, config, Scaling.from_dict(meta["scaling"]), path, accuracy, source)
    logger.warning("no shipped checkpoint for %s: timing untrained weights, accuracy n/a", arch)
    scaling = Scaling(size_min=0.0, size_max=_DEFAULT_SCALING_MAX)
    return ModelSource(arch, ModelConfig(arch=arch), scaling, None, None, None)


def synthetic_flows(count: int, spec: InputSpec, seed: int = 0) -> np.ndarray:
    """Plausible raw flows for timing: TCP-like flows of ``spec.packets`` packets and zero-padded UDP-like ones."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(40, spec.mtu + 1, size=(count, spec.packets))
    signs = rng.choice(np.array([-1, 1]), size=(count, spec.packets))
    flows = (sizes * signs).astype(np.int16)
    udp = rng.random(count) < 0.16
    flows[udp, spec.udp_packets :] = 0
    return flows
