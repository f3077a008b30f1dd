"""Router-side inference: load a bundle on ONNX Runtime, OpenVINO, TVM or PyTorch and classify flows with explanations.

Importing this package needs only numpy: each backend's library is imported when that backend is loaded.
"""

from __future__ import annotations

from lexnet.runtimes.base import BackendSession, RawOutputs
from lexnet.runtimes.bundle import Bundle, open_bundle
from lexnet.runtimes.classifier import Classifier, Prediction, PrototypeEvidence, SourceMatch, load
from lexnet.runtimes.errors import (
    BackendError,
    BackendUnavailableError,
    BundleError,
    IntegrityError,
    InvalidFlowError,
    UnsupportedArtifactError,
)
from lexnet.runtimes.inputs import InputClippedWarning, prepare_flows
from lexnet.runtimes.manifest import FORMAT_VERSION, Manifest, read_manifest, verify_file, write_manifest
from lexnet.runtimes.registry import get_backend, installed_backends, list_backends, register_backend

__all__ = [
    "FORMAT_VERSION",
    "BackendError",
    "BackendSession",
    "BackendUnavailableError",
    "Bundle",
    "BundleError",
    "Classifier",
    "InputClippedWarning",
    "IntegrityError",
    "InvalidFlowError",
    "Manifest",
    "Prediction",
    "PrototypeEvidence",
    "RawOutputs",
    "SourceMatch",
    "UnsupportedArtifactError",
    "get_backend",
    "installed_backends",
    "list_backends",
    "load",
    "open_bundle",
    "prepare_flows",
    "read_manifest",
    "register_backend",
    "verify_file",
    "write_manifest",
]
