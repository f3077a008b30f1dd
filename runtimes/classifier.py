"""The public API: ``load`` a bundle on a backend and ``classify`` flows, each with its explanation.

Example::

    from lexnet.runtimes import load

    with load("bundles/lexnet-default", backend="onnxruntime", threads=2) as classifier:
        for prediction in classifier.classify([[(517, 1), (1448, -1), (1448, -1)]], transport="tcp"):
            print(prediction.class_name, prediction.explanation[0].similarity)
        outputs = classifier.run(raw_int16_flows)      # fast path: arrays only
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from lexnet.runtimes.base import BackendSession, RawOutputs
from lexnet.runtimes.bundle import Bundle, open_bundle
from lexnet.runtimes.errors import BackendUnavailableError
from lexnet.runtimes.inputs import prepare_flows
from lexnet.runtimes.registry import get_backend

__all__ = ["VARIABLE_NAMES", "Classifier", "Prediction", "PrototypeEvidence", "SourceMatch", "load", "softmax"]

logger = logging.getLogger(__name__)

# The input map's columns, in the order of the data format and of ``Scaling.apply``.
VARIABLE_NAMES = ("size", "direction")


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 for stability, returned as float32."""
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


def value_at(raw_flow: Sequence[int] | np.ndarray, packet: int, variable: int) -> int:
    """The flow's size (bytes) or direction (+1, -1, 0) at a matched position."""
    signed = int(raw_flow[packet]) if packet < len(raw_flow) else 0
    return abs(signed) if VARIABLE_NAMES[variable] == "size" else (signed > 0) - (signed < 0)


@dataclass(frozen=True)
class SourceMatch:
    """Where a prototype came from: the training flow it was projected onto, and that flow's value at the match.

    Attributes:
        flow_index: index of the flow in the training split.
        packet: packet index of the match.
        variable: "size" or "direction".
        value: the source flow's value there (bytes, or +1/-1/0).
        raw_flow: the source flow's signed sizes.
    """

    flow_index: int
    packet: int
    variable: str
    value: int
    raw_flow: list[int]


@dataclass(frozen=True)
class PrototypeEvidence:
    """One prototype of the predicted class and how much it pushed the prediction.

    Attributes:
        prototype: prototype index.
        contribution: last-layer weight (prototype -> predicted class) x similarity; the logit is their sum.
        similarity: log((d + 1) / (d + 1e-4)) of the prototype's smallest squared distance d to this flow.
        weight: the last-layer weight.
        packet: packet index of the best match in this flow (top-left for prototypes taller than a packet).
        variable: "size" or "direction".
        value: this flow's value there (bytes, or +1/-1/0).
        source: the training flow the prototype was projected from (``None`` if the bundle lacks it).
    """

    prototype: int
    contribution: float
    similarity: float
    weight: float
    packet: int
    variable: str
    value: int
    source: SourceMatch | None


@dataclass(frozen=True)
class Prediction:
    """The classification of one flow.

    Attributes:
        flow_index: position of the flow in the input.
        label: predicted class index.
        class_name: its name.
        scores: softmax probabilities over the classes (a list of floats; logits are in ``logit``/``run``).
        logit: the predicted class's logit.
        explanation: the predicted class's prototypes, largest contribution first (empty for non-prototype models).
    """

    flow_index: int
    label: int
    class_name: str
    scores: list[float]
    logit: float
    explanation: list[PrototypeEvidence]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what ``lexnet classify`` prints)."""
        return asdict(self)


class Classifier:
    """A loaded bundle artifact; build it with ``load``. Thread-safe: ``classify`` and ``run`` may be called from
    many threads at once."""

    def __init__(self, bundle: Bundle, session: BackendSession, precision: str, *, owns_bundle: bool) -> None:
        self.bundle = bundle
        self.session = session
        self.precision = precision
        self._owns_bundle = owns_bundle
        self.class_names = bundle.class_names
        self.spec = bundle.spec
        # Per-class prototypes and their last-layer weights, and each prototype's source, computed once: at
        # batch 1 the Python around the backend call is a large share of the latency.
        self._class_prototypes: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._sources: dict[int, tuple[int, int, int, tuple[int, ...]] | None] = {}

    def __repr__(self) -> str:
        return f"Classifier({self.session.describe()}, precision={self.precision!r})"

    def prepare(self, flows: Any, transport: str | Sequence[str | None] | None = None) -> np.ndarray:
        """The checked int16 [N, packets] input for ``flows`` (see ``lexnet.runtimes.inputs``)."""
        return prepare_flows(flows, self.spec, transport)

    def run(self, flows: Any, transport: str | Sequence[str | None] | None = None) -> RawOutputs:
        """Fast path: arrays only (logits, similarities, positions), no per-flow Python objects."""
        return self.session.run(self.prepare(flows, transport))

    def classify(self, flows: Any, transport: str | Sequence[str | None] | None = None) -> list[Prediction]:
        """One ``Prediction`` per flow, with its explanation.

        Args:
            flows: int16 signed sizes [N, packets] (or fewer columns), (size, direction) pairs [N, k, 2], or
                per-flow packet lists; see ``lexnet.runtimes.inputs``.
            transport: "tcp"/"udp" for all flows, one per flow, or ``None`` (flows used as given).

        Raises:
            InvalidFlowError: naming the first bad flow and what is wrong with it.
        """
        raw = self.prepare(flows, transport)
        return self.explain(raw, self.session.run(raw))

    def explain(self, raw: np.ndarray, outputs: RawOutputs) -> list[Prediction]:
        """Predictions with explanations from already computed outputs."""
        labels = outputs.logits.argmax(axis=1)
        scores = softmax(outputs.logits)
        return [
            Prediction(
                flow_index=index,
                label=int(label),
                class_name=self.class_names[label],
                scores=scores[index].tolist(),
                logit=float(outputs.logits[index, label]),
                explanation=self._evidence(raw[index], outputs.take(index), int(label)),
            )
            for index, label in enumerate(labels)
        ]

    def _evidence(self, raw_flow: np.ndarray, outputs: RawOutputs, label: int) -> list[PrototypeEvidence]:
        if outputs.similarities is None or outputs.positions is None:
            return []
        prototypes, weights = self._prototypes_of(label)
        contributions = weights * outputs.similarities[prototypes]
        order = np.argsort(-contributions, kind="stable")
        evidence = []
        for rank in order:
            prototype = int(prototypes[rank])
            packet, variable = (int(v) for v in outputs.positions[prototype])
            evidence.append(
                PrototypeEvidence(
                    prototype=prototype,
                    contribution=float(contributions[rank]),
                    similarity=float(outputs.similarities[prototype]),
                    weight=float(weights[rank]),
                    packet=packet,
                    variable=VARIABLE_NAMES[variable],
                    value=value_at(raw_flow, packet, variable),
                    source=self._source(prototype),
                )
            )
        return evidence

    def _prototypes_of(self, label: int) -> tuple[np.ndarray, np.ndarray]:
        """The prototypes of class ``label`` and their last-layer weights to it (cached)."""
        cached = self._class_prototypes.get(label)
        if cached is None:
            prototypes = np.flatnonzero(self.bundle.prototype_classes == label)
            cached = self._class_prototypes[label] = (prototypes, self.bundle.last_layer[prototypes, label])
        return cached

    def _source(self, prototype: int) -> SourceMatch | None:
        if prototype not in self._sources:
            source = self.bundle.prototype_sources[prototype]
            if source is None or source.get("flow_index", -1) < 0:
                self._sources[prototype] = None
            else:
                raw = tuple(int(v) for v in source.get("raw_flow", []))
                self._sources[prototype] = (
                    int(source["flow_index"]),
                    int(source["packet"]),
                    int(source["variable"]),
                    raw,
                )
        cached = self._sources[prototype]
        if cached is None:
            return None
        flow_index, packet, variable, raw_flow = cached
        return SourceMatch(
            flow_index=flow_index,
            packet=packet,
            variable=VARIABLE_NAMES[variable],
            value=value_at(raw_flow, packet, variable),
            raw_flow=list(raw_flow),  # a fresh list per prediction: callers may modify what they get
        )

    def close(self) -> None:
        self.session.close()
        if self._owns_bundle:
            self.bundle.close()

    def __enter__(self) -> Classifier:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def load(
    bundle: str | os.PathLike[str] | Bundle,
    backend: str = "onnxruntime",
    device: str = "cpu",
    precision: str = "fp32",
    threads: int | None = None,
    **backend_options: Any,
) -> Classifier:
    """Load one artifact of a bundle and return a classifier for it.

    Args:
        bundle: a bundle directory, a .tar of one, or an opened ``Bundle``.
        backend: "onnxruntime", "openvino", "tvm" or "torch" (the FP32 reference; needs torch and the checkpoint).
        device: "cpu", "cuda" (ONNX Runtime, TVM, torch) or "gpu" (OpenVINO).
        precision: "fp32", "bf16" or "int8"; the bundle must hold that artifact.
        threads: intra-op threads (``None``: the backend's default).
        **backend_options: passed to the backend session (torch: ``checkpoint=``).

    Raises:
        BackendUnavailableError: the backend's library or the device is missing here.
        UnsupportedArtifactError: the bundle has no such artifact (the message lists those it has).
        IntegrityError: an artifact file differs from its manifest sha256.

    Example:
        >>> with load("bundles/lexnet-default", backend="openvino", threads=2) as model:  # doctest: +SKIP
        ...     model.classify(np.array([[517, -1448, -1448]], dtype=np.int16))[0].class_name
    """
    opened = open_bundle(bundle)
    try:
        session_class = get_backend(backend)
        if backend == "torch":
            if precision != "fp32":
                raise BackendUnavailableError(f"the torch reference runs in fp32 only, not {precision!r}")
            artifact = None
        else:
            artifact = opened.manifest.find_artifact(backend, precision, device)
        session = session_class(opened, artifact, device=device, threads=threads, **backend_options)
        session.load()
    except BaseException:
        if opened is not bundle:
            opened.close()
        raise
    return Classifier(opened, session, precision, owns_bundle=opened is not bundle)
