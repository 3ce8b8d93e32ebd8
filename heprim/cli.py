"""The ``python -m heprim`` command line (argparse; ``main(argv) -> int`` is testable)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from heprim import __version__


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="heprim", description=__doc__)
    parser.add_argument("--version", action="version", version=f"heprim {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return 0
