"""The bundle's manifest: one JSON document describing the model, its golden vectors and every artifact.

The export step writes it with these dataclasses' ``to_dict``; runtimes and parity read it with ``read_manifest``.
This module needs only the standard library and numpy, so router-side code reads bundles without torch.

Example::

    manifest = read_manifest("bundles/lexnet-default")
    entry = manifest.find_artifact(backend="onnxruntime", precision="fp32", device="cpu")
    for file in entry.files:
        verify_file("bundles/lexnet-default", file)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from lexnet.runtimes.errors import BundleError, IntegrityError, UnsupportedArtifactError

from lexnet.spec import InputSpec, ModelConfig, PrecisionTolerance, Scaling

__all__ = [
    "BACKENDS",
    "DEVICES",
    "FORMAT_VERSION",
    "MANIFEST_FILE",
    "PRECISIONS",
    "ArtifactEntry",
    "ClassEntry",
    "FileEntry",
    "GoldenInfo",
    "InputInfo",
    "Manifest",
    "ModelInfo",
    "PrototypesInfo",
    "QuantizationInfo",
    "TuningInfo",
    "ValidationInfo",
    "checkpoint_digest",
    "read_manifest",
    "sha256_file",
    "verify_file",
    "write_manifest",
]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
BACKENDS = ("onnxruntime", "openvino", "torch", "tvm")
PRECISIONS = ("bf16", "fp32", "int8")
DEVICES = ("cpu", "cuda", "gpu")
ARTIFACT_STATUSES = ("failed", "ok")
TUNING_STATES = ("not_applicable", "tuned", "untuned")


def _build(cls: type, data: Any, where: str) -> Any:
    """``cls(**data)`` for a manifest section, turning missing or mistyped keys into a ``BundleError``."""
    if not isinstance(data, dict):
        raise BundleError(f"manifest {where}: expected an object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        logger.warning("manifest %s: ignoring unknown keys %s (written by a newer lexnet?)", where, unknown)
    try:
        return cls(**{k: v for k, v in data.items() if k in names})
    except TypeError as error:
        raise BundleError(f"manifest {where}: {error}") from error


def _check_choice(value: Any, choices: tuple[str, ...], what: str) -> None:
    if value not in choices:
        raise BundleError(f"manifest: {what} must be one of {list(choices)}, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class FileEntry:
    """One file of the bundle, by its path relative to the bundle directory (POSIX separators)."""

    path: str
    sha256: str
    size: int | None = None

    def __post_init__(self) -> None:
        pure = PurePosixPath(self.path)
        if pure.is_absolute() or ".." in pure.parts or not self.path:
            raise BundleError(f"manifest: file path {self.path!r} must be relative and stay inside the bundle")

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if self.size is None:
            del data["size"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileEntry:
        return _build(cls, data, "file")


@dataclass(frozen=True, kw_only=True)
class ModelInfo:
    """The model the bundle was exported from.

    ``checkpoint_sha256`` is ``checkpoint_digest(checkpoint_dir)``: the sha256 of the checkpoint's
    ``weights.safetensors``; the torch reference backend refuses a checkpoint whose weights differ.
    """

    arch: str
    config: dict[str, Any]
    trainable_parameters: int
    is_prototype_model: bool
    checkpoint_sha256: str | None = None

    @property
    def model_config(self) -> ModelConfig:
        return ModelConfig.from_dict(self.config)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelInfo:
        return _build(cls, data, "model")


@dataclass(frozen=True, kw_only=True)
class ClassEntry:
    """One application the model predicts."""

    name: str
    transport: str = "tcp"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassEntry:
        return _build(cls, data, "classes[]")


@dataclass(frozen=True, kw_only=True)
class InputInfo:
    """The graph input: ``mode`` "raw" (int16 signed sizes [batch, packets]) or "scaled" ([batch, 1, packets, 2])."""

    mode: str
    name: str
    dtype: str
    shape: list[Any]
    spec: dict[str, Any]
    scaling: dict[str, Any]

    def __post_init__(self) -> None:
        _check_choice(self.mode, ("raw", "scaled"), "input.mode")

    @property
    def input_spec(self) -> InputSpec:
        return InputSpec.from_dict(self.spec)

    @property
    def input_scaling(self) -> Scaling:
        return Scaling.from_dict(self.scaling)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputInfo:
        return _build(cls, data, "input")


@dataclass(frozen=True, kw_only=True)
class PrototypesInfo:
    """Prototype classes, their training sources (``PrototypeSource.to_dict()``) and the last layer's weights."""

    classes: list[int]
    sources: list[dict[str, Any]]
    last_layer: FileEntry

    def to_dict(self) -> dict[str, Any]:
        return {"classes": list(self.classes), "sources": list(self.sources), "last_layer": self.last_layer.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PrototypesInfo:
        data = dict(data)
        data["last_layer"] = FileEntry.from_dict(data.get("last_layer", {}))
        return _build(cls, data, "prototypes")


@dataclass(frozen=True, kw_only=True)
class GoldenInfo:
    """Reference inputs and the checkpoint's FP32 outputs on them, plus the per-precision tolerances."""

    inputs: FileEntry
    logits: FileEntry
    similarities: FileEntry | None = None
    positions: FileEntry | None = None
    min_distances: FileEntry | None = None
    tolerances: dict[str, dict[str, Any]] = field(default_factory=dict)

    _FILES = ("inputs", "logits", "similarities", "positions", "min_distances")

    def files(self) -> dict[str, FileEntry]:
        """The golden arrays present, by name."""
        return {name: entry for name in self._FILES if (entry := getattr(self, name)) is not None}

    def tolerance(self, precision: str) -> PrecisionTolerance:
        """The tolerance recorded for ``precision`` (falls back to ``lexnet.spec.PRECISION_TOLERANCES``)."""
        from lexnet.spec import PRECISION_TOLERANCES

        if precision in self.tolerances:
            return PrecisionTolerance(**self.tolerances[precision])
        return PRECISION_TOLERANCES[precision]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: entry.to_dict() for name, entry in self.files().items()}
        data["tolerances"] = dict(self.tolerances)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GoldenInfo:
        data = dict(data)
        for name in cls._FILES:
            if data.get(name) is not None:
                data[name] = FileEntry.from_dict(data[name])
        return _build(cls, data, "golden")


@dataclass(frozen=True, kw_only=True)
class TuningInfo:
    """Auto-tuning of a compiled artifact (TVM); "not_applicable" for the other backends."""

    state: str = "not_applicable"
    trials: int = 0
    records: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def __post_init__(self) -> None:
        _check_choice(self.state, TUNING_STATES, "tuning.state")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TuningInfo:
        return _build(cls, data, "tuning")


@dataclass(frozen=True, kw_only=True)
class QuantizationInfo:
    """How an INT8 artifact was quantized."""

    method: str | None = None
    head: str = "fp32"
    calibration_flows: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuantizationInfo:
        return _build(cls, data, "quantization")


@dataclass(frozen=True, kw_only=True)
class ValidationInfo:
    """The export step's own check of the artifact against the reference."""

    flows: int
    prediction_agreement: float
    position_agreement: float
    max_abs_logits: float
    max_abs_similarities: float | None = None
    passed: bool = False
    reference: str = "fp32-torch"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ValidationInfo:
        return _build(cls, data, "validation")


@dataclass(frozen=True, kw_only=True)
class ArtifactEntry:
    """One compiled model: a backend, a precision and a device, with its files and how it was built."""

    id: str
    backend: str
    precision: str
    device: str
    files: list[FileEntry]
    target: dict[str, Any] | None = None
    opset: int | None = None
    tools: dict[str, str] = field(default_factory=dict)
    host: dict[str, Any] = field(default_factory=dict)
    hints: dict[str, Any] = field(default_factory=dict)
    tuning: TuningInfo | None = None
    quantization: QuantizationInfo | None = None
    validation: ValidationInfo | None = None
    status: str = "ok"
    error: str | None = None
    build_seconds: float = 0.0

    def __post_init__(self) -> None:
        _check_choice(self.backend, BACKENDS, f"artifact {self.id!r} backend")
        _check_choice(self.precision, PRECISIONS, f"artifact {self.id!r} precision")
        _check_choice(self.device, DEVICES, f"artifact {self.id!r} device")
        _check_choice(self.status, ARTIFACT_STATUSES, f"artifact {self.id!r} status")

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def file_with_suffix(self, suffix: str) -> FileEntry:
        """The artifact's (first) file whose name ends with ``suffix``, e.g. ".onnx"."""
        for entry in self.files:
            if entry.path.endswith(suffix):
                return entry
        raise BundleError(f"artifact {self.id!r} has no *{suffix} file; it lists {[f.path for f in self.files]}")

    def describe(self) -> str:
        return f"{self.backend}/{self.precision}/{self.device} ({self.id})"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["files"] = [f.to_dict() for f in self.files]
        for name in ("tuning", "quantization", "validation"):
            value = getattr(self, name)
            data[name] = value.to_dict() if value is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArtifactEntry:
        if not isinstance(data, dict) or not isinstance(data.get("files", []), list):
            raise BundleError(f"manifest: artifact {data!r} must be an object whose 'files' is a list")
        data = dict(data)
        data["files"] = [FileEntry.from_dict(f) for f in data.get("files", [])]
        for name, kind in (("tuning", TuningInfo), ("quantization", QuantizationInfo), ("validation", ValidationInfo)):
            if data.get(name) is not None:
                data[name] = kind.from_dict(data[name])
        return _build(cls, data, f"artifact {data.get('id')!r}")


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """The whole ``manifest.json``."""

    format_version: int
    created: str
    lexnet_version: str
    model: ModelInfo
    classes: list[ClassEntry]
    input: InputInfo
    outputs: list[str]
    golden: GoldenInfo
    artifacts: list[ArtifactEntry] = field(default_factory=list)
    prototypes: PrototypesInfo | None = None

    def __post_init__(self) -> None:
        if self.format_version != FORMAT_VERSION:
            raise BundleError(
                f"manifest format_version {self.format_version!r} is not supported: this lexnet reads version"
                f" {FORMAT_VERSION}; re-export the bundle or upgrade lexnet"
            )
        ids = [a.id for a in self.artifacts]
        if len(ids) != len(set(ids)):
            raise BundleError(f"manifest: artifact ids must be unique, got {ids}")
        if self.model.is_prototype_model and self.prototypes is None:
            raise BundleError("manifest: a prototype model needs a 'prototypes' section")

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    def find_artifact(self, backend: str, precision: str, device: str) -> ArtifactEntry:
        """The usable artifact for this combination; the error lists what the bundle has."""
        for entry in self.artifacts:
            if (entry.backend, entry.precision, entry.device) == (backend, precision, device) and entry.ok:
                return entry
        available = sorted(a.describe() for a in self.artifacts if a.ok)
        failed = sorted(a.describe() for a in self.artifacts if not a.ok)
        message = f"the bundle has no usable {backend}/{precision}/{device} artifact; it has {available or 'none'}"
        if failed:
            message += f" (failed at export: {failed})"
        raise UnsupportedArtifactError(message)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "created": self.created,
            "lexnet_version": self.lexnet_version,
            "model": self.model.to_dict(),
            "classes": [c.to_dict() for c in self.classes],
            "input": self.input.to_dict(),
            "outputs": list(self.outputs),
            "prototypes": self.prototypes.to_dict() if self.prototypes is not None else None,
            "golden": self.golden.to_dict(),
            "artifacts": [a.to_dict() for a in self.artifacts],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        if not isinstance(data, dict):
            raise BundleError(f"manifest: expected a JSON object, got {type(data).__name__}")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise BundleError(
                f"manifest format_version {version!r} is not supported: this lexnet reads version {FORMAT_VERSION};"
                " re-export the bundle or upgrade lexnet"
            )
        data = dict(data)
        data["model"] = ModelInfo.from_dict(data.get("model", {}))
        data["classes"] = [ClassEntry.from_dict(c) for c in data.get("classes", [])]
        data["input"] = InputInfo.from_dict(data.get("input", {}))
        data["golden"] = GoldenInfo.from_dict(data.get("golden", {}))
        data["artifacts"] = [ArtifactEntry.from_dict(a) for a in data.get("artifacts", [])]
        if data.get("prototypes") is not None:
            data["prototypes"] = PrototypesInfo.from_dict(data["prototypes"])
        return _build(cls, data, "top level")


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def checkpoint_digest(checkpoint_dir: str | os.PathLike[str]) -> str:
    """The sha256 a manifest records for the checkpoint it was exported from: that of its weights file."""
    return sha256_file(Path(checkpoint_dir) / "weights.safetensors")


def verify_file(bundle_dir: str | os.PathLike[str], entry: FileEntry) -> Path:
    """The file's absolute path once its size and sha256 match the manifest; ``IntegrityError`` otherwise."""
    path = Path(bundle_dir) / entry.path
    if not path.is_file():
        raise BundleError(f"{bundle_dir}: the manifest lists {entry.path} but the file is missing")
    if entry.size is not None and path.stat().st_size != entry.size:
        raise IntegrityError(entry.path, entry.sha256, f"(size {path.stat().st_size} bytes, expected {entry.size})")
    actual = sha256_file(path)
    if actual != entry.sha256:
        raise IntegrityError(entry.path, entry.sha256, actual)
    return path


def read_manifest(bundle_dir: str | os.PathLike[str]) -> Manifest:
    """Parse and validate ``bundle_dir/manifest.json``; unknown format versions are refused."""
    path = Path(bundle_dir) / MANIFEST_FILE
    if not path.is_file():
        raise BundleError(f"{bundle_dir}: not a bundle ({MANIFEST_FILE} not found)")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BundleError(f"{path}: invalid JSON ({error})") from error
    try:
        return Manifest.from_dict(data)
    except BundleError as error:
        raise BundleError(f"{path}: {error}") from error
    except (TypeError, ValueError) as error:
        raise BundleError(f"{path}: inconsistent manifest ({error})") from error


def write_manifest(bundle_dir: str | os.PathLike[str], manifest: Manifest) -> Path:
    """Write ``manifest.json`` atomically (a reader never sees half a manifest)."""
    bundle_dir = Path(bundle_dir)
    bundle_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(manifest.to_dict(), indent=1) + "\n"
    handle, staging = tempfile.mkstemp(prefix=f".{MANIFEST_FILE}.", dir=bundle_dir)
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.replace(staging, bundle_dir / MANIFEST_FILE)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    return bundle_dir / MANIFEST_FILE
