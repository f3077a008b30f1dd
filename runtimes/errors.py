"""Errors raised by ``lexnet.runtimes``; every backend's own exceptions are re-raised as these with ``from``."""

from __future__ import annotations

from lexnet.errors import LexnetError

__all__ = [
    "BackendError",
    "BackendUnavailableError",
    "BundleError",
    "IntegrityError",
    "InvalidFlowError",
    "UnsupportedArtifactError",
]


class BundleError(LexnetError, ValueError):
    """A bundle is missing, malformed, or written in a format version this reader does not know."""


class IntegrityError(BundleError):
    """A bundle file's sha256 or size differs from the one its manifest records."""

    def __init__(self, path: str, expected: str, actual: str) -> None:
        super().__init__(f"{path}: sha256 {actual} does not match the manifest's {expected}; the bundle is corrupt")
        self.path = path
        self.expected = expected
        self.actual = actual


class BackendUnavailableError(LexnetError, ImportError):
    """The backend asked for is not registered or its library is not installed."""


class UnsupportedArtifactError(BundleError, NotImplementedError):
    """The bundle has no artifact for the backend, precision and device asked for; the message lists what it has."""


class BackendError(LexnetError, RuntimeError):
    """A backend library failed while loading or running an artifact."""


class InvalidFlowError(LexnetError, ValueError):
    """One input flow is unusable; ``flow_index`` names it (``None`` when the whole input is malformed)."""

    def __init__(self, message: str, flow_index: int | None = None) -> None:
        prefix = f"flow {flow_index}: " if flow_index is not None else ""
        super().__init__(prefix + message)
        self.flow_index = flow_index
