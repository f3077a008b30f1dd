"""Convolution blocks of the backbones: plain residual, original ResNet n -> 2n, LERes and its ablation.

Every convolution is 3x3, stride 1, padded: the 20 x 2 map keeps its size, so a position in any feature map
is a (packet, variable) position of the flow. No activation or addition is done in place: post-hoc explainers
(Grad-CAM, SHAP) hook these modules and in-place updates break their gradients.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LEResBlock", "LinearResBlock", "ResNetBlock", "ResidualBlock", "activation", "conv3x3"]


def conv3x3(in_channels: int, out_channels: int, groups: int = 1) -> nn.Conv2d:
    """3x3 convolution, stride 1, padded, without bias (a BatchNorm follows, or it is linear by design)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, groups=groups, bias=False)


def activation(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU()
    if name == "sigmoid":
        return nn.Sigmoid()
    raise ValueError(f"unknown activation {name!r}; expected 'relu' or 'sigmoid'")


class ResidualBlock(nn.Module):
    """Equal-width residual block: two convolutions with BatchNorm and an identity shortcut."""

    def __init__(self, channels: int, out_activation: str = "relu") -> None:
        super().__init__()
        self.conv1 = conv3x3(channels, channels)
        self.bn1 = nn.BatchNorm2d(channels)
        self.act1 = nn.ReLU()
        self.conv2 = conv3x3(channels, channels)
        self.bn2 = nn.BatchNorm2d(channels)
        self.act2 = activation(out_activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act1(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(h))
        return self.act2(y + x)


class ResNetBlock(nn.Module):
    """The original residual block from n to 2n channels, with a 3x3 convolution on the shortcut."""

    def __init__(self, in_channels: int, out_activation: str = "relu") -> None:
        super().__init__()
        out_channels = 2 * in_channels
        self.conv1 = conv3x3(in_channels, out_channels)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.act1 = nn.ReLU()
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential(conv3x3(in_channels, out_channels), nn.BatchNorm2d(out_channels))
        self.act2 = activation(out_activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act1(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(h))
        return self.act2(y + self.shortcut(x))


class _LinearExpansion(nn.Module):
    """conv1 n -> n (+ BN, ReLU), then a depthwise linear convolution that doubles the maps cheaply."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = conv3x3(channels, channels)
        self.bn1 = nn.BatchNorm2d(channels)
        self.act1 = nn.ReLU()
        # Linear on purpose: no bias, no BatchNorm, no activation (the "linear" of LERes).
        self.depthwise = conv3x3(channels, channels, groups=channels)
        self.conv2 = conv3x3(2 * channels, 2 * channels)
        self.bn2 = nn.BatchNorm2d(2 * channels)

    def expand(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (h, conv2 output) for input x."""
        h = self.act1(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(torch.cat([h, self.depthwise(h)], dim=1)))
        return h, y


class LEResBlock(_LinearExpansion):
    """LERes block (n -> 2n): linear expansion, and concat(x, h) as the shortcut instead of a convolution."""

    def __init__(self, in_channels: int, out_activation: str = "relu") -> None:
        super().__init__(in_channels)
        self.act2 = activation(out_activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, y = self.expand(x)
        return self.act2(y + torch.cat([x, h], dim=1))


class LinearResBlock(_LinearExpansion):
    """Table 4's ablation "ResNet + linear": the linear expansion, with the convolutional shortcut kept."""

    def __init__(self, in_channels: int, out_activation: str = "relu") -> None:
        super().__init__(in_channels)
        out_channels = 2 * in_channels
        self.shortcut = nn.Sequential(conv3x3(in_channels, out_channels), nn.BatchNorm2d(out_channels))
        self.act2 = activation(out_activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, y = self.expand(x)
        return self.act2(y + self.shortcut(x))
