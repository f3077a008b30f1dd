"""Flow data sets: the on-disk format (AppClassNet's layout), synthetic traffic and packet captures."""

from __future__ import annotations

from lexnet.data.format import ClassInfo, FlowDataset, read_classes, read_dataset, read_split, write_dataset
from lexnet.data.sources import describe_source, load_data, source_from_arg
from lexnet.data.synth import SynthConfig, class_shares, generate

__all__ = [
    "ClassInfo",
    "FlowDataset",
    "SynthConfig",
    "class_shares",
    "describe_source",
    "generate",
    "load_data",
    "read_classes",
    "read_dataset",
    "read_split",
    "source_from_arg",
    "write_dataset",
]
