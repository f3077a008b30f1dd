"""Reader and writer of the flow format: ``{split}_x.npy``, ``{split}_y.npy``, ``classes.json``, ``{split}_groups.npy``.

``x`` holds signed packet sizes [N, packets] (+ client to server, - server to client, 0 = no packet),
``y`` integer labels, ``groups`` (optional) the capture each flow came from, so splits can keep captures apart.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lexnet.errors import DataFormatError
from lexnet.spec import InputSpec

__all__ = ["ClassInfo", "FlowDataset", "read_classes", "read_dataset", "read_split", "write_dataset"]

logger = logging.getLogger(__name__)

TRANSPORTS = ("tcp", "udp")


@dataclass(frozen=True)
class ClassInfo:
    """One application: its name and its transport ("tcp" or "udp")."""

    name: str
    transport: str = "tcp"

    def __post_init__(self) -> None:
        if self.transport not in TRANSPORTS:
            raise ValueError(f"class {self.name!r}: transport must be one of {TRANSPORTS}, got {self.transport!r}")


@dataclass
class FlowDataset:
    """One split of flows: signed sizes, labels, optional groups, and the class list they index."""

    x: np.ndarray
    y: np.ndarray
    classes: list[ClassInfo]
    groups: np.ndarray | None = None
    source: str = field(default="memory")

    def __len__(self) -> int:
        return len(self.y)

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    def subset(self, index: np.ndarray) -> FlowDataset:
        groups = None if self.groups is None else self.groups[index]
        return FlowDataset(self.x[index], self.y[index], self.classes, groups, source=self.source)


def _load_npy(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataFormatError(f"{path}: file not found")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise DataFormatError(f"{path}: not a readable .npy array ({error})") from error


def read_classes(directory: str | os.PathLike[str]) -> list[ClassInfo]:
    """The class list of a data set directory (``classes.json``)."""
    path = Path(directory) / "classes.json"
    if not path.is_file():
        raise DataFormatError(f"{path}: file not found")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DataFormatError(f"{path}: invalid JSON ({error})") from error
    if not isinstance(raw, list) or not raw:
        raise DataFormatError(f"{path}: expected a non-empty JSON list of classes")
    classes = []
    for index, entry in enumerate(raw):
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict) or "name" not in entry:
            raise DataFormatError(f"{path}: entry {index} needs a 'name'")
        try:
            classes.append(ClassInfo(str(entry["name"]), str(entry.get("transport", "tcp")).lower()))
        except ValueError as error:
            raise DataFormatError(f"{path}: entry {index}: {error}") from error
    return classes


def validate_flows(x: np.ndarray, where: str, spec: InputSpec) -> None:
    """Shape, dtype and range checks of signed sizes; raises ``DataFormatError`` naming ``where``."""
    if x.ndim != 2 or x.shape[1] != spec.packets:
        raise DataFormatError(f"{where}: expected shape [N, {spec.packets}], got {list(x.shape)}")
    if not np.issubdtype(x.dtype, np.integer):
        raise DataFormatError(f"{where}: expected integer packet sizes (int16), got dtype {x.dtype}")
    if x.size and int(np.abs(x.astype(np.int64)).max()) > spec.max_abs_size:
        bad = int(np.argmax(np.abs(x.astype(np.int64)).max(axis=1)))
        raise DataFormatError(f"{where}: flow {bad} has a size beyond +-{spec.max_abs_size} bytes")


def read_split(directory: str | os.PathLike[str], split: str, spec: InputSpec | None = None) -> FlowDataset:
    """Read and validate one split (``train``, ``test``, ...) of a data set directory."""
    spec = spec or InputSpec()
    directory = Path(directory)
    classes = read_classes(directory)
    x_path, y_path = directory / f"{split}_x.npy", directory / f"{split}_y.npy"
    x, y = _load_npy(x_path), _load_npy(y_path)
    validate_flows(x, str(x_path), spec)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataFormatError(f"{y_path}: expected a 1-d integer label array, got shape {list(y.shape)}, {y.dtype}")
    if len(y) != len(x):
        raise DataFormatError(f"{y_path}: {len(y)} labels for {len(x)} flows in {x_path.name}")
    if len(y) and (y.min() < 0 or y.max() >= len(classes)):
        raise DataFormatError(
            f"{y_path}: labels must be in 0..{len(classes) - 1} (classes.json), found {y.min()}..{y.max()}"
        )
    groups = None
    groups_path = directory / f"{split}_groups.npy"
    if groups_path.exists():
        groups = _load_npy(groups_path)
        if groups.shape != y.shape:
            raise DataFormatError(f"{groups_path}: expected shape {list(y.shape)}, got {list(groups.shape)}")
    logger.debug("read %d flows from %s (%s)", len(y), directory, split)
    return FlowDataset(x, y.astype(np.int64), classes, groups, source=f"{directory}:{split}")


def read_dataset(
    directory: str | os.PathLike[str], splits: tuple[str, ...] = ("train", "test")
) -> dict[str, FlowDataset]:
    """Read several splits of one directory."""
    return {split: read_split(directory, split) for split in splits}


def _save_atomic(path: Path, array: np.ndarray) -> None:
    # A plain open() keeps the usual permissions (umask); NamedTemporaryFile would leave the file private (0600).
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        np.save(handle, array, allow_pickle=False)
    os.replace(temporary, path)


def write_dataset(
    directory: str | os.PathLike[str], splits: dict[str, FlowDataset], spec: InputSpec | None = None
) -> Path:
    """Write splits (sharing one class list) in the on-disk format; each file is replaced atomically."""
    spec = spec or InputSpec()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    classes = next(iter(splits.values())).classes
    for split, data in splits.items():
        validate_flows(data.x, f"split {split!r}", spec)
        dtype = (
            np.int16
            if len(data.x) == 0 or np.abs(data.x.astype(np.int64)).max() <= np.iinfo(np.int16).max
            else np.int32
        )
        _save_atomic(directory / f"{split}_x.npy", data.x.astype(dtype))
        _save_atomic(directory / f"{split}_y.npy", data.y.astype(np.int64))
        if data.groups is not None:
            _save_atomic(directory / f"{split}_groups.npy", np.asarray(data.groups))
    (directory / "classes.json").write_text(json.dumps([c.__dict__ for c in classes], indent=1) + "\n")
    logger.info("wrote %s (%s)", directory, ", ".join(f"{k}: {len(v)} flows" for k, v in splits.items()))
    return directory
