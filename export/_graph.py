"""The prototype head written directly as ONNX nodes, and helpers to splice it onto the exported backbone.

The head is where LEXNet spends most of its time, so its nodes are chosen for speed rather than left to the
exporter, and kept few (at batch 1 every node costs a dispatch):

1. distances by expansion as a matrix product, |x|^2 riding along as one extra row of the patches; |p|^2 is
   left out because it is the same at every position and so cannot move the best position (the winning
   distance is recomputed anyway, step 3);
2. ArgMin over the positions (first minimum on ties), no separate ReduceMin pass over the distance map. Two
   layouts, by backend: ``"prototypes-first"`` ([B, P, positions], one [P, depth + 1] x [depth + 1, positions]
   product per flow, ArgMin over the contiguous axis) is the faster one in ONNX Runtime;
   ``"positions-first"`` ([B, positions, P], one large [B * positions, depth + 1] x [depth + 1, P] product,
   ArgMin over a strided axis) in OpenVINO, whose TopK over a short contiguous axis is slow;
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

__all__ = ["HEAD_LAYOUTS", "HEAD_PREFIX", "OUTPUT_NAMES", "HeadWeights", "append_prototype_head", "head_node_names"]

# Every node and initializer of the head carries this prefix: quantizers and NNCF exclude the head by name.
HEAD_PREFIX = "head/"
OUTPUT_NAMES = ("logits", "similarities", "prototype_positions")
# Layout of the distance map; the axis ArgMin runs over.
HEAD_LAYOUTS = {"prototypes-first": 2, "positions-first": 1}


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
    """[P, depth + 1]: -2 p, then 1 (multiplies |x|^2), so one product gives |x|^2 - 2 x.p, which is
    |x - p|^2 - |p|^2: the same best position. Scaling by -2 is exact in floating point."""
    prototypes = prototypes.astype(np.float32)
    ones = np.ones((len(prototypes), 1), dtype=np.float32)
    return np.concatenate([-2.0 * prototypes, ones], axis=1).astype(np.float32)


def _constants(weights: HeadWeights, layout: str) -> list[onnx.TensorProto]:
    expanded = _expanded_prototypes(weights.prototypes)
    arrays = {
        # [P, depth + 1] multiplies [B, depth + 1, L] from the left; its transpose [B, L, depth + 1] from the right
        "prototypes_expanded": expanded if layout == "prototypes-first" else np.ascontiguousarray(expanded.T),
        "prototypes": weights.prototypes.astype(np.float32),
        "last_layer": np.ascontiguousarray(weights.last_layer.T.astype(np.float32)),
        "position_table": weights.position_table(),
        "axis_depth": np.array([1], dtype=np.int64),
        "axis_features": np.array([2], dtype=np.int64),
        "one": np.array(1.0, dtype=np.float32),
        "epsilon": np.array(weights.epsilon, dtype=np.float32),
    }
    return [numpy_helper.from_array(value, HEAD_PREFIX + name) for name, value in arrays.items()]


def _node(op: str, inputs: list[str], output: str, **attributes: Any) -> onnx.NodeProto:
    """A head node whose name is its (prefixed) output; inputs without a prefix come from the backbone."""
    return helper.make_node(op, inputs, [output], name=output, **attributes)


def _distance_nodes(patches: str, layout: str) -> list[onnx.NodeProto]:
    """patches [B, depth, L] -> |x|^2 - 2 x.p, [B, P, L] or [B, L, P] by ``layout``."""
    h = HEAD_PREFIX
    nodes = [
        # Mul + ReduceSum rather than ReduceSumSquare: OpenVINO decomposes the latter into nodes with generated
        # names, which NNCF's ignored scope (by name) would then miss.
        _node("Mul", [patches, patches], h + "patch_squares"),
        _node("ReduceSum", [h + "patch_squares", h + "axis_depth"], h + "patch_sq", keepdims=1),
        _node("Concat", [patches, h + "patch_sq"], h + "patch_expanded", axis=1),
    ]
    if layout == "prototypes-first":
        return [*nodes, _node("MatMul", [h + "prototypes_expanded", h + "patch_expanded"], h + "distances")]
    return [
        *nodes,
        _node("Transpose", [h + "patch_expanded"], h + "patch_rows", perm=[0, 2, 1]),
        _node("MatMul", [h + "patch_rows", h + "prototypes_expanded"], h + "distances"),
    ]


def _minimum_nodes(patches: str, layout: str) -> list[onnx.NodeProto]:
    """First best position per prototype (ArgMin's select_last_index=0), then its distance computed directly.

    The direct distance is never negative, so no clamp is needed.
    """
    h = HEAD_PREFIX
    axis = HEAD_LAYOUTS[layout]
    return [
        _node("ArgMin", [h + "distances"], h + "position_index", axis=axis, keepdims=0, select_last_index=0),
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


def append_prototype_head(
    model: onnx.ModelProto, patches: str, weights: HeadWeights, layout: str = "prototypes-first"
) -> onnx.ModelProto:
    """Replace the graph output ``patches`` ([batch, depth, positions]) with the head's three outputs.

    Node names of the head start with ``HEAD_PREFIX`` (outputs keep their contract names). ``layout`` is one of
    ``HEAD_LAYOUTS``; both give the same outputs.
    """
    if layout not in HEAD_LAYOUTS:
        raise ValueError(f"unknown head layout {layout!r}; choose from {sorted(HEAD_LAYOUTS)}")
    graph = model.graph
    if patches not in [o.name for o in graph.output]:
        raise ValueError(f"the graph has no output {patches!r}; outputs: {[o.name for o in graph.output]}")
    classes, num_prototypes = weights.last_layer.shape
    nodes = _distance_nodes(patches, layout) + _minimum_nodes(patches, layout)
    graph.node.extend(nodes + _similarity_nodes() + _position_nodes())
    graph.initializer.extend(_constants(weights, layout))
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
