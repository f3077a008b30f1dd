"""Router-side inference: load a bundle on ONNX Runtime, OpenVINO, TVM or PyTorch and classify flows with explanations.

Importing this package needs only numpy: each backend's library is imported when that backend is loaded.
"""

from __future__ import annotations

from lexnet.runtimes.errors import (
    BackendError,
    BackendUnavailableError,
    BundleError,
    IntegrityError,
    InvalidFlowError,
    UnsupportedArtifactError,
)
from lexnet.runtimes.manifest import FORMAT_VERSION, Manifest, read_manifest, verify_file, write_manifest

__all__ = [
    "FORMAT_VERSION",
    "BackendError",
    "BackendUnavailableError",
    "BundleError",
    "IntegrityError",
    "InvalidFlowError",
    "Manifest",
    "UnsupportedArtifactError",
    "read_manifest",
    "verify_file",
    "write_manifest",
]
