"""ONNX Runtime specifics: thread settings reach the session."""

from __future__ import annotations

from pathlib import Path

import pytest
from lexnet.runtimes import load

pytestmark = pytest.mark.onnx


def test_threads_set_intra_op_threads(cpu_bundle: tuple[Path, Path]) -> None:
    with load(cpu_bundle[0], backend="onnxruntime", threads=2) as classifier:
        options = classifier.session._session.get_session_options()
        assert options.intra_op_num_threads == 2
        assert options.inter_op_num_threads == 1
        assert classifier.session._session.get_providers() == ["CPUExecutionProvider"]


def test_zero_threads_is_refused(cpu_bundle: tuple[Path, Path]) -> None:
    with pytest.raises(ValueError, match="threads must be at least 1"):
        load(cpu_bundle[0], backend="onnxruntime", threads=0)
