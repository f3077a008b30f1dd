"""Parity of every backend, precision and device against the reference, on the test bundle; the CLI's exit code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from lexnet.runtimes import Bundle, get_backend, list_backends, load
from lexnet.runtimes.parity import ParityResult, compare_outputs, run_parity
from lexnet_tests_bundle_factory import CASES, case_params, random_flows

from lexnet.spec import PRECISION_TOLERANCES


def test_every_registered_backend_has_a_parity_case() -> None:
    missing = set(list_backends()) - {backend for backend, *_ in CASES}
    assert not missing, f"registered backends without a parity case: {sorted(missing)}"


def _datasets(bundle: Bundle) -> dict[str, np.ndarray]:
    return {"golden": bundle.golden()["inputs"], "random": random_flows(300, seed=99, spec=bundle.spec)}


@pytest.mark.parametrize(("backend", "precision", "device"), case_params())
def test_artifact_against_the_torch_reference(
    request: pytest.FixtureRequest, backend: str, precision: str, device: str
) -> None:
    if not get_backend(backend).device_available(device):
        pytest.skip(f"{backend} sees no {device} device on this machine")
    bundle_dir, checkpoint = request.getfixturevalue("parity_tvm_bundle" if backend == "tvm" else "parity_cpu_bundle")
    with Bundle(bundle_dir) as bundle:
        if backend == "torch":
            results = [_torch_against_golden(bundle, checkpoint, device)]
        else:
            artifact = bundle.manifest.find_artifact(backend, precision, device)
            results = run_parity(
                bundle,
                _datasets(bundle),
                reference="torch",
                checkpoint=checkpoint,
                threads=1,
                artifact_ids=[artifact.id],
            )
    tolerance = PRECISION_TOLERANCES[precision]
    for result in results:
        assert result.skipped is None
        assert result.flows > 0
        if precision == "fp32":
            assert result.passed, result.failures
            assert result.max_abs_logits <= tolerance.logits_atol
        else:
            # The test model is trained for a few steps only; its reduced-precision artifacts are judged by the
            # same thresholds, and the verdict must follow them exactly.
            meets = (
                result.prediction_agreement >= tolerance.min_prediction_agreement
                and result.position_agreement >= tolerance.min_position_agreement
            )
            assert result.passed == meets
            assert 0.9 <= result.prediction_agreement <= 1.0


def _torch_against_golden(bundle: Bundle, checkpoint: Path, device: str) -> ParityResult:
    golden = bundle.golden()
    with load(bundle, backend="torch", device=device, checkpoint=checkpoint) as reference:
        outputs = reference.run(golden["inputs"])
    from lexnet.runtimes.base import RawOutputs

    expected = RawOutputs(golden["logits"], golden["similarities"], golden["positions"])
    result = ParityResult("torch", "torch", "fp32", device, "golden", "golden")
    return compare_outputs(result, expected, outputs, bundle.prototype_classes, PRECISION_TOLERANCES["fp32"])


@pytest.mark.onnx
def test_golden_reference_without_torch_gives_the_same_verdict(parity_cpu_bundle: tuple[Path, Path]) -> None:
    with Bundle(parity_cpu_bundle[0]) as bundle:
        datasets = {"golden": bundle.golden()["inputs"]}
        by_golden = run_parity(bundle, datasets, reference="golden", artifact_ids=["onnxruntime-fp32-cpu"])
        by_torch = run_parity(
            bundle, datasets, reference="torch", checkpoint=parity_cpu_bundle[1], artifact_ids=["onnxruntime-fp32-cpu"]
        )
    assert [r.passed for r in by_golden] == [r.passed for r in by_torch] == [True]
    assert by_golden[0].reference == "golden"
    assert by_golden[0].max_abs_logits == pytest.approx(by_torch[0].max_abs_logits, abs=1e-7)


@pytest.mark.onnx
def test_golden_reference_skips_other_datasets(parity_cpu_bundle: tuple[Path, Path]) -> None:
    with Bundle(parity_cpu_bundle[0]) as bundle:
        results = run_parity(bundle, _datasets(bundle), reference="golden", artifact_ids=["onnxruntime-fp32-cpu"])
    assert [r.dataset for r in results] == ["golden", "random"]
    assert results[0].passed
    assert results[1].skipped is not None
    assert "install torch" in results[1].skipped


@pytest.mark.onnx
@pytest.mark.pcap
def test_real_flows(parity_cpu_bundle: tuple[Path, Path], ndpi_dir: Path) -> None:
    pcap = pytest.importorskip("lexnet.data.pcap", reason="lexnet.data.pcap is not there yet")
    pytest.importorskip("dpkt", reason="reading captures needs dpkt (the 'pcap' extra)")
    captures = pcap.find_captures([ndpi_dir / "pcap"])[:20]
    with Bundle(parity_cpu_bundle[0]) as bundle:
        flows = pcap.read_captures(captures, bundle.spec, engine="dpkt").x[:500]
        assert len(flows) > 0
        results = run_parity(
            bundle,
            {"real": flows},
            reference="torch",
            checkpoint=parity_cpu_bundle[1],
            threads=1,
            artifact_ids=["onnxruntime-fp32-cpu"],
        )
    assert results[0].flows == len(flows)
    assert results[0].passed, results[0].failures


@pytest.mark.onnx
def test_cli_exit_code_follows_the_verdict(
    parity_cpu_bundle: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lexnet.cli import main

    bundle_dir, checkpoint = parity_cpu_bundle
    args = ["parity", str(bundle_dir), "--checkpoint", str(checkpoint), "--threads", "1", "--reference", "torch"]
    args += ["--data", "none"]
    assert main([*args, "--artifact", "onnxruntime-fp32-cpu", "--json", str(tmp_path / "rows.json")]) == 0
    out = capsys.readouterr().out
    assert "onnxruntime-fp32-cpu" in out
    assert "PASS" in out
    rows = json.loads((tmp_path / "rows.json").read_text())
    assert [row["dataset"] for row in rows] == ["golden"]
    assert rows[0]["passed"]

    # The same bundle whose ONNX model is another checkpoint's (sha256 updated): it must fail, with exit code 1.
    broken = Path(shutil.copytree(bundle_dir, tmp_path / "broken"))
    _swap_in_another_model(broken, tmp_path)
    broken_args = ["parity", str(broken), "--checkpoint", str(checkpoint), "--threads", "1", "--data", "none"]
    assert main([*broken_args, "--reference", "torch", "--artifact", "onnxruntime-fp32-cpu"]) == 1
    assert "FAIL" in capsys.readouterr().out


def _swap_in_another_model(bundle_dir: Path, work: Path) -> None:
    import torch
    from lexnet.runtimes.manifest import read_manifest, sha256_file, write_manifest
    from lexnet_tests_bundle_factory import build_bundle, build_checkpoint

    state = torch.get_rng_state()
    other = build_bundle(
        work / "other", build_checkpoint(work / "other-checkpoint", seed=5, train_steps=0), ("onnxruntime",)
    )
    torch.set_rng_state(state)
    relative = "artifacts/onnxruntime-fp32-cpu/model.onnx"
    shutil.copy(other / relative, bundle_dir / relative)
    manifest = read_manifest(bundle_dir)
    artifacts = []
    for artifact in manifest.artifacts:
        files = [f.__class__(path=f.path, sha256=sha256_file(bundle_dir / f.path)) for f in artifact.files]
        artifacts.append(artifact.__class__(**{**artifact.__dict__, "files": files}))
    write_manifest(bundle_dir, manifest.__class__(**{**manifest.__dict__, "artifacts": artifacts}))
