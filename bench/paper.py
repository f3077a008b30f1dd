"""The paper's reference figures, each with where it was found; a figure not found is ``None`` ("n/a" in reports).

Paper: K. Fauvel, F. Chen, D. Rossi et al., "A Lightweight, Efficient and Explainable-by-Design Convolutional
Neural Network for Internet Traffic Classification" (LEXNet), arXiv 2202.05535 (KDD 2023).

The trainable parameter counts below are the ones the project's design notes (``DESIGN.md``, "The model, pinned
down by the paper's own numbers") restate from the paper's tables; the zoo reproduces them exactly, which the
tests check. The paper's accuracies and per-sample CPU times were not available to us in a form we could cite
(the searchable copies of the paper stop before its result tables), so they stay ``None`` rather than being
typed from memory.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DESIGN_NOTES",
    "LEXNET_OVER_LERESNET_CPU",
    "PAPER",
    "TABLE3_BASE_MODELS",
    "TABLE4_MODELS",
    "TABLE5_MODELS",
    "TABLE7_ROWS",
    "PaperRow",
    "label",
    "release_models",
    "table3_models",
]

DESIGN_NOTES = "DESIGN.md, parameter table restating the paper (arXiv 2202.05535)"


@dataclass(frozen=True)
class PaperRow:
    """One model as the paper reports it; ``None`` where the figure was not found."""

    label: str
    params: int | None = None
    accuracy: float | None = None
    us_per_flow: float | None = None
    source: str | None = None


PAPER: dict[str, PaperRow] = {
    "lexnet": PaperRow("LEXNet", params=133_490, source=DESIGN_NOTES),
    "leresnet": PaperRow("LEResNet", params=298_123, source=DESIGN_NOTES),
    "resnet": PaperRow("ResNet", params=306_691, source=DESIGN_NOTES),
    "resnet_linear": PaperRow("ResNet + linear", params=303_979, source=DESIGN_NOTES),
    "protopnet": PaperRow("ProtoPNet", params=201_770, source=DESIGN_NOTES),
    "protopnet_lproto": PaperRow("ProtoPNet + LProto", params=142_058, source=DESIGN_NOTES),
    "protopnet_lproto_linear": PaperRow("ProtoPNet + LProto + linear", params=None, source=None),
}

# The paper's CPU time of LEXNet over LEResNet's (the price of explanations), as quoted by the issue that
# commissioned this benchmark ("the paper measured 5.6x on CPU").
LEXNET_OVER_LERESNET_CPU: tuple[float, str] = (5.6, "issue 5 of this repository, quoting the paper")

# Table 3 lists ten classifiers; the zoo's Table 3 extension (lexnet.models.table3.TABLE3_MODELS) names the
# nine more CNNs, and these are the paper's own models always present.
TABLE3_BASE_MODELS = ("lexnet", "resnet")
# Table 4: the LERes ablation, from ResNet to LEResNet.
TABLE4_MODELS = ("resnet", "resnet_linear", "leresnet")
# Table 5: the LProto ablation, from ProtoPNet to LEXNet.
TABLE5_MODELS = ("protopnet", "protopnet_lproto", "protopnet_lproto_linear", "lexnet")
# Table 7: the cost of an explanation per flow: by design (LEXNet) or post hoc on LEResNet.
TABLE7_ROWS = (
    ("lexnet", None, "LEXNet (prototypes, by design)"),
    ("leresnet", None, "LEResNet (no explanation)"),
    ("leresnet", "gradcam", "LEResNet + Grad-CAM"),
    ("leresnet", "shap", "LEResNet + SHAP"),
)


def table3_models() -> tuple[str, ...]:
    """The ten models of Table 3: the paper's own plus the zoo's Table 3 extension where it is installed."""
    try:
        from lexnet.models.table3 import TABLE3_MODELS
    except ImportError:
        return TABLE3_BASE_MODELS
    extra = tuple(m for m in TABLE3_MODELS if m not in TABLE3_BASE_MODELS)
    return TABLE3_BASE_MODELS + extra


def release_models() -> tuple[str, ...]:
    """Every model of Tables 3, 4 and 5, most important first (a run that runs out of time loses the last)."""
    first = ("lexnet", "leresnet", "resnet", "protopnet")
    return tuple(dict.fromkeys(first + TABLE4_MODELS + TABLE5_MODELS + table3_models()))


def label(arch: str) -> str:
    """The paper's name for ``arch`` (the registry name where the paper has none)."""
    row = PAPER.get(arch)
    return row.label if row is not None else arch
