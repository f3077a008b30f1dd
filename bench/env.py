"""The machine a benchmark ran on: CPU model, ISA flags, threads, library versions and the load average."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import socket
from pathlib import Path
from typing import Any

__all__ = ["ISA_FLAGS", "LIBRARIES", "cpu_model", "describe_environment", "isa_flags", "load_average"]

# The instruction-set extensions that decide which kernels the backends pick (VNNI for INT8, BF16, AMX).
ISA_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_bf16",
    "amx_int8",
    "amx_tile",
    "neon",
    "asimd",
)

LIBRARIES = (
    "lexnet",
    "numpy",
    "torch",
    "onnx",
    "onnxruntime",
    "openvino",
    "nncf",
    "apache-tvm",
    "apache-tvm-ffi",
    "xgboost",
    "psutil",
)

_CPUINFO = Path("/proc/cpuinfo")


def _cpuinfo_field(name: str) -> str | None:
    if not _CPUINFO.is_file():
        return None
    for line in _CPUINFO.read_text(errors="replace").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return None


def cpu_model() -> str:
    """The CPU's marketing name, or the platform's processor string where /proc/cpuinfo is absent."""
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


def isa_flags() -> list[str]:
    """The ISA extensions of ``ISA_FLAGS`` this CPU reports, in that order."""
    flags = set((_cpuinfo_field("flags") or _cpuinfo_field("Features") or "").split())
    return [flag for flag in ISA_FLAGS if flag in flags]


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages (``None`` where the platform has none)."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _thread_settings() -> dict[str, Any]:
    names = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TVM_NUM_THREADS")
    settings: dict[str, Any] = {name: os.environ.get(name) for name in names}
    settings["cpu_count"] = os.cpu_count()
    affinity = getattr(os, "sched_getaffinity", None)
    settings["usable_cores"] = len(affinity(0)) if affinity else os.cpu_count()
    return settings


def describe_environment() -> dict[str, Any]:
    """Everything a report records about the machine at the start of a run (call ``load_average`` again at the end)."""
    return {
        "host": socket.gethostname(),
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "isa": isa_flags(),
        "threads": _thread_settings(),
        "libraries": library_versions(),
        "load_average_start": load_average(),
    }
