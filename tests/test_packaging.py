"""The explicit package list in pyproject.toml must name every package folder, or wheels silently lack it."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROOTS = {"lexnet": "lexnet", "export": "lexnet.export", "runtimes": "lexnet.runtimes", "bench": "lexnet.bench"}


def test_every_package_folder_is_listed() -> None:
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for folder, dotted in ROOTS.items():
        for init in (REPO / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO / folder).parts
            found.add(".".join((dotted, *relative)))
    assert found == listed
