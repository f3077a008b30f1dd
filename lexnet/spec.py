"""The model's input/output contract: one frozen description that training, export, runtimes and bench read.

Nothing here imports torch: the router side (``lexnet.runtimes``) depends on this module.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "PRECISION_TOLERANCES",
    "InputSpec",
    "ModelConfig",
    "PrecisionTolerance",
    "Scaling",
    "split_raw",
]


@dataclass(frozen=True, kw_only=True)
class InputSpec:
    """What a flow looks like on the wire and to the model.

    Attributes:
        packets: packets kept per flow (the model's height).
        variables: per-packet variables (the model's width): size, then direction.
        udp_packets: packets kept for UDP flows; the rest is zero-padded.
        mtu: sizes are clipped to this many bytes when flows are read from captures.
        max_abs_size: the largest signed size the on-disk format accepts.
    """

    packets: int = 20
    variables: int = 2
    udp_packets: int = 10
    mtu: int = 1500
    max_abs_size: int = 65535

    @property
    def shape(self) -> tuple[int, int, int]:
        """The scaled input map of one flow: (channels, packets, variables)."""
        return (1, self.packets, self.variables)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputSpec:
        return cls(**data)


def split_raw(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split signed packet sizes [N, packets] into absolute sizes and directions (+1, -1, 0 for no packet)."""
    raw = np.asarray(raw)
    return np.abs(raw).astype(np.float32), np.sign(raw).astype(np.float32)


@dataclass(frozen=True, kw_only=True)
class Scaling:
    """Min-max scaling of (size, direction), with statistics from the training set.

    ``apply`` turns raw signed sizes [N, packets] into the model's input [N, 1, packets, 2].
    """

    size_min: float
    size_max: float
    direction_min: float = -1.0
    direction_max: float = 1.0

    def __post_init__(self) -> None:
        if not self.size_max > self.size_min:
            raise ValueError(f"size_max ({self.size_max}) must exceed size_min ({self.size_min})")
        if not self.direction_max > self.direction_min:
            raise ValueError(f"direction_max ({self.direction_max}) must exceed direction_min ({self.direction_min})")

    @classmethod
    def fit(cls, raw: np.ndarray) -> Scaling:
        """Statistics of a training set of signed sizes [N, packets]."""
        sizes, directions = split_raw(raw)
        return cls(
            size_min=float(sizes.min()),
            size_max=float(max(sizes.max(), sizes.min() + 1.0)),
            direction_min=float(min(directions.min(), -1.0)),
            direction_max=float(max(directions.max(), 1.0)),
        )

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """Scaled model input [N, 1, packets, 2] (float32) from signed sizes [N, packets]."""
        sizes, directions = split_raw(raw)
        sizes = (sizes - self.size_min) / (self.size_max - self.size_min)
        directions = (directions - self.direction_min) / (self.direction_max - self.direction_min)
        return np.stack([sizes, directions], axis=-1)[:, None].astype(np.float32)

    def unscale_size(self, value: float) -> float:
        """Bytes from a scaled size."""
        return value * (self.size_max - self.size_min) + self.size_min

    def unscale_direction(self, value: float) -> float:
        """Direction (+1 client to server, -1 server to client, 0 no packet) from a scaled direction."""
        return value * (self.direction_max - self.direction_min) + self.direction_min

    def to_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scaling:
        return cls(**{k: float(v) for k, v in data.items()})


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """Everything needed to build one model of the zoo.

    Attributes:
        arch: registered model name (see ``lexnet.models.list_models``).
        num_classes: number of applications.
        prototypes_per_class: prototypes per class (prototype models only).
        prototype_shape: (height, width) of a prototype, in packets x variables.
        widths: channel widths of the backbone: stem, then one LERes/ResNet stage per further entry.
        input: the flow's shape.
        backbone_activation: the backbone's last activation ("sigmoid" or "relu"); ``None`` takes the
            architecture's own default.
        addon_channels: channels of ProtoPNet's add-on 1x1 convolutions (ProtoPNet only).
        options: architecture-specific extras (JSON-serialisable).
    """

    arch: str = "lexnet"
    num_classes: int = 203
    prototypes_per_class: int = 2
    prototype_shape: tuple[int, int] = (1, 1)
    widths: tuple[int, ...] = (8, 16, 32)
    input: InputSpec = field(default_factory=InputSpec)
    backbone_activation: str | None = None
    addon_channels: int = 128
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {self.num_classes}")
        if self.prototypes_per_class < 1:
            raise ValueError(f"prototypes_per_class must be at least 1, got {self.prototypes_per_class}")
        height, width = self.prototype_shape
        max_height, max_width = min(4, self.input.packets), min(4, self.input.variables)
        if not (1 <= height <= max_height and 1 <= width <= max_width):
            raise ValueError(
                f"prototype_shape {self.prototype_shape} does not fit: height must be in 1..{max_height} and width"
                f" in 1..{max_width} for a {self.input.packets} x {self.input.variables} flow"
            )
        if len(self.widths) < 2:
            raise ValueError(f"widths needs a stem width and at least one stage, got {self.widths}")
        if self.backbone_activation not in (None, "sigmoid", "relu"):
            raise ValueError(f"backbone_activation must be 'sigmoid' or 'relu', got {self.backbone_activation!r}")

    @property
    def num_prototypes(self) -> int:
        return self.num_classes * self.prototypes_per_class

    def prototype_classes(self) -> np.ndarray:
        """Class of each prototype: prototypes of one class are contiguous."""
        return np.repeat(np.arange(self.num_classes), self.prototypes_per_class)

    def replace(self, **changes: Any) -> ModelConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["prototype_shape"] = list(self.prototype_shape)
        data["widths"] = list(self.widths)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        data = dict(data)
        data["prototype_shape"] = tuple(data.get("prototype_shape", (1, 1)))
        data["widths"] = tuple(data.get("widths", (8, 16, 32)))
        data["input"] = InputSpec.from_dict(data.get("input", {}))
        return cls(**data)


@dataclass(frozen=True, kw_only=True)
class PrecisionTolerance:
    """How closely a reduced-precision artifact must follow the FP32 reference.

    Attributes:
        min_prediction_agreement: share of flows whose predicted class must match.
        min_position_agreement: share of flows whose predicted class's prototype positions must match.
        logits_atol: largest absolute difference of logits allowed on golden vectors (``None``: not checked).
        similarity_atol: the same for prototype similarities.
        tie_tolerance: two distances closer than this (relative to their scale) count as a tie.
    """

    min_prediction_agreement: float
    min_position_agreement: float
    logits_atol: float | None
    similarity_atol: float | None
    tie_tolerance: float = 1e-4


# Each precision keeps its tolerance here, next to its name; export, runtimes and parity all read this table.
PRECISION_TOLERANCES: dict[str, PrecisionTolerance] = {
    "fp32": PrecisionTolerance(
        min_prediction_agreement=1.0, min_position_agreement=1.0, logits_atol=1e-3, similarity_atol=1e-3
    ),
    "bf16": PrecisionTolerance(
        min_prediction_agreement=0.99,
        min_position_agreement=0.98,
        logits_atol=None,
        similarity_atol=None,
        tie_tolerance=1e-2,
    ),
    "int8": PrecisionTolerance(
        min_prediction_agreement=0.99,
        min_position_agreement=0.98,
        logits_atol=None,
        similarity_atol=None,
        tie_tolerance=1e-2,
    ),
}
