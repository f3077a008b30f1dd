"""The bundle writer's staging: all or nothing, and the tar packing."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest
from lexnet.export.bundle import pack_tar, save_array, staged_directory
from lexnet.runtimes.manifest import verify_file


def test_a_successful_stage_replaces_the_old_directory(tmp_path: Path) -> None:
    target = tmp_path / "bundle"
    target.mkdir()
    (target / "old.txt").write_text("old")

    with staged_directory(target) as stage:
        (stage / "new.txt").write_text("new")
        assert not (target / "new.txt").exists()

    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]


def test_a_failure_leaves_the_old_directory_and_no_stage(tmp_path: Path) -> None:
    target = tmp_path / "bundle"
    target.mkdir()
    (target / "old.txt").write_text("old")

    def write_then_fail() -> None:
        with staged_directory(target) as stage:
            (stage / "new.txt").write_text("new")
            raise RuntimeError("failed part-way")

    with pytest.raises(RuntimeError, match="part-way"):
        write_then_fail()

    assert [p.name for p in target.iterdir()] == ["old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]


def test_a_file_in_the_way_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bundle").write_text("not a directory")

    with pytest.raises(FileExistsError, match="not a directory"), staged_directory(tmp_path / "bundle"):
        pass


def test_arrays_are_saved_without_pickle_and_hashed(tmp_path: Path) -> None:
    entry = save_array(tmp_path, "golden/inputs.npy", np.arange(6, dtype=np.int16).reshape(2, 3))

    assert entry.path == "golden/inputs.npy"
    assert verify_file(tmp_path, entry) == tmp_path / "golden" / "inputs.npy"
    np.testing.assert_array_equal(np.load(tmp_path / entry.path, allow_pickle=False), [[0, 1, 2], [3, 4, 5]])


def test_pack_tar_keeps_every_file_under_the_bundle_name(tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    (bundle / "artifacts" / "x").mkdir(parents=True)
    (bundle / "manifest.json").write_text("{}")
    (bundle / "artifacts" / "x" / "model.onnx").write_bytes(b"onnx")

    out = pack_tar(bundle)
    with tarfile.open(out) as archive:
        names = sorted(archive.getnames())

    assert out == tmp_path / "b.tar"
    assert names == ["b/artifacts/x/model.onnx", "b/manifest.json"]
