"""Flows to explain, read from a ``.npy`` file, a data set directory or a CSV file of signed packet sizes."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from lexnet.data.format import read_split, validate_flows
from lexnet.errors import DataFormatError
from lexnet.spec import InputSpec

__all__ = ["read_flows"]


def _read_npy(path: Path) -> np.ndarray:
    try:
        x = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise DataFormatError(f"{path}: not a readable .npy array ({error})") from error
    return np.atleast_2d(x)


def _read_csv(path: Path) -> np.ndarray:
    """One flow per row of signed sizes; a header row and rows starting with '#' are skipped."""
    rows: list[list[int]] = []
    with path.open(newline="") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            cells = [c.strip() for c in row if c.strip()]
            if not cells or cells[0].startswith("#"):
                continue
            try:
                rows.append([int(float(c)) for c in cells])
            except ValueError:
                if rows or number > 1:
                    raise DataFormatError(f"{path}: line {number} is not a row of integer packet sizes") from None
    if not rows:
        raise DataFormatError(f"{path}: no flows found")
    if len({len(r) for r in rows}) != 1:
        raise DataFormatError(f"{path}: rows have different lengths {sorted({len(r) for r in rows})}")
    return np.asarray(rows, dtype=np.int64)


def read_flows(path: str | os.PathLike[str], spec: InputSpec | None = None, split: str = "test") -> np.ndarray:
    """Signed packet sizes [N, packets] from ``path``.

    Args:
        path: a ``.npy`` array ([N, packets] or one flow [packets]), a data set directory (its ``split``), or a
            CSV file with one flow per row.
        spec: the model's input description (packets per flow).
        split: the split read from a data set directory.

    Raises:
        DataFormatError: the file is missing, unreadable or has the wrong shape.
    """
    spec = spec or InputSpec()
    path = Path(path)
    if path.is_dir():
        return read_split(path, split, spec).x
    if not path.is_file():
        raise DataFormatError(f"{path}: file not found")
    if path.suffix == ".npy":
        x = _read_npy(path)
    elif path.suffix in (".csv", ".txt"):
        x = _read_csv(path)
    else:
        raise DataFormatError(f"{path}: expected a .npy or .csv file, or a data set directory")
    validate_flows(x, str(path), spec)
    return x
