"""OpenVINO IR (xml + bin) from the ONNX graph: FP32, BF16 (an execution hint) and INT8 with NNCF.

On CPUs with AVX512-BF16 or AMX the CPU plugin runs "FP32" models in bf16 unless told otherwise, so every
artifact carries the inference precision it must run with in its hints; the runtime applies them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from lexnet.export._graph import HEAD_PREFIX, OUTPUT_NAMES
from lexnet.export.validate import Outputs

__all__ = ["BF16_METHOD", "NNCF_METHOD", "compile_ir", "convert_to_ir", "hints_for", "ir_files", "quantize_ir"]

logger = logging.getLogger(__name__)

NNCF_METHOD = "nncf"
# BF16 is an execution hint on an FP32 IR; the head's nodes are marked to stay in f32 unless asked otherwise.
BF16_METHOD = "openvino-bf16-hint"
_PRECISE = "precise_0"
_HINTS = {
    "fp32": {"INFERENCE_PRECISION_HINT": "f32"},
    "bf16": {"INFERENCE_PRECISION_HINT": "bf16"},
    # NNCF leaves some layers (the head, by default) in floating point: they must run in f32, not bf16.
    "int8": {"INFERENCE_PRECISION_HINT": "f32"},
}


def hints_for(precision: str) -> dict[str, str]:
    """The OpenVINO properties an artifact of ``precision`` must be compiled with."""
    if precision not in _HINTS:
        raise NotImplementedError(f"OpenVINO artifacts exist in {sorted(_HINTS)}, not {precision!r}")
    return dict(_HINTS[precision])


def ir_files(xml_path: Path) -> list[Path]:
    """The two files of an IR."""
    return [xml_path, xml_path.with_suffix(".bin")]


def _head_names(model: Any) -> list[str]:
    names = [op.get_friendly_name() for op in model.get_ops()]
    return [n for n in names if n.startswith(HEAD_PREFIX) or n in OUTPUT_NAMES]


def _keep_head_in_fp32(model: Any) -> None:
    """Mark the head's nodes precision-sensitive: under a bf16 (or f16) hint the CPU plugin runs them in f32.

    The key is OpenVINO's ``DisableFP16Compression`` runtime attribute; the plugin checks for its presence, and
    ``save_model`` keeps it in the IR.
    """
    head = set(_head_names(model))
    for op in model.get_ops():
        if op.get_friendly_name() in head:
            op.get_rt_info()[_PRECISE] = ""


def convert_to_ir(
    onnx_path: str | os.PathLike[str], xml_path: str | os.PathLike[str], *, keep_head_fp32: bool = True
) -> list[Path]:
    """Convert an ONNX file to IR, keeping FP32 weights (``save_model`` compresses to FP16 by default).

    With ``keep_head_fp32`` the prototype head runs in f32 even when the artifact is compiled for bf16.
    """
    import openvino as ov

    xml_path = Path(xml_path)
    model = ov.convert_model(str(onnx_path))
    if keep_head_fp32:
        _keep_head_in_fp32(model)
    ov.save_model(model, str(xml_path), compress_to_fp16=False)
    return ir_files(xml_path)


def _ignored_scope(model: Any, quantize_head: bool) -> Any:
    import nncf

    if quantize_head:
        return nncf.IgnoredScope(types=["ReduceMin", "TopK"], validate=False)
    return nncf.IgnoredScope(names=_head_names(model), validate=False)


def quantize_ir(
    onnx_path: str | os.PathLike[str],
    xml_path: str | os.PathLike[str],
    calibration_inputs: np.ndarray,
    *,
    batch_size: int,
    quantize_head: bool = False,
) -> list[Path]:
    """INT8 IR with NNCF post-training quantization, calibrated on ``calibration_inputs``.

    NNCF's ``subset_size`` counts dataset items; the items here are batches of ``batch_size`` flows, so the
    subset is the number of batches and every calibration flow is seen once.
    """
    import nncf
    import openvino as ov

    xml_path = Path(xml_path)
    model = ov.convert_model(str(onnx_path))
    name = model.inputs[0].get_any_name()
    batches = [calibration_inputs[i : i + batch_size] for i in range(0, len(calibration_inputs), batch_size)]
    dataset = nncf.Dataset(batches, lambda batch: {name: batch})
    quantized = nncf.quantize(
        model,
        dataset,
        subset_size=len(batches),
        ignored_scope=_ignored_scope(model, quantize_head),
        # The fast bias correction cost this model most of its position agreement (72% instead of 99.8% on a
        # small trained LEXNet); the full one is slower but the model is small.
        fast_bias_correction=False,
    )
    ov.save_model(quantized, str(xml_path), compress_to_fp16=False)
    return ir_files(xml_path)


def compile_ir(
    xml_path: str | os.PathLike[str], hints: dict[str, str], batch_size: int, threads: int | None = None
) -> Callable[[np.ndarray], Outputs]:
    """A function running the IR on batches of at most ``batch_size`` inputs (padded to that static batch)."""
    import openvino as ov

    core = ov.Core()
    model = core.read_model(str(xml_path))
    model.reshape({model.inputs[0].get_any_name(): [batch_size, *model.inputs[0].get_partial_shape()[1:]]})
    config: dict[str, Any] = dict(hints)
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    compiled = core.compile_model(model, "CPU", config)
    request = compiled.create_infer_request()
    names = [o.get_any_name() for o in compiled.outputs]

    def run(inputs: np.ndarray) -> Outputs:
        count = len(inputs)
        padded = np.zeros((batch_size, *inputs.shape[1:]), dtype=inputs.dtype)
        padded[:count] = inputs
        results = request.infer({0: padded})
        by_name = {
            name: np.array(results[output][:count]) for name, output in zip(names, compiled.outputs, strict=True)
        }
        return Outputs(*(by_name.get(name) for name in OUTPUT_NAMES))

    return run
