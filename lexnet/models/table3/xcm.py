"""XCM (Fauvel et al., 2021) on the flow as a 20-step series of 2 variables.

Two branches read the series. The 2D branch convolves the (time, variable) map with ``filters`` kernels of
``window x 1`` (each variable on its own, which is what makes its maps explainable per variable), BN, ReLU, then a
1x1 convolution to one map (ReLU): a time x variables map. The 1D branch convolves the series along time with
``filters`` kernels spanning all variables, BN, ReLU, then a 1x1 convolution to one series (ReLU). The two are
concatenated into a time x (variables + 1) series, convolved along time with ``filters`` kernels of ``window``,
BN, ReLU, globally average pooled, and classified. Convolutions use "same" padding and keep their biases, as in
the authors' Keras code.

Sizing: the window is a fraction of the series' length (a hyperparameter of the paper); the filter count is raised
so that 203 classes land at 300k parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from lexnet.models._registry import register_model
from lexnet.models.table3._layers import family_options, keras_same_conv
from lexnet.spec import ModelConfig

__all__ = ["XCM", "XCM_DEFAULTS"]

XCM_DEFAULTS = {
    "filters": 1248,
    # Window as a fraction of the number of packets (at least 1 step).
    "window": 0.2,
}


class XCM(nn.Module):
    """eXplainable Convolutional neural network for Multivariate time series classification."""

    is_prototype_model = False

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        options = family_options(config, XCM_DEFAULTS)
        filters = int(options["filters"])
        window = max(1, round(float(options["window"]) * config.input.packets))
        variables = config.input.variables
        self.branch_2d = nn.Sequential(
            keras_same_conv(nn.Conv2d, config.input.shape[0], filters, window),
            nn.BatchNorm2d(filters),
            nn.ReLU(),
            nn.Conv2d(filters, 1, kernel_size=1),
            nn.ReLU(),
        )
        self.branch_1d = nn.Sequential(
            keras_same_conv(nn.Conv1d, variables, filters, window),
            nn.BatchNorm1d(filters),
            nn.ReLU(),
            nn.Conv1d(filters, 1, kernel_size=1),
            nn.ReLU(),
        )
        self.merge = nn.Sequential(
            keras_same_conv(nn.Conv1d, variables + 1, filters, window),
            nn.BatchNorm1d(filters),
            nn.ReLU(),
        )
        self.fc = nn.Linear(filters, config.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x is already the (time, variable) map: [B, 1, packets, variables].
        per_variable = self.branch_2d(x).squeeze(1).transpose(1, 2)  # [B, variables, packets]
        across = self.branch_1d(x.squeeze(1).transpose(1, 2))  # [B, 1, packets]
        merged = self.merge(torch.cat([per_variable, across], dim=1))
        return self.fc(merged.mean(dim=2))


@register_model("xcm")
def xcm(config: ModelConfig) -> nn.Module:
    """XCM with a widened filter bank to reach ~300k parameters (Table 3)."""
    return XCM(config)
