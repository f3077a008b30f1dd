"""The benchmark matrix: models x backends x precisions x devices x batches x threads, timed by one harness,
with the compute floor of each cell and reports shaped like the paper's tables.

Heavy libraries (torch, ONNX Runtime, OpenVINO, TVM) are imported inside the functions that need them.
"""

from __future__ import annotations

__all__: list[str] = []
