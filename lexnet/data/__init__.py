"""Flow data sets: the on-disk format (AppClassNet's layout), synthetic traffic and packet captures."""

from __future__ import annotations

from lexnet.data.format import ClassInfo, FlowDataset, read_classes, read_dataset, read_split, write_dataset

__all__ = ["ClassInfo", "FlowDataset", "read_classes", "read_dataset", "read_split", "write_dataset"]
