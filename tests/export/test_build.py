"""export_bundle with ONNX Runtime: the bundle's schema and contents, validation, failures and atomicity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.torch, pytest.mark.onnx]

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from lexnet.export.build import ExportOptions, export_bundle  # noqa: E402
from lexnet.runtimes.manifest import read_manifest, verify_file  # noqa: E402

ORT_ONLY = {"backends": ("onnxruntime",), "precisions": ("fp32", "int8"), "validation_flows": 400, "threads": 1}


@pytest.fixture(scope="module")
def bundle(small_checkpoint: Path, small_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lexnet.checkpoint import load_checkpoint

    out = tmp_path_factory.mktemp("bundles") / "small"
    options = ExportOptions(**ORT_ONLY, data=str(small_data), golden_flows=64, tar=True)
    export_bundle(load_checkpoint(small_checkpoint), out, options, checkpoint_path=small_checkpoint)
    return out


def test_manifest_follows_the_schema(bundle: Path, small_checkpoint: Path) -> None:
    manifest = read_manifest(bundle)
    raw = json.loads((bundle / "manifest.json").read_text())

    assert raw["format_version"] == 1
    assert manifest.input.mode == "raw"
    assert manifest.input.dtype == "int16"
    assert manifest.input.name == "flows"
    assert manifest.input.shape == ["batch", manifest.input.input_spec.packets]
    assert manifest.outputs == ["logits", "similarities", "prototype_positions"]
    checkpoint_classes = json.loads((small_checkpoint / "checkpoint.json").read_text())["classes"]
    assert [c.name for c in manifest.classes] == [c["name"] for c in checkpoint_classes]
    assert manifest.model.is_prototype_model
    assert manifest.model.checkpoint_sha256
    assert manifest.prototypes is not None
    assert len(manifest.prototypes.classes) == manifest.model.model_config.num_prototypes
    assert set(manifest.golden.tolerances) == {"fp32", "bf16", "int8"}
    assert [a.id for a in manifest.artifacts] == ["onnxruntime-fp32-cpu", "onnxruntime-int8-cpu"]
    for artifact in manifest.artifacts:
        assert artifact.status == "ok"
        assert artifact.validation is not None
        assert artifact.validation.passed
        assert artifact.opset is not None
        assert artifact.opset >= 17
        assert "onnxruntime" in artifact.tools
        assert artifact.host["isa"] is not None
        assert artifact.tuning is not None
        assert artifact.tuning.state == "not_applicable"
    int8 = manifest.find_artifact("onnxruntime", "int8", "cpu")
    assert int8.quantization is not None
    assert int8.quantization.head == "fp32"
    assert int8.quantization.method == "ort-static-qdq-per-channel"


def test_every_listed_file_matches_its_hash(bundle: Path) -> None:
    manifest = read_manifest(bundle)
    files = [f for a in manifest.artifacts for f in a.files] + list(manifest.golden.files().values())
    assert manifest.prototypes is not None
    files.append(manifest.prototypes.last_layer)

    for entry in files:
        verify_file(bundle, entry)
    assert (bundle.parent / "small.tar").is_file()


def test_fp32_artifact_reproduces_the_golden_vectors(bundle: Path) -> None:
    import onnxruntime as ort

    manifest = read_manifest(bundle)
    golden = {name: np.load(bundle / entry.path) for name, entry in manifest.golden.files().items()}
    session = ort.InferenceSession(str(bundle / manifest.artifacts[0].files[0].path))
    logits, similarities, positions = session.run(None, {"flows": golden["inputs"]})

    assert golden["inputs"].dtype == np.int16
    assert golden["positions"].dtype == np.int64
    tolerance = manifest.golden.tolerance("fp32")
    np.testing.assert_allclose(logits, golden["logits"], atol=tolerance.logits_atol, rtol=0)
    np.testing.assert_allclose(similarities, golden["similarities"], atol=tolerance.similarity_atol, rtol=0)
    assert (positions == golden["positions"]).all(axis=-1).mean() >= 0.99


def test_int8_agrees_with_fp32_within_tolerance(bundle: Path) -> None:
    from lexnet.spec import PRECISION_TOLERANCES

    validation = read_manifest(bundle).find_artifact("onnxruntime", "int8", "cpu").validation
    tolerance = PRECISION_TOLERANCES["int8"]

    assert validation is not None
    assert validation.flows == 400
    assert validation.prediction_agreement >= tolerance.min_prediction_agreement
    assert validation.position_agreement >= tolerance.min_position_agreement


def _impossible_tolerances(monkeypatch: pytest.MonkeyPatch) -> None:
    from lexnet.spec import PrecisionTolerance

    strict = PrecisionTolerance(
        min_prediction_agreement=1.01, min_position_agreement=1.01, logits_atol=0.0, similarity_atol=0.0
    )
    monkeypatch.setattr("lexnet.export.build.PRECISION_TOLERANCES", {"fp32": strict, "bf16": strict, "int8": strict})


def test_failed_validation_leaves_the_old_bundle(
    bundle: Path, small_checkpoint: Path, small_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lexnet.export.validate import ValidationError

    from lexnet.checkpoint import load_checkpoint

    _impossible_tolerances(monkeypatch)
    before = (bundle / "manifest.json").read_bytes()
    options = ExportOptions(**{**ORT_ONLY, "precisions": ("fp32",)}, data=str(small_data))

    with pytest.raises(ValidationError, match="onnxruntime-fp32-cpu failed validation"):
        export_bundle(load_checkpoint(small_checkpoint), bundle, options)
    assert (bundle / "manifest.json").read_bytes() == before
    assert sorted(p.name for p in bundle.parent.iterdir() if p.name.startswith(".")) == []


def test_keep_failed_marks_the_artifact(
    small_checkpoint: Path, small_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lexnet.checkpoint import load_checkpoint

    _impossible_tolerances(monkeypatch)
    options = ExportOptions(**{**ORT_ONLY, "precisions": ("fp32",)}, data=str(small_data), keep_failed=True)

    result = export_bundle(load_checkpoint(small_checkpoint), tmp_path / "b", options)
    (artifact,) = read_manifest(tmp_path / "b").artifacts
    assert artifact.status == "failed"
    assert artifact.validation is not None
    assert not artifact.validation.passed
    assert [r.status for r in result.artifacts] == ["failed"]


def test_a_build_failing_part_way_leaves_no_partial_bundle(
    bundle: Path, small_checkpoint: Path, small_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first artifact is built and written to the staging directory; the second one's build crashes."""
    from lexnet.checkpoint import load_checkpoint

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("quantizer crashed")

    monkeypatch.setattr("lexnet.export.quantize.quantize_onnx", crash)
    before = {p.relative_to(bundle): p.read_bytes() for p in bundle.rglob("*") if p.is_file()}
    options = ExportOptions(**ORT_ONLY, data=str(small_data))

    with pytest.raises(RuntimeError, match="quantizer crashed"):
        export_bundle(load_checkpoint(small_checkpoint), bundle, options)
    after = {p.relative_to(bundle): p.read_bytes() for p in bundle.rglob("*") if p.is_file()}
    assert after == before
    assert not [p for p in bundle.parent.iterdir() if "staging" in p.name]

    with pytest.raises(RuntimeError, match="quantizer crashed"):
        export_bundle(load_checkpoint(small_checkpoint), bundle.parent / "fresh", options)
    assert not (bundle.parent / "fresh").exists()


def test_options_reject_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown backend"):
        ExportOptions(backends=("tensorrt",))
    with pytest.raises(ValueError, match="unknown precision"):
        ExportOptions(precisions=("fp8",))
