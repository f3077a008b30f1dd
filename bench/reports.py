"""Reports of a benchmark run: Markdown tables shaped like the paper's Tables 3, 4, 5 and 7 (with "paper" and
"measured here" columns), the main table, the speed ratios, CSV and JSON of every cell, pytest-benchmark JSON
and PNG plots, all written into one results folder named by date and host."""

from __future__ import annotations

import csv
import datetime as _dt
import json
import logging
import socket
import subprocess
from pathlib import Path
from typing import Any

from lexnet.bench import paper
from lexnet.bench.matrix import BenchResult, CellResult

__all__ = [
    "main_table",
    "ratios",
    "ratios_table",
    "reference_point",
    "results_dir",
    "table3",
    "table4",
    "table5",
    "table7",
    "write_reports",
]

logger = logging.getLogger(__name__)

NA = "n/a"


def results_dir(root: Path, when: _dt.datetime | None = None, host: str | None = None) -> Path:
    """``root/<YYYY-MM-DD>-<host>``: one folder per day and machine."""
    when = when or _dt.datetime.now()
    return root / f"{when:%Y-%m-%d}-{host or socket.gethostname()}"


def _fmt(value: float | int | None, digits: int = 1) -> str:
    if value is None:
        return NA
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def _markdown(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def reference_point(result: BenchResult) -> tuple[int, int]:
    """The batch and thread count the summary tables quote: the largest of each that was measured."""
    return max(result.spec.batches), max(result.spec.threads)


def _cell(
    result: BenchResult, model: str, backend: str, precision: str, batch: int, threads: int, device: str = "cpu"
) -> CellResult | None:
    for cell in _run_cells(result):
        if (cell.model, cell.backend, cell.precision, cell.batch, cell.threads, cell.device) == (
            model, backend, precision, batch, threads, device,
        ):  # fmt: skip
            return cell
    return None


def _run_cells(result: BenchResult) -> list[CellResult]:
    """The matrix cells proper (``run``), without the extra batch-1 ``classify`` latency cells."""
    return [c for c in result.cells if c.api == "run"]


def _us(cell: CellResult | None) -> str:
    if cell is None:
        return NA
    if cell.timing is None:
        return cell.status
    return _fmt(cell.timing.median_us)


def _best(result: BenchResult, model: str, precision: str, batch: int, threads: int) -> CellResult | None:
    measured = [
        c
        for c in _run_cells(result)
        if (c.model, c.precision, c.batch, c.threads, c.device) == (model, precision, batch, threads, "cpu")
        and c.timing is not None
    ]
    return min(measured, key=lambda c: c.timing.median_us) if measured else None


def _accuracy(value: float | None) -> str:
    return NA if value is None else f"{100 * value:.2f}%"


def main_table(result: BenchResult) -> str:
    """Every model x backend x precision at the reference batch and threads: time, spread, floor, load, size."""
    batch, threads = reference_point(result)
    headers = ["model", "backend", "precision", "µs/flow (median)", "p10-p90", "flows/s", "floor µs", "x floor"]
    headers += ["load s", "artifact kB", "note"]
    rows = []
    for cell in _run_cells(result):
        if (cell.batch, cell.threads, cell.device) != (batch, threads, "cpu"):
            continue
        label = paper.label(cell.model)
        if cell.timing is None:
            rows.append([label, cell.backend, cell.precision, cell.status, "", "", _fmt(cell.floor_us), ""])
            rows[-1] += ["", "", cell.reason]
            continue
        t = cell.timing
        size = None if cell.artifact_bytes is None else cell.artifact_bytes / 1e3
        spread = f"{t.p10_us:.1f}-{t.p90_us:.1f}"
        rows.append([label, cell.backend, cell.precision, _fmt(t.median_us), spread, _fmt(t.flows_per_second, 0)])
        rows[-1] += [_fmt(cell.floor_us), _fmt(cell.over_floor, 2), _fmt(cell.load_s, 2), _fmt(size), cell.note]
    title = f"Main table: batch {batch}, {threads} thread(s), CPU"
    return f"### {title}\n\n" + _markdown(headers, rows)


def _model_rows(result: BenchResult, models: tuple[str, ...]) -> list[list[str]]:
    batch, threads = reference_point(result)
    rows = []
    for arch in models:
        info = result.models.get(arch)
        if info is None:
            continue
        best = _best(result, arch, "fp32", batch, threads)
        torch_cell = _cell(result, arch, "torch", "fp32", batch, threads)
        best_us = None if best is None or best.timing is None else best.timing.median_us
        accuracy = _accuracy(info.accuracy) + ("" if info.trained else " (untrained)")
        row = [info.label, _fmt(info.paper.params), _fmt(info.params), f"{info.macs / 1e6:.2f} M"]
        row += [_accuracy(info.paper.accuracy), accuracy, _fmt(info.paper.us_per_flow), _us(torch_cell)]
        row += [_fmt(best_us), best.backend if best else NA, _fmt(best.over_floor if best else None, 2)]
        rows.append(row)
    return rows


_MODEL_HEADERS = [
    "model",
    "params (paper)",
    "params (here)",
    "MACs/flow",
    "accuracy (paper)",
    "accuracy (here)",
    "µs/flow (paper)",
    "µs/flow torch (here)",
    "µs/flow best (here)",
    "best backend",
    "x floor",
]


def table3(result: BenchResult) -> str:
    """Table 3: the ten classifiers, with every backend's FP32 time at the reference point."""
    batch, threads = reference_point(result)
    models = tuple(m for m in paper.table3_models() if m in result.models)
    headers = list(_MODEL_HEADERS) + [f"µs/flow {b}" for b in result.spec.backends if b != "torch"]
    rows = _model_rows(result, models)
    for row, arch in zip(rows, models, strict=True):
        row += [_us(_cell(result, arch, b, "fp32", batch, threads)) for b in result.spec.backends if b != "torch"]
    return f"### Table 3: classifiers (FP32, batch {batch}, {threads} thread(s))\n\n" + _markdown(headers, rows)


def table4(result: BenchResult) -> str:
    """Table 4: the LERes ablation, ResNet -> + linear -> LEResNet."""
    batch, threads = reference_point(result)
    rows = _model_rows(result, paper.TABLE4_MODELS)
    return f"### Table 4: LERes ablation (FP32, batch {batch}, {threads} thread(s))\n\n" + _markdown(
        _MODEL_HEADERS, rows
    )


def table5(result: BenchResult) -> str:
    """Table 5: the LProto ablation, ProtoPNet -> + LProto -> + linear -> LEXNet."""
    batch, threads = reference_point(result)
    rows = _model_rows(result, paper.TABLE5_MODELS)
    return f"### Table 5: LProto ablation (FP32, batch {batch}, {threads} thread(s))\n\n" + _markdown(
        _MODEL_HEADERS, rows
    )


def table7(result: BenchResult) -> str:
    """Table 7: the cost of explanations per flow (eager PyTorch)."""
    if not result.explanations:
        return "### Table 7: explanation cost\n\nnot measured (run with --explainers)"
    lexnet_us = next(
        (r["timing"]["median_us"] for r in result.explanations if r["model"] == "lexnet" and r["status"] == "ok"),
        None,
    )
    rows = []
    for row in result.explanations:
        us = row["timing"]["median_us"] if row["status"] == "ok" else None
        ratio = None if us is None or not lexnet_us else us / lexnet_us
        cited = paper.TABLE7_PAPER_US.get(row["label"])
        rows.append([row["label"], _fmt(cited), _fmt(us) if us is not None else row["reason"], _fmt(ratio, 2)])
    batch, threads = result.explanations[0]["batch"], result.explanations[0]["threads"]
    title = f"### Table 7: explanation cost per flow (torch eager, batch {batch}, {threads} thread(s))"
    return title + "\n\n" + _markdown(["row", "µs/flow (paper)", "µs/flow (here)", "x LEXNet"], rows)


def _parity_clean(cells: list[CellResult]) -> list[CellResult]:
    """Cells whose artifact passed its export validation (all of them when none did): a target is met only by an
    artifact that agrees with the reference."""
    clean = [c for c in cells if "failed export validation" not in c.note]
    return clean or cells


def ratios(result: BenchResult) -> dict[str, Any]:
    """The speed targets' ratios, measured: fastest LEXNet vs floor, LEXNet vs LEResNet, INT8 vs FP32, TVM vs
    ONNX Runtime, and the best batch-1 latency."""
    batch, threads = reference_point(result)
    out: dict[str, Any] = {"batch": batch, "threads": threads}
    lexnet = [
        c for c in _run_cells(result) if c.model == "lexnet" and (c.batch, c.threads) == (batch, threads) and c.timing
    ]
    lexnet = _parity_clean(lexnet)
    if lexnet:
        fastest = min(lexnet, key=lambda c: c.timing.median_us)
        out["fastest_lexnet"] = {
            "backend": fastest.backend,
            "precision": fastest.precision,
            "us": fastest.median_us,
            "floor_us": fastest.floor_us,
            "over_floor": fastest.over_floor,
        }
    per_backend: dict[str, Any] = {}
    for backend in result.spec.backends:
        lex = _cell(result, "lexnet", backend, "fp32", batch, threads)
        ler = _cell(result, "leresnet", backend, "fp32", batch, threads)
        int8 = _cell(result, "lexnet", backend, "int8", batch, threads)
        entry: dict[str, Any] = {}
        if lex and ler and lex.timing and ler.timing:
            entry["lexnet_over_leresnet"] = lex.timing.median_us / ler.timing.median_us
        if lex and int8 and lex.timing and int8.timing:
            entry["int8_speedup"] = lex.timing.median_us / int8.timing.median_us
        per_backend[backend] = entry
    out["per_backend"] = per_backend
    tvm = _cell(result, "lexnet", "tvm", "fp32", batch, threads)
    ort = _cell(result, "lexnet", "onnxruntime", "fp32", batch, threads)
    if tvm and ort and tvm.timing and ort.timing:
        out["tvm_over_onnxruntime"] = tvm.timing.median_us / ort.timing.median_us
    batch1 = [c for c in result.cells if c.model == "lexnet" and c.batch == 1 and c.timing]
    batch1 = _parity_clean(batch1)
    api = [c for c in batch1 if c.api == "classify"] or batch1
    if api:
        best = min(api, key=lambda c: c.timing.median_us)
        out["batch1_best"] = {"backend": best.backend, "precision": best.precision, "threads": best.threads}
        out["batch1_best"].update({"us": best.median_us, "api": best.api})
    out["paper_lexnet_over_leresnet_cpu"] = paper.LEXNET_OVER_LERESNET_CPU[0]
    return out


def ratios_table(result: BenchResult) -> str:
    r = ratios(result)
    rows = []
    if "fastest_lexnet" in r:
        f = r["fastest_lexnet"]
        where = f"{f['backend']} {f['precision']}: {_fmt(f['us'])} µs"
        rows.append(["fastest LEXNet / floor", where, _fmt(f["over_floor"], 2), "<= 1.5"])
    for backend, entry in r["per_backend"].items():
        if "lexnet_over_leresnet" in entry:
            paper_ratio = f"<= 1.3 (paper: {r['paper_lexnet_over_leresnet_cpu']})"
            measured = _fmt(entry["lexnet_over_leresnet"], 2)
            rows.append([f"LEXNet / LEResNet ({backend}, fp32)", "", measured, paper_ratio])
        if "int8_speedup" in entry:
            rows.append([f"FP32 / INT8 time, LEXNet ({backend})", "", _fmt(entry["int8_speedup"], 2), ">= 1.5"])
    if "tvm_over_onnxruntime" in r:
        rows.append(["tuned TVM / ONNX Runtime, LEXNet fp32", "", _fmt(r["tvm_over_onnxruntime"], 2), "<= 1.0"])
    if "batch1_best" in r:
        b = r["batch1_best"]
        where = f"{b['backend']} {b['precision']} {b['threads']}t, {b['api']}()"
        rows.append(["batch-1 latency, LEXNet", where, _fmt(b["us"]) + " µs", "< 80 µs"])
    title = f"### Speed targets (batch {r['batch']}, {r['threads']} thread(s) unless stated)"
    return title + "\n\n" + _markdown(["ratio", "where", "measured", "target"], rows)


def floor_table(result: BenchResult) -> str:
    rows = [[p.precision, str(p.threads), _fmt(p.gmacs), p.method] for p in result.peaks.values()]
    models = []
    for info in result.models.values():
        parts = ", ".join(f"{part} {count / 1e6:.2f} M" for part, count in info.macs_by_part.items())
        models.append([info.label, f"{info.macs / 1e6:.3f} M", parts])
    return (
        "### Measured peak (multiply-adds per second)\n\n"
        + _markdown(["precision", "threads", "G MAC/s", "method"], rows)
        + "\n\n### Multiply-adds per flow\n\n"
        + _markdown(["model", "MACs/flow", "by part"], models)
    )


def environment_section(result: BenchResult) -> str:
    e = result.environment
    libs = ", ".join(f"{k} {v}" for k, v in e["libraries"].items() if v)
    return (
        f"### Machine\n\n- host {e['host']}, {e['cpu']}, {e['threads']['usable_cores']} usable cores\n"
        f"- ISA: {' '.join(e['isa'])}\n- load average at start {e['load_average_start']}, at end"
        f" {e.get('load_average_end')}\n- {libs}\n- run took {result.seconds:.0f} s"
    )


def markdown_report(result: BenchResult) -> str:
    sections = [main_table(result), ratios_table(result), table3(result), table4(result), table5(result)]
    sections += [table7(result), floor_table(result), environment_section(result)]
    return "# LEXNet benchmark\n\n" + "\n\n".join(sections) + "\n"


def _csv_rows(result: BenchResult) -> list[dict[str, Any]]:
    rows = []
    for cell in result.cells:
        row = {k: v for k, v in cell.to_dict().items() if k != "timing"}
        row.update({f"timing_{k}": v for k, v in (cell.timing.to_dict() if cell.timing else {}).items()})
        info = result.models[cell.model]
        row.update({"params": info.params, "macs": info.macs, "accuracy": info.accuracy})
        rows.append(row)
    return rows


def write_csv(result: BenchResult, path: Path) -> None:
    rows = _csv_rows(result)
    fields: list[str] = []
    for row in rows:
        fields += [k for k in row if k not in fields]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def pytest_benchmark_json(result: BenchResult) -> dict[str, Any]:
    """The cells in pytest-benchmark's JSON layout; one round is one call, stats are seconds per flow."""
    e = result.environment
    benchmarks = []
    for cell in result.cells:
        if cell.timing is None:
            continue
        t = cell.timing
        seconds = {k: v / 1e6 for k, v in t.to_dict().items() if k.endswith("_us")}
        params = {"backend": cell.backend, "precision": cell.precision, "device": cell.device}
        params.update({"batch": cell.batch, "threads": cell.threads})
        name = f"{cell.model}[{cell.backend}-{cell.precision}-{cell.device}-b{cell.batch}-t{cell.threads}-{cell.api}]"
        benchmarks.append(
            {
                "group": cell.model,
                "name": name,
                "fullname": f"lexnet.bench::{name}",
                "params": params,
                "param": f"{cell.backend}-{cell.precision}-{cell.device}-b{cell.batch}-t{cell.threads}",
                "extra_info": {"unit": "seconds per flow", "floor_us": cell.floor_us, "over_floor": cell.over_floor},
                "options": {"timer": "perf_counter", "warmup": t.warmup, "min_rounds": t.repetitions},
                "stats": {
                    "min": seconds["min_us"],
                    "max": seconds["max_us"],
                    "mean": seconds["mean_us"],
                    "stddev": seconds["std_us"],
                    "rounds": t.repetitions,
                    "median": seconds["median_us"],
                    "q1": seconds["p25_us"],
                    "q3": seconds["p75_us"],
                    "iqr": seconds["p75_us"] - seconds["p25_us"],
                    "iqr_outliers": 0,
                    "stddev_outliers": 0,
                    "outliers": "0;0",
                    "ld15iqr": seconds["min_us"],
                    "hd15iqr": seconds["max_us"],
                    "ops": t.flows_per_second,
                    "total": t.timed_s,
                    "iterations": 1,
                },
            }
        )
    return {
        "machine_info": {
            "node": e["host"],
            "processor": e["cpu"],
            "machine": e["machine"],
            "python_version": e["python"],
            "cpu": {"brand_raw": e["cpu"], "flags": e["isa"]},
        },
        "commit_info": {"id": _git_commit()},
        "benchmarks": benchmarks,
        "datetime": e["date"],
        "version": e["libraries"].get("pytest-benchmark") or "5.3.1",
    }


def write_plots(result: BenchResult, folder: Path) -> list[Path]:
    """accuracy_vs_us.png and one us_vs_batch_<model>.png per model (lines per backend and precision)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    batch, threads = reference_point(result)
    fig, ax = plt.subplots(figsize=(6, 4))
    points = 0
    for arch, info in result.models.items():
        best = _best(result, arch, "fp32", batch, threads)
        if info.accuracy is None or best is None or best.timing is None:
            continue
        ax.scatter(best.timing.median_us, 100 * info.accuracy)
        ax.annotate(info.label, (best.timing.median_us, 100 * info.accuracy), fontsize=7)
        points += 1
    if points == 0:
        ax.text(0.5, 0.5, "no model has a recorded hold-out accuracy", ha="center", transform=ax.transAxes)
    ax.set(xlabel=f"µs per flow (best FP32 backend, batch {batch}, {threads} threads)", ylabel="accuracy (%)")
    ax.set_xscale("log")
    fig.tight_layout()
    written.append(folder / "accuracy_vs_us.png")
    fig.savefig(written[-1], dpi=120)
    plt.close(fig)

    for arch, info in result.models.items():
        fig, ax = plt.subplots(figsize=(6, 4))
        for backend in result.spec.backends:
            for precision in result.spec.precisions:
                cells = [_cell(result, arch, backend, precision, b, threads) for b in result.spec.batches]
                xs = [c.batch for c in cells if c is not None and c.timing is not None]
                ys = [c.timing.median_us for c in cells if c is not None and c.timing is not None]
                if xs:
                    ax.plot(xs, ys, marker="o", label=f"{backend} {precision}")
        ax.set(xlabel="batch size", ylabel="µs per flow (median)", title=f"{info.label}, {threads} thread(s)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        fig.tight_layout()
        written.append(folder / f"us_vs_batch_{arch}.png")
        fig.savefig(written[-1], dpi=120)
        plt.close(fig)
    return written


def write_reports(result: BenchResult, folder: Path, plots: bool = True) -> dict[str, Path]:
    """Write every report of ``result`` into ``folder``; returns the paths by kind."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "markdown": folder / "report.md",
        "json": folder / "results.json",
        "csv": folder / "cells.csv",
        "pytest_benchmark": folder / "pytest-benchmark.json",
    }
    paths["markdown"].write_text(markdown_report(result))
    data = result.to_dict()
    data["ratios"] = ratios(result)
    paths["json"].write_text(json.dumps(data, indent=1, default=str) + "\n")
    write_csv(result, paths["csv"])
    paths["pytest_benchmark"].write_text(json.dumps(pytest_benchmark_json(result), indent=1, default=str) + "\n")
    if plots:
        try:
            for path in write_plots(result, folder):
                paths[path.stem] = path
        except ImportError as error:
            logger.warning("plots not written: %s (install the 'plot' extra)", error)
    for kind, path in paths.items():
        logger.info("wrote %s %s", kind, path)
    return paths
