"""Explanations in words: which prototypes of the predicted class matched where, and the training flow behind each.

Only numpy is needed: the model's outputs come in as arrays (from PyTorch or from any runtime).

Packets are numbered from 1 in sentences (as a network engineer counts them) and from 0 in JSON.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from lexnet.checkpoint import PrototypeSource
from lexnet.explain.predict import ExplainedModel, ModelOutputs
from lexnet.spec import ModelConfig

__all__ = ["FlowExplanation", "PrototypeMatch", "describe_cell", "explain_flows", "to_json", "to_text"]

VARIABLE_NAMES = ("size", "direction")


@dataclass(frozen=True)
class PrototypeMatch:
    """One prototype of the predicted class and where it matched the flow.

    Attributes:
        prototype: the prototype's index in the model.
        rank: its number within its class (1, 2, ...).
        packet: first matched packet (0-based).
        variable: first matched variable (0 = size, 1 = direction).
        height: packets covered by the prototype.
        width: variables covered by the prototype.
        similarity: the prototype's similarity to the flow at that position.
        source_flow: index of the training flow the prototype was projected from (-1: unknown).
        source_packet: the packet of that training flow it came from (-1: unknown).
        source_variable: the variable of that training flow it came from (-1: unknown).
        sentence: the match in words.
    """

    prototype: int
    rank: int
    packet: int
    variable: int
    height: int
    width: int
    similarity: float
    source_flow: int
    source_packet: int
    source_variable: int
    sentence: str


@dataclass(frozen=True)
class FlowExplanation:
    """Why one flow was put in its class."""

    flow: int
    raw: list[int]
    predicted: int
    class_name: str
    probability: float
    matches: list[PrototypeMatch]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _direction_words(size: int) -> str:
    if size > 0:
        return "goes client to server"
    if size < 0:
        return "goes server to client"
    return "is absent (no packet)"


def describe_cell(raw: np.ndarray, packet: int, variable: int) -> str:
    """One cell of a flow in words, e.g. "packet 2 goes server to client (1448 bytes)"."""
    size = int(raw[packet])
    if size == 0:
        return f"packet {packet + 1} is absent (no packet)"
    if VARIABLE_NAMES[variable] == "size":
        return f"packet {packet + 1} is {abs(size)} bytes ({_direction_words(size).removeprefix('goes ')})"
    return f"packet {packet + 1} {_direction_words(size)} ({abs(size)} bytes)"


def _describe_region(raw: np.ndarray, packet: int, variable: int, height: int, width: int) -> str:
    cells = [
        describe_cell(raw, p, v)
        for p in range(packet, min(packet + height, len(raw)))
        for v in range(variable, min(variable + width, len(VARIABLE_NAMES)))
    ]
    unique = list(dict.fromkeys(cells))
    return unique[0] if len(unique) == 1 else ", ".join(unique[:-1]) + " and " + unique[-1]


def _source_words(source: PrototypeSource | None) -> str:
    if source is None or source.flow_index < 0:
        return "its training flow is not recorded"
    words = f"matched from training flow {source.flow_index}"
    if source.raw_flow and 0 <= source.packet < len(source.raw_flow):
        words += f" where {describe_cell(np.asarray(source.raw_flow), source.packet, source.variable)}"
    return words


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _flow_matches(
    raw: np.ndarray,
    outputs: ModelOutputs,
    row: int,
    predicted: int,
    config: ModelConfig,
    class_name: str,
    sources: dict[int, PrototypeSource],
) -> list[PrototypeMatch]:
    height, width = config.prototype_shape
    prototypes = np.flatnonzero(config.prototype_classes() == predicted)
    order = prototypes[np.argsort(-outputs.similarities[row, prototypes], kind="stable")]
    matches = []
    for prototype in order:
        rank = int(prototype - prototypes[0]) + 1
        packet, variable = (int(v) for v in outputs.positions[row, prototype])
        source = sources.get(int(prototype))
        sentence = (
            f"{_describe_region(raw, packet, variable, height, width)}, like prototype {rank} of class "
            f"{class_name}, {_source_words(source)}"
        )
        matches.append(
            PrototypeMatch(
                prototype=int(prototype),
                rank=rank,
                packet=packet,
                variable=variable,
                height=height,
                width=width,
                similarity=float(outputs.similarities[row, prototype]),
                source_flow=source.flow_index if source else -1,
                source_packet=source.packet if source else -1,
                source_variable=source.variable if source else -1,
                sentence=sentence,
            )
        )
    return matches


def explain_flows(
    model: ExplainedModel, raw: np.ndarray, outputs: ModelOutputs, flows: list[int] | None = None
) -> list[FlowExplanation]:
    """Explanations of the flows ``flows`` (default: all) of ``raw`` [N, packets], from the model's ``outputs``.

    The predicted class's prototypes come most similar first; each carries a sentence such as
    "packet 2 goes server to client (1448 bytes), like prototype 1 of class web, matched from training flow 123
    where packet 2 goes server to client (1500 bytes)".
    """
    sources = {s.prototype: s for s in model.prototype_sources}
    probabilities = _softmax(outputs.logits.astype(np.float64))
    explanations = []
    for row in range(len(raw)) if flows is None else flows:
        predicted = int(outputs.predicted[row])
        name = model.class_names[predicted]
        matches = _flow_matches(raw[row], outputs, row, predicted, model.config, name, sources)
        explanations.append(
            FlowExplanation(
                row, [int(v) for v in raw[row]], predicted, name, float(probabilities[row, predicted]), matches
            )
        )
    return explanations


def to_text(explanations: list[FlowExplanation]) -> str:
    """Plain text: one heading line per flow, one line per prototype."""
    lines = []
    for item in explanations:
        lines.append(f"flow {item.flow}: class {item.class_name} (probability {item.probability:.3f})")
        lines.extend(f"  - {m.sentence} (similarity {m.similarity:.2f})" for m in item.matches)
    return "\n".join(lines)


def to_json(explanations: list[FlowExplanation]) -> str:
    return json.dumps([e.to_dict() for e in explanations], indent=1)
