"""The backend registry: explicit, sorted, loud about duplicates and missing libraries; every backend has cases."""

from __future__ import annotations

import pytest
from lexnet.runtimes import registry
from lexnet.runtimes.base import BackendSession
from lexnet.runtimes.errors import BackendUnavailableError
from lexnet.runtimes.registry import BackendInfo, get_backend, installed_backends, list_backends, register_backend
from lexnet_tests_bundle_factory import CASES


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy of the registry for tests that register backends."""
    monkeypatch.setattr(registry, "_BACKENDS", dict(registry._BACKENDS))


def test_builtin_backends_are_listed_sorted() -> None:
    assert list_backends() == ["onnxruntime", "openvino", "torch", "tvm"]
    assert installed_backends() == sorted(installed_backends())
    assert set(installed_backends()) <= set(list_backends())


def test_every_registered_backend_has_runtime_cases() -> None:
    covered = {backend for backend, *_ in CASES}
    assert covered == set(list_backends()), f"backends without runtime/parity cases: {set(list_backends()) - covered}"


@pytest.mark.parametrize("name", list_backends())
def test_installed_backends_resolve_to_sessions(name: str) -> None:
    if name not in installed_backends():
        pytest.skip(f"{name} is not installed here")
    session_class = get_backend(name)
    assert issubclass(session_class, BackendSession)
    assert session_class.name == name
    assert session_class.requires == registry.backend_info(name).requires
    assert session_class.extra == registry.backend_info(name).extra


@pytest.mark.usefixtures("scratch_registry")
def test_duplicate_name_raises() -> None:
    info = registry.backend_info("onnxruntime")
    with pytest.raises(ValueError, match="'onnxruntime' is already registered"):
        register_backend(info)


@pytest.mark.usefixtures("scratch_registry")
def test_missing_library_names_the_extra_and_the_installed_backends() -> None:
    register_backend(
        BackendInfo(name="fpga", module="nowhere", class_name="Nothing", extra="fpga", requires=("no_such_module_x",))
    )
    assert "fpga" in list_backends()
    assert "fpga" not in installed_backends()
    with pytest.raises(
        BackendUnavailableError, match=r"needs no_such_module_x.*pip install 'lexnet\[fpga\]'"
    ) as caught:
        get_backend("fpga")
    assert str(installed_backends()) in str(caught.value)


def test_unknown_backend_lists_the_registered_ones() -> None:
    with pytest.raises(BackendUnavailableError, match=r"unknown backend 'tensorrt'.*'onnxruntime', 'openvino'"):
        get_backend("tensorrt")
