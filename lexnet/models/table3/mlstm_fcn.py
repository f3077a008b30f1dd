"""MLSTM-FCN (Karim et al., 2019) on the flow as a 20-step series of 2 variables.

Two branches read the same series. The fully convolutional branch slides along the packets: three Conv1d + BN +
ReLU blocks (128, 256, 128 filters; kernels 8, 5, 3; "same" padding), the first two followed by
squeeze-excitation (reduction 16, no bias), then global average pooling. The LSTM branch applies the authors'
dimension shuffle: the LSTM steps over the variables and reads all packets of one variable at each step (2 steps
of 20 features here), with 8 cells and dropout 0.8 on its last output. Both are concatenated into a softmax
classifier. The authors' hyperparameters give 300k parameters for 203 classes as they are.

Not reproduced: the Keras masking layer in front of the LSTM (it would mask all-zero steps; after the dimension
shuffle a step is a whole variable, never all zeros in a real flow).
"""

from __future__ import annotations

import torch
from torch import nn

from lexnet.models._registry import register_model
from lexnet.models.table3._layers import family_options, keras_same_conv
from lexnet.spec import ModelConfig

__all__ = ["MLSTMFCN", "MLSTM_FCN_DEFAULTS", "SqueezeExcite1d"]

MLSTM_FCN_DEFAULTS = {
    "filters": (128, 256, 128),
    "kernels": (8, 5, 3),
    "se_reduction": 16,
    "lstm_cells": 8,
    "lstm_dropout": 0.8,
}


class SqueezeExcite1d(nn.Module):
    """Squeeze-excitation over the channels of a series, as in MLSTM-FCN (dense layers without bias)."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        self.gate = nn.Sequential(
            nn.Linear(channels, channels // reduction, bias=False),
            nn.ReLU(),
            nn.Linear(channels // reduction, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x.mean(dim=2)).unsqueeze(2)


class MLSTMFCN(nn.Module):
    """LSTM over the shuffled dimensions beside a squeeze-excited fully convolutional network."""

    is_prototype_model = False

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        options = family_options(config, MLSTM_FCN_DEFAULTS)
        filters, kernels = options["filters"], options["kernels"]
        if len(filters) != len(kernels):
            raise ValueError(f"filters {filters} and kernels {kernels} differ in length")
        layers: list[nn.Module] = []
        in_channels = config.input.variables
        for index, (width, kernel) in enumerate(zip(filters, kernels, strict=True)):
            layers += [keras_same_conv(nn.Conv1d, in_channels, width, kernel), nn.BatchNorm1d(width), nn.ReLU()]
            if index < len(filters) - 1:
                layers.append(SqueezeExcite1d(width, int(options["se_reduction"])))
            in_channels = width
        self.fcn = nn.Sequential(*layers)
        cells = int(options["lstm_cells"])
        self.lstm = nn.LSTM(input_size=config.input.packets, hidden_size=cells, batch_first=True)
        self.lstm_dropout = nn.Dropout(float(options["lstm_dropout"]))
        self.fc = nn.Linear(in_channels + cells, config.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # [B, 1, packets, variables] -> [B, variables, packets]: channels of the FCN, and the LSTM's shuffled steps.
        series = x.squeeze(1).transpose(1, 2)
        conv = self.fcn(series).mean(dim=2)
        steps, _ = self.lstm(series)
        recurrent = self.lstm_dropout(steps[:, -1])
        return self.fc(torch.cat([recurrent, conv], dim=1))


@register_model("mlstm_fcn")
def mlstm_fcn(config: ModelConfig) -> nn.Module:
    """MLSTM-FCN with the authors' hyperparameters (Table 3)."""
    return MLSTMFCN(config)
