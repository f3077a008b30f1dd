"""Parity: does every artifact of a bundle predict what the reference predicts, for the same reasons?

For each artifact and each data set, against the reference (the PyTorch checkpoint when torch is installed, the
bundle's golden vectors otherwise; the golden vectors cover only their own inputs):

- prediction agreement: share of flows given the reference's class. Disagreements where the reference's own
  logits for the two classes tie (within the precision's ``tie_tolerance``) are reported as "pred ties"; an exact
  threshold (FP32: 100%) leaves them out, a statistical one (BF16, INT8: 99%) counts every flow;
- position agreement: share of flows whose predicted class's prototypes match at the reference's positions,
  outside ties;
- largest absolute difference of logits and of similarities.

Position ties are told apart from disagreements by the reference's own numbers: a prototype the artifact places
elsewhere is a tie when the reference's distance at the artifact's position is within the precision's
``tie_tolerance`` of its distance at its own, relative to their scale (``max(1, |a|, |b|)``); flows whose only
differences are ties are left out of the position agreement and counted apart. The same test on the reference's
logits gives "pred ties". UDP flows are zero-padded, so
exact distance ties at several positions are common. With the torch reference the distance at the artifact's
position is read from the reference's full distance map; with golden vectors only, it is approximated by the
artifact's own distance there (recovered from its similarity), which is exact up to the artifact's error.

Thresholds are ``lexnet.spec.PRECISION_TOLERANCES`` (or the manifest's copy): FP32 agrees on every flow outside
ties, logits and similarities within 1e-3; BF16 and INT8 on at least 99% of predictions and 98% of positions.
The absolute limits on logits and similarities are defined on the golden vectors, so they are checked there; on
the other data sets the differences are reported. The similarity log((d + 1) / (d + 1e-4)) has slope about
-1 / (d + 1e-4), so where a flow nearly matches a prototype (d ~ 1e-5) a rounding difference of the FP32 distance
becomes a large similarity difference; ``max|ddist|`` (the distances recovered from the similarities) shows how
far the distances themselves differ.

Artifacts the export step marked failed are measured too (the table says so); only backends or devices missing
on this machine are skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from lexnet.runtimes.base import RawOutputs

from lexnet.spec import PrecisionTolerance

__all__ = [
    "SIMILARITY_EPSILON",
    "ParityResult",
    "compare_outputs",
    "distance_from_similarity",
    "format_table",
]

logger = logging.getLogger(__name__)

# ProtoPNet's epsilon in log((d + 1) / (d + eps)), the same value as lexnet.models.prototypes (which needs torch).
SIMILARITY_EPSILON = 1e-4

# distance_at(flows, prototypes, packets, variables) -> the reference's squared distances at those positions.
DistanceLookup = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def distance_from_similarity(similarities: np.ndarray) -> np.ndarray:
    """Invert s = log((d + 1) / (d + eps)): d = (1 - eps e^s) / (e^s - 1), in float64."""
    exp = np.exp(similarities.astype(np.float64))
    return (1.0 - SIMILARITY_EPSILON * exp) / np.maximum(exp - 1.0, np.finfo(np.float64).tiny)


@dataclass
class ParityResult:
    """One artifact on one data set against the reference."""

    artifact: str
    backend: str
    precision: str
    device: str
    dataset: str
    reference: str
    flows: int = 0
    prediction_agreement: float = float("nan")
    prediction_ties: int = 0
    position_agreement: float = float("nan")
    position_ties: int = 0
    max_abs_logits: float = float("nan")
    max_abs_similarities: float = float("nan")
    max_abs_distances: float = float("nan")
    passed: bool = False
    export_status: str = "ok"
    failures: list[str] = field(default_factory=list)
    skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _is_tie(chosen: np.ndarray, other: np.ndarray, tolerance: float) -> np.ndarray:
    scale = np.maximum(1.0, np.maximum(np.abs(chosen), np.abs(other)))
    return np.abs(other - chosen) <= tolerance * scale


def _prediction_metrics(
    reference: RawOutputs, candidate: RawOutputs, tolerance: PrecisionTolerance
) -> tuple[float, int]:
    """(agreement, near-tied disagreements). An exact threshold (100%) leaves the near ties out of the agreement;
    a statistical one (99%) already absorbs them, so there every flow counts."""
    ref_labels, labels = reference.logits.argmax(1), candidate.logits.argmax(1)
    rows = np.flatnonzero(ref_labels != labels)
    ref_logits = reference.logits.astype(np.float64)
    ties = int(
        _is_tie(ref_logits[rows, ref_labels[rows]], ref_logits[rows, labels[rows]], tolerance.tie_tolerance).sum()
    )
    if tolerance.min_prediction_agreement < 1.0:
        return 1.0 - len(rows) / len(labels), ties
    outside = len(labels) - ties
    return ((outside - (len(rows) - ties)) / outside if outside else 1.0), ties


def _position_metrics(
    reference: RawOutputs,
    candidate: RawOutputs,
    prototype_classes: np.ndarray,
    tolerance: float,
    distance_at: DistanceLookup | None,
) -> tuple[float, int]:
    """Share of flows whose reference class's prototypes sit where the reference puts them, and the tied flows."""
    ref_labels = reference.logits.argmax(1)
    own_class = prototype_classes[None, :] == ref_labels[:, None]
    differs = (reference.positions != candidate.positions).any(axis=2) & own_class
    flows, prototypes = np.nonzero(differs)
    tie = np.zeros(len(flows), dtype=bool)
    if len(flows):
        best = distance_from_similarity(reference.similarities[flows, prototypes])
        packets, variables = candidate.positions[flows, prototypes].T
        if distance_at is not None:
            other = distance_at(flows, prototypes, packets, variables).astype(np.float64)
        else:
            other = distance_from_similarity(candidate.similarities[flows, prototypes])
        tie = _is_tie(best, other, tolerance)
    real = np.zeros(len(ref_labels), dtype=bool)
    real[flows[~tie]] = True
    tied = np.zeros(len(ref_labels), dtype=bool)
    tied[flows[tie]] = True
    tied &= ~real
    outside = len(ref_labels) - int(tied.sum())
    agreeing = outside - int(real.sum())
    return (agreeing / outside if outside else 1.0), int(tied.sum())


def _max_abs(a: np.ndarray | None, b: np.ndarray | None) -> float:
    if a is None or b is None:
        return float("nan")
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())


def _judge(result: ParityResult, tolerance: PrecisionTolerance, check_atol: bool) -> None:
    checks: list[tuple[str, float, float | None, str]] = [
        ("prediction agreement", result.prediction_agreement, tolerance.min_prediction_agreement, ">="),
        ("position agreement", result.position_agreement, tolerance.min_position_agreement, ">="),
    ]
    if check_atol:
        checks += [
            ("max |logits diff|", result.max_abs_logits, tolerance.logits_atol, "<="),
            ("max |similarities diff|", result.max_abs_similarities, tolerance.similarity_atol, "<="),
        ]
    for name, value, limit, sense in checks:
        if limit is None or np.isnan(value):
            continue
        if (sense == ">=" and value < limit) or (sense == "<=" and value > limit):
            result.failures.append(f"{name} {value:.6g} (needs {sense} {limit:g})")
    result.passed = not result.failures


def compare_outputs(
    result: ParityResult,
    reference: RawOutputs,
    candidate: RawOutputs,
    prototype_classes: np.ndarray | None,
    tolerance: PrecisionTolerance,
    distance_at: DistanceLookup | None = None,
    *,
    check_atol: bool = True,
) -> ParityResult:
    """Fill ``result`` with the metrics of ``candidate`` against ``reference`` and judge it by ``tolerance``.

    ``check_atol`` applies the tolerance's absolute limits on logits and similarities (defined on the golden
    vectors); agreement thresholds always apply.
    """
    result.flows = len(reference.logits)
    result.prediction_agreement, result.prediction_ties = _prediction_metrics(reference, candidate, tolerance)
    result.max_abs_logits = _max_abs(reference.logits, candidate.logits)
    if prototype_classes is not None and reference.positions is not None and candidate.positions is not None:
        result.position_agreement, result.position_ties = _position_metrics(
            reference, candidate, prototype_classes, tolerance.tie_tolerance, distance_at
        )
        result.max_abs_similarities = _max_abs(reference.similarities, candidate.similarities)
        result.max_abs_distances = _max_abs(
            distance_from_similarity(reference.similarities), distance_from_similarity(candidate.similarities)
        )
    _judge(result, tolerance, check_atol)
    return result


def _percent(value: float) -> str:
    return "n/a" if np.isnan(value) else f"{100 * value:.2f}%"


def _scientific(value: float) -> str:
    return "n/a" if np.isnan(value) else f"{value:.2e}"


def _verdict(result: ParityResult) -> str:
    verdict = "PASS" if result.passed else "FAIL: " + "; ".join(result.failures)
    if result.export_status != "ok":
        verdict += f" (export marked it {result.export_status})"
    return verdict


def format_table(results: list[ParityResult]) -> str:
    """A plain-text table, one row per artifact and data set ("n/a": no prototypes, so no positions)."""
    header = (
        "artifact",
        "dataset",
        "ref",
        "flows",
        "pred agree",
        "pred ties",
        "pos agree",
        "pos ties",
        "max|dlogit|",
        "max|dsim|",
        "max|ddist|",
        "result",
    )
    rows: list[tuple[str, ...]] = [header]
    for r in results:
        if r.skipped is not None:
            rows.append((r.artifact, r.dataset, r.reference, *["-"] * 8, f"SKIP: {r.skipped}"))
            continue
        rows.append(
            (
                r.artifact,
                r.dataset,
                r.reference,
                str(r.flows),
                _percent(r.prediction_agreement),
                str(r.prediction_ties),
                _percent(r.position_agreement),
                str(r.position_ties) if not np.isnan(r.position_agreement) else "n/a",
                _scientific(r.max_abs_logits),
                _scientific(r.max_abs_similarities),
                _scientific(r.max_abs_distances),
                _verdict(r),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


class _Reference:
    """The reference's outputs on a data set, and its distances at any position (torch) or ``None`` (golden)."""

    def __init__(self, bundle: Any, checkpoint: Any, kind: str, threads: int | None) -> None:
        from lexnet.runtimes.classifier import load
        from lexnet.runtimes.registry import installed_backends

        if kind == "auto":
            kind = "torch" if "torch" in installed_backends() else "golden"
        self.kind = kind
        self.bundle = bundle
        self._torch = None
        if kind == "torch":
            options = {"checkpoint": checkpoint} if checkpoint is not None else {}
            self._torch = load(bundle, backend="torch", threads=threads, **options)
        elif kind != "golden":
            raise ValueError(f"reference must be 'auto', 'torch' or 'golden', got {kind!r}")

    def covers(self, dataset: str) -> bool:
        return self._torch is not None or dataset == "golden"

    def outputs(self, dataset: str, flows: np.ndarray) -> RawOutputs:
        if self._torch is not None:
            return self._torch.run(flows)
        golden = self.bundle.golden()
        return RawOutputs(golden["logits"], golden.get("similarities"), golden.get("positions"))

    def distance_lookup(self, flows: np.ndarray) -> DistanceLookup | None:
        if self._torch is None:
            return None
        session = self._torch.session

        def distance_at(rows: np.ndarray, prototypes: np.ndarray, packets: np.ndarray, variables: np.ndarray):
            unique, inverse = np.unique(rows, return_inverse=True)
            maps = session.distance_maps(flows[unique])
            return maps[inverse, prototypes, packets, variables]

        return distance_at

    def close(self) -> None:
        if self._torch is not None:
            self._torch.close()


def _skip_reason(artifact: Any) -> str | None:
    """Why this machine cannot run the artifact, or ``None``."""
    from lexnet.runtimes.registry import get_backend, installed_backends

    if artifact.backend not in installed_backends():
        return f"{artifact.backend} is not installed"
    if not get_backend(artifact.backend).device_available(artifact.device):
        return f"no {artifact.device} device here"
    return None


def _open_artifact(bundle: Any, artifact: Any, threads: int | None) -> Any:
    """A loaded session of any artifact, including those the export step marked failed (parity measures them)."""
    from lexnet.runtimes.registry import get_backend

    session = get_backend(artifact.backend)(bundle, artifact, device=artifact.device, threads=threads)
    session.load()
    return session


def run_parity(
    bundle: Any,
    datasets: dict[str, np.ndarray],
    *,
    reference: str = "auto",
    checkpoint: Any = None,
    threads: int | None = None,
    artifact_ids: list[str] | None = None,
) -> list[ParityResult]:
    """Every (selected) artifact of ``bundle`` on every data set against the reference.

    Args:
        bundle: an opened ``Bundle``.
        datasets: name -> int16 flows [N, packets]; "golden" should be the bundle's golden inputs.
        reference: "torch" (the checkpoint), "golden" (the bundle's golden vectors) or "auto" (torch if installed).
        checkpoint: the checkpoint directory for the torch reference (default: the package's own).
        threads: threads for every backend.
        artifact_ids: only these artifacts (default: all).
    """
    from lexnet.runtimes.inputs import prepare_flows

    prepared = {name: prepare_flows(flows, bundle.spec) for name, flows in datasets.items()}
    ref = _Reference(bundle, checkpoint, reference, threads)
    prototype_classes = bundle.prototype_classes if bundle.is_prototype_model else None
    results: list[ParityResult] = []
    try:
        ref_outputs = {name: ref.outputs(name, flows) for name, flows in prepared.items() if ref.covers(name)}
        for artifact in bundle.manifest.artifacts:
            if artifact_ids is not None and artifact.id not in artifact_ids:
                continue
            rows = {
                name: ParityResult(artifact.id, artifact.backend, artifact.precision, artifact.device, name, ref.kind)
                for name in prepared
            }
            results.extend(rows.values())
            if (reason := _skip_reason(artifact)) is not None:
                for row in rows.values():
                    row.skipped = reason
                continue
            tolerance = bundle.manifest.golden.tolerance(artifact.precision)
            with _open_artifact(bundle, artifact, threads) as session:
                for name, flows in prepared.items():
                    rows[name].export_status = artifact.status
                    if name not in ref_outputs:
                        rows[name].skipped = "no reference: install torch to compare beyond the golden vectors"
                        continue
                    compare_outputs(
                        rows[name],
                        ref_outputs[name],
                        session.run(flows),
                        prototype_classes,
                        tolerance,
                        ref.distance_lookup(flows),
                        check_atol=name == "golden",
                    )
                    logger.info(
                        "parity %s on %s: %s", artifact.id, name, "pass" if rows[name].passed else rows[name].failures
                    )
    finally:
        ref.close()
    return results
