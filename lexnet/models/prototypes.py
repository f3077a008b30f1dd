"""Prototype layers: LEXNet's LProto and ProtoPNet's original layer, plus the class-connection last layer."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LProto", "ProtoPNetPrototypes", "PrototypeLastLayer", "PrototypeOutput", "log_similarity"]

# ProtoPNet's epsilon in log((d + 1) / (d + eps)); kept as the paper's value.
SIMILARITY_EPSILON = 1e-4


class PrototypeOutput(NamedTuple):
    """What a prototype model returns for a batch of B flows and P prototypes.

    Attributes:
        logits: [B, classes].
        similarities: [B, P], log((d + 1) / (d + 1e-4)) of each prototype's smallest distance d.
        positions: [B, P, 2] int64, (packet, variable) of each prototype's best match (first minimum on ties).
        min_distances: [B, P], the smallest squared L2 distances themselves (the training losses use them).
    """

    logits: torch.Tensor
    similarities: torch.Tensor
    positions: torch.Tensor
    min_distances: torch.Tensor


def log_similarity(distances: torch.Tensor) -> torch.Tensor:
    return torch.log((distances + 1) / (distances + SIMILARITY_EPSILON))


def _positions(flat_index: torch.Tensor, map_width: int) -> torch.Tensor:
    """(packet, variable) from an index into a flattened [height, width] map."""
    return torch.stack([flat_index // map_width, flat_index % map_width], dim=-1)


class _PrototypeVectors(nn.Module):
    """P prototypes of shape (depth, h, w) and the squared L2 distance map of features to each of them."""

    def __init__(self, num_prototypes: int, depth: int, shape: tuple[int, int]) -> None:
        super().__init__()
        self.shape = shape
        self.prototypes = nn.Parameter(torch.rand(num_prototypes, depth, *shape))

    def distance_map(self, features: torch.Tensor) -> torch.Tensor:
        """Squared distances [B, P, H', W'] between every (h, w) patch of ``features`` and every prototype.

        Computed by expansion, |x|^2 - 2 x.p + |p|^2, clamped at 0 (rounding can make it slightly negative).
        """
        if self.shape == (1, 1):
            x_sq = (features * features).sum(dim=1, keepdim=True)
        else:
            ones = features.new_ones(1, features.shape[1], *self.shape)
            x_sq = F.conv2d(features * features, ones)
        xp = F.conv2d(features, self.prototypes)
        p_sq = (self.prototypes * self.prototypes).sum(dim=(1, 2, 3)).view(1, -1, 1, 1)
        return torch.clamp_min(x_sq - 2 * xp + p_sq, 0.0)


class LProto(_PrototypeVectors):
    """LEXNet's prototype layer: minimum over positions first, then one log per prototype.

    The log is monotonic, so taking the minimum before it gives the same similarity and position as
    ProtoPNet's order while computing P logs instead of P x positions.

    The expansion |x|^2 - 2 x.p + |p|^2 finds the best position fast, but it cancels badly when x is close to p
    (projected prototypes are training feature vectors, so near-zero distances are common): an FP32 error of
    ~1e-5 there becomes ~0.1 in log((d + 1) / (d + 1e-4)), whose slope is ~1e4 at d = 0, and no two backends
    would agree on the similarity. So the winning distance is recomputed directly as sum((x - p)^2) at the chosen
    position: P x depth extra multiply-adds per flow (1/positions of the expansion's cost), and a similarity that
    every backend reproduces to FP32 precision.
    """

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (similarities [B, P], positions [B, P, 2], min_distances [B, P])."""
        distances = self.distance_map(features)
        map_width = distances.shape[-1]
        index = distances.flatten(2).argmin(dim=2)
        min_distances = self.winning_distances(features, index)
        return log_similarity(min_distances), _positions(index, map_width), min_distances

    def winning_distances(self, features: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Squared distances [B, P], computed directly, between each prototype and the patch at ``index`` [B, P]."""
        patches = F.unfold(features, self.shape)  # [B, depth * h * w, positions], (depth, h, w) order
        chosen = patches.gather(2, index.unsqueeze(1).expand(-1, patches.shape[1], -1))  # [B, depth * h * w, P]
        difference = chosen.transpose(1, 2) - self.prototypes.flatten(1).unsqueeze(0)
        return (difference * difference).sum(dim=2)


class ProtoPNetPrototypes(_PrototypeVectors):
    """ProtoPNet's original order: a similarity at every position, then the maximum over positions."""

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (similarities [B, P], positions [B, P, 2], min_distances [B, P])."""
        distances = self.distance_map(features)
        map_width = distances.shape[-1]
        similarity_map = log_similarity(distances).flatten(2)
        similarities, index = similarity_map.max(dim=2)
        min_distances = distances.flatten(2).gather(2, index.unsqueeze(-1)).squeeze(-1)
        return similarities, _positions(index, map_width), min_distances


class PrototypeLastLayer(nn.Linear):
    """Prototypes to classes, without bias; starts at +1 for a prototype's own class and -0.5 elsewhere."""

    prototype_class: torch.Tensor

    def __init__(self, prototype_classes: torch.Tensor, num_classes: int, incorrect_strength: float = -0.5) -> None:
        super().__init__(len(prototype_classes), num_classes, bias=False)
        self.register_buffer("prototype_class", prototype_classes.clone().long(), persistent=True)
        self.reset_class_connections(incorrect_strength)

    @property
    def class_identity(self) -> torch.Tensor:
        """One-hot [P, classes] map of each prototype to its class."""
        return F.one_hot(self.prototype_class, self.out_features).to(self.weight.dtype)

    def reset_class_connections(self, incorrect_strength: float = -0.5) -> None:
        positive = self.class_identity.t()
        with torch.no_grad():
            self.weight.copy_(positive + incorrect_strength * (1 - positive))
