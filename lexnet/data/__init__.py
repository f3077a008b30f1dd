"""Flow data sets: the on-disk format (AppClassNet's layout), synthetic traffic and packet captures."""

from __future__ import annotations

from lexnet.data._select import keep_classes, split_by_group
from lexnet.data.format import ClassInfo, FlowDataset, read_classes, read_dataset, read_split, write_dataset
from lexnet.data.pcap import LabelMap, ndpi_result_labels, read_captures
from lexnet.data.sources import describe_source, load_data, source_from_arg
from lexnet.data.synth import SynthConfig, class_shares, generate

__all__ = [
    "ClassInfo",
    "FlowDataset",
    "LabelMap",
    "SynthConfig",
    "class_shares",
    "describe_source",
    "generate",
    "keep_classes",
    "load_data",
    "ndpi_result_labels",
    "read_captures",
    "read_classes",
    "read_dataset",
    "read_split",
    "source_from_arg",
    "split_by_group",
    "write_dataset",
]
