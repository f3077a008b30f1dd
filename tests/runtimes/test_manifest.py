"""The manifest schema: round trip, integrity checks, and refusal of what this reader does not understand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from lexnet.runtimes.errors import BundleError, IntegrityError, UnsupportedArtifactError
from lexnet.runtimes.manifest import (
    FORMAT_VERSION,
    ArtifactEntry,
    ClassEntry,
    FileEntry,
    GoldenInfo,
    InputInfo,
    Manifest,
    ModelInfo,
    PrototypesInfo,
    QuantizationInfo,
    TuningInfo,
    ValidationInfo,
    read_manifest,
    sha256_file,
    verify_file,
    write_manifest,
)

from lexnet.spec import PRECISION_TOLERANCES, InputSpec, ModelConfig, Scaling


def _file(bundle: Path, relative: str, array: np.ndarray) -> FileEntry:
    path = bundle / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, array, allow_pickle=False)
    return FileEntry(path=relative, sha256=sha256_file(path), size=path.stat().st_size)


def _manifest(bundle: Path) -> Manifest:
    config = ModelConfig(num_classes=3, widths=(4, 8))
    golden = GoldenInfo(
        inputs=_file(bundle, "golden/inputs.npy", np.zeros((2, config.input.packets), np.int16)),
        logits=_file(bundle, "golden/logits.npy", np.zeros((2, 3), np.float32)),
        tolerances={"fp32": PRECISION_TOLERANCES["fp32"].__dict__},
    )
    artifact = ArtifactEntry(
        id="onnxruntime-int8-cpu",
        backend="onnxruntime",
        precision="int8",
        device="cpu",
        files=[_file(bundle, "artifacts/onnxruntime-int8-cpu/model.npy", np.ones(3))],
        opset=20,
        tools={"onnxruntime": "1.32"},
        hints={"INFERENCE_PRECISION_HINT": "f32"},
        tuning=TuningInfo(),
        quantization=QuantizationInfo(method="ort-static-qdq-per-channel", calibration_flows=16),
        validation=ValidationInfo(flows=2, prediction_agreement=1.0, position_agreement=1.0, max_abs_logits=0.0),
    )
    return Manifest(
        format_version=FORMAT_VERSION,
        created="2026-01-01T00:00:00Z",
        lexnet_version="0.1.0",
        model=ModelInfo(arch="lexnet", config=config.to_dict(), trainable_parameters=10, is_prototype_model=True),
        classes=[ClassEntry(name="a"), ClassEntry(name="b", transport="udp"), ClassEntry(name="c")],
        input=InputInfo(
            mode="raw",
            name="flows",
            dtype="int16",
            shape=["batch", config.input.packets],
            spec=config.input.to_dict(),
            scaling=Scaling(size_min=0, size_max=1500).to_dict(),
        ),
        outputs=["logits", "similarities", "prototype_positions"],
        prototypes=PrototypesInfo(
            classes=config.prototype_classes().tolist(),
            sources=[],
            last_layer=_file(bundle, "model/last_layer.npy", np.zeros((6, 3), np.float32)),
        ),
        golden=golden,
        artifacts=[artifact],
    )


def test_round_trip_through_json(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path)
    write_manifest(tmp_path, manifest)
    again = read_manifest(tmp_path)
    assert again == manifest
    assert again.to_dict() == json.loads((tmp_path / "manifest.json").read_text())
    assert again.model.model_config.num_classes == 3
    assert again.input.input_spec == InputSpec()
    assert again.golden.tolerance("fp32") == PRECISION_TOLERANCES["fp32"]
    assert again.golden.tolerance("int8") == PRECISION_TOLERANCES["int8"]


def test_every_listed_file_verifies(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path)
    entries = [*manifest.golden.files().values(), manifest.prototypes.last_layer, *manifest.artifacts[0].files]
    for entry in entries:
        assert verify_file(tmp_path, entry) == tmp_path / entry.path


def test_tampered_file_is_refused_naming_it(tmp_path: Path) -> None:
    entry = _manifest(tmp_path).golden.logits
    data = bytearray((tmp_path / entry.path).read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / entry.path).write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"golden/logits\.npy"):
        verify_file(tmp_path, entry)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    entry = _manifest(tmp_path).golden.inputs
    (tmp_path / entry.path).unlink()
    with pytest.raises(BundleError, match="missing"):
        verify_file(tmp_path, entry)


@pytest.mark.parametrize("version", [0, 2, "1", None])
def test_unknown_format_version_is_refused(tmp_path: Path, version: object) -> None:
    write_manifest(tmp_path, _manifest(tmp_path))
    data = json.loads((tmp_path / "manifest.json").read_text())
    data["format_version"] = version
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match=f"format_version {version!r} is not supported"):
        read_manifest(tmp_path)


def test_not_a_bundle_and_bad_json_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not a bundle"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{")
    with pytest.raises(BundleError, match="invalid JSON"):
        read_manifest(tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"backend": "tensorrt"}, "backend must be one of"),
        ({"precision": "fp16"}, "precision must be one of"),
        ({"device": "tpu"}, "device must be one of"),
        ({"files": [{"path": "../escape.bin", "sha256": "0"}]}, "stay inside the bundle"),
        ({"files": [{"path": "/etc/passwd", "sha256": "0"}]}, "stay inside the bundle"),
        ({"files": 3}, "'files' is a list"),
    ],
)
def test_invalid_artifact_entries_are_refused(tmp_path: Path, change: dict, message: str) -> None:
    write_manifest(tmp_path, _manifest(tmp_path))
    data = json.loads((tmp_path / "manifest.json").read_text())
    data["artifacts"][0].update(change)
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match=message):
        read_manifest(tmp_path)


def test_missing_section_is_refused(tmp_path: Path) -> None:
    write_manifest(tmp_path, _manifest(tmp_path))
    data = json.loads((tmp_path / "manifest.json").read_text())
    del data["model"]
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match="model"):
        read_manifest(tmp_path)


def test_find_artifact_names_what_the_bundle_has(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path)
    assert manifest.find_artifact("onnxruntime", "int8", "cpu").id == "onnxruntime-int8-cpu"
    with pytest.raises(UnsupportedArtifactError, match=r"no usable openvino/fp32/cpu.*onnxruntime/int8/cpu"):
        manifest.find_artifact("openvino", "fp32", "cpu")
