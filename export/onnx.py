"""PyTorch checkpoint -> ONNX graph, with the prototype head written as hand-picked ONNX nodes.

The backbone (and, in raw mode, the split of signed sizes and the min-max scaling) goes through
``torch.onnx.export``; the prototype head is appended by ``lexnet.export._graph``. Every zoo model exports;
non-prototype models have the single output ``logits``.

Example:
    >>> from lexnet.checkpoint import load_checkpoint
    >>> path = export_onnx(load_checkpoint("ckpt"), "model.onnx", input_mode="raw")
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import onnx
import torch
from lexnet.export._graph import OUTPUT_NAMES, HeadWeights, append_prototype_head
from torch import nn

from lexnet.models import is_prototype_model
from lexnet.models.prototypes import SIMILARITY_EPSILON
from lexnet.spec import ModelConfig, Scaling

# The head layout of the ONNX Runtime (and TVM) graph; OpenVINO's may differ (see ``lexnet.export.build``).
DEFAULT_HEAD_LAYOUT = "prototypes-first"

if TYPE_CHECKING:
    from lexnet.checkpoint import Checkpoint
    from lexnet.models import PrototypeClassifier

__all__ = [
    "DEFAULT_HEAD_LAYOUT",
    "DEFAULT_OPSET",
    "INPUT_MODES",
    "MIN_OPSET",
    "OnnxGraph",
    "export_onnx",
    "input_name",
    "output_names",
]

logger = logging.getLogger(__name__)

MIN_OPSET = 17
DEFAULT_OPSET = 20
INPUT_MODES = ("raw", "scaled")
_PATCHES = "patches"


@dataclass(frozen=True)
class OnnxGraph:
    """An exported graph and what its contract looks like."""

    path: Path
    opset: int
    input_mode: str
    input_name: str
    outputs: tuple[str, ...]


def input_name(input_mode: str) -> str:
    """The graph input's name: "flows" (raw int16 sizes) or "x" (the scaled map)."""
    _check_mode(input_mode)
    return "flows" if input_mode == "raw" else "x"


def output_names(config: ModelConfig) -> tuple[str, ...]:
    from lexnet.models import get_builder

    prototype = getattr(get_builder(config.arch), "is_prototype_model", None)
    if prototype is None:
        prototype = is_prototype_model(_meta_model(config))
    return OUTPUT_NAMES if prototype else ("logits",)


def _meta_model(config: ModelConfig) -> nn.Module:
    from lexnet.models import create_model

    with torch.device("meta"):
        return create_model(config, "meta")


def _check_mode(input_mode: str) -> None:
    if input_mode not in INPUT_MODES:
        raise ValueError(f"input_mode must be one of {INPUT_MODES}, got {input_mode!r}")


class _RawPreprocess(nn.Module):
    """int16 signed sizes [B, packets] -> the scaled map [B, 1, packets, 2], as ``Scaling.apply`` computes it."""

    def __init__(self, scaling: Scaling) -> None:
        super().__init__()
        self.scaling = scaling

    def forward(self, flows: torch.Tensor) -> torch.Tensor:
        s = self.scaling
        values = flows.to(torch.float32)
        sizes = (torch.abs(values) - s.size_min) / (s.size_max - s.size_min)
        directions = (torch.sign(values) - s.direction_min) / (s.direction_max - s.direction_min)
        return torch.stack([sizes, directions], dim=-1).unsqueeze(1)


def _patches(features: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """[B, depth, H, W] -> [B, depth * h * w, L]: every (h, w) patch as a column, in (depth, h, w) order."""
    height, width = shape
    if (height, width) == (1, 1):
        return features.flatten(2)
    out_h, out_w = features.shape[2] - height + 1, features.shape[3] - width + 1
    shifted = [features[:, :, i : i + out_h, j : j + out_w] for i in range(height) for j in range(width)]
    return torch.stack(shifted, dim=2).flatten(1, 2).flatten(2)


class _ExportModule(nn.Module):
    """What torch exports: optional raw preprocessing, then the patches (prototype models) or the logits."""

    def __init__(self, model: nn.Module, scaling: Scaling | None) -> None:
        super().__init__()
        self.model = model
        self.preprocess = _RawPreprocess(scaling) if scaling is not None else nn.Identity()
        self.prototype = is_prototype_model(model)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = self.preprocess(inputs)
        if not self.prototype:
            return self.model(x)
        model = cast("PrototypeClassifier", self.model)
        return _patches(model.features(x), model.config.prototype_shape)


def _example_input(config: ModelConfig, input_mode: str) -> torch.Tensor:
    spec = config.input
    if input_mode == "raw":
        generator = torch.Generator().manual_seed(0)
        return torch.randint(-spec.mtu, spec.mtu + 1, (2, spec.packets), generator=generator, dtype=torch.int16)
    return torch.rand(2, *spec.shape)


def _torch_export(module: nn.Module, example: torch.Tensor, name: str, output: str, opset: int) -> onnx.ModelProto:
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    with warnings.catch_warnings():
        # The exporter reports its own progress through warnings and prints; neither is an error here.
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module,
            (example,),
            dynamo=True,
            input_names=[name],
            output_names=[output],
            opset_version=opset,
            dynamic_shapes={"inputs": {0: batch}},
            optimize=True,
            verbose=False,
        )
    if program is None:
        raise RuntimeError("torch.onnx.export returned no program")
    return program.model_proto


def _name_batch_axis(model: onnx.ModelProto) -> None:
    """Give axis 0 of every graph input and output the name "batch"."""
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].ClearField("dim_value")
            dims[0].dim_param = "batch"


def _head_weights(module: nn.Module) -> HeadWeights:
    model = cast("PrototypeClassifier", module)
    layer = model.prototype_layer
    prototypes = layer.prototypes.detach().cpu().numpy()
    config: ModelConfig = model.config
    return HeadWeights(
        prototypes=prototypes.reshape(len(prototypes), -1),
        last_layer=model.last_layer.weight.detach().cpu().numpy(),
        map_width=config.input.variables - config.prototype_shape[1] + 1,
        epsilon=SIMILARITY_EPSILON,
        map_height=config.input.packets - config.prototype_shape[0] + 1,
    )


def build_onnx_model(
    checkpoint: Checkpoint, input_mode: str = "raw", opset: int = DEFAULT_OPSET, head_layout: str = DEFAULT_HEAD_LAYOUT
) -> onnx.ModelProto:
    """The checked ONNX model of ``checkpoint`` (in memory); ``head_layout``: see ``lexnet.export._graph``."""
    _check_mode(input_mode)
    if opset < MIN_OPSET:
        raise ValueError(f"opset must be at least {MIN_OPSET}, got {opset}")
    model = checkpoint.build_model("cpu")
    module = _ExportModule(model, checkpoint.scaling if input_mode == "raw" else None).eval()
    name = input_name(input_mode)
    prototype = is_prototype_model(model)

    proto = _torch_export(module, _example_input(checkpoint.config, input_mode), name, _PATCHES if prototype else
                          "logits", opset)  # fmt: skip
    if prototype:
        proto = append_prototype_head(proto, _PATCHES, _head_weights(model), head_layout)
    _name_batch_axis(proto)
    proto.producer_name = "lexnet"
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(
    checkpoint: Checkpoint,
    path: str | os.PathLike[str],
    input_mode: str = "raw",
    opset: int = DEFAULT_OPSET,
    head_layout: str = DEFAULT_HEAD_LAYOUT,
) -> OnnxGraph:
    """Export ``checkpoint`` to one self-contained ONNX file at ``path`` (weights inside, no external data)."""
    proto = build_onnx_model(checkpoint, input_mode, opset, head_layout)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(proto, path)
    outputs = tuple(o.name for o in proto.graph.output)
    logger.debug("exported %s (%s input, opset %d, outputs %s)", path, input_mode, opset, outputs)
    return OnnxGraph(path=path, opset=opset, input_mode=input_mode, input_name=input_name(input_mode), outputs=outputs)


def opset_of(model: onnx.ModelProto) -> int:
    """The default-domain opset of ``model``."""
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def numpy_inputs(raw: np.ndarray, scaling: Scaling, input_mode: str) -> np.ndarray:
    """What to feed a graph of ``input_mode`` for raw signed sizes [N, packets]."""
    _check_mode(input_mode)
    return raw.astype(np.int16) if input_mode == "raw" else scaling.apply(raw)
