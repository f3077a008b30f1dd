"""An opened bundle: its manifest, its verified files and the arrays every backend shares.

A bundle is a directory (or a ``.tar`` of one, unpacked into a private temporary directory). Every file is checked
against the sha256 in the manifest before it is used, and arrays are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import logging
import os
import shutil
import tarfile
import tempfile
import threading
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from lexnet.runtimes.errors import BundleError
from lexnet.runtimes.manifest import (
    MANIFEST_FILE,
    ArtifactEntry,
    FileEntry,
    Manifest,
    PrototypesInfo,
    read_manifest,
    verify_file,
)

from lexnet.spec import InputSpec, ModelConfig, Scaling

__all__ = ["Bundle", "open_bundle"]

logger = logging.getLogger(__name__)


def _unpack(archive: Path) -> tuple[Path, Path]:
    """Extract a bundle .tar into a fresh temporary directory; the 'data' filter refuses links and escapes.

    Returns:
        The temporary directory and the bundle's root inside it.
    """
    target = Path(tempfile.mkdtemp(prefix="lexnet-bundle-"))
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(target, filter="data")
    except (tarfile.TarError, OSError) as error:
        shutil.rmtree(target, ignore_errors=True)
        raise BundleError(f"{archive}: cannot unpack the bundle archive ({error})") from error
    if (target / MANIFEST_FILE).is_file():
        return target, target
    children = [child for child in target.iterdir() if (child / MANIFEST_FILE).is_file()]
    if len(children) != 1:
        shutil.rmtree(target, ignore_errors=True)
        raise BundleError(f"{archive}: the archive holds no {MANIFEST_FILE} at its top or in one top directory")
    return target, children[0]


class Bundle:
    """A bundle on disk, read lazily; files are verified once, on first use.

    Example:
        >>> bundle = Bundle("bundles/lexnet-default")  # doctest: +SKIP
        >>> bundle.class_names[:2], bundle.spec.packets  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.source = Path(path)
        self._tempdir: Path | None = None
        if self.source.is_file() and tarfile.is_tarfile(self.source):
            self._tempdir, self.root = _unpack(self.source)
        elif self.source.is_dir():
            self.root = self.source
        else:
            raise BundleError(f"{self.source}: no bundle there (expected a directory or a .tar of one)")
        self.manifest: Manifest = read_manifest(self.root)
        self._verified: set[str] = set()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Bundle({str(self.source)!r}, artifacts={[a.id for a in self.manifest.artifacts]})"

    def verified_path(self, entry: FileEntry) -> Path:
        """The file's path after checking its sha256 against the manifest (once per bundle)."""
        with self._lock:
            if entry.path not in self._verified:
                verify_file(self.root, entry)
                self._verified.add(entry.path)
        return self.root / entry.path

    def verify_artifact(self, artifact: ArtifactEntry) -> list[Path]:
        """Paths of all the artifact's files, each verified."""
        return [self.verified_path(entry) for entry in artifact.files]

    def load_array(self, entry: FileEntry) -> np.ndarray:
        path = self.verified_path(entry)
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise BundleError(f"{path}: not a readable .npy array ({error})") from error

    @property
    def config(self) -> ModelConfig:
        return self.manifest.model.model_config

    @property
    def spec(self) -> InputSpec:
        return self.manifest.input.input_spec

    @property
    def scaling(self) -> Scaling:
        return self.manifest.input.input_scaling

    @property
    def class_names(self) -> list[str]:
        return self.manifest.class_names

    @property
    def is_prototype_model(self) -> bool:
        return self.manifest.model.is_prototype_model

    @cached_property
    def last_layer(self) -> np.ndarray:
        """[P, classes] prototype-to-class weights."""
        prototypes = self._prototypes()
        weights = self.load_array(prototypes.last_layer).astype(np.float32)
        expected = (len(prototypes.classes), len(self.class_names))
        if weights.shape != expected:
            raise BundleError(f"{prototypes.last_layer.path}: shape {weights.shape}, expected {expected} (P, classes)")
        return weights

    @cached_property
    def prototype_classes(self) -> np.ndarray:
        return np.asarray(self._prototypes().classes, dtype=np.int64)

    @cached_property
    def prototype_sources(self) -> list[dict[str, Any] | None]:
        """Each prototype's training source (``PrototypeSource.to_dict()``), ``None`` where the bundle has none."""
        sources: list[dict[str, Any] | None] = [None] * len(self.prototype_classes)
        for source in self._prototypes().sources:
            index = source.get("prototype")
            if isinstance(index, int) and 0 <= index < len(sources):
                sources[index] = source
        return sources

    def golden(self) -> dict[str, np.ndarray]:
        """The golden arrays by name (inputs, logits, and for prototype models similarities, positions, ...)."""
        return {name: self.load_array(entry) for name, entry in self.manifest.golden.files().items()}

    def _prototypes(self) -> PrototypesInfo:
        if self.manifest.prototypes is None:
            raise BundleError(f"{self.source}: {self.manifest.model.arch} is not a prototype model; no explanations")
        return self.manifest.prototypes

    def close(self) -> None:
        """Remove the unpacked copy of a .tar bundle."""
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None

    def __enter__(self) -> Bundle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_bundle(bundle: str | os.PathLike[str] | Bundle) -> Bundle:
    """``bundle`` itself when already opened, else ``Bundle(bundle)``."""
    return bundle if isinstance(bundle, Bundle) else Bundle(bundle)
