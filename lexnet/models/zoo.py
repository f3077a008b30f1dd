"""The paper's models, built from one ``ModelConfig``: LEXNet, its baselines and the ablation rows."""

from __future__ import annotations

import itertools

import torch
from torch import nn

from lexnet.models._registry import register_model
from lexnet.models.blocks import LEResBlock, LinearResBlock, ResidualBlock, ResNetBlock, conv3x3
from lexnet.models.prototypes import LProto, ProtoPNetPrototypes, PrototypeLastLayer, PrototypeOutput
from lexnet.spec import ModelConfig

__all__ = ["Backbone", "LinearClassifier", "PrototypeClassifier"]

_BLOCKS: dict[str, type[nn.Module]] = {"resnet": ResNetBlock, "leres": LEResBlock, "linear": LinearResBlock}


class Backbone(nn.Module):
    """Stem convolution, then per stage one widening block (n -> 2n) and one equal-width residual block."""

    def __init__(self, config: ModelConfig, block: str, out_activation: str) -> None:
        super().__init__()
        widths = config.widths
        for narrow, wide in itertools.pairwise(widths):
            if wide != 2 * narrow:
                raise ValueError(f"each stage doubles the width; widths {widths} has {narrow} -> {wide}")
        self.stem = nn.Sequential(conv3x3(config.input.shape[0], widths[0]), nn.BatchNorm2d(widths[0]), nn.ReLU())
        stages: list[nn.Module] = []
        for index, width in enumerate(widths[:-1]):
            last = index == len(widths) - 2
            stages.append(_BLOCKS[block](width))
            stages.append(ResidualBlock(2 * width, out_activation=out_activation if last else "relu"))
        self.stages = nn.Sequential(*stages)
        self.out_channels = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))


class LinearClassifier(nn.Module):
    """A backbone, flattened into one fully connected layer with bias (LEResNet, ResNet, ResNet + linear)."""

    is_prototype_model = False

    def __init__(self, config: ModelConfig, block: str, default_activation: str) -> None:
        super().__init__()
        self.config = config
        self.backbone = Backbone(config, block, config.backbone_activation or default_activation)
        features = self.backbone.out_channels * config.input.packets * config.input.variables
        self.fc = nn.Linear(features, config.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.backbone(x), 1))


class PrototypeClassifier(nn.Module):
    """A backbone, optional add-on layers, a prototype layer and the prototype-to-class last layer."""

    is_prototype_model = True

    def __init__(self, config: ModelConfig, block: str, default_activation: str, *, lproto: bool, addon: bool) -> None:
        super().__init__()
        self.config = config
        self.backbone = Backbone(config, block, config.backbone_activation or default_activation)
        depth = self.backbone.out_channels
        self.add_on: nn.Module = nn.Identity()
        if addon:
            width = config.addon_channels
            self.add_on = nn.Sequential(
                nn.Conv2d(depth, width, kernel_size=1), nn.ReLU(), nn.Conv2d(width, width, kernel_size=1), nn.Sigmoid()
            )
            depth = width
        layer = LProto if lproto else ProtoPNetPrototypes
        self.prototype_layer: LProto | ProtoPNetPrototypes = layer(config.num_prototypes, depth, config.prototype_shape)
        classes = torch.as_tensor(config.prototype_classes())
        self.last_layer = PrototypeLastLayer(classes, config.num_classes)

    @property
    def prototype_class(self) -> torch.Tensor:
        return self.last_layer.prototype_class

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The feature map the prototypes are compared with: [B, depth, packets, variables]."""
        return self.add_on(self.backbone(x))

    def forward(self, x: torch.Tensor) -> PrototypeOutput:
        similarities, positions, min_distances = self.prototype_layer(self.features(x))
        return PrototypeOutput(self.last_layer(similarities), similarities, positions, min_distances)


@register_model("lexnet")
def lexnet(config: ModelConfig) -> nn.Module:
    """LEXNet: LERes backbone ending in a Sigmoid, LProto, prototype-to-class last layer."""
    return PrototypeClassifier(config, "leres", "sigmoid", lproto=True, addon=False)


@register_model("leresnet")
def leresnet(config: ModelConfig) -> nn.Module:
    """LEResNet: LEXNet's backbone with a flattened fully connected classifier (no explanations)."""
    return LinearClassifier(config, "leres", "sigmoid")


@register_model("resnet")
def resnet(config: ModelConfig) -> nn.Module:
    """ResNet with the original n -> 2n residual blocks and a flattened classifier."""
    return LinearClassifier(config, "resnet", "relu")


@register_model("resnet_linear")
def resnet_linear(config: ModelConfig) -> nn.Module:
    """Table 4, row 1: ResNet whose widening blocks use the linear expansion but keep the convolutional shortcut."""
    return LinearClassifier(config, "linear", "relu")


@register_model("protopnet")
def protopnet(config: ModelConfig) -> nn.Module:
    """ProtoPNet on the ResNet backbone: add-on 1x1 layers, 128-deep prototypes, similarity at every position."""
    return PrototypeClassifier(config, "resnet", "relu", lproto=False, addon=True)


@register_model("protopnet_lproto")
def protopnet_lproto(config: ModelConfig) -> nn.Module:
    """Table 5, row 3: ProtoPNet with LProto (add-on removed, prototypes on the Sigmoid backbone)."""
    return PrototypeClassifier(config, "resnet", "sigmoid", lproto=True, addon=False)


@register_model("protopnet_lproto_linear")
def protopnet_lproto_linear(config: ModelConfig) -> nn.Module:
    """Table 5, row 4: ProtoPNet + LProto with the linear expansion (convolutional shortcut kept)."""
    return PrototypeClassifier(config, "linear", "sigmoid", lproto=True, addon=False)
