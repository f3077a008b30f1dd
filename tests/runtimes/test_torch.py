"""The torch reference: it runs the bundle's own checkpoint and nothing else."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from lexnet.runtimes import load
from lexnet.runtimes.errors import BackendUnavailableError, IntegrityError

pytestmark = pytest.mark.torch


def test_reference_reproduces_the_golden_vectors_exactly(cpu_bundle: tuple[Path, Path]) -> None:
    with load(cpu_bundle[0], backend="torch", checkpoint=cpu_bundle[1]) as reference:
        golden = reference.bundle.golden()
        outputs = reference.run(golden["inputs"])
        distances = reference.session.distance_maps(golden["inputs"][:8])
    np.testing.assert_array_equal(outputs.logits, golden["logits"])
    np.testing.assert_array_equal(outputs.positions, golden["positions"])
    flat = distances.reshape(*distances.shape[:2], -1)
    # The golden minimum is recomputed directly at the winning position; the map comes from the expansion
    # |x|^2 - 2 x.p + |p|^2, whose FP32 rounding is a few 1e-6 at these norms.
    np.testing.assert_allclose(flat.min(axis=2), golden["min_distances"][:8], rtol=0, atol=2e-5)


def test_another_checkpoint_is_refused(cpu_bundle: tuple[Path, Path], factory, tmp_path: Path) -> None:
    import torch

    state = torch.get_rng_state()
    other = factory.build_checkpoint(tmp_path / "other", seed=1)
    torch.set_rng_state(state)
    with pytest.raises(IntegrityError, match=r"weights\.safetensors: sha256"):
        load(cpu_bundle[0], backend="torch", checkpoint=other)


def test_reduced_precision_is_refused(cpu_bundle: tuple[Path, Path], tmp_path: Path) -> None:
    checkpoint = Path(shutil.copytree(cpu_bundle[1], tmp_path / "checkpoint"))
    with pytest.raises(BackendUnavailableError, match="fp32 only, not 'int8'"):
        load(cpu_bundle[0], backend="torch", precision="int8", checkpoint=checkpoint)
