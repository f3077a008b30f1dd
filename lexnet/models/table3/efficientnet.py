"""EfficientNet (Tan and Le, 2019) on the 20 x 2 flow map, compound-scaled down from B0.

MBConv blocks: a 1x1 expansion (skipped when the ratio is 1), a depthwise k x k convolution, squeeze-excitation
reduced to a quarter of the block's input width (SiLU, sigmoid gate), a linear 1x1 projection, and an identity
shortcut with stochastic depth when shape allows. SiLU (swish) throughout. Head: 1x1 conv, global average pooling,
dropout, classifier.

Adaptation: the stem keeps stride 1 and the stride-2 stages halve the packet axis only (20 -> 2 over four). The
network is scaled down from B0 with the paper's own two knobs, a width and a depth multiplier (channels rounded
to multiples of 8, repeats rounded up), which puts it at 300k parameters for 203 classes.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lexnet.models._registry import register_model
from lexnet.models.table3._layers import ConvBNAct, SqueezeExcite, StochasticDepth, family_options, make_divisible
from lexnet.spec import ModelConfig

__all__ = ["EFFICIENTNET_B0", "EFFICIENTNET_DEFAULTS", "EfficientNet", "MBConv"]

# EfficientNet-B0: (expansion, kernel, stride, out channels, repeats) per stage; the stem has 32 channels.
EFFICIENTNET_B0: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)

EFFICIENTNET_DEFAULTS = {
    "width": 0.28,
    "depth": 0.5,
    "stem_channels": 32,
    "head_channels": 1280,
    "dropout": 0.2,
    "stochastic_depth": 0.2,
}


class MBConv(nn.Module):
    """Mobile inverted bottleneck with squeeze-excitation and stochastic depth on the shortcut."""

    def __init__(
        self, in_channels: int, out_channels: int, expansion: int, kernel: int, stride: int, drop_rate: float
    ) -> None:
        super().__init__()
        expanded = in_channels * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(ConvBNAct(in_channels, expanded, kernel_size=1, act="silu"))
        layers += [
            ConvBNAct(expanded, expanded, kernel, stride=stride, groups=expanded, act="silu"),
            SqueezeExcite(expanded, max(1, in_channels // 4), act="silu", gate="sigmoid"),
            ConvBNAct(expanded, out_channels, kernel_size=1, act="identity"),
        ]
        self.block = nn.Sequential(*layers)
        self.use_shortcut = stride == 1 and in_channels == out_channels
        self.drop = StochasticDepth(drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return self.drop(y) + x if self.use_shortcut else y


class EfficientNet(nn.Module):
    """EfficientNet-B0 layout, scaled by width and depth multipliers, with packet-axis strides."""

    is_prototype_model = False

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        options = family_options(config, EFFICIENTNET_DEFAULTS)
        width, depth = float(options["width"]), float(options["depth"])
        channels = make_divisible(options["stem_channels"] * width)
        layers: list[nn.Module] = [ConvBNAct(config.input.shape[0], channels, kernel_size=3, act="silu")]
        repeats = [math.ceil(stage[4] * depth) for stage in EFFICIENTNET_B0]
        total, index = sum(repeats), 0
        for (expansion, kernel, stride, out, _), count in zip(EFFICIENTNET_B0, repeats, strict=True):
            out_channels = make_divisible(out * width)
            for repeat in range(count):
                # The drop rate grows linearly with depth, as in the paper's training code.
                rate = float(options["stochastic_depth"]) * index / total
                layers.append(MBConv(channels, out_channels, expansion, kernel, stride if repeat == 0 else 1, rate))
                channels, index = out_channels, index + 1
        head = make_divisible(options["head_channels"] * width)
        layers.append(ConvBNAct(channels, head, kernel_size=1, act="silu"))
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(float(options["dropout"]))
        self.fc = nn.Linear(head, config.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.features(x).mean(dim=(2, 3))))


@register_model("efficientnet")
def efficientnet(config: ModelConfig) -> nn.Module:
    """EfficientNet-B0 scaled down to ~300k parameters (Table 3)."""
    return EfficientNet(config)
