"""Writing a bundle: a staging directory next to the target, renamed into place only when everything worked.

A failure part-way removes the staging directory and leaves an existing bundle at the target untouched.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from lexnet.runtimes.manifest import FileEntry, sha256_file

__all__ = ["file_entry", "pack_tar", "save_array", "staged_directory"]

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def staged_directory(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty staging directory beside ``target``; on success it replaces ``target`` as a whole.

    Example:
        >>> with staged_directory("bundles/lexnet") as stage:
        ...     (stage / "manifest.json").write_text("{}")
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"{target} exists and is not a directory; refusing to replace it with a bundle")
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent))
    try:
        yield stage
        _replace(stage, target)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _replace(stage: Path, target: Path) -> None:
    """Move ``stage`` to ``target``; an old ``target`` is set aside first and removed once the new one is there."""
    if not target.exists():
        stage.rename(target)
        return
    backup = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    backup.rmdir()
    target.rename(backup)
    try:
        stage.rename(target)
    except BaseException:
        backup.rename(target)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def file_entry(root: Path, path: Path) -> FileEntry:
    """The manifest entry (relative POSIX path, sha256, size) of ``path`` inside the bundle ``root``."""
    return FileEntry(path=path.relative_to(root).as_posix(), sha256=sha256_file(path), size=path.stat().st_size)


def save_array(root: Path, relative: str, array: np.ndarray) -> FileEntry:
    """Save ``array`` as .npy (no pickle) under ``root`` and return its entry."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.ascontiguousarray(array), allow_pickle=False)
    return file_entry(root, path)


def pack_tar(bundle: str | os.PathLike[str], out: str | os.PathLike[str] | None = None) -> Path:
    """Pack the bundle directory into one uncompressed .tar (members under the bundle's name), atomically."""
    bundle = Path(bundle)
    out = Path(out) if out is not None else bundle.with_name(bundle.name + ".tar")
    handle, staging = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(handle)
    try:
        with tarfile.open(staging, "w") as archive:
            for path in sorted(bundle.rglob("*")):
                if path.is_file():
                    archive.add(path, arcname=f"{bundle.name}/{path.relative_to(bundle).as_posix()}")
        os.replace(staging, out)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    logger.info("packed %s (%.1f MB)", out, out.stat().st_size / 1e6)
    return out
