"""TVM libraries: untuned native builds validate; targets resolve; aarch64 cross-compiles where it can."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.torch, pytest.mark.onnx, pytest.mark.tvm]

pytest.importorskip("tvm")
pytest.importorskip("torch")

from lexnet.export.build import ExportOptions, export_bundle  # noqa: E402
from lexnet.export.tvm import AARCH64_CC, resolve_target  # noqa: E402
from lexnet.runtimes.manifest import read_manifest  # noqa: E402


def _export(checkpoint: Path, data: Path, out: Path, **changes):  # type: ignore[no-untyped-def]
    from lexnet.checkpoint import load_checkpoint

    base = {"backends": ("tvm",), "data": str(data), "validation_flows": 200, "tvm_batch": 16, "threads": 1}
    export_bundle(load_checkpoint(checkpoint), out, ExportOptions(**{**base, **changes}))
    return read_manifest(out)


def test_native_fp32_and_int8_build_and_validate(small_checkpoint: Path, small_data: Path, tmp_path: Path) -> None:
    manifest = _export(small_checkpoint, small_data, tmp_path / "b", precisions=("fp32", "int8"))

    assert [a.precision for a in manifest.artifacts] == ["fp32", "int8"]
    for artifact in manifest.artifacts:
        assert artifact.target is not None
        assert artifact.target["kind"] == "llvm"
        assert artifact.hints == {"batch_size": 16}
        assert artifact.tuning is not None
        assert artifact.tuning.state == "untuned"
        assert artifact.validation is not None
        assert artifact.validation.passed
    assert manifest.artifacts[0].validation.max_abs_logits <= 1e-3


def test_named_and_json_targets_resolve() -> None:
    native = resolve_target("native")
    avx2 = resolve_target("x86-64-avx2")
    custom = resolve_target(json.dumps({"kind": "llvm", "mcpu": "skylake-avx512"}))

    assert native.target["mcpu"]
    assert native.runnable
    assert avx2.target["mcpu"] == "x86-64-v3"
    assert custom.label == "llvm-skylake-avx512"
    assert custom.target["num-cores"] >= 1
    with pytest.raises(ValueError, match="neither a named target"):
        resolve_target("pentium")


@pytest.mark.skipif(shutil.which(AARCH64_CC) is None, reason=f"needs the cross compiler {AARCH64_CC}")
def test_aarch64_cross_compiles_unvalidated(small_checkpoint: Path, small_data: Path, tmp_path: Path) -> None:
    manifest = _export(small_checkpoint, small_data, tmp_path / "b", precisions=("fp32",), targets=("aarch64",))
    (artifact,) = manifest.artifacts

    assert artifact.id == "tvm-fp32-llvm-aarch64"
    assert artifact.validation is None
    assert (tmp_path / "b" / artifact.files[0].path).read_bytes()[:4] == b"\x7fELF"
    assert (tmp_path / "b" / artifact.files[0].path).read_bytes()[18] == 0xB7  # e_machine: EM_AARCH64


def test_aarch64_without_cross_compiler_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)

    with pytest.raises(NotImplementedError, match="gcc-aarch64-linux-gnu"):
        resolve_target("aarch64")


@pytest.mark.slow
def test_tuning_records_go_into_the_bundle(small_checkpoint: Path, small_data: Path, tmp_path: Path) -> None:
    manifest = _export(small_checkpoint, small_data, tmp_path / "b", precisions=("fp32",), tune_trials=2)
    (artifact,) = manifest.artifacts

    assert artifact.tuning is not None
    assert artifact.tuning.state == "tuned"
    assert artifact.tuning.trials == 2
    assert sorted(Path(r).name for r in artifact.tuning.records) == [
        "database_tuning_record.json",
        "database_workload.json",
    ]
    assert {f.path for f in artifact.files} >= set(artifact.tuning.records)
    assert artifact.validation is not None
    assert artifact.validation.passed
