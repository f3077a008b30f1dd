"""``lexnet export`` on the command line: the summary table, exit codes, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from lexnet.cli import main


@pytest.mark.torch
@pytest.mark.onnx
def test_export_prints_the_table(
    small_checkpoint: Path, small_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--no-progress", "export", str(small_checkpoint), "--out", str(tmp_path / "b"), "--data", str(small_data)]
    argv += ["--backends", "onnxruntime", "--precisions", "fp32,bf16", "--validation-flows", "200", "--threads", "1"]

    code = main(argv)
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[0].split() == ["artifact", "status", "size", "kB", "build", "s", "tuning", "s", "pred",
                                           "agree", "pos", "agree", "max", "|d", "logits|"]  # fmt: skip
    assert "onnxruntime-fp32-cpu  ok" in out
    assert "onnxruntime-bf16" in out
    assert "skipped" in out
    assert (tmp_path / "b" / "manifest.json").is_file()


def test_missing_checkpoint_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["export", str(tmp_path / "nothing"), "--out", str(tmp_path / "b")])

    assert code == 2
    assert "not found" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_unknown_backend_is_rejected(
    tmp_path: Path, small_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["export", str(small_checkpoint), "--out", str(tmp_path / "b"), "--backends", "tensorrt"])

    assert code == 2
    assert "unknown backend" in capsys.readouterr().err
