"""Agreement of an artifact with the PyTorch FP32 reference: predictions, prototype positions, logits.

The reference (``reference_outputs``) is computed once per export from the checkpoint; each artifact's outputs
on the same flows are compared with ``compare``. A position that differs from the reference's counts as a tie,
not a disagreement, when the reference's own distance at the artifact's position is within the precision's
tie tolerance of the minimum (UDP flows are zero-padded, so identical feature vectors tie exactly).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, cast

import numpy as np
from lexnet.runtimes.manifest import ValidationInfo

from lexnet.spec import PrecisionTolerance

if TYPE_CHECKING:
    from lexnet.checkpoint import Checkpoint
    from lexnet.models import PrototypeClassifier

__all__ = ["Outputs", "Reference", "ValidationError", "compare", "reference_outputs", "run_batched"]

REFERENCE = "fp32-torch"


class Outputs(NamedTuple):
    """An artifact's outputs on N flows (similarities and positions are ``None`` for non-prototype models)."""

    logits: np.ndarray
    similarities: np.ndarray | None = None
    positions: np.ndarray | None = None


@dataclass(frozen=True)
class Reference:
    """The checkpoint's FP32 outputs on N flows, with what tie detection needs.

    Attributes:
        raw: the flows, int16 signed sizes [N, packets].
        outputs: logits [N, C], similarities [N, P], positions [N, P, 2].
        min_distances: [N, P] smallest squared distances (``None`` for non-prototype models).
        class_distances: [N, prototypes per class, positions]: the full distance maps of the prototypes of each
            flow's predicted class, flattened over positions.
        map_width: width of the distance map, to flatten (packet, variable) positions.
    """

    raw: np.ndarray
    outputs: Outputs
    min_distances: np.ndarray | None
    class_distances: np.ndarray | None
    prototype_classes: np.ndarray | None
    map_width: int

    def subset(self, count: int) -> Reference:
        """The first ``count`` flows."""

        def head(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[:count]

        _, similarities, positions = (head(a) for a in self.outputs)
        outputs = Outputs(self.outputs.logits[:count], similarities, positions)
        return Reference(
            self.raw[:count],
            outputs,
            head(self.min_distances),
            head(self.class_distances),
            self.prototype_classes,
            self.map_width,
        )


class ValidationError(RuntimeError):
    """An artifact fell short of its precision's tolerance; ``info`` holds the figures."""

    def __init__(self, artifact: str, info: ValidationInfo, tolerance: PrecisionTolerance) -> None:
        super().__init__(
            f"{artifact} failed validation against {info.reference} on {info.flows} flows: predictions agree"
            f" {info.prediction_agreement:.2%} (needs {tolerance.min_prediction_agreement:.2%}), prototype positions"
            f" {info.position_agreement:.2%} (needs {tolerance.min_position_agreement:.2%}), max |d logits|"
            f" {info.max_abs_logits:.3g} (allowed {tolerance.logits_atol})"
        )
        self.info = info


def run_batched(run: Callable[[np.ndarray], Outputs], raw: np.ndarray, batch_size: int) -> Outputs:
    """``run`` over ``raw`` in batches, outputs concatenated."""
    parts = [run(raw[start : start + batch_size]) for start in range(0, len(raw), batch_size)]
    _, similarities, positions = (
        None if parts[0][i] is None else np.concatenate([p[i] for p in parts]) for i in range(3)
    )
    return Outputs(np.concatenate([p.logits for p in parts]), similarities, positions)


def reference_outputs(checkpoint: Checkpoint, raw: np.ndarray, batch_size: int = 512) -> Reference:
    """The checkpoint's PyTorch FP32 outputs on raw flows [N, packets]."""
    import torch

    from lexnet.models import is_prototype_model

    model = checkpoint.build_model("cpu")
    config = checkpoint.config
    map_width = config.input.variables - config.prototype_shape[1] + 1
    prototype_classes = config.prototype_classes() if is_prototype_model(model) else None
    logits, similarities, positions, min_distances, class_distances = [], [], [], [], []
    with torch.inference_mode():
        for start in range(0, len(raw), batch_size):
            x = torch.from_numpy(checkpoint.scaling.apply(raw[start : start + batch_size]))
            if prototype_classes is None:
                logits.append(model(x).numpy())
                continue
            out = model(x)
            prototype_model = cast("PrototypeClassifier", model)
            maps = prototype_model.prototype_layer.distance_map(prototype_model.features(x)).flatten(2)
            logits.append(out.logits.numpy())
            similarities.append(out.similarities.numpy())
            positions.append(out.positions.numpy())
            min_distances.append(out.min_distances.numpy())
            class_distances.append(_predicted_class_maps(maps.numpy(), out.logits.numpy(), prototype_classes))
    if prototype_classes is None:
        return Reference(raw, Outputs(np.concatenate(logits)), None, None, None, map_width)
    outputs = Outputs(np.concatenate(logits), np.concatenate(similarities), np.concatenate(positions))
    return Reference(
        raw, outputs, np.concatenate(min_distances), np.concatenate(class_distances), prototype_classes, map_width
    )


def _predicted_class_maps(maps: np.ndarray, logits: np.ndarray, prototype_classes: np.ndarray) -> np.ndarray:
    """[B, P, L] distance maps -> [B, prototypes per class, L] for each flow's predicted class."""
    members = _class_members(prototype_classes)
    return np.stack([maps[i, members[c]] for i, c in enumerate(logits.argmax(axis=1))])


def _class_members(prototype_classes: np.ndarray) -> np.ndarray:
    """[C, prototypes per class] prototype indices of each class."""
    num_classes = int(prototype_classes.max()) + 1
    return np.stack([np.flatnonzero(prototype_classes == c) for c in range(num_classes)])


def _prediction_agreement(reference: Reference, logits: np.ndarray, tolerance: PrecisionTolerance) -> float:
    ref_logits = reference.outputs.logits
    ref_pred, pred = ref_logits.argmax(axis=1), logits.argmax(axis=1)
    agree = ref_pred == pred
    if tolerance.logits_atol is not None:
        # Within the logits tolerance, two classes are a tie: picking either one is not a disagreement.
        rows = np.arange(len(pred))
        agree |= ref_logits[rows, ref_pred] - ref_logits[rows, pred] <= tolerance.logits_atol
    return float(agree.mean()) if len(agree) else 1.0


def _position_agreement(reference: Reference, positions: np.ndarray, tolerance: PrecisionTolerance) -> float:
    """Share of flows whose predicted class's prototypes all sit where the reference puts them (ties excused)."""
    if reference.class_distances is None or reference.prototype_classes is None:
        raise ValueError("the reference has no prototype outputs to compare positions with")
    members = _class_members(reference.prototype_classes)[reference.outputs.logits.argmax(axis=1)]
    rows = np.arange(len(members))[:, None]
    if reference.outputs.positions is None:
        raise ValueError("the reference has no prototype positions to compare with")
    ref_pos = reference.outputs.positions[rows, members]
    got_pos = positions[rows, members]
    equal = (ref_pos == got_pos).all(axis=-1)
    flat = got_pos[..., 0] * reference.map_width + got_pos[..., 1]
    flat = np.clip(flat, 0, reference.class_distances.shape[-1] - 1)
    at_got = np.take_along_axis(reference.class_distances, flat[..., None], axis=-1)[..., 0]
    at_ref = reference.class_distances.min(axis=-1)
    tie = at_got - at_ref <= tolerance.tie_tolerance * np.maximum(np.abs(at_ref), 1.0)
    return float((equal | tie).all(axis=1).mean()) if len(members) else 1.0


def _within_atol(reference: Reference, outputs: Outputs, tolerance: PrecisionTolerance) -> bool:
    """Logits and similarities within the tolerance's atol (where it sets one).

    No allowance for rounding is needed: the head recomputes the winning distance directly (see
    ``lexnet.models.prototypes.LProto``), so FP32 backends agree with the reference to ~1e-4 even where a flow
    matches a prototype exactly.
    """
    ref = reference.outputs
    logits_atol, similarity_atol = tolerance.logits_atol, tolerance.similarity_atol
    if logits_atol is not None and (np.abs(outputs.logits - ref.logits) > logits_atol).any():
        return False
    if similarity_atol is None or ref.similarities is None or outputs.similarities is None:
        return True
    return not (np.abs(outputs.similarities - ref.similarities) > similarity_atol).any()


def compare(reference: Reference, outputs: Outputs, tolerance: PrecisionTolerance) -> ValidationInfo:
    """Agreement figures of ``outputs`` with ``reference`` and whether they meet ``tolerance``."""
    ref = reference.outputs
    if outputs.logits.shape != ref.logits.shape:
        raise ValueError(f"logits of shape {outputs.logits.shape} do not match the reference's {ref.logits.shape}")
    max_logits = float(np.abs(outputs.logits - ref.logits).max(initial=0.0))
    max_similarities = None
    position_agreement = 1.0  # vacuous for models without prototypes
    if ref.similarities is not None:
        if outputs.similarities is None or outputs.positions is None:
            raise ValueError("the artifact returned no similarities/positions for a prototype model")
        max_similarities = float(np.abs(outputs.similarities - ref.similarities).max(initial=0.0))
        position_agreement = _position_agreement(reference, outputs.positions, tolerance)
    prediction_agreement = _prediction_agreement(reference, outputs.logits, tolerance)

    passed = (
        prediction_agreement >= tolerance.min_prediction_agreement
        and position_agreement >= tolerance.min_position_agreement
        and _within_atol(reference, outputs, tolerance)
    )
    return ValidationInfo(
        flows=len(reference.raw),
        prediction_agreement=prediction_agreement,
        position_agreement=position_agreement,
        max_abs_logits=max_logits,
        max_abs_similarities=max_similarities,
        passed=bool(passed),
        reference=REFERENCE,
    )
