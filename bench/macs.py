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
    import torch
    from torch import nn

    from lexnet.spec import ModelConfig

__all__ = ["LayerCost", "ModelCost", "check_parameters", "count_macs", "model_cost"]

# Model attribute -> part of the model the costs are reported under.
_PARTS = {
    "backbone": "backbone",
    "add_on": "add_on",
    "prototype_layer": "prototypes",
    "last_layer": "classifier",
    "fc": "classifier",
}


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
    return _PARTS.get(name.split(".")[0], "backbone")


def _own_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters(recurse=False) if p.requires_grad)


def _positions(output: torch.Tensor, spatial_dims: int) -> int:
    positions = 1
    for size in output.shape[output.dim() - spatial_dims :]:
        positions *= size
    return positions


def _lstm_macs(module: nn.LSTM, inputs: torch.Tensor) -> int:
    """Four gates of ``hidden x (input + hidden)`` multiply-adds per step, per layer and direction."""
    steps = inputs.shape[1] if module.batch_first else inputs.shape[0]
    directions = 2 if module.bidirectional else 1
    macs, width = 0, module.input_size
    for _ in range(module.num_layers):
        macs += directions * steps * 4 * module.hidden_size * (width + module.hidden_size)
        width = module.hidden_size * directions
    return macs


def _layer_cost(name: str, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> LayerCost | None:
    """The cost of one module that owns trainable parameters (``None`` for normalisation layers)."""
    from torch import nn

    from lexnet.models.prototypes import _PrototypeVectors

    params = _own_parameters(module)
    if isinstance(module, nn.modules.batchnorm._BatchNorm) or params == 0:
        return None
    if isinstance(module, _PrototypeVectors):
        features = inputs[0]
        height, width = module.shape
        positions = (features.shape[-2] - height + 1) * (features.shape[-1] - width + 1)
        vectors = module.prototypes.numel()
        norms = features.shape[1] * height * width * positions
        return LayerCost(name, "prototype", _part(name), vectors, vectors * positions + norms)
    if isinstance(module, nn.LSTM):
        return LayerCost(name, "lstm", _part(name), params, _lstm_macs(module, inputs[0]))
    weight = getattr(module, "weight", None)
    if weight is None or weight.dim() < 2:
        # Elementwise parameters (scales, PReLU slopes, layer norms): parameters, no multiply-adds worth counting.
        return LayerCost(name, "elementwise", _part(name), params, 0)
    if isinstance(module, nn.Linear):
        positions = _positions(output, output.dim() - 2) if output.dim() > 2 else 1
        return LayerCost(name, "linear", _part(name), params, weight.numel() * positions)
    # Convolutions, nn.ConvNd or custom (a weight [out, in/groups, *kernel]): every weight at every output position.
    positions = _positions(output, weight.dim() - 2)
    return LayerCost(name, "conv", _part(name), params, weight.numel() * positions)


def count_macs(model: nn.Module, config: ModelConfig) -> list[LayerCost]:
    """Per-layer costs of ``model`` for one flow, found by running one flow through it with shape hooks."""
    import torch

    costs: list[LayerCost] = []
    handles = []
    for name, module in model.named_modules():
        if _own_parameters(module):

            def hook(m: nn.Module, i: tuple, o: object, n: str = name) -> None:
                cost = _layer_cost(n, m, i, o)
                if cost is not None:
                    costs.append(cost)

            handles.append(module.register_forward_hook(hook))
    try:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *config.input.shape))
        model.train(was_training)
    finally:
        for handle in handles:
            handle.remove()
    return _mark_classifier(costs)


def _mark_classifier(costs: list[LayerCost]) -> list[LayerCost]:
    """Models outside the paper's naming: their last fully connected layer is the classifier."""
    if any(c.part == "classifier" for c in costs):
        return costs
    last = max((i for i, c in enumerate(costs) if c.kind == "linear"), default=None)
    if last is None:
        return costs
    c = costs[last]
    return [*costs[:last], LayerCost(c.name, c.kind, "classifier", c.params, c.macs), *costs[last + 1 :]]


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
            " a layer was not reached by the counting pass"
        )


def model_cost(config: ModelConfig, model: nn.Module | None = None) -> ModelCost:
    """Multiply-adds per flow of the model ``config`` describes (built untrained when ``model`` is not given)."""
    from lexnet.models import count_parameters, create_model

    model = model if model is not None else create_model(config)
    costs = count_macs(model, config)
    check_parameters(model, costs)
    return ModelCost(config.arch, tuple(costs), count_parameters(model))
