"""CondenseNetV2 (Yang et al., 2021) on the 20 x 2 flow map: learned group convolutions and sparse feature
reactivation in a densely connected network.

Dense layer: a learned group convolution (LGC: BN, activation, 1x1 conv to ``bottleneck`` x growth maps) and a
3x3 group convolution make ``growth`` new maps (optionally squeeze-excited); a sparse feature reactivation module
(SFR: BN, activation, a learned group 1x1 conv from the new maps back to every input map, its BN starting at zero)
updates the reused maps; the layer outputs concat(input + SFR(new), new). Between blocks, 2 x 1 average pooling.
After the last block: BN, ReLU, global average pooling, squeeze-excitation, a hidden fully connected layer with
hard-swish, the classifier. ReLU in the first blocks, hard-swish from ``hswish_from``; SE from ``se_from``.

Learned group convolution: the 1x1 weights carry a mask. Over the first half of training the mask is condensed
in ``condense_factor - 1`` steps; each step drops, within each of the ``groups`` groups, the ``1 / condense_factor``
of its connections whose weights have the smallest L1 norm, so that each group keeps ``1 / condense_factor`` of
them in the end. The schedule is driven by ``CondenseNetV2.set_progress(fraction_of_training_done)``: a training
loop that never calls it trains the dense network (the mask stays all ones). The masked convolution computes
exactly what the paper's converted network (index select + group convolution) computes, so exports keep it.

Adaptation: stem with stride 1 (the CIFAR variant's), pooling along the packet axis only (20 -> 10 -> 5 -> 2),
widths sized so that 203 classes land at 300k trainable parameters (masked weights included: they are trained).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lexnet.models._registry import register_model
from lexnet.models.table3._layers import SqueezeExcite, activation_layer, family_options
from lexnet.spec import ModelConfig

__all__ = ["CONDENSENETV2_DEFAULTS", "CondenseNetV2", "LearnedGroupConv", "SFRDenseLayer"]

CONDENSENETV2_DEFAULTS = {
    "block_layers": (2, 4, 4, 4),
    "growth": (8, 8, 16, 32),
    "bottleneck": 4,
    "groups": 4,
    "condense_factor": 4,
    "hswish_from": 2,
    "se_from": 3,
    "last_se_reduction": 16,
    "hidden_channels": 192,
}


class LearnedGroupConv(nn.Module):
    """BN, activation, masked 1x1 convolution whose connections are pruned group by group during training.

    ``transposed=False`` (LGC): output channel ``o`` belongs to group ``o % groups``, and each group keeps a
    learned subset of the input channels. ``transposed=True`` (SFR): input channel ``i`` belongs to group
    ``i % groups``, and each group keeps a learned subset of the output channels.
    """

    mask: torch.Tensor
    stage: torch.Tensor

    def __init__(
        self, in_channels: int, out_channels: int, groups: int, condense_factor: int, act: str, transposed: bool
    ) -> None:
        super().__init__()
        pruned = out_channels if transposed else in_channels
        grouped = in_channels if transposed else out_channels
        if pruned % condense_factor or grouped % groups:
            raise ValueError(
                f"learned group conv {in_channels} -> {out_channels}: {pruned} must divide by condense_factor"
                f" {condense_factor} and {grouped} by groups {groups}"
            )
        self.groups, self.condense_factor, self.transposed = groups, condense_factor, transposed
        self.norm = nn.BatchNorm2d(in_channels)
        self.act = activation_layer(act)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 1, 1))
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")
        self.register_buffer("mask", torch.ones(out_channels, in_channels, 1, 1))
        self.register_buffer("stage", torch.zeros((), dtype=torch.int64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(self.act(self.norm(x)), self.weight * self.mask)

    @torch.no_grad()
    def set_progress(self, progress: float) -> None:
        """Condense up to the stage that ``progress`` (fraction of training done) has reached."""
        steps = self.condense_factor - 1
        target = min(steps, int(2 * progress * steps)) if steps else 0
        while int(self.stage) < target:
            self._drop_one_stage()
            self.stage = self.stage + 1

    def _drop_one_stage(self) -> None:
        # View weights as [group, member, pruned]: the pruned axis is where connections are dropped.
        weight = (self.weight * self.mask).abs()[:, :, 0, 0]
        mask = self.mask[:, :, 0, 0]
        if self.transposed:
            weight, mask = weight.t(), mask.t()
        members = weight.shape[0] // self.groups
        delta = weight.shape[1] // self.condense_factor
        kept = mask.reshape(members, self.groups, -1).transpose(0, 1)
        strength = weight.reshape(members, self.groups, -1).transpose(0, 1).sum(dim=1)
        new_mask = mask.clone()
        for group in range(self.groups):
            alive = kept[group].amax(dim=0) > 0
            scores = strength[group].masked_fill(~alive, float("inf"))
            drop = scores.argsort()[:delta]
            new_mask[group :: self.groups, drop] = 0.0
        new_mask = new_mask.t() if self.transposed else new_mask
        self.mask = new_mask[:, :, None, None].contiguous()

    def group_lasso(self) -> torch.Tensor:
        """The paper's group-lasso term: sum of the L2 norms of each (group, pruned channel) weight column."""
        weight = (self.weight * self.mask)[:, :, 0, 0].pow(2)
        if self.transposed:
            weight = weight.t()
        members = weight.shape[0] // self.groups
        return weight.reshape(members, self.groups, -1).sum(dim=0).clamp_min(1e-6).sqrt().sum()


class SFRDenseLayer(nn.Module):
    """LGC 1x1 -> 3x3 group conv (-> SE) makes ``growth`` maps; SFR reactivates the reused maps with them."""

    def __init__(self, in_channels: int, growth: int, options: dict, act: str, se: bool) -> None:
        super().__init__()
        groups, factor = int(options["groups"]), int(options["condense_factor"])
        bottleneck = int(options["bottleneck"]) * growth
        self.lgc = LearnedGroupConv(in_channels, bottleneck, groups, factor, act, transposed=False)
        self.conv = nn.Sequential(
            nn.BatchNorm2d(bottleneck),
            activation_layer(act),
            nn.Conv2d(bottleneck, growth, kernel_size=3, padding=1, groups=groups, bias=False),
        )
        self.se: nn.Module = SqueezeExcite(growth, growth, gate="sigmoid", bias=False) if se else nn.Identity()
        self.sfr = LearnedGroupConv(growth, in_channels, groups, factor, act, transposed=True)
        # The SFR branch starts silent: its BatchNorm scale is zero, so the reused maps start unchanged.
        nn.init.zeros_(self.sfr.norm.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        new = self.se(self.conv(self.lgc(x)))
        return torch.cat([x + self.sfr(new), new], dim=1)


class CondenseNetV2(nn.Module):
    """CondenseNetV2 with packet-axis pooling; ``set_progress`` drives the condensation schedule."""

    is_prototype_model = False

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        options = family_options(config, CONDENSENETV2_DEFAULTS)
        blocks, growths = options["block_layers"], options["growth"]
        if len(blocks) != len(growths):
            raise ValueError(f"block_layers {blocks} and growth {growths} differ in length")
        channels = 2 * growths[0]
        layers: list[nn.Module] = [nn.Conv2d(config.input.shape[0], channels, 3, padding=1, bias=False)]
        for index, (count, growth) in enumerate(zip(blocks, growths, strict=True)):
            if index > 0:
                layers.append(nn.AvgPool2d(kernel_size=(2, 1), stride=(2, 1)))
            act = "hswish" if index >= options["hswish_from"] else "relu"
            for _ in range(count):
                layers.append(SFRDenseLayer(channels, growth, options, act, se=index >= options["se_from"]))
                channels += growth
        self.features = nn.Sequential(*layers, nn.BatchNorm2d(channels), nn.ReLU())
        reduced = max(1, channels // int(options["last_se_reduction"]))
        self.last_se = SqueezeExcite(channels, reduced, gate="sigmoid", bias=False)
        hidden = int(options["hidden_channels"])
        self.head = nn.Sequential(nn.Linear(channels, hidden), nn.Hardswish())
        self.fc = nn.Linear(hidden, config.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.last_se(self.features(x).mean(dim=(2, 3), keepdim=True))
        return self.fc(self.head(torch.flatten(pooled, 1)))

    def set_progress(self, progress: float) -> None:
        """Advance every learned group convolution's condensation to ``progress`` (0 = start, 1 = end of training).

        Example:
            >>> for epoch in range(epochs):
            ...     model.set_progress(epoch / epochs)
            ...     train_one_epoch(model)
        """
        if not 0.0 <= progress <= 1.0:
            raise ValueError(f"progress must be in [0, 1], got {progress}")
        for module in self.modules():
            if isinstance(module, LearnedGroupConv):
                module.set_progress(progress)


@register_model("condensenetv2")
def condensenetv2(config: ModelConfig) -> nn.Module:
    """CondenseNetV2 sized to ~300k parameters (Table 3)."""
    return CondenseNetV2(config)
