"""Selecting classes and splitting by group (capture file): flows of one capture never straddle train and test."""

from __future__ import annotations

import numpy as np

from lexnet.data.format import FlowDataset

__all__ = ["keep_classes", "split_by_group"]


def keep_classes(data: FlowDataset, min_flows: int = 1, min_groups: int = 1, drop: tuple[str, ...] = ()) -> FlowDataset:
    """Only the classes with at least ``min_flows`` flows from at least ``min_groups`` groups, minus ``drop``.

    Labels are renumbered in the kept classes' order.
    """
    counts = np.bincount(data.y, minlength=len(data.classes))
    groups = data.groups if data.groups is not None else np.zeros(len(data.y), dtype=np.int64)
    group_counts = np.array([len(np.unique(groups[data.y == c])) for c in range(len(data.classes))])
    keep = (counts >= min_flows) & (group_counts >= min_groups)
    keep &= np.array([c.name not in drop for c in data.classes], dtype=bool)
    renumber = np.cumsum(keep) - 1
    rows = keep[data.y]
    subset = data.subset(np.flatnonzero(rows))
    return FlowDataset(
        subset.x,
        renumber[subset.y],
        [c for c, k in zip(data.classes, keep, strict=True) if k],
        subset.groups,
        source=data.source,
    )


def split_by_group(data: FlowDataset, test_fraction: float, seed: int = 0) -> dict[str, FlowDataset]:
    """ "train" and "test" splits made of whole groups, about ``test_fraction`` of each class's flows in "test".

    Greedy: groups in random order, largest first, each going to the split where it leaves each class's share
    closest to its target (squared error of the shares). A class found in a single group lands in one split,
    usually "train".
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if data.groups is None:
        raise ValueError("split_by_group needs a data set with groups")
    rng = np.random.default_rng(seed)
    num_classes = len(data.classes)
    shuffled = rng.permutation(np.unique(data.groups)).tolist()
    per_group = {g: np.bincount(data.y[data.groups == g], minlength=num_classes) for g in shuffled}
    group_ids = sorted(shuffled, key=lambda g: -per_group[g].sum())
    totals = np.maximum(1, np.bincount(data.y, minlength=num_classes))
    shares = np.array([1.0 - test_fraction, test_fraction])[:, None]
    filled = np.zeros((2, num_classes))
    test_groups = []
    for g in group_ids:
        costs = []
        for side in (0, 1):
            trial = filled.copy()
            trial[side] += per_group[g]
            costs.append(float((((trial / totals) - shares) ** 2)[:, per_group[g] > 0].sum()))
        side = int(np.argmin(costs))
        filled[side] += per_group[g]
        if side == 1:
            test_groups.append(g)
    is_test = np.isin(data.groups, test_groups)
    return {"train": data.subset(np.flatnonzero(~is_test)), "test": data.subset(np.flatnonzero(is_test))}
