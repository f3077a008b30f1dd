"""Parity fixtures: the runtime tests' bundle factory, shared (same module, same cache) through sys.modules."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

FACTORY_NAME = "lexnet_tests_bundle_factory"
FACTORY_PATH = Path(__file__).resolve().parent.parent / "runtimes" / "bundle_factory.py"


def _factory() -> ModuleType:
    if FACTORY_NAME not in sys.modules:
        spec = importlib.util.spec_from_file_location(FACTORY_NAME, FACTORY_PATH)
        module = importlib.util.module_from_spec(spec)
        sys.modules[FACTORY_NAME] = module
        spec.loader.exec_module(module)
    return sys.modules[FACTORY_NAME]


@pytest.fixture(scope="session")
def parity_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "runtime-bundles"


@pytest.fixture(scope="session")
def parity_cpu_bundle(parity_root: Path) -> tuple[Path, Path]:
    pytest.importorskip("torch", reason="building the test bundle needs torch")
    pytest.importorskip("onnx", reason="building the test bundle needs onnx")
    return _factory().cached_bundle(parity_root, "cpu")


@pytest.fixture(scope="session")
def parity_tvm_bundle(parity_root: Path, parity_cpu_bundle: tuple[Path, Path]) -> tuple[Path, Path]:
    pytest.importorskip("tvm", reason="the TVM artifact needs apache-tvm")
    return _factory().cached_bundle(parity_root, "tvm")


# Loaded now, at collection, so test modules can ``import lexnet_tests_bundle_factory`` for their parameters.
_factory()
