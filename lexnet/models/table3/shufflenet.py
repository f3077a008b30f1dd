"""ShuffleNetV2 (Ma et al., 2018) on the 20 x 2 flow map.

A basic unit splits the channels in two halves, keeps one as is and passes the other through 1x1 conv, 3x3
depthwise conv and 1x1 conv (BN after each, ReLU after the 1x1s); the halves are concatenated and the channels
shuffled across the two branches. A downsampling unit feeds the whole input to both branches (the left one a
depthwise 3x3 with stride and a 1x1), which doubles the channels. Three stages of (4, 8, 4) units, then a 1x1
convolution, global average pooling and the classifier.

Adaptation: no stride in the stem and no max pooling after it (a 20-packet flow cannot afford a fourfold
reduction before the first stage); each stage's first unit halves the packet axis only, 20 -> 10 -> 5 -> 3.
The stage widths are those of the 0.5x network; the final 1x1 width is reduced from 1024 so that, with 203
classes, the model lands at 300k parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from lexnet.models._registry import register_model
from lexnet.models.table3._layers import ConvBNAct, family_options
from lexnet.spec import ModelConfig

__all__ = ["SHUFFLENETV2_DEFAULTS", "ChannelShuffle", "ShuffleNetV2", "ShuffleUnit"]

SHUFFLENETV2_DEFAULTS = {
    "stem_channels": 24,
    # Output channels of the three stages (the paper's 0.5x network) and their unit counts.
    "stage_channels": (48, 96, 192),
    "stage_units": (4, 8, 4),
    # The last 1x1 convolution before pooling (1024 in the paper).
    "last_channels": 384,
}


class ChannelShuffle(nn.Module):
    """Interleave the channels of ``groups`` equal groups: [g0c0, g1c0, ..., g0c1, g1c1, ...].

    The paper's reshape-transpose-reshape. Two other spellings of the same permutation were tried and dropped:
    a gather with a fixed channel order, which OpenVINO 2026.4's CPU plugin computes wrongly once a 1x1
    convolution follows it, and ``unflatten``, whose TorchScript export carries shape arithmetic that TVM Relax's
    ONNX importer rejects. The dynamo exporter (``lexnet.export``) writes this one with a static shape.
    """

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        if channels % groups:
            raise ValueError(f"{channels} channels do not split into {groups} groups")
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        x = x.reshape(batch, self.groups, channels // self.groups, height, width)
        return x.transpose(1, 2).reshape(batch, channels, height, width)


def _branch(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """1x1 conv + BN + ReLU, 3x3 depthwise (strided) + BN, 1x1 conv + BN + ReLU."""
    return nn.Sequential(
        ConvBNAct(in_channels, out_channels, kernel_size=1),
        ConvBNAct(out_channels, out_channels, kernel_size=3, stride=stride, groups=out_channels, act="identity"),
        ConvBNAct(out_channels, out_channels, kernel_size=1),
    )


class ShuffleUnit(nn.Module):
    """ShuffleNetV2 unit: channel split (stride 1) or both branches on the whole input (stride 2), then shuffle."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        if out_channels % 2:
            raise ValueError(f"ShuffleNetV2 units need an even channel count, got {out_channels}")
        half = out_channels // 2
        self.stride = stride
        if stride == 1 and in_channels != out_channels:
            raise ValueError(f"a stride-1 unit keeps its width; got {in_channels} -> {out_channels}")
        self.left: nn.Module = nn.Identity()
        if stride > 1:
            self.left = nn.Sequential(
                ConvBNAct(in_channels, in_channels, kernel_size=3, stride=stride, groups=in_channels, act="identity"),
                ConvBNAct(in_channels, half, kernel_size=1),
            )
        self.right = _branch(in_channels if stride > 1 else half, half, stride)
        self.shuffle = ChannelShuffle(out_channels, groups=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            kept, processed = x.chunk(2, dim=1)
            out = torch.cat([kept, self.right(processed)], dim=1)
        else:
            out = torch.cat([self.left(x), self.right(x)], dim=1)
        return self.shuffle(out)


class ShuffleNetV2(nn.Module):
    """ShuffleNetV2 with packet-axis strides and a narrower final 1x1 convolution."""

    is_prototype_model = False

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        options = family_options(config, SHUFFLENETV2_DEFAULTS)
        if len(options["stage_channels"]) != len(options["stage_units"]):
            raise ValueError(
                f"stage_channels {options['stage_channels']} and stage_units {options['stage_units']} differ in length"
            )
        channels = int(options["stem_channels"])
        layers: list[nn.Module] = [ConvBNAct(config.input.shape[0], channels, kernel_size=3)]
        for out_channels, units in zip(options["stage_channels"], options["stage_units"], strict=True):
            layers.append(ShuffleUnit(channels, out_channels, stride=2))
            layers += [ShuffleUnit(out_channels, out_channels, stride=1) for _ in range(units - 1)]
            channels = out_channels
        layers.append(ConvBNAct(channels, options["last_channels"], kernel_size=1))
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(options["last_channels"], config.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))


@register_model("shufflenetv2")
def shufflenetv2(config: ModelConfig) -> nn.Module:
    """ShuffleNetV2 (0.5x stages), sized to ~300k parameters (Table 3)."""
    return ShuffleNetV2(config)
