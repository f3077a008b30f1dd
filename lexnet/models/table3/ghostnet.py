"""GhostNet (Han et al., 2020) on the 20 x 2 flow map.

A ghost module makes ``ceil(out / ratio)`` intrinsic maps with an ordinary 1x1 convolution and the rest with a
cheap depthwise 3x3 convolution of those maps ("ghosts"), then keeps the first ``out`` channels. A ghost
bottleneck is ghost module (expansion, ReLU) -> depthwise strided conv when the stride is 2 -> optional
squeeze-excitation -> ghost module (projection, linear), plus a shortcut (identity, or depthwise + 1x1 when the
shape changes). The head: 1x1 conv + BN + ReLU, global average pooling, a 1x1 conv with ReLU, dropout and the
classifier.

Adaptation: the stem keeps stride 1 and the stride-2 bottlenecks halve the packet axis only (20 -> 2 over four).
Channel counts follow one width multiplier, as in the paper; the hidden head width (1280 in the paper, not
width-scaled there) is an option, reduced so that 203 classes land at 300k parameters.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lexnet.models._registry import register_model
from lexnet.models.table3._layers import ConvBNAct, SqueezeExcite, family_options, make_divisible
from lexnet.spec import ModelConfig

__all__ = ["GHOSTNET_BLOCKS", "GHOSTNET_DEFAULTS", "GhostBottleneck", "GhostModule", "GhostNet"]

# The paper's GhostNet: (kernel, expanded, out, squeeze-excite ratio, stride) per bottleneck.
GHOSTNET_BLOCKS: tuple[tuple[int, int, int, float, int], ...] = (
    (3, 16, 16, 0.0, 1),
    (3, 48, 24, 0.0, 2),
    (3, 72, 24, 0.0, 1),
    (5, 72, 40, 0.25, 2),
    (5, 120, 40, 0.25, 1),
    (3, 240, 80, 0.0, 2),
    (3, 200, 80, 0.0, 1),
    (3, 184, 80, 0.0, 1),
    (3, 184, 80, 0.0, 1),
    (3, 480, 112, 0.25, 1),
    (3, 672, 112, 0.25, 1),
    (5, 672, 160, 0.25, 2),
    (5, 960, 160, 0.0, 1),
    (5, 960, 160, 0.25, 1),
    (5, 960, 160, 0.0, 1),
    (5, 960, 160, 0.25, 1),
)

GHOSTNET_DEFAULTS = {
    "width": 0.25,
    "stem_channels": 16,
    "last_channels": 960,
    "hidden_channels": 256,
    "ratio": 2,
    "dropout": 0.2,
}


class GhostModule(nn.Module):
    """Intrinsic maps from a 1x1 convolution, ghost maps from a cheap depthwise 3x3 convolution of them."""

    def __init__(self, in_channels: int, out_channels: int, ratio: int, relu: bool) -> None:
        super().__init__()
        self.out_channels = out_channels
        intrinsic = math.ceil(out_channels / ratio)
        act = "relu" if relu else "identity"
        self.primary = ConvBNAct(in_channels, intrinsic, kernel_size=1, act=act)
        self.cheap = ConvBNAct(intrinsic, intrinsic * (ratio - 1), kernel_size=3, groups=intrinsic, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        intrinsic = self.primary(x)
        out = torch.cat([intrinsic, self.cheap(intrinsic)], dim=1)
        return out[:, : self.out_channels]


class GhostBottleneck(nn.Module):
    """Ghost bottleneck: expansion ghost module, strided depthwise conv, SE, projection ghost module, shortcut."""

    def __init__(
        self, in_channels: int, kernel: int, expanded: int, out_channels: int, se_ratio: float, stride: int, ratio: int
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [GhostModule(in_channels, expanded, ratio, relu=True)]
        if stride > 1:
            layers.append(ConvBNAct(expanded, expanded, kernel, stride=stride, groups=expanded, act="identity"))
        if se_ratio > 0:
            layers.append(SqueezeExcite(expanded, make_divisible(expanded * se_ratio, 4), gate="hsigmoid"))
        layers.append(GhostModule(expanded, out_channels, ratio, relu=False))
        self.block = nn.Sequential(*layers)
        self.shortcut: nn.Module = nn.Identity()
        if stride > 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                ConvBNAct(in_channels, in_channels, kernel, stride=stride, groups=in_channels, act="identity"),
                ConvBNAct(in_channels, out_channels, kernel_size=1, act="identity"),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x) + self.shortcut(x)


class GhostNet(nn.Module):
    """GhostNet, width-scaled, with packet-axis strides and a narrower hidden head."""

    is_prototype_model = False

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        options = family_options(config, GHOSTNET_DEFAULTS)
        width, ratio = float(options["width"]), int(options["ratio"])
        channels = make_divisible(options["stem_channels"] * width, 4)
        layers: list[nn.Module] = [ConvBNAct(config.input.shape[0], channels, kernel_size=3)]
        for kernel, expanded, out, se_ratio, stride in GHOSTNET_BLOCKS:
            out_channels = make_divisible(out * width, 4)
            hidden = make_divisible(expanded * width, 4)
            layers.append(GhostBottleneck(channels, kernel, hidden, out_channels, se_ratio, stride, ratio))
            channels = out_channels
        last = make_divisible(options["last_channels"] * width, 4)
        layers.append(ConvBNAct(channels, last, kernel_size=1))
        self.features = nn.Sequential(*layers)
        head = int(options["hidden_channels"])
        self.head = nn.Sequential(nn.Conv2d(last, head, kernel_size=1), nn.ReLU(), nn.Flatten(1))
        self.dropout = nn.Dropout(float(options["dropout"]))
        self.fc = nn.Linear(head, config.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.features(x).mean(dim=(2, 3), keepdim=True)
        return self.fc(self.dropout(self.head(pooled)))


@register_model("ghostnet")
def ghostnet(config: ModelConfig) -> nn.Module:
    """GhostNet, width-scaled to ~300k parameters (Table 3)."""
    return GhostNet(config)
