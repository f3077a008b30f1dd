"""DenseNet-BC (Huang et al., 2017) on the 20 x 2 flow map.

Each dense layer is BN-ReLU-1x1 conv (to ``bottleneck`` x growth channels) then BN-ReLU-3x3 conv (to ``growth``
channels), and its output is concatenated to everything before it. Transitions between blocks compress the
channels by ``compression`` with BN-ReLU-1x1 conv and average-pool. After the last block: BN, ReLU, global
average pooling and the classifier.

Adaptation: the CIFAR variant's stem (one 3x3 convolution to twice the growth rate, no pooling) fits a small
map; transitions pool 2 x 1, halving the packet axis only (20 -> 10 -> 5 -> 2).
"""

from __future__ import annotations

import torch
from torch import nn

from lexnet.models._registry import register_model
from lexnet.models.table3._layers import family_options
from lexnet.spec import ModelConfig

__all__ = ["DENSENET_DEFAULTS", "DenseLayer", "DenseNet", "Transition"]

DENSENET_DEFAULTS = {
    "growth": 12,
    "block_layers": (4, 8, 8, 6),
    "bottleneck": 4,
    "compression": 0.5,
}


def _bn_relu_conv(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    return nn.Sequential(
        nn.BatchNorm2d(in_channels),
        nn.ReLU(),
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
    )


class DenseLayer(nn.Module):
    """Bottleneck dense layer: its ``growth`` new maps are appended to its input."""

    def __init__(self, in_channels: int, growth: int, bottleneck: int) -> None:
        super().__init__()
        self.reduce = _bn_relu_conv(in_channels, bottleneck * growth, 1)
        self.conv = _bn_relu_conv(bottleneck * growth, growth, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.conv(self.reduce(x))], dim=1)


class Transition(nn.Sequential):
    """BN-ReLU-1x1 compression and 2 x 1 average pooling along the packets."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(_bn_relu_conv(in_channels, out_channels, 1), nn.AvgPool2d(kernel_size=(2, 1), stride=(2, 1)))


class DenseNet(nn.Module):
    """DenseNet-BC with packet-axis transitions."""

    is_prototype_model = False

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        options = family_options(config, DENSENET_DEFAULTS)
        growth, bottleneck = int(options["growth"]), int(options["bottleneck"])
        channels = 2 * growth
        layers: list[nn.Module] = [nn.Conv2d(config.input.shape[0], channels, 3, padding=1, bias=False)]
        blocks = options["block_layers"]
        for index, count in enumerate(blocks):
            for _ in range(count):
                layers.append(DenseLayer(channels, growth, bottleneck))
                channels += growth
            if index < len(blocks) - 1:
                compressed = int(channels * float(options["compression"]))
                layers.append(Transition(channels, compressed))
                channels = compressed
        layers += [nn.BatchNorm2d(channels), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(channels, config.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))


@register_model("densenet")
def densenet(config: ModelConfig) -> nn.Module:
    """DenseNet-BC sized to ~300k parameters (Table 3)."""
    return DenseNet(config)
