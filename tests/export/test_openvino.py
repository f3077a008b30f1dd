"""OpenVINO artifacts: IR files, the precision hints, and agreement with the FP32 reference."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.torch, pytest.mark.onnx, pytest.mark.openvino]

pytest.importorskip("openvino")
pytest.importorskip("torch")

from lexnet.export.build import ExportOptions, export_bundle  # noqa: E402
from lexnet.runtimes.manifest import Manifest, read_manifest  # noqa: E402


@pytest.fixture(scope="module")
def manifest(
    small_checkpoint: Path, small_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Manifest, Path]:
    from lexnet.checkpoint import load_checkpoint

    out = tmp_path_factory.mktemp("ov") / "bundle"
    options = ExportOptions(backends=("openvino",), data=str(small_data), validation_flows=400, threads=1)
    export_bundle(load_checkpoint(small_checkpoint), out, options)
    return read_manifest(out), out


@pytest.mark.parametrize(("precision", "hint"), [("fp32", "f32"), ("bf16", "bf16"), ("int8", "f32")])
def test_each_precision_builds_and_validates(manifest: tuple[Manifest, Path], precision: str, hint: str) -> None:
    from lexnet.spec import PRECISION_TOLERANCES

    manifest, _root = manifest
    artifact = manifest.find_artifact("openvino", precision, "cpu")
    tolerance = PRECISION_TOLERANCES[precision]

    assert [Path(f.path).name for f in artifact.files] == ["model.xml", "model.bin"]
    assert artifact.hints == {"INFERENCE_PRECISION_HINT": hint}
    assert artifact.validation is not None
    assert artifact.validation.passed
    assert artifact.validation.prediction_agreement >= tolerance.min_prediction_agreement
    assert artifact.validation.position_agreement >= tolerance.min_position_agreement
    if tolerance.logits_atol is not None:
        assert artifact.validation.max_abs_logits <= tolerance.logits_atol


def test_ir_keeps_fp32_weights_and_marks_the_head(manifest) -> None:  # type: ignore[no-untyped-def]
    import openvino as ov

    manifest, root = manifest
    artifact = manifest.find_artifact("openvino", "fp32", "cpu")
    model = ov.Core().read_model(str(root / artifact.files[0].path))
    constants = [op for op in model.get_ops() if op.get_type_name() == "Constant"]
    head = [op for op in model.get_ops() if op.get_friendly_name().startswith("head/")]

    assert not [c for c in constants if c.get_output_element_type(0) == ov.Type.f16]
    assert head
    assert all(op.get_rt_info().keys() for op in head if op.get_type_name() == "MatMul")


def test_int8_keeps_the_head_out_of_quantization(manifest) -> None:  # type: ignore[no-untyped-def]
    import openvino as ov

    manifest, root = manifest
    artifact = manifest.find_artifact("openvino", "int8", "cpu")
    model = ov.Core().read_model(str(root / artifact.files[0].path))
    quantizers = [op for op in model.get_ops() if op.get_type_name() == "FakeQuantize"]
    consumers = {t.get_node().get_friendly_name() for q in quantizers for t in q.output(0).get_target_inputs()}

    assert quantizers
    assert not [name for name in consumers if name.startswith("head/")]
    assert artifact.quantization is not None
    assert artifact.quantization.method == "nncf"
