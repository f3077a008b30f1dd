"""The explicit list of backends: name -> session class, imported only when that backend is asked for.

Registering a name twice raises; listing is sorted; asking for a backend whose library is missing says which
backends are installed and which extra installs the missing one.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

from lexnet.runtimes.base import BackendSession
from lexnet.runtimes.errors import BackendUnavailableError

__all__ = ["BackendInfo", "get_backend", "installed_backends", "list_backends", "register_backend"]


@dataclass(frozen=True, kw_only=True)
class BackendInfo:
    """Where a backend lives and what it needs, known without importing it.

    Attributes:
        name: registry name, as in the manifest's ``backend`` field.
        module: module defining the session class.
        class_name: the ``BackendSession`` subclass in that module.
        extra: pyproject extra that installs the backend's library.
        requires: importable modules the backend needs.
    """

    name: str
    module: str
    class_name: str
    extra: str
    requires: tuple[str, ...]

    def is_installed(self) -> bool:
        return all(importlib.util.find_spec(module) is not None for module in self.requires)


_BACKENDS: dict[str, BackendInfo] = {}


def register_backend(info: BackendInfo) -> None:
    """Add a backend; a name already registered raises ``ValueError``."""
    if info.name in _BACKENDS:
        raise ValueError(f"backend {info.name!r} is already registered (by {_BACKENDS[info.name].module})")
    _BACKENDS[info.name] = info


def list_backends() -> list[str]:
    """Every registered backend, sorted, installed or not."""
    return sorted(_BACKENDS)


def installed_backends() -> list[str]:
    """The registered backends whose libraries are importable here, sorted."""
    return sorted(name for name, info in _BACKENDS.items() if info.is_installed())


def backend_info(name: str) -> BackendInfo:
    if name not in _BACKENDS:
        raise BackendUnavailableError(f"unknown backend {name!r}; registered backends: {list_backends()}")
    return _BACKENDS[name]


def get_backend(name: str) -> type[BackendSession]:
    """The session class of ``name``, importing its module now.

    Raises:
        BackendUnavailableError: unknown name, or its library is not installed (the message names the extra).
    """
    info = backend_info(name)
    if not info.is_installed():
        missing = [m for m in info.requires if importlib.util.find_spec(m) is None]
        raise BackendUnavailableError(
            f"backend {name!r} needs {', '.join(missing)}, which is not installed: pip install 'lexnet[{info.extra}]'"
            f" (installed backends: {installed_backends() or 'none'})"
        )
    try:
        session_class = getattr(importlib.import_module(info.module), info.class_name)
    except ImportError as error:
        raise BackendUnavailableError(f"backend {name!r} failed to import ({error})") from error
    return session_class


for _info in (
    BackendInfo(
        name="onnxruntime",
        module="lexnet.runtimes.onnxruntime",
        class_name="OnnxRuntimeSession",
        extra="onnx",
        requires=("onnxruntime",),
    ),
    BackendInfo(
        name="openvino",
        module="lexnet.runtimes.openvino",
        class_name="OpenVinoSession",
        extra="openvino",
        requires=("openvino",),
    ),
    BackendInfo(name="tvm", module="lexnet.runtimes.tvm", class_name="TvmSession", extra="tvm", requires=("tvm",)),
    BackendInfo(
        name="torch",
        module="lexnet.runtimes.torch",
        class_name="TorchSession",
        extra="train",
        requires=("torch", "safetensors"),
    ),
):
    register_backend(_info)
