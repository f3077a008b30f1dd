"""Vanilla 1D CNN: the flow as a 2-variable series of packets, stacked 1D convolutions, global average, classifier.

This is the plain baseline of Table 3: no residuals, no attention, no grouping. The two per-packet variables
(size, direction) are the input channels and the convolutions slide along the packets.
"""

from __future__ import annotations

import torch
from torch import nn

from lexnet.models._registry import register_model
from lexnet.models.table3._layers import family_options
from lexnet.spec import ModelConfig

__all__ = ["CNN1D_DEFAULTS", "VanillaCNN1D"]

CNN1D_DEFAULTS = {
    # Channels of the successive conv + BN + ReLU layers; 300k trainable parameters with 203 classes.
    "channels": (64, 128, 192, 256),
    # Kernel along the packets (odd, so that "same" padding is symmetric).
    "kernel_size": 3,
}


class VanillaCNN1D(nn.Module):
    """Conv1d + BN + ReLU layers over the packets, global average pooling, one fully connected classifier."""

    is_prototype_model = False

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        options = family_options(config, CNN1D_DEFAULTS)
        kernel = int(options["kernel_size"])
        if kernel % 2 != 1:
            raise ValueError(f"kernel_size must be odd for symmetric padding, got {kernel}")
        layers: list[nn.Module] = []
        in_channels = config.input.variables
        for width in options["channels"]:
            layers += [
                nn.Conv1d(in_channels, width, kernel, padding=kernel // 2, bias=False),
                nn.BatchNorm1d(width),
                nn.ReLU(),
            ]
            in_channels = width
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(in_channels, config.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # [B, 1, packets, variables] -> [B, variables, packets]: the variables are the series' channels.
        series = x.squeeze(1).transpose(1, 2)
        return self.fc(self.features(series).mean(dim=2))


@register_model("cnn1d")
def cnn1d(config: ModelConfig) -> nn.Module:
    """Vanilla 1D CNN over the packets (Table 3)."""
    return VanillaCNN1D(config)
