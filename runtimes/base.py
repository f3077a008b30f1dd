"""The contract every backend implements: load an artifact, run raw flows through it, close it.

A backend session sees only int16 raw flows [N, packets] that ``lexnet.runtimes.inputs`` has already checked, and
returns numpy arrays; it never builds per-flow Python objects (the classifier does that, and only when asked).
"""

from __future__ import annotations

import abc
import importlib.util
import logging
from typing import TYPE_CHECKING, ClassVar, NamedTuple

import numpy as np
from lexnet.runtimes.errors import BackendError

if TYPE_CHECKING:
    from lexnet.runtimes.bundle import Bundle
    from lexnet.runtimes.manifest import ArtifactEntry

__all__ = ["BackendSession", "RawOutputs"]

logger = logging.getLogger(__name__)


class RawOutputs(NamedTuple):
    """A batch of N flows through the model (P prototypes, C classes).

    Attributes:
        logits: [N, C] float32.
        similarities: [N, P] float32, log((d + 1) / (d + 1e-4)) of each prototype's smallest distance d
            (``None`` for models without prototypes).
        positions: [N, P, 2] int64, (packet, variable) of each prototype's best match, first minimum on ties.
    """

    logits: np.ndarray
    similarities: np.ndarray | None = None
    positions: np.ndarray | None = None

    def take(self, index: np.ndarray | slice) -> RawOutputs:
        """The outputs of a subset of flows."""
        return RawOutputs(
            self.logits[index],
            None if self.similarities is None else self.similarities[index],
            None if self.positions is None else self.positions[index],
        )


def concatenate(parts: list[RawOutputs]) -> RawOutputs:
    """One RawOutputs from consecutive chunks."""
    if len(parts) == 1:
        return parts[0]

    def join(arrays: list[np.ndarray | None]) -> np.ndarray | None:
        return None if arrays[0] is None else np.concatenate(arrays)  # type: ignore[arg-type]  # all or none

    logits = np.concatenate([part.logits for part in parts])
    return RawOutputs(logits, join([p.similarities for p in parts]), join([p.positions for p in parts]))


class BackendSession(abc.ABC):
    """One artifact loaded on one backend and device; usable as a context manager.

    Subclasses set the class attributes and implement ``load``, ``_run_batch`` and ``close``. ``run`` splits the
    input into chunks of ``batch_size`` (the artifact's static batch, if it has one) and pads the last chunk.

    Attributes:
        name: the backend's registry name.
        extra: the pyproject extra that installs its library.
        requires: importable modules the backend needs.
        devices: the devices it can drive ("cpu", "cuda", "gpu").
    """

    name: ClassVar[str]
    extra: ClassVar[str]
    requires: ClassVar[tuple[str, ...]]
    devices: ClassVar[tuple[str, ...]]

    def __init__(self, bundle: Bundle, artifact: ArtifactEntry | None, *, device: str, threads: int | None) -> None:
        if device not in self.devices:
            raise BackendError(f"{self.name} runs on {list(self.devices)}, not on {device!r}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1 (or None for the backend's default), got {threads}")
        self.bundle = bundle
        self.artifact = artifact
        self.device = device
        self.threads = threads
        self.batch_size: int | None = None
        self._loaded = False

    @classmethod
    def is_installed(cls) -> bool:
        return all(importlib.util.find_spec(module) is not None for module in cls.requires)

    @classmethod
    def device_available(cls, device: str) -> bool:
        """Whether this machine can run the backend on ``device`` (CPU always; GPUs when the library sees one)."""
        return device == "cpu"

    def model_input(self, flows: np.ndarray) -> np.ndarray:
        """What the graph's input takes: the raw int16 flows, or the scaled map for bundles in "scaled" mode."""
        if self.bundle.manifest.input.mode == "raw":
            return flows
        return self.bundle.scaling.apply(flows)

    def outputs_from(self, values: dict[str, np.ndarray]) -> RawOutputs:
        """RawOutputs from the graph's outputs by name (the names of the manifest's ``outputs``)."""
        names = self.bundle.manifest.outputs
        missing = [name for name in names if name not in values]
        if missing:
            raise BackendError(f"{self.describe()}: the model has no output(s) {missing}; it has {sorted(values)}")
        logits = np.asarray(values[names[0]], dtype=np.float32)
        if len(names) < 3:
            return RawOutputs(logits)
        similarities = np.asarray(values[names[1]], dtype=np.float32)
        return RawOutputs(logits, similarities, np.asarray(values[names[2]], dtype=np.int64))

    @abc.abstractmethod
    def load(self) -> None:
        """Verify and load the artifact; after this, ``run`` may be called from any thread."""

    @abc.abstractmethod
    def _run_batch(self, flows: np.ndarray) -> RawOutputs:
        """Run one chunk of int16 flows [n, packets] (n == batch_size when the artifact's batch is static)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the backend's resources; the session cannot run afterwards."""

    def run(self, flows: np.ndarray) -> RawOutputs:
        """Outputs for checked int16 flows [N, packets]; thread-safe once loaded."""
        if not self._loaded:
            raise BackendError(f"{self.name}: load() the session before running it")
        if self.batch_size is None or len(flows) == self.batch_size:
            return self._run_batch(flows)
        parts = []
        for start in range(0, len(flows), self.batch_size):
            chunk = flows[start : start + self.batch_size]
            missing = self.batch_size - len(chunk)
            if missing:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], missing, axis=0)])
            parts.append(self._run_batch(chunk).take(slice(0, self.batch_size - missing)))
        return concatenate(parts)

    def __enter__(self) -> BackendSession:
        if not self._loaded:
            self.load()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def describe(self) -> str:
        what = self.artifact.id if self.artifact is not None else "reference"
        return f"{self.name} on {self.device} ({what})"
