"""Sessions: ``tests`` (default), ``lint``, ``demo`` (the README's main job), ``bench`` (the release matrix)."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests"]
nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True

CONSTRAINTS = ("-c", "constraints.txt")
EXTRAS = "train,onnx,openvino,tvm,pcap,plot,explain,dev"
LIBRARY = ("lexnet", "export", "runtimes", "bench")


def _install(session: nox.Session, extras: str = EXTRAS) -> None:
    session.install(*CONSTRAINTS, "-e", f".[{extras}]")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (slow and GPU cases included where the machine allows)."""
    _install(session)
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff format check, ruff check, mypy on the library packages."""
    session.install(*CONSTRAINTS, "ruff", "mypy", "numpy")
    session.run("ruff", "format", "--check", ".")
    session.run("ruff", "check", ".")
    session.run("mypy", *LIBRARY)


@nox.session
def demo(session: nox.Session) -> None:
    """The main job on the shipped checkpoint: export, parity and a quick benchmark."""
    _install(session)
    session.run("lexnet", "run", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """The release benchmark matrix (about 30 minutes on 2 cores)."""
    _install(session)
    session.run("lexnet", "bench", *session.posargs)
