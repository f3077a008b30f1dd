"""Multiply-adds per flow, counted analytically layer by layer from the torch model.

Every convolution is stride 1 and padded, so a convolution's multiply-adds are its weight count times its output
positions; a fully connected layer's are its weight count; a prototype layer's are its prototype vectors times
the positions they are compared at (the cross term x.p of the expanded squared distance) plus the squared norms
of the feature vectors. The counted weights, the biases and the BatchNorm affine parameters add up to the
model's trainable parameters; ``check_parameters`` verifies it, so no layer is left out of the count.
Elementwise work (BatchNorm, activations, additions, logs, minima) is not counted: it is not multiply-adds, and
BatchNorm folds into the convolutions at export.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

    from lexnet.spec import ModelConfig

__all__ = ["LayerCost", "ModelCost", "check_parameters", "count_macs", "model_cost"]

# Model attribute -> part of the model the costs are reported under.
_PARTS = {"backbone": "backbone", "add_on": "add_on", "prototype_layer": "prototypes", "last_layer": "classifier"}


@dataclass(frozen=True)
class LayerCost:
    """One layer's trainable weights (bias included) and multiply-adds per flow."""

    name: str
    kind: str
    part: str
    params: int
    macs: int


@dataclass(frozen=True)
class ModelCost:
    """A model's multiply-adds per flow, per layer and per part, and its trainable parameters."""

    arch: str
    layers: tuple[LayerCost, ...]
    trainable_parameters: int

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    def by_part(self) -> dict[str, int]:
        parts: dict[str, int] = {}
        for layer in self.layers:
            parts[layer.part] = parts.get(layer.part, 0) + layer.macs
        return parts

    def to_dict(self) -> dict[str, Any]:
        return {
            "arch": self.arch,
            "macs": self.macs,
            "by_part": self.by_part(),
            "trainable_parameters": self.trainable_parameters,
            "layers": [asdict(layer) for layer in self.layers],
        }


def _part(name: str) -> str:
    return _PARTS.get(name.split(".")[0], "classifier")


def count_macs(model: nn.Module, config: ModelConfig) -> list[LayerCost]:
    """Per-layer costs of ``model`` for one flow, found by running one flow through it with shape hooks."""
    import torch
    from torch import nn

    from lexnet.models.prototypes import _PrototypeVectors

    costs: list[LayerCost] = []

    def conv_hook(name: str, module: nn.Conv2d, output: torch.Tensor) -> None:
        positions = output.shape[-2] * output.shape[-1]
        bias = module.bias.numel() if module.bias is not None else 0
        weights = module.weight.numel()
        costs.append(LayerCost(name, "conv", _part(name), weights + bias, weights * positions))

    def linear_hook(name: str, module: nn.Linear) -> None:
        bias = module.bias.numel() if module.bias is not None else 0
        weights = module.weight.numel()
        costs.append(LayerCost(name, "linear", _part(name), weights + bias, weights))

    def prototype_hook(name: str, module: _PrototypeVectors, features: torch.Tensor) -> None:
        height, width = module.shape
        positions = (features.shape[-2] - height + 1) * (features.shape[-1] - width + 1)
        vectors = module.prototypes.numel()
        norms = features.shape[1] * height * width * positions
        costs.append(LayerCost(name, "prototype", _part(name), vectors, vectors * positions + norms))

    handles = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(lambda m, i, o, n=name: conv_hook(n, m, o)))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(lambda m, i, o, n=name: linear_hook(n, m)))
        elif isinstance(module, _PrototypeVectors):
            handles.append(module.register_forward_pre_hook(lambda m, i, n=name: prototype_hook(n, m, i[0])))
    try:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *config.input.shape))
        model.train(was_training)
    finally:
        for handle in handles:
            handle.remove()
    return costs


def check_parameters(model: nn.Module, costs: list[LayerCost]) -> None:
    """Raise ``ValueError`` unless the counted layers plus BatchNorm account for every trainable parameter."""
    from torch import nn

    from lexnet.models import count_parameters

    norm = sum(
        p.numel()
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
        for p in m.parameters()
        if p.requires_grad
    )
    counted = sum(c.params for c in costs) + norm
    total = count_parameters(model)
    if counted != total:
        raise ValueError(
            f"the MAC count saw {counted} trainable parameters ({norm} in BatchNorm) but the model has {total}:"
            " a layer type is not counted"
        )


def model_cost(config: ModelConfig, model: nn.Module | None = None) -> ModelCost:
    """Multiply-adds per flow of the model ``config`` describes (built untrained when ``model`` is not given)."""
    from lexnet.models import count_parameters, create_model

    model = model if model is not None else create_model(config)
    costs = count_macs(model, config)
    check_parameters(model, costs)
    return ModelCost(config.arch, tuple(costs), count_parameters(model))
