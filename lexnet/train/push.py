"""Prototype projection ("push"): each prototype becomes the nearest feature patch of a training flow of its class.

The training flows are visited in their stored order (never shuffled), so the recorded flow index is the
flow's index in the training split. Ties keep the first flow, and within a flow the first position, the rule
every backend follows for prototype positions.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from lexnet.checkpoint import PrototypeSource
from lexnet.models import PrototypeClassifier

__all__ = ["push_prototypes"]

logger = logging.getLogger(__name__)


@torch.no_grad()
def push_prototypes(
    model: PrototypeClassifier,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    raw: np.ndarray,
    batch_size: int,
) -> list[PrototypeSource]:
    """Replace every prototype by its nearest training feature patch of its own class, in place.

    Args:
        model: the prototype model (put in eval mode for the projection, its mode restored after).
        inputs: [N, 1, packets, variables] scaled training flows, in their split order.
        labels: [N] their classes.
        raw: [N, packets] their signed sizes, recorded with each prototype's source.
        batch_size: flows per forward pass.

    Returns:
        One source per prototype. A prototype whose class has no training flow is left as it was, with
        ``flow_index`` -1.
    """
    was_training = model.training
    model.eval()
    layer = model.prototype_layer
    device = layer.prototypes.device
    prototype_class = model.prototype_class.to(device)
    num_prototypes = len(prototype_class)
    best = torch.full((num_prototypes,), float("inf"), device=device)
    best_flow = torch.full((num_prototypes,), -1, dtype=torch.long, device=device)
    best_position = torch.zeros(num_prototypes, 2, dtype=torch.long, device=device)
    best_patch = layer.prototypes.detach().clone()
    height, width = layer.shape

    for start in range(0, len(labels), batch_size):
        x = inputs[start : start + batch_size].to(device)
        y = labels[start : start + batch_size].to(device)
        features = model.features(x)
        distances = layer.distance_map(features)  # [B, P, H', W']
        map_width = distances.shape[-1]
        own = (y.unsqueeze(1) == prototype_class.unsqueeze(0)).unsqueeze(-1)  # [B, P, 1]
        flat = distances.flatten(2).masked_fill(~own, float("inf"))  # [B, P, positions]
        # Flow-major order per prototype, so the first minimum is the earliest flow, then the earliest position.
        per_prototype = flat.permute(1, 0, 2).flatten(1)
        value, index = per_prototype.min(dim=1)
        better = value < best
        if not bool(better.any()):
            continue
        flow = index // flat.shape[2]
        position = index % flat.shape[2]
        packet, variable = position // map_width, position % map_width
        for p in torch.nonzero(better).flatten().tolist():
            b, h, w = int(flow[p]), int(packet[p]), int(variable[p])
            best_patch[p] = features[b, :, h : h + height, w : w + width]
            best_flow[p] = start + b
            best_position[p, 0], best_position[p, 1] = h, w
        best = torch.where(better, value, best)

    layer.prototypes.data.copy_(best_patch)
    model.train(was_training)
    return _sources(best_flow.cpu(), best_position.cpu(), prototype_class.cpu(), raw)


def _sources(
    flows: torch.Tensor, positions: torch.Tensor, prototype_class: torch.Tensor, raw: np.ndarray
) -> list[PrototypeSource]:
    sources = []
    for p, flow in enumerate(flows.tolist()):
        if flow < 0:
            logger.warning("prototype %d: class %d has no training flow; left unprojected", p, prototype_class[p])
        sources.append(
            PrototypeSource(
                prototype=p,
                class_index=int(prototype_class[p]),
                flow_index=flow,
                packet=int(positions[p, 0]),
                variable=int(positions[p, 1]),
                raw_flow=[int(v) for v in raw[flow]] if flow >= 0 else [],
            )
        )
    return sources
