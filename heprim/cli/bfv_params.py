"""``python -m heprim bfv-params``: the BFV presets with their security, slots and depth."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from heprim.bfv import format_presets

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``bfv-params`` subcommand."""
    parser = subparsers.add_parser(
        "bfv-params",
        help="print the BFV parameter presets: security, slots, noise budget and depth",
        description=(
            "The BFV presets checked against the HomomorphicEncryption.org security table, "
            "with their SIMD slots, fresh noise budget and estimated multiplicative depth."
        ),
    )
    parser.set_defaults(run=run, check=lambda args: None, parser=parser)


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Write the presets table."""
    text = format_presets()
    out.write(text if text.endswith("\n") else text + "\n")
    return 0
