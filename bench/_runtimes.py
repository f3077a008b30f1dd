"""Cells timed through the project's own export and runtime API (bundles written by ``lexnet.export``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from lexnet.bench.sources import Loaded, ModelSource, SkipCell


def available() -> bool:
    """True when both lexnet.export and the runtime API's ``load`` are importable."""
    if importlib.util.find_spec("lexnet.export") is None:
        return False
    try:
        import lexnet.export
        import lexnet.runtimes
    except ImportError:
        return False
    return hasattr(lexnet.runtimes, "load") and hasattr(lexnet.export, "export_bundle")


def load(source: ModelSource, backend: str, precision: str, device: str, threads: int, workdir: Path) -> Loaded:
    raise SkipCell(f"{backend}: the bench's bundle path is not wired to lexnet.export yet")
