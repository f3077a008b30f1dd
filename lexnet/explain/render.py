"""One flow's explanation as a figure: the flow, where the predicted class's prototypes matched, their sources.

Left: the flow as a packets x variables heatmap of its scaled values, each cell labelled with what it is
(bytes, or the direction arrow), the matched cells outlined in one colour per prototype. Right of it: for each
prototype, the training flow it was projected from, with the cell it came from outlined in the same colour.
Below: one sentence per prototype.
"""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lexnet.explain.describe import FlowExplanation
from lexnet.spec import Scaling

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.image import AxesImage

    from lexnet.checkpoint import PrototypeSource

__all__ = ["DPI", "figure_size", "render_explanation"]

logger = logging.getLogger(__name__)

DPI = 100
_PANEL_WIDTH = 2.4
_HEIGHT = 9.0
_COLOURS = ("tab:red", "tab:orange", "magenta", "tab:cyan", "lime", "yellow")


def figure_size(num_prototypes: int) -> tuple[int, int]:
    """Pixel size (width, height) of the figure for a class with ``num_prototypes`` prototypes."""
    width = _PANEL_WIDTH * (1 + num_prototypes) + 1.2
    return round(width * DPI), round(_HEIGHT * DPI)


def _cell_label(size: int, variable: int) -> str:
    if size == 0:
        return "·"
    if variable == 0:
        return str(abs(size))
    return "→ c2s" if size > 0 else "← s2c"


def _draw_flow(axes: Axes, raw: np.ndarray, scaling: Scaling, title: str) -> AxesImage:
    scaled = scaling.apply(raw[None])[0, 0]
    image = axes.imshow(scaled, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
    packets, variables = scaled.shape
    for p in range(packets):
        for v in range(variables):
            dark = scaled[p, v] > 0.6
            axes.text(
                v,
                p,
                _cell_label(int(raw[p]), v),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if dark else "black",
            )
    axes.set_xticks(range(variables), ["size", "direction"][:variables])
    axes.set_yticks(range(packets), [str(p + 1) for p in range(packets)], fontsize=7)
    axes.set_ylabel("packet")
    axes.xaxis.tick_top()
    axes.set_title(title, fontsize=9)
    return image


def _outline(axes: Axes, packet: int, variable: int, height: int, width: int, colour: str, label: str) -> None:
    from matplotlib.patches import Rectangle

    axes.add_patch(Rectangle((variable - 0.5, packet - 0.5), width, height, fill=False, edgecolor=colour, linewidth=3))
    if label:
        box = {"facecolor": "white", "edgecolor": colour, "boxstyle": "round,pad=0.15"}
        axes.text(variable - 0.42, packet, label, fontsize=8, fontweight="bold", ha="left", va="center", bbox=box)


def _draw_source(
    axes: Axes,
    source: PrototypeSource | None,
    scaling: Scaling,
    title: str,
    colour: str,
    shape: tuple[int, int],
    packets: int,
) -> None:
    if source is None or not source.raw_flow:
        axes.set_axis_off()
        axes.set_title(title, fontsize=9)
        axes.text(0.5, 0.5, "source flow\nnot recorded", ha="center", va="center", transform=axes.transAxes)
        return
    raw = np.zeros(packets, dtype=np.int64)
    raw[: len(source.raw_flow)] = source.raw_flow[:packets]
    _draw_flow(axes, raw, scaling, title)
    _outline(axes, source.packet, source.variable, *shape, colour, "")


def render_explanation(
    explanation: FlowExplanation,
    scaling: Scaling,
    sources: list[PrototypeSource],
    out: str | Path,
) -> Path:
    """Write the figure of one flow's explanation to ``out`` (PNG) and return its path.

    Args:
        explanation: from ``lexnet.explain.describe.explain_flows``.
        scaling: the model's input scaling (for the heatmap's values).
        sources: the model's prototype sources (``Checkpoint.prototype_sources``).
        out: the image to write.
    """
    from matplotlib.figure import Figure

    by_prototype = {s.prototype: s for s in sources}
    raw = np.asarray(explanation.raw)
    matches = sorted(explanation.matches, key=lambda m: m.rank)
    width_px, height_px = figure_size(len(matches))
    figure = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, layout="constrained")
    grid = figure.add_gridspec(2, len(matches) + 1, height_ratios=(4, 1))
    flow_axes = figure.add_subplot(grid[0, 0])
    image = _draw_flow(flow_axes, raw, scaling, f"flow {explanation.flow}\n-> {explanation.class_name}")
    for index, match in enumerate(matches):
        colour = _COLOURS[index % len(_COLOURS)]
        _outline(flow_axes, match.packet, match.variable, match.height, match.width, colour, f"P{match.rank}")
        source = by_prototype.get(match.prototype)
        flow_words = f"training flow {source.flow_index}" if source and source.flow_index >= 0 else "source unknown"
        title = f"P{match.rank} of {explanation.class_name}\n{flow_words}"
        _draw_source(
            figure.add_subplot(grid[0, index + 1]),
            source,
            scaling,
            title,
            colour,
            (match.height, match.width),
            len(raw),
        )
    figure.colorbar(image, ax=figure.axes, shrink=0.5, label="scaled value")
    text_axes = figure.add_subplot(grid[1, :])
    text_axes.set_axis_off()
    columns = int(width_px / 7.5)
    lines = [f"Class {explanation.class_name} (probability {explanation.probability:.2f}) because:"]
    lines += [textwrap.fill(f"P{m.rank}: {m.sentence}.", columns, subsequent_indent="    ") for m in matches]
    text_axes.text(0.0, 1.0, "\n".join(lines), ha="left", va="top", fontsize=9, transform=text_axes.transAxes)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=DPI)
    logger.info("wrote %s", out)
    return out
