"""Checkpoints: safetensors weights plus one JSON document, never pickle.

A checkpoint is a directory::

    weights.safetensors   the model's state (parameters and persistent buffers)
    checkpoint.json       config, class names, input scaling, prototype-to-class map, prototype sources, training log

Everything export and explanations need travels with the weights, so a checkpoint is self-contained.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lexnet.data.format import ClassInfo
from lexnet.errors import CheckpointError
from lexnet.spec import ModelConfig, Scaling

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = [
    "CHECKPOINT_FORMAT",
    "Checkpoint",
    "PrototypeSource",
    "check_replaceable",
    "default_checkpoint_path",
    "load_checkpoint",
    "save_checkpoint",
]

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "lexnet-checkpoint/1"
WEIGHTS_FILE = "weights.safetensors"
METADATA_FILE = "checkpoint.json"
# What training leaves in its output directory before the checkpoint replaces it (see ``lexnet.train.state``).
TRAINING_STATE_FILE = "training-state.safetensors"
_REPLACEABLE = {WEIGHTS_FILE, METADATA_FILE, TRAINING_STATE_FILE, f".{TRAINING_STATE_FILE}.tmp"}


@dataclass(frozen=True)
class PrototypeSource:
    """Where a prototype was projected from: a training flow, the matched position and the raw values there.

    Attributes:
        prototype: prototype index.
        class_index: the prototype's class.
        flow_index: index of the source flow in the training split (``-1`` before the first projection).
        packet: packet index of the match (top-left for prototypes taller than one packet).
        variable: variable index of the match (0 = size, 1 = direction).
        raw_flow: the source flow's signed sizes, so an explanation can show it without the data set.
    """

    prototype: int
    class_index: int
    flow_index: int
    packet: int
    variable: int
    raw_flow: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PrototypeSource:
        return cls(**data)


@dataclass
class Checkpoint:
    """A trained model with everything needed to rebuild, export and explain it."""

    config: ModelConfig
    classes: list[ClassInfo]
    scaling: Scaling
    state_dict: dict[str, torch.Tensor]
    prototype_sources: list[PrototypeSource] = field(default_factory=list)
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    def build_model(self, device: str | torch.device = "cpu") -> nn.Module:
        """The model in eval mode with the checkpoint's weights, on ``device``."""
        from lexnet.models import create_model

        model = create_model(self.config, device)
        missing, unexpected = model.load_state_dict(self.state_dict, strict=False)
        if missing or unexpected:
            raise CheckpointError(
                f"weights do not match {self.config.arch}: missing {missing}, unexpected {unexpected}"
            )
        return model.eval()

    def metadata(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "config": self.config.to_dict(),
            "classes": [c.__dict__ for c in self.classes],
            "scaling": self.scaling.to_dict(),
            "prototype_sources": [s.to_dict() for s in self.prototype_sources],
            "training": self.training,
            "metrics": self.metrics,
        }


def save_checkpoint(checkpoint: Checkpoint, path: str | os.PathLike[str]) -> Path:
    """Write ``checkpoint`` to the directory ``path``; an existing checkpoint there is replaced only on success."""
    from safetensors.torch import save_file

    path = Path(path)
    check_replaceable(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        tensors = {k: v.detach().cpu().contiguous() for k, v in checkpoint.state_dict.items()}
        save_file(tensors, staging / WEIGHTS_FILE, metadata={"format": CHECKPOINT_FORMAT})
        (staging / METADATA_FILE).write_text(json.dumps(checkpoint.metadata(), indent=1) + "\n")
        _usual_permissions(staging)
        if path.exists():
            backup = path.with_name(f".{path.name}.old")
            shutil.rmtree(backup, ignore_errors=True)
            path.rename(backup)
            staging.rename(path)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            staging.rename(path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("wrote checkpoint %s (%.1f kB)", path, (path / WEIGHTS_FILE).stat().st_size / 1e3)
    return path


def check_replaceable(path: str | os.PathLike[str]) -> None:
    """Refuse a checkpoint path that holds anything but a checkpoint or a training state: it would be replaced."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CheckpointError(f"{path} is a file; a checkpoint is a directory")
    foreign = sorted(p.name for p in path.iterdir() if p.name not in _REPLACEABLE) if path.is_dir() else []
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise CheckpointError(f"{path} holds files that are not a checkpoint's ({shown}); choose another directory")


def _usual_permissions(directory: Path) -> None:
    """Give the staged directory and its files the modes the umask gives new files (mkdtemp makes them private)."""
    umask = os.umask(0)
    os.umask(umask)
    directory.chmod(0o777 & ~umask)
    for child in directory.iterdir():
        child.chmod(0o666 & ~umask)


def read_checkpoint_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON half of a checkpoint, validated; needs no torch."""
    meta_path = Path(path) / METADATA_FILE
    if not meta_path.is_file():
        raise CheckpointError(f"{path}: not a checkpoint directory ({METADATA_FILE} not found)")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{meta_path}: invalid JSON ({error})") from error
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{meta_path}: unknown checkpoint format {meta.get('format')!r}, expected {CHECKPOINT_FORMAT}"
        )
    return meta


def load_checkpoint(path: str | os.PathLike[str], device: str = "cpu") -> Checkpoint:
    """Read a checkpoint directory written by ``save_checkpoint``."""
    from safetensors.torch import load_file

    meta = read_checkpoint_metadata(path)
    weights = Path(path) / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"{path}: {WEIGHTS_FILE} not found")
    try:
        config = ModelConfig.from_dict(meta["config"])
        return Checkpoint(
            config=config,
            classes=[ClassInfo(**c) for c in meta["classes"]],
            scaling=Scaling.from_dict(meta["scaling"]),
            state_dict=load_file(weights, device=device),
            prototype_sources=[PrototypeSource.from_dict(s) for s in meta.get("prototype_sources", [])],
            training=meta.get("training", {}),
            metrics=meta.get("metrics", {}),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: incomplete or inconsistent checkpoint ({error})") from error


def default_checkpoint_path() -> Path:
    """The trained LEXNet shipped with the package (see the README for the command that made it)."""
    return Path(__file__).parent / "assets" / "lexnet-default"
