"""The PyTorch reference: the checkpoint the bundle was exported from, run eagerly in FP32.

This is the only module of ``lexnet.runtimes`` that imports torch, and only when the torch backend is loaded.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from lexnet.runtimes.base import BackendSession, RawOutputs
from lexnet.runtimes.errors import BackendError, BackendUnavailableError, BundleError, IntegrityError
from lexnet.runtimes.manifest import checkpoint_digest

if TYPE_CHECKING:
    from lexnet.runtimes.bundle import Bundle
    from lexnet.runtimes.manifest import ArtifactEntry

__all__ = ["TorchSession"]

logger = logging.getLogger(__name__)


class TorchSession(BackendSession):
    """The checkpoint's model in eval mode, fed with the bundle's scaling.

    The checkpoint comes from ``checkpoint=`` (a checkpoint directory) or, by default, the checkpoint shipped with
    the package; either way its weights must have the sha256 the manifest records. ``threads`` calls
    ``torch.set_num_threads``, which applies to the whole process.
    """

    name: ClassVar[str] = "torch"
    extra: ClassVar[str] = "train"
    requires: ClassVar[tuple[str, ...]] = ("torch", "safetensors")
    devices: ClassVar[tuple[str, ...]] = ("cpu", "cuda")

    def __init__(
        self,
        bundle: Bundle,
        artifact: ArtifactEntry | None,
        *,
        device: str,
        threads: int | None,
        checkpoint: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(bundle, artifact, device=device, threads=threads)
        self.checkpoint_path = Path(checkpoint) if checkpoint is not None else None

    @classmethod
    def device_available(cls, device: str) -> bool:
        import torch

        return device == "cpu" or (device == "cuda" and torch.cuda.is_available())

    def _checkpoint_dir(self) -> Path:
        from lexnet.checkpoint import default_checkpoint_path

        path = self.checkpoint_path or default_checkpoint_path()
        expected = self.bundle.manifest.model.checkpoint_sha256
        if not (path / "weights.safetensors").is_file():
            raise BundleError(f"the torch reference needs the bundle's checkpoint; none at {path} (pass checkpoint=)")
        if expected is not None and (actual := checkpoint_digest(path)) != expected:
            raise IntegrityError(str(path / "weights.safetensors"), expected, actual)
        return path

    def load(self) -> None:
        import torch

        from lexnet.checkpoint import load_checkpoint

        if not self.device_available(self.device):
            raise BackendUnavailableError(f"torch sees no {self.device} device here")
        checkpoint = load_checkpoint(self._checkpoint_dir())
        if checkpoint.scaling != self.bundle.scaling or checkpoint.config != self.bundle.config:
            raise BundleError(f"{self.checkpoint_path}: its config or scaling differ from the bundle's manifest")
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        self._torch = torch
        self._model: Any = checkpoint.build_model(self.device)
        self._loaded = True
        logger.info("loaded %s from %s", self.describe(), self.checkpoint_path or "the default checkpoint")

    def _forward(self, flows: np.ndarray) -> Any:
        scaled = self._torch.from_numpy(self.bundle.scaling.apply(flows)).to(self.device)
        with self._torch.inference_mode():
            return self._model(scaled)

    def _run_batch(self, flows: np.ndarray) -> RawOutputs:
        try:
            output = self._forward(flows)
        except RuntimeError as error:
            raise BackendError(f"{self.describe()} failed on a batch of {len(flows)}: {error}") from error
        if not self.bundle.is_prototype_model:
            return RawOutputs(output.float().cpu().numpy())
        return RawOutputs(
            output.logits.float().cpu().numpy(),
            output.similarities.float().cpu().numpy(),
            output.positions.long().cpu().numpy(),
        )

    def distance_maps(self, flows: np.ndarray) -> np.ndarray:
        """Squared distances of each prototype at each position, [N, P, H', W'] float32 (parity tells ties by them)."""
        if not self.bundle.is_prototype_model:
            raise BackendError("distance maps exist only for prototype models")
        scaled = self._torch.from_numpy(self.bundle.scaling.apply(flows)).to(self.device)
        with self._torch.inference_mode():
            features = self._model.features(scaled)
            return self._model.prototype_layer.distance_map(features).float().cpu().numpy()

    def close(self) -> None:
        self._model = None
        self._loaded = False
