"""Export: PyTorch checkpoint -> ONNX -> INT8 / OpenVINO IR / TVM libraries -> one validated bundle.

Heavy libraries (torch, onnxruntime, openvino, tvm) are imported by the modules that need them, not here.
"""

from __future__ import annotations

__all__: list[str] = []
