"""A trained prototype model seen by the explanations: its outputs as numpy, from a checkpoint or a bundle."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lexnet.checkpoint import METADATA_FILE, Checkpoint, PrototypeSource, load_checkpoint
from lexnet.errors import CheckpointError
from lexnet.spec import ModelConfig, Scaling

__all__ = ["ExplainedModel", "ModelOutputs", "load_explained_model", "predict_torch"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelOutputs:
    """What the explanations need from a prototype model for N flows and P prototypes.

    Attributes:
        logits: [N, classes].
        similarities: [N, P].
        positions: [N, P, 2], (packet, variable) of each prototype's best match.
    """

    logits: np.ndarray
    similarities: np.ndarray
    positions: np.ndarray

    @property
    def predicted(self) -> np.ndarray:
        return self.logits.argmax(axis=1)


@dataclass
class ExplainedModel:
    """A prototype model with what its explanations need: classes, scaling and prototype sources."""

    config: ModelConfig
    class_names: list[str]
    scaling: Scaling
    predict: Callable[[np.ndarray], ModelOutputs]
    prototype_sources: list[PrototypeSource] = field(default_factory=list)
    origin: str = ""


def predict_torch(model: object, scaled: np.ndarray, batch_size: int = 1024) -> ModelOutputs:
    """Run a torch prototype model on scaled inputs [N, 1, packets, variables]."""
    import torch

    logits, similarities, positions = [], [], []
    with torch.inference_mode():
        for start in range(0, len(scaled), batch_size):
            out = model(torch.from_numpy(scaled[start : start + batch_size]))  # type: ignore[operator]
            logits.append(out.logits.numpy())
            similarities.append(out.similarities.numpy())
            positions.append(out.positions.numpy())
    return ModelOutputs(np.concatenate(logits), np.concatenate(similarities), np.concatenate(positions))


def _from_checkpoint(checkpoint: Checkpoint, origin: str) -> ExplainedModel:
    from lexnet.models import is_prototype_model

    model = checkpoint.build_model()
    if not is_prototype_model(model):
        raise CheckpointError(f"{origin}: {checkpoint.config.arch} has no prototypes, so nothing to explain")

    def predict(raw: np.ndarray) -> ModelOutputs:
        return predict_torch(model, checkpoint.scaling.apply(raw))

    return ExplainedModel(
        checkpoint.config, checkpoint.class_names, checkpoint.scaling, predict, checkpoint.prototype_sources, origin
    )


def _from_bundle(path: Path, backend: str, precision: str) -> ExplainedModel:
    from lexnet.runtimes.classifier import load

    classifier = load(path, backend=backend, precision=precision)
    bundle = classifier.bundle
    if not bundle.is_prototype_model:
        classifier.close()
        raise CheckpointError(f"{path}: {bundle.config.arch} has no prototypes, so nothing to explain")

    def predict(raw: np.ndarray) -> ModelOutputs:
        out = classifier.run(raw)
        return ModelOutputs(out.logits, out.similarities, out.positions)

    sources = [PrototypeSource.from_dict(s) for s in bundle.prototype_sources if s is not None]
    origin = f"{path} ({backend}, {precision})"
    return ExplainedModel(bundle.config, list(bundle.class_names), bundle.scaling, predict, sources, origin)


def load_explained_model(
    path: str | os.PathLike[str], backend: str = "onnxruntime", precision: str = "fp32"
) -> ExplainedModel:
    """A checkpoint directory (run with PyTorch) or a bundle (run with ``lexnet.runtimes`` on ``backend`` at
    ``precision``)."""
    path = Path(path)
    if (path / METADATA_FILE).is_file():
        logger.debug("explaining checkpoint %s with PyTorch", path)
        return _from_checkpoint(load_checkpoint(path), str(path))
    if path.is_dir() or path.suffix == ".tar":
        return _from_bundle(path, backend, precision)
    raise CheckpointError(f"{path}: neither a checkpoint nor a bundle directory")
