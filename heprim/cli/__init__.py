"""The ``python -m heprim`` command line.

Subcommands:

``demo``
    an end-to-end secure-aggregation scenario with real keys (element-wise and packed Paillier);
``bench``
    a quick comparison of heprim's Paillier with the installed peers (python-paillier);
``keygen``
    write a Paillier key pair to JSON files (the secret key only when asked);
``secagg simulate``
    SecAgg / SecAgg+ clients and server in process, with dropouts, an exactness check and costs;
``pjc``
    private intersection-sum of two CSV files, both parties here or one against a peer;
``bfv-params``
    the BFV parameter presets with their security, slots and estimated depth.

:func:`main` takes the argument list and returns the exit code, so it is testable without a
subprocess. Each subcommand lives in its own module with a ``register(subparsers)`` function that
adds its parser and binds ``check(args)`` (option checks that argparse cannot express; they end
in ``parser.error``) and ``run(args, out) -> int``; a later subcommand is one more module in
:data:`SUBCOMMANDS`. The library itself prints nothing: the CLI is the only place that writes to
the terminal, and it renders the library's ``progress`` callbacks (see :mod:`heprim.cli.progress`).

Exit codes: 0 success, 1 a failed check or a library error (the message says what to do),
2 bad command-line arguments, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from heprim import __version__
from heprim.cli import bench, bfv_params, demo, keygen, pjc, secagg
from heprim.errors import HeprimError

__all__ = ["SUBCOMMANDS", "build_parser", "main"]

#: The modules that provide a subcommand, in the order ``--help`` lists them.
SUBCOMMANDS = (demo, bench, keygen, secagg, pjc, bfv_params)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="heprim",
        description="heprim: homomorphic-encryption primitives in pure Python.",
        epilog="Run 'heprim COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"heprim {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run the command line and return the process exit code.

    Args:
        argv: the arguments without the program name (default: ``sys.argv[1:]``).
        out: where the report goes (default: ``sys.stdout``); errors always go to ``sys.stderr``.
    """
    out = sys.stdout if out is None else out
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        args.check(args)  # checks across options, reported through argparse as usage errors
    except SystemExit as exit_:  # argparse exits for --help, --version and bad arguments
        if exit_.code is None:
            return EXIT_OK
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    try:
        code: int = args.run(args, out)
    except HeprimError as error:
        print(f"heprim {args.command}: error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except OSError as error:  # a file or a socket the system refused: say which, no traceback
        print(f"heprim {args.command}: error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(f"heprim {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return code
