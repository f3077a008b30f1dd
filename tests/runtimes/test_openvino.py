"""OpenVINO specifics: each precision asks for its own inference precision; thread settings are applied."""

from __future__ import annotations

from pathlib import Path

import pytest
from lexnet.runtimes import load

pytestmark = pytest.mark.openvino


@pytest.mark.parametrize(("precision", "hint"), [("fp32", "f32"), ("bf16", "bf16")])
def test_precision_hint_and_threads_reach_the_compiled_model(
    cpu_bundle: tuple[Path, Path], precision: str, hint: str
) -> None:
    with load(cpu_bundle[0], backend="openvino", precision=precision, threads=1) as classifier:
        compiled = classifier.session._compiled
        assert compiled.get_property("INFERENCE_NUM_THREADS") == 1
        assert compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name() == hint
