"""The paper's Table 3: ten classifiers of about 300k trainable parameters compared on the same flows.

Each family is adapted to the 1 x 20 x 2 flow map (or, for XCM and MLSTM-FCN, to the 20-step series of 2
variables they were designed for), built from a ``ModelConfig`` whose ``arch`` names it, with per-family widths in
``config.options`` (each module's ``*_DEFAULTS`` documents the accepted keys). ResNet is the zoo's own.

Why the blocks are written here rather than taken from torchvision: torchvision's wheels are built against one
exact torch release, and none on PyPI imports beside the torch 2.13 CPU build this project pins. Its blocks are
also tied to 224 x 224 images (strided stems, square strides), which the 20 x 2 map cannot take. timm depends on
torchvision. Each module follows its paper and says where and why it departs from it.
"""

from __future__ import annotations

from lexnet.models.table3 import (  # noqa: F401  (importing the modules registers the models)
    cnn1d,
    condensenet,
    densenet,
    efficientnet,
    ghostnet,
    mlstm_fcn,
    mobilenet,
    shufflenet,
    xcm,
)

__all__ = ["BACKEND_LIMITS", "TABLE3_MODELS", "backend_limit"]

# The paper's order of Table 3.
TABLE3_MODELS: tuple[str, ...] = (
    "cnn1d",
    "resnet",
    "mobilenetv3",
    "shufflenetv2",
    "condensenetv2",
    "densenet",
    "mlstm_fcn",
    "xcm",
    "ghostnet",
    "efficientnet",
)

_NO_LSTM_IN_TVM = (
    "TVM Relax's ONNX frontend (apache-tvm 0.27) has no converter for the ONNX LSTM operator:"
    " relax.frontend.onnx.from_onnx raises OpNotImplemented before anything is compiled"
)

# Why a backend cannot run a Table 3 model, keyed by (arch, backend name as lexnet.bench names backends). A pair
# absent from this table runs: tests/lexnet/models/test_table3.py reproduces each reason and runs the others.
BACKEND_LIMITS: dict[tuple[str, str], str] = {
    ("mlstm_fcn", "tvm"): _NO_LSTM_IN_TVM,
    ("mlstm_fcn", "tvm-untuned"): _NO_LSTM_IN_TVM,
}


def backend_limit(arch: str, backend: str) -> str | None:
    """Why ``backend`` cannot run ``arch``, or ``None`` when it can."""
    return BACKEND_LIMITS.get((arch, backend))
