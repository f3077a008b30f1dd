"""Where a data set comes from, as a small JSON-able dict that checkpoints keep so the same flows can be rebuilt.

Two kinds:

- ``{"kind": "synth", "config": SynthConfig.to_dict()}``: regenerated on demand (deterministic per seed);
- ``{"kind": "dir", "path": "DIR", "splits": ["train", "test"]}``: a directory in the on-disk format.

Example:
    >>> source = source_from_arg("synth:seed=3,train_flows=1000,test_flows=100")
    >>> data = load_data(source)
    >>> len(data["train"]), source["config"]["seed"]
    (1000, 3)
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from lexnet.data.format import FlowDataset, read_dataset
from lexnet.data.synth import SynthConfig, generate
from lexnet.errors import DataFormatError

__all__ = ["SOURCE_KINDS", "describe_source", "load_data", "source_from_arg"]

SOURCE_KINDS = ("synth", "dir")


def load_data(source: dict[str, Any]) -> dict[str, FlowDataset]:
    """The splits described by ``source`` (see the module docstring); raises ``DataFormatError`` when it is invalid."""
    kind = source.get("kind") if isinstance(source, dict) else None
    if kind == "synth":
        try:
            config = SynthConfig.from_dict(source.get("config", {}))
        except (TypeError, ValueError) as error:
            raise DataFormatError(f"synthetic data source: {error}") from error
        return generate(config)
    if kind == "dir":
        if "path" not in source:
            raise DataFormatError(f"data source {source!r} needs a 'path'")
        splits = tuple(source.get("splits", ("train", "test")))
        return read_dataset(source["path"], splits)
    raise DataFormatError(f"data source kind must be one of {SOURCE_KINDS}, got {kind!r} in {source!r}")


def _parse_value(field: dataclasses.Field[Any], text: str) -> Any:
    kind = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", "")
    try:
        if kind == "int":
            return int(text.replace("_", ""))
        if kind == "float":
            return float(text)
    except ValueError as error:
        raise DataFormatError(f"synth option {field.name}={text!r}: expected {kind}") from error
    raise DataFormatError(f"synth option {field.name} cannot be set from the command line")


def _synth_from_arg(options: str) -> dict[str, Any]:
    fields = {f.name: f for f in dataclasses.fields(SynthConfig)}
    changes: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in options.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in fields:
            known = ", ".join(name for name in fields if name != "spec")
            raise DataFormatError(f"synth option {item!r}: expected NAME=VALUE with NAME one of {known}")
        changes[key] = _parse_value(fields[key], value.strip())
    try:
        config = SynthConfig(**changes)
    except ValueError as error:
        raise DataFormatError(f"synth options {options!r}: {error}") from error
    return {"kind": "synth", "config": config.to_dict()}


def source_from_arg(text: str, splits: tuple[str, ...] = ("train", "test")) -> dict[str, Any]:
    """A data source from a command-line argument.

    ``synth`` or ``synth:seed=3,train_flows=1000`` (any ``SynthConfig`` number) gives a synthetic source; an existing
    directory gives a ``dir`` source (its absolute path) reading ``splits``.
    """
    if text == "synth" or text.startswith("synth:"):
        return _synth_from_arg(text.partition(":")[2])
    path = Path(os.path.expanduser(text))
    if path.is_dir():
        return {"kind": "dir", "path": str(path.resolve()), "splits": list(splits)}
    raise DataFormatError(f"data {text!r}: neither 'synth[:NAME=VALUE,...]' nor an existing directory")


def describe_source(source: dict[str, Any]) -> str:
    """One line naming a source, for logs and reports."""
    if source.get("kind") == "synth":
        defaults = SynthConfig().to_dict()
        changed = {k: v for k, v in source.get("config", {}).items() if k != "spec" and defaults.get(k) != v}
        return "synth" + (":" if changed else "") + ",".join(f"{k}={v}" for k, v in changed.items())
    return f"{source.get('kind')}:{source.get('path')}"
