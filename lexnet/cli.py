"""The ``lexnet`` command line: one subcommand per step of the pipeline.

Only the CLI attaches logging handlers and prints; the library logs. Bad arguments and bad input files end
with exit code 2 and a one-line message.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from lexnet import __version__
from lexnet.errors import LexnetError

__all__ = ["main"]

# Each module registers its subcommands with ``register(subparsers)``.
_COMMAND_MODULES = (
    "lexnet._cli.data",
    "lexnet._cli.train",
    "lexnet._cli.export",
    "lexnet._cli.runtime",
    "lexnet._cli.explain",
    "lexnet._cli.bench",
    "lexnet._cli.pipeline",
)


class _UsageError(Exception):
    """Raised by argparse (through ``_Parser.error``) so main() can format it like any other bad input."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]  # argparse's error() returns NoReturn
        raise _UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lexnet", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"lexnet {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def _configure_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s" if verbose else "%(message)s"))
    root = logging.getLogger("lexnet")
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as error:
        print(f"{error}\nTry 'lexnet --help'.", file=sys.stderr)
        return 2
    _configure_logging(args.verbose, args.quiet)
    try:
        return int(args.handler(args) or 0)
    except (LexnetError, FileNotFoundError, NotImplementedError) as error:
        print(f"lexnet {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lexnet {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
