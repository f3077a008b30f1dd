"""Building blocks shared by the Table 3 families: options, strides, conv + BN + activation, squeeze-excitation.

Strides act on the packet axis only: the variable axis holds two different quantities (size and direction), which
a network must not blur into one. No module works in place (post-hoc explainers hook these models).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from lexnet.spec import ModelConfig

__all__ = [
    "ConvBNAct",
    "SqueezeExcite",
    "StochasticDepth",
    "activation_layer",
    "family_options",
    "keras_same_conv",
    "make_divisible",
    "packet_stride",
]


def family_options(config: ModelConfig, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The family's options: ``defaults`` updated with ``config.options``; an unknown key raises naming the accepted."""
    unknown = sorted(set(config.options) - set(defaults))
    if unknown:
        raise ValueError(f"unknown options {unknown} for arch {config.arch!r}; accepted: {sorted(defaults)}")
    merged = {**defaults, **config.options}
    # JSON round trips turn tuples into lists; the builders index them the same way, but keep them hashable.
    return {key: tuple(value) if isinstance(value, list) else value for key, value in merged.items()}


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor``, never losing more than 10% (the MobileNet rule)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class _DropFirst(nn.Module):
    """Drops the first position along axis ``dim``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.narrow(self.dim, 1, x.shape[self.dim] - 1)


def keras_same_conv(conv: type[nn.Conv1d | nn.Conv2d], in_channels: int, out_channels: int, kernel: int) -> nn.Module:
    """A stride-1 convolution along the series' time axis with Keras' "same" padding (XCM and MLSTM-FCN use it).

    Keras pads an even kernel one step more after than before. A convolution padded symmetrically by
    ``kernel // 2`` computes one extra output, first, and is otherwise the same: that output is dropped. (Neither
    ``padding="same"``, which warns on even kernels, nor an explicit pad layer, which the TorchScript exporter
    writes with computed pads that TVM Relax rejects, exports as cleanly.) ``nn.Conv2d`` kernels are
    ``kernel x 1`` over a (time, variable) map.
    """
    if conv is nn.Conv2d:
        layer: nn.Module = nn.Conv2d(in_channels, out_channels, (kernel, 1), padding=(kernel // 2, 0))
    else:
        layer = nn.Conv1d(in_channels, out_channels, kernel, padding=kernel // 2)
    if kernel % 2:
        return layer
    return nn.Sequential(layer, _DropFirst(dim=2))


def packet_stride(stride: int) -> tuple[int, int]:
    """A network's stride applied to the packet axis only."""
    return (stride, 1)


def activation_layer(name: str) -> nn.Module:
    """A fresh, out-of-place activation module by name."""
    layers: dict[str, type[nn.Module]] = {
        "relu": nn.ReLU,
        "hswish": nn.Hardswish,
        "hsigmoid": nn.Hardsigmoid,
        "silu": nn.SiLU,
        "sigmoid": nn.Sigmoid,
        "identity": nn.Identity,
    }
    if name not in layers:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(layers)}")
    return layers[name]()


class ConvBNAct(nn.Sequential):
    """Convolution (no bias), BatchNorm, activation; padded so that only the stride changes the map's size."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        act: str = "relu",
    ) -> None:
        super().__init__(
            nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride=packet_stride(stride),
                padding=kernel_size // 2,
                groups=groups,
                bias=False,
            ),
            nn.BatchNorm2d(out_channels),
            activation_layer(act),
        )


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: global average, a bottleneck of two 1x1 convolutions, a gate on each channel."""

    def __init__(
        self, channels: int, reduced: int, act: str = "relu", gate: str = "sigmoid", bias: bool = True
    ) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, kernel_size=1, bias=bias)
        self.act = activation_layer(act)
        self.expand = nn.Conv2d(reduced, channels, kernel_size=1, bias=bias)
        self.gate = activation_layer(gate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean(dim=(2, 3), keepdim=True)
        scale = self.gate(self.expand(self.act(self.reduce(scale))))
        return x * scale


class StochasticDepth(nn.Module):
    """Drops the whole residual branch of a sample with probability ``rate`` while training (EfficientNet)."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"stochastic depth rate must be in [0, 1), got {rate}")
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask = (torch.rand((x.shape[0], 1, 1, 1), device=x.device) < keep).to(x.dtype)
        return x * mask / keep
