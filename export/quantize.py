"""INT8 for ONNX Runtime: static quantization in QDQ form, per-channel weights, calibrated on training flows.

The prototype head stays in FP32 unless asked otherwise: its distances decide the explanation (the argmin
position), and quantized distances move it. ONNX Runtime would otherwise quantize the min/argmin as well.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import onnx
from lexnet.export._graph import head_node_names

__all__ = ["CALIBRATION_BATCH", "ORT_QUANTIZATION_METHOD", "quantize_onnx"]

logger = logging.getLogger(__name__)

ORT_QUANTIZATION_METHOD = "ort-static-qdq-per-channel"
CALIBRATION_BATCH = 128


class _FlowReader:
    """ONNX Runtime's calibration data reader over batches of flows (the ``CalibrationDataReader`` protocol)."""

    def __init__(self, name: str, inputs: np.ndarray, batch_size: int) -> None:
        self._batches = iter([inputs[i : i + batch_size] for i in range(0, len(inputs), batch_size)])
        self._name = name

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {self._name: batch}


def quantize_onnx(
    fp32_path: str | os.PathLike[str],
    int8_path: str | os.PathLike[str],
    calibration_inputs: np.ndarray,
    *,
    quantize_head: bool = False,
) -> Path:
    """Quantize the FP32 graph at ``fp32_path`` into ``int8_path``.

    Args:
        fp32_path: an ONNX file from ``lexnet.export.onnx.export_onnx``.
        int8_path: where the QDQ model goes.
        calibration_inputs: what to feed the graph's input during calibration (raw int16 flows or scaled maps).
        quantize_head: quantize the prototype head's matrix products too (positions then come from INT8
            distances).
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    int8_path = Path(int8_path)
    with tempfile.TemporaryDirectory(prefix="lexnet-quant-") as work:
        prepared = Path(work) / "prepared.onnx"
        # Symbolic shape inference raised a TypeError on this graph; ONNX's own shape inference is enough.
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        model = onnx.load(prepared)
        excluded = [] if quantize_head else head_node_names(model)
        if quantize_head:
            # The integer position arithmetic and the min/argmin stay exact; the products are quantized.
            excluded = [n.name for n in model.graph.node if n.op_type in ("ArgMin", "ReduceMin", "Div", "Mod")]
        name = model.graph.input[0].name
        quantize_static(
            str(prepared),
            str(int8_path),
            _FlowReader(name, calibration_inputs, CALIBRATION_BATCH),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            # Unsigned activations and signed weights: what ONNX Runtime's x86 kernels (VNNI or not) expect.
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=excluded,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={"WeightSymmetric": True, "ActivationSymmetric": False},
        )
    logger.debug("quantized %s -> %s (%d nodes kept in FP32)", fp32_path, int8_path, len(excluded))
    return int8_path
