"""MobileNetV3-Small (Howard et al., 2019) on the 20 x 2 flow map.

Inverted residual blocks: a 1x1 expansion, a depthwise k x k convolution, an optional squeeze-excitation
(reduced to a quarter of the expanded width, hard-sigmoid gate), a linear 1x1 projection, and an identity
shortcut when shape allows. Hard-swish replaces ReLU in the later blocks. The head is a 1x1 convolution, global
average pooling, a hidden fully connected layer with hard-swish and dropout, then the classifier.

Adaptation: the stem keeps stride 1 (a 20-packet flow cannot afford the stem's halving) and the stride-2 blocks
halve the packet axis only, so the four of them take 20 packets down to 2, the way 224 pixels end at 7.
All channel counts are scaled by one width multiplier, the hidden head width included, as in the paper.
"""

from __future__ import annotations

import torch
from torch import nn

from lexnet.models._registry import register_model
from lexnet.models.table3._layers import ConvBNAct, SqueezeExcite, family_options, make_divisible
from lexnet.spec import ModelConfig

__all__ = ["MOBILENETV3_DEFAULTS", "MOBILENETV3_SMALL", "InvertedResidual", "MobileNetV3"]

# The paper's MobileNetV3-Small: (kernel, expanded, out, squeeze-excite, activation, stride) per block.
MOBILENETV3_SMALL: tuple[tuple[int, int, int, bool, str, int], ...] = (
    (3, 16, 16, True, "relu", 2),
    (3, 72, 24, False, "relu", 2),
    (3, 88, 24, False, "relu", 1),
    (5, 96, 40, True, "hswish", 2),
    (5, 240, 40, True, "hswish", 1),
    (5, 240, 40, True, "hswish", 1),
    (5, 120, 48, True, "hswish", 1),
    (5, 144, 48, True, "hswish", 1),
    (5, 288, 96, True, "hswish", 2),
    (5, 576, 96, True, "hswish", 1),
    (5, 576, 96, True, "hswish", 1),
)

MOBILENETV3_DEFAULTS = {
    # Width multiplier on every channel count; 0.37 gives 300k trainable parameters with 203 classes.
    "width": 0.37,
    "stem_channels": 16,
    "last_channels": 576,
    "hidden_channels": 1024,
    "dropout": 0.2,
}


class InvertedResidual(nn.Module):
    """MobileNetV3 block: expand 1x1, depthwise k x k, optional SE, linear projection, identity shortcut."""

    def __init__(
        self, in_channels: int, kernel: int, expanded: int, out_channels: int, se: bool, act: str, stride: int
    ) -> None:
        super().__init__()
        self.use_shortcut = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = []
        if expanded != in_channels:
            layers.append(ConvBNAct(in_channels, expanded, kernel_size=1, act=act))
        layers.append(ConvBNAct(expanded, expanded, kernel_size=kernel, stride=stride, groups=expanded, act=act))
        if se:
            layers.append(SqueezeExcite(expanded, make_divisible(expanded / 4), act="relu", gate="hsigmoid"))
        layers.append(ConvBNAct(expanded, out_channels, kernel_size=1, act="identity"))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return y + x if self.use_shortcut else y


class MobileNetV3(nn.Module):
    """MobileNetV3-Small, width-scaled, with packet-axis strides."""

    is_prototype_model = False

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        options = family_options(config, MOBILENETV3_DEFAULTS)
        width = float(options["width"])
        stem = make_divisible(options["stem_channels"] * width)
        layers: list[nn.Module] = [ConvBNAct(config.input.shape[0], stem, kernel_size=3, act="hswish")]
        channels = stem
        for kernel, expanded, out, se, act, stride in MOBILENETV3_SMALL:
            out_channels = make_divisible(out * width)
            layers.append(
                InvertedResidual(channels, kernel, make_divisible(expanded * width), out_channels, se, act, stride)
            )
            channels = out_channels
        last = make_divisible(options["last_channels"] * width)
        layers.append(ConvBNAct(channels, last, kernel_size=1, act="hswish"))
        self.features = nn.Sequential(*layers)
        hidden = make_divisible(options["hidden_channels"] * width)
        self.classifier = nn.Sequential(
            nn.Linear(last, hidden),
            nn.Hardswish(),
            nn.Dropout(float(options["dropout"])),
            nn.Linear(hidden, config.num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean(dim=(2, 3)))


@register_model("mobilenetv3")
def mobilenetv3(config: ModelConfig) -> nn.Module:
    """MobileNetV3-Small, width-scaled to ~300k parameters (Table 3)."""
    return MobileNetV3(config)
