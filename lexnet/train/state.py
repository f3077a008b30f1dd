"""The resumable training state: one safetensors file, replaced atomically after every step of the schedule.

Tensors (model state, optimizer moments) are safetensors entries; everything else (step reached, optimizer
hyper-parameters, training log, prototype sources, the run's identity) is JSON in the file's metadata. No
random-number state is kept: every step seeds its own generator from the run's seed and the step index.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lexnet.checkpoint import TRAINING_STATE_FILE
from lexnet.errors import CheckpointError

__all__ = ["STATE_FILE", "TrainingState", "load_state", "optimizer_from_flat", "optimizer_to_flat", "save_state"]

logger = logging.getLogger(__name__)

STATE_FILE = TRAINING_STATE_FILE
STATE_FORMAT = "lexnet-training-state/1"


@dataclass
class TrainingState:
    """Where a run stands after ``next_step`` steps of its schedule.

    Attributes:
        next_step: index of the first step still to run.
        model: the model's state dict.
        optimizers: name -> optimizer state dict (as ``torch.optim.Optimizer.state_dict`` returns it).
        info: JSON-serialisable run data: identity of the run, log, prototype sources, elapsed seconds.
    """

    next_step: int
    model: dict[str, torch.Tensor]
    optimizers: dict[str, dict[str, Any]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


def optimizer_to_flat(state: dict[str, Any], prefix: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer state dict into tensors (keyed ``prefix.param.key``) and a JSON-safe remainder."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for param, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.{param}.{key}"] = value
            else:
                scalars.setdefault(str(param), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def optimizer_from_flat(tensors: dict[str, torch.Tensor], meta: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Inverse of ``optimizer_to_flat``."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        head, param, key = name.rsplit(".", 2)
        if head == prefix:
            state.setdefault(int(param), {})[key] = value
    for param, values in meta["scalars"].items():
        state.setdefault(int(param), {}).update(values)
    return {"state": state, "param_groups": meta["param_groups"]}


def save_state(state: TrainingState, directory: str | os.PathLike[str]) -> Path:
    """Write ``state`` to ``directory/training-state.safetensors`` (write, then rename over the old file)."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in state.model.items()}
    optimizers = {}
    for name, optimizer_state in state.optimizers.items():
        flat, meta = optimizer_to_flat(optimizer_state, f"optim.{name}")
        tensors.update({k: v.detach().cpu().contiguous() for k, v in flat.items()})
        optimizers[name] = meta
    meta = {"next_step": state.next_step, "optimizers": optimizers, "info": state.info}
    path = directory / STATE_FILE
    staging = path.with_name(f".{STATE_FILE}.tmp")
    save_file(tensors, staging, metadata={"format": STATE_FORMAT, "state": json.dumps(meta)})
    os.replace(staging, path)
    logger.debug("saved training state at step %d to %s", state.next_step, path)
    return path


def load_state(directory: str | os.PathLike[str], device: str | torch.device = "cpu") -> TrainingState | None:
    """The state saved in ``directory``, or ``None`` when there is none."""
    from safetensors import safe_open

    path = Path(directory) / STATE_FILE
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as handle:
            header = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118  (safe_open is no dict)
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{path}: unreadable training state ({error})") from error
    if header.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{path}: unknown training state format {header.get('format')!r}")
    meta = json.loads(header["state"])
    model = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
    optimizers = {
        name: optimizer_from_flat(tensors, optimizer_meta, f"optim.{name}")
        for name, optimizer_meta in meta["optimizers"].items()
    }
    return TrainingState(next_step=int(meta["next_step"]), model=model, optimizers=optimizers, info=meta["info"])
