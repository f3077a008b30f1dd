"""Opening bundles through ``load``: integrity, format version, missing combinations, nothing unpickled."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from lexnet.runtimes import Bundle, load
from lexnet.runtimes.errors import BundleError, IntegrityError, UnsupportedArtifactError


@pytest.fixture
def bundle_copy(cpu_bundle: tuple[Path, Path], tmp_path: Path) -> Path:
    return Path(shutil.copytree(cpu_bundle[0], tmp_path / "bundle"))


@pytest.mark.onnx
def test_tampered_artifact_is_refused(bundle_copy: Path) -> None:
    model = bundle_copy / "artifacts/onnxruntime-fp32-cpu/model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"artifacts/onnxruntime-fp32-cpu/model\.onnx: sha256 .* does not match"):
        load(bundle_copy, backend="onnxruntime")


@pytest.mark.onnx
def test_tampered_golden_vector_is_refused(bundle_copy: Path) -> None:
    np.save(bundle_copy / "golden/logits.npy", np.zeros((2, 5), np.float32), allow_pickle=False)
    with pytest.raises(IntegrityError, match=r"golden/logits\.npy"):
        Bundle(bundle_copy).golden()


@pytest.mark.onnx
def test_unknown_format_version_is_refused(bundle_copy: Path) -> None:
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    manifest["format_version"] = 99
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="format_version 99 is not supported"):
        load(bundle_copy)


@pytest.mark.onnx
def test_missing_combination_names_what_the_bundle_has(cpu_bundle: tuple[Path, Path]) -> None:
    with pytest.raises(
        UnsupportedArtifactError, match=r"no usable onnxruntime/bf16/cpu.*onnxruntime/fp32/cpu.*onnxruntime/int8/cpu"
    ):
        load(cpu_bundle[0], backend="onnxruntime", precision="bf16")


def test_a_directory_without_manifest_is_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not a bundle"):
        load(tmp_path)
    with pytest.raises(BundleError, match="no bundle there"):
        load(tmp_path / "absent")


@pytest.mark.onnx
def test_pickled_arrays_are_refused(bundle_copy: Path) -> None:
    """A golden file replaced by an object array (which needs pickle) is not loaded, even with a matching sha256."""
    from lexnet.runtimes.manifest import read_manifest, sha256_file, write_manifest

    path = bundle_copy / "golden/inputs.npy"
    np.save(path, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    manifest = read_manifest(bundle_copy)
    inputs = manifest.golden.inputs.__class__(path="golden/inputs.npy", sha256=sha256_file(path))
    golden = manifest.golden.__class__(**{**manifest.golden.__dict__, "inputs": inputs})
    write_manifest(bundle_copy, manifest.__class__(**{**manifest.__dict__, "golden": golden}))
    with pytest.raises(BundleError, match=r"not a readable \.npy array"):
        Bundle(bundle_copy).golden()
