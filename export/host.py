"""The build host: tool versions and CPU features recorded with every artifact."""

from __future__ import annotations

import importlib.metadata
import platform
from pathlib import Path
from typing import Any

__all__ = ["cpu_flags", "host_info", "native_llvm_cpu", "tool_versions"]

# The distributions whose versions decide what an artifact contains, by backend.
_TOOLS: dict[str, tuple[str, ...]] = {
    "common": ("lexnet", "numpy", "torch", "onnx"),
    "onnxruntime": ("onnxruntime",),
    "openvino": ("openvino", "nncf"),
    "tvm": ("apache-tvm", "apache-tvm-ffi", "xgboost"),
}

# ISA extensions worth recording: they decide which kernels a runtime can use (and whether an artifact compiled
# for this host runs on another).
_ISA_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni",
    "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_bf16", "amx_int8", "amx_tile", "asimd", "asimddp", "sve", "bf16",
    "i8mm",
)  # fmt: skip


def tool_versions(backend: str) -> dict[str, str]:
    """Installed versions of the tools that build an artifact of ``backend``."""
    versions = {}
    for name in _TOOLS["common"] + _TOOLS.get(backend, ()):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (empty where that file does not exist)."""
    path = Path("/proc/cpuinfo")
    if not path.is_file():
        return {}
    fields: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_flags() -> list[str]:
    """The CPU's ISA extensions among those that matter for inference kernels, sorted."""
    info = _cpuinfo()
    flags = set((info.get("flags") or info.get("Features") or "").split())
    return sorted(flag for flag in _ISA_FLAGS if flag in flags)


def host_info() -> dict[str, Any]:
    """Machine, CPU model and ISA flags of this host."""
    info = _cpuinfo()
    cpu = info.get("model name") or info.get("CPU part") or platform.processor() or "unknown"
    return {"machine": platform.machine(), "cpu": cpu, "isa": cpu_flags()}


def native_llvm_cpu() -> str:
    """LLVM's name for this host's CPU (e.g. "znver4"), as TVM's target parser sees it."""
    import tvm

    return str(tvm.target.codegen.llvm_get_system_cpu())
