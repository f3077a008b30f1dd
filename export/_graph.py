"""The prototype head written directly as ONNX nodes, and helpers to splice it onto the exported backbone.

The head is where LEXNet spends most of its time, so its nodes are chosen for speed rather than left to the
exporter:

1. distances by expansion as one matrix product per flow, [P, depth + 2] x [depth + 2, positions], the squared
   norms riding along as two extra rows, so that ArgMin runs over the innermost, contiguous axis (one large
   [batch * positions, depth + 2] x [depth + 2, P] product followed by ArgMin over a strided axis measured
   slower in ONNX Runtime);
2. ArgMin over the positions (first minimum on ties), and no separate ReduceMin pass over the distance map;
3. the winning distance recomputed directly, sum((x - p)^2), from the patch that won: the expansion cancels
   badly when x is close to p, and the log of the similarity amplifies that ~1e4 times near d = 0 (the PyTorch
   reference does the same, see ``lexnet.models.prototypes.LProto``);
4. one log per prototype, and positions read from a constant (packet, variable) table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["HEAD_PREFIX", "OUTPUT_NAMES", "HeadWeights", "append_prototype_head", "head_node_names"]

# Every node and initializer of the head carries this prefix: quantizers and NNCF exclude the head by name.
HEAD_PREFIX = "head/"
OUTPUT_NAMES = ("logits", "similarities", "prototype_positions")


@dataclass(frozen=True)
class HeadWeights:
    """What the head needs from the checkpoint.

    Attributes:
        prototypes: [P, depth * h * w] prototype vectors, flattened in (depth, h, w) order.
        last_layer: [classes, P] prototype-to-class weights (``nn.Linear`` layout).
        map_width: width of the distance map (variables - w + 1), to turn a flat position into (packet, variable).
        epsilon: the similarity's epsilon in log((d + 1) / (d + epsilon)).
        map_height: height of the distance map (packets - h + 1).
    """

    prototypes: np.ndarray
    last_layer: np.ndarray
    map_width: int
    epsilon: float
    map_height: int

    def position_table(self) -> np.ndarray:
        """[positions, 2] int64: (packet, variable) of every flat position of the distance map."""
        flat = np.arange(self.map_height * self.map_width, dtype=np.int64)
        return np.stack([flat // self.map_width, flat % self.map_width], axis=1)


def _expanded_prototypes(prototypes: np.ndarray) -> np.ndarray:
    """[P, depth + 2]: -2 p, then 1 (multiplies |x|^2), then |p|^2 (multiplies 1), so one product gives
    |x|^2 - 2 x.p + |p|^2. Scaling by -2 is exact in floating point."""
    prototypes = prototypes.astype(np.float32)
    squared_norms = (prototypes * prototypes).sum(axis=1, keepdims=True)
    ones = np.ones_like(squared_norms)
    return np.concatenate([-2.0 * prototypes, ones, squared_norms], axis=1).astype(np.float32)


def _constants(weights: HeadWeights) -> list[onnx.TensorProto]:
    arrays = {
        "prototypes_expanded": _expanded_prototypes(weights.prototypes),
        "prototypes": weights.prototypes.astype(np.float32),
        "last_layer": np.ascontiguousarray(weights.last_layer.T.astype(np.float32)),
        "position_table": weights.position_table(),
        "axis_depth": np.array([1], dtype=np.int64),
        "axis_features": np.array([2], dtype=np.int64),
        "zero": np.array(0.0, dtype=np.float32),
        "one": np.array(1.0, dtype=np.float32),
        "epsilon": np.array(weights.epsilon, dtype=np.float32),
    }
    return [numpy_helper.from_array(value, HEAD_PREFIX + name) for name, value in arrays.items()]


def _node(op: str, inputs: list[str], output: str, **attributes: Any) -> onnx.NodeProto:
    """A head node whose name is its (prefixed) output; inputs without a prefix come from the backbone."""
    return helper.make_node(op, inputs, [output], name=output, **attributes)


def _distance_nodes(patches: str) -> list[onnx.NodeProto]:
    """patches [B, depth, L] -> squared distances [B, P, L] by expansion (not clamped: see ``_minimum_nodes``)."""
    h = HEAD_PREFIX
    return [
        # Mul + ReduceSum rather than ReduceSumSquare: OpenVINO decomposes the latter into nodes with generated
        # names, which NNCF's ignored scope (by name) would then miss.
        _node("Mul", [patches, patches], h + "patch_squares"),
        _node("ReduceSum", [h + "patch_squares", h + "axis_depth"], h + "patch_sq", keepdims=1),
        _node("Mul", [h + "patch_sq", h + "zero"], h + "patch_zero"),
        _node("Add", [h + "patch_zero", h + "one"], h + "patch_ones"),
        _node("Concat", [patches, h + "patch_sq", h + "patch_ones"], h + "patch_expanded", axis=1),
        _node("MatMul", [h + "prototypes_expanded", h + "patch_expanded"], h + "distances"),
    ]


def _minimum_nodes(patches: str) -> list[onnx.NodeProto]:
    """First best position per prototype (ArgMin's select_last_index=0), then its distance computed directly.

    The direct distance is never negative, so no clamp is needed.
    """
    h = HEAD_PREFIX
    return [
        _node("ArgMin", [h + "distances"], h + "position_index", axis=2, keepdims=0, select_last_index=0),
        _node("Transpose", [patches], h + "vectors", perm=[0, 2, 1]),
        _node("Unsqueeze", [h + "position_index", h + "axis_features"], h + "gather_index"),
        _node("GatherND", [h + "vectors", h + "gather_index"], h + "winners", batch_dims=1),
        _node("Sub", [h + "winners", h + "prototypes"], h + "winner_difference"),
        _node("Mul", [h + "winner_difference", h + "winner_difference"], h + "winner_squares"),
        _node("ReduceSum", [h + "winner_squares", h + "axis_features"], h + "min_distances", keepdims=0),
    ]


def _similarity_nodes() -> list[onnx.NodeProto]:
    h = HEAD_PREFIX
    return [
        _node("Add", [h + "min_distances", h + "one"], h + "numerator"),
        _node("Add", [h + "min_distances", h + "epsilon"], h + "denominator"),
        _node("Div", [h + "numerator", h + "denominator"], h + "ratio"),
        _node("Log", [h + "ratio"], "similarities"),
        _node("MatMul", ["similarities", h + "last_layer"], "logits"),
    ]


def _position_nodes() -> list[onnx.NodeProto]:
    """Flat position index [B, P] -> (packet, variable) [B, P, 2] int64, by lookup in a constant table."""
    return [_node("Gather", [HEAD_PREFIX + "position_table", HEAD_PREFIX + "position_index"], "prototype_positions")]


def append_prototype_head(model: onnx.ModelProto, patches: str, weights: HeadWeights) -> onnx.ModelProto:
    """Replace the graph output ``patches`` ([batch, depth, positions]) with the head's three outputs.

    Node names of the head start with ``HEAD_PREFIX`` (outputs keep their contract names).
    """
    graph = model.graph
    if patches not in [o.name for o in graph.output]:
        raise ValueError(f"the graph has no output {patches!r}; outputs: {[o.name for o in graph.output]}")
    classes, num_prototypes = weights.last_layer.shape
    graph.node.extend(_distance_nodes(patches) + _minimum_nodes(patches) + _similarity_nodes() + _position_nodes())
    graph.initializer.extend(_constants(weights))
    del graph.output[:]
    graph.output.extend(
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes]),
            helper.make_tensor_value_info("similarities", TensorProto.FLOAT, ["batch", num_prototypes]),
            helper.make_tensor_value_info("prototype_positions", TensorProto.INT64, ["batch", num_prototypes, 2]),
        ]
    )
    return model


def head_node_names(model: onnx.ModelProto) -> list[str]:
    """Names of the head's nodes (those the INT8 paths keep in FP32 by default)."""
    outputs = set(OUTPUT_NAMES)
    return [n.name for n in model.graph.node if n.name.startswith(HEAD_PREFIX) or set(n.output) & outputs]
