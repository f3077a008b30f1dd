"""Fixtures of the runtime tests: a small bundle (built once per session) and the factory that builds it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

FACTORY_NAME = "lexnet_tests_bundle_factory"


def bundle_factory() -> ModuleType:
    """tests/runtimes/bundle_factory.py, imported once per process under a fixed name (tests are not a package)."""
    if FACTORY_NAME not in sys.modules:
        spec = importlib.util.spec_from_file_location(FACTORY_NAME, Path(__file__).with_name("bundle_factory.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[FACTORY_NAME] = module
        spec.loader.exec_module(module)
    return sys.modules[FACTORY_NAME]


@pytest.fixture(scope="session")
def factory() -> ModuleType:
    return bundle_factory()


@pytest.fixture(scope="session")
def bundles_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "runtime-bundles"


@pytest.fixture(scope="session")
def cpu_bundle(factory: ModuleType, bundles_root: Path) -> tuple[Path, Path]:
    """(bundle dir, checkpoint dir): ONNX Runtime FP32 and, where installed, OpenVINO FP32 + BF16 artifacts."""
    pytest.importorskip("torch", reason="building the test bundle needs torch")
    pytest.importorskip("onnx", reason="building the test bundle needs onnx")
    return factory.cached_bundle(bundles_root, "cpu")


@pytest.fixture(scope="session")
def tvm_bundle(factory: ModuleType, bundles_root: Path, cpu_bundle: tuple[Path, Path]) -> tuple[Path, Path]:
    """The CPU bundle plus an untuned TVM LLVM library."""
    pytest.importorskip("tvm", reason="the TVM artifact needs apache-tvm")
    return factory.cached_bundle(bundles_root, "tvm")


# Loaded now, at collection, so test modules can ``import lexnet_tests_bundle_factory`` for their parameters.
bundle_factory()
