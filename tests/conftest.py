"""Shared fixtures and the automatic skips: a missing backend or GPU skips with its reason."""

from __future__ import annotations

import importlib.util
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
NDPI = REPO.parent / "shared" / "data" / "ndpi"

_NEEDS = {
    "torch": ("torch",),
    "onnx": ("onnx", "onnxruntime"),
    "openvino": ("openvino",),
    "tvm": ("tvm",),
}


def _missing(modules: tuple[str, ...]) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


def cuda_available() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for marker, modules in _NEEDS.items():
            if marker in item.keywords and (missing := _missing(modules)):
                item.add_marker(pytest.mark.skip(reason=f"needs {', '.join(missing)} (install the '{marker}' extra)"))
        if "gpu" in item.keywords and not cuda_available():
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU; none is visible on this machine"))


@pytest.fixture(autouse=True)
def _restore_rng() -> Iterator[None]:
    """Tests may seed freely: the global random states are put back afterwards."""
    py_state, np_state = random.getstate(), np.random.get_state()
    torch_state = None
    if importlib.util.find_spec("torch") is not None:
        import torch

        torch_state = torch.get_rng_state()
    yield
    random.setstate(py_state)
    np.random.set_state(np_state)
    if torch_state is not None:
        import torch

        torch.set_rng_state(torch_state)


@pytest.fixture(scope="session")
def ndpi_dir() -> Path:
    """The real nDPI captures beside the checkout; tests that need them skip where they are absent."""
    if not (NDPI / "pcap").is_dir():
        pytest.skip(f"real captures not found at {NDPI}")
    return NDPI
