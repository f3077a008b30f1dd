"""The model zoo: LEXNet, its baselines and the ablation rows, each built from a ``ModelConfig``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lexnet.models import zoo as _zoo  # noqa: F401  (registers the models)
from lexnet.models._registry import get_builder, list_models, register_model
from lexnet.models.prototypes import PrototypeOutput
from lexnet.models.table3 import TABLE3_MODELS  # (importing it registers the Table 3 models)
from lexnet.models.zoo import LinearClassifier, PrototypeClassifier

if TYPE_CHECKING:
    import torch
    from torch import nn

    from lexnet.spec import ModelConfig

__all__ = [
    "TABLE3_MODELS",
    "LinearClassifier",
    "PrototypeClassifier",
    "PrototypeOutput",
    "count_parameters",
    "create_model",
    "is_prototype_model",
    "list_models",
    "register_model",
]


def create_model(config: ModelConfig, device: str | torch.device = "cpu") -> nn.Module:
    """Build the model named by ``config.arch`` on ``device``.

    Example:
        >>> from lexnet.spec import ModelConfig
        >>> model = create_model(ModelConfig(arch="lexnet"))
        >>> count_parameters(model)
        133490
    """
    return get_builder(config.arch)(config).to(device)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (BatchNorm running statistics are buffers and do not count)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def is_prototype_model(model: nn.Module) -> bool:
    return bool(getattr(model, "is_prototype_model", False))
