"""The training losses: ProtoPNet's class-specific objective as LEXNet's authors set it, and plain cross-entropy."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from lexnet.models import PrototypeOutput
from lexnet.train.config import TrainConfig

__all__ = ["LossParts", "cluster_separation", "prototype_loss"]


class LossParts(NamedTuple):
    """The total loss and its terms (unweighted), for logging."""

    total: torch.Tensor
    cross_entropy: torch.Tensor
    cluster: torch.Tensor
    separation: torch.Tensor
    prototype_l2: torch.Tensor
    last_layer: torch.Tensor


def cluster_separation(
    min_distances: torch.Tensor, labels: torch.Tensor, prototype_class: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean over flows of the smallest distance to a prototype of the flow's class, and to one of another class.

    Args:
        min_distances: [B, P] each prototype's smallest squared distance over positions.
        labels: [B] classes of the flows.
        prototype_class: [P] class of each prototype.
    """
    own = prototype_class.unsqueeze(0) == labels.unsqueeze(1)
    far = torch.finfo(min_distances.dtype).max
    cluster = min_distances.masked_fill(~own, far).amin(dim=1).mean()
    separation = min_distances.masked_fill(own, far).amin(dim=1).mean()
    return cluster, separation


def prototype_loss(
    output: PrototypeOutput,
    labels: torch.Tensor,
    prototype_class: torch.Tensor,
    prototypes: torch.Tensor,
    last_layer_weight: torch.Tensor,
    config: TrainConfig,
) -> LossParts:
    """Cross-entropy + cluster - separation + L2 of the prototypes + norm of the off-class last-layer weights.

    Args:
        output: the model's output on a batch.
        labels: [B] classes of the batch.
        prototype_class: [P] class of each prototype.
        prototypes: the prototype tensor [P, depth, h, w].
        last_layer_weight: [classes, P] last-layer weights.
        config: the recipe's weights.
    """
    cross_entropy = F.cross_entropy(output.logits, labels)
    cluster, separation = cluster_separation(output.min_distances, labels, prototype_class)
    prototype_l2 = torch.linalg.vector_norm(prototypes)
    own_class = F.one_hot(prototype_class, last_layer_weight.shape[0]).t().to(last_layer_weight.dtype)
    last_layer = torch.linalg.vector_norm(last_layer_weight * (1 - own_class), ord=config.last_layer_norm)
    total = (
        cross_entropy
        + config.cluster_weight * cluster
        - config.separation_weight * separation
        + config.prototype_l2 * prototype_l2
        + config.last_layer_penalty * last_layer
    )
    return LossParts(total, cross_entropy, cluster, separation, prototype_l2, last_layer)
